"""Seed statistics: mean, standard error and a Student-t confidence interval over the finite seeds.

Diverged or missing seeds (NaN) are left out of every statistic and counted, so a cell averaged
over fewer seeds than it ran says so (``n`` < ``n_total``). Host-side NumPy/SciPy (for tables,
figures and stores, not inside compiled programs; unlike the rest of this package they do not jit).
"""

from typing import NamedTuple

import numpy as np


class SeedStatistics(NamedTuple):
    """Statistics over the seed axis, each with that axis removed.

    Attributes:
        mean: mean of the finite seeds (NaN if none).
        sem: standard error, std(ddof=1)/√n (NaN for fewer than two finite seeds).
        low, high: the two-sided Student-t interval mean ∓ t_{(1+confidence)/2, n−1}·sem (NaN for
            fewer than two finite seeds).
        n: seeds that entered (finite).
        n_total: seeds that ran (the length of the seed axis).
    """

    mean: np.ndarray
    sem: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: np.ndarray
    n_total: int

    @property
    def incomplete(self) -> np.ndarray:
        """True where some seeds diverged or are missing (fewer entered than ran)."""
        return self.n < self.n_total


def nan_mean_std(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample std (ddof = 1) along ``axis`` over the finite entries; NaN where fewer than
    one (mean) or two (std) entries are finite — e.g. where every seed diverged — without numpy's
    empty-slice warnings."""
    x = np.asarray(x, dtype=float)
    finite = np.isfinite(x)
    n = np.sum(finite, axis=axis)
    total = np.sum(np.where(finite, x, 0.0), axis=axis)
    mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    squares = np.sum(np.where(finite, (x - np.expand_dims(mean, axis)) ** 2, 0.0), axis=axis)
    std = np.where(n > 1, np.sqrt(squares / np.maximum(n - 1, 1)), np.nan)
    return mean, std


def seed_statistics(x, axis: int = -1, confidence: float = 0.95) -> SeedStatistics:
    """:class:`SeedStatistics` of ``x`` along its seed ``axis``.

    Args:
        x: values per seed (any shape); NaN marks a diverged or missing seed.
        axis: the seed axis.
        confidence: coverage of the two-sided Student-t interval, in (0, 1).

    Raises:
        ValueError: ``confidence`` outside (0, 1).
    """
    from scipy import stats  # imported on use: scipy is heavy

    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence!r} must lie strictly between 0 and 1 (e.g. 0.95).")
    x = np.moveaxis(np.asarray(x, dtype=float), axis, -1)
    n = np.isfinite(x).sum(axis=-1)
    mean, std = nan_mean_std(x, axis=-1)
    sem = std / np.sqrt(np.maximum(n, 1))
    quantile = stats.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1))
    half = np.where(n > 1, quantile * sem, np.nan)
    return SeedStatistics(mean=mean, sem=sem, low=mean - half, high=mean + half, n=n, n_total=x.shape[-1])


def format_statistic(stat: SeedStatistics, index=(), digits: int = 3) -> str:
    """``mean ± sem [low, high] (n/N)`` of one entry, e.g. ``0.912 ± 0.011 [0.887, 0.937] (10/10)``;
    a trailing ``!`` marks an entry with diverged or missing seeds."""
    get = lambda a: float(np.asarray(a)[index])  # noqa: E731
    n = int(np.asarray(stat.n)[index])
    flag = "!" if n < stat.n_total else ""
    if n < 2:
        return f"{get(stat.mean):.{digits}f} (n={n}/{stat.n_total}){flag}"
    return (f"{get(stat.mean):.{digits}f} ± {get(stat.sem):.{digits}f} "
            f"[{get(stat.low):.{digits}f}, {get(stat.high):.{digits}f}] ({n}/{stat.n_total}){flag}")
