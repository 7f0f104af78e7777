"""Phase diagrams: the flexible/forgetful map over two sweep axes and its boundary.

The colour of a cell is the seed mean of the final total alignment A_tot(t_total) (MODEL
§7.5; FIGURES.md Fig. 5). A forgetful network has both paths track the current task, so
A_tot ≈ ½ for M = 2; a flexible one has A_tot ≈ 1. ntajax draws the boundary where the
seed mean crosses ``threshold`` (default ¾, halfway) — ntajax's own convention, since the
paper defines no threshold.

:func:`boundary_by_interpolation` finds, for every row (y value), the first x at which the
mean crosses the threshold, linearly interpolated between grid cells (in log x if the
axis is log-spaced). :func:`refine_boundary` then bisects on the traced parameter itself,
all rows at once in one compiled program.
"""

import dataclasses
import warnings
from collections.abc import Callable

import numpy as np

from .sweep import Sweep, compute_chunk

DEFAULT_THRESHOLD = 0.75

REFINE_ITERATIONS = 6
"""Bisection rounds of :func:`refine_boundary` by default (its tolerance: :func:`bisection_tolerance`)."""


def _is_geometric(x: np.ndarray) -> bool:
    return bool(np.all(x > 0) and len(x) > 2 and np.allclose(np.diff(np.log(x)), np.log(x[1] / x[0]), rtol=1e-3))


def boundary_by_interpolation(
    mean_alignment: np.ndarray, x: np.ndarray, threshold: float = DEFAULT_THRESHOLD
) -> tuple[np.ndarray, np.ndarray]:
    """First crossing of ``threshold`` along x for every row.

    Args:
        mean_alignment: (n_y, n_x) seed-mean final alignment.
        x: (n_x,) increasing x values.
        threshold: the alignment that separates the regimes.

    Returns:
        boundary: (n_y,) interpolated x of the first upward crossing (NaN if the row never
            crosses); lower, upper: (n_y,) grid values bracketing it (for bisection), as a
            second array of shape (n_y, 2).
    """
    mean_alignment = np.asarray(mean_alignment, float)
    x = np.asarray(x, float)
    coord = np.log(x) if _is_geometric(x) else x
    boundary = np.full(mean_alignment.shape[0], np.nan)
    bracket = np.full((mean_alignment.shape[0], 2), np.nan)
    for row, values in enumerate(mean_alignment):
        above = values >= threshold
        crossings = np.flatnonzero(~above[:-1] & above[1:])
        if above[0] or crossings.size == 0:
            continue
        j = crossings[0]
        frac = (threshold - values[j]) / (values[j + 1] - values[j])
        position = coord[j] + frac * (coord[j + 1] - coord[j])
        boundary[row] = np.exp(position) if coord is not x else position
        bracket[row] = x[j], x[j + 1]
    return boundary, bracket


def grid_bootstrap_interval(
    per_seed: np.ndarray,
    x: np.ndarray,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    estimate: np.ndarray | None = None,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> np.ndarray:
    """Bootstrap interval over seeds of each row's crossing, from the grid alone (nothing simulated).

    Resample b draws n_seeds seeds with replacement (the same draws for every row); its crossing
    is :func:`boundary_by_interpolation` of the resampled seed mean. The interval is the
    (1 − level)/2 and (1 + level)/2 percentiles of the resampled crossings (in log x on
    log-spaced axes), shifted by ``estimate`` − (the full sample's interpolated crossing) where an
    ``estimate`` is given (the spread placed around a refined answer), and clipped to the axis.
    Unlike a linearisation at one point, it holds where the seed mean jumps between levels.
    NaN where fewer than 90 % of the resamples cross; diverged seeds (NaN) are left out of means.

    Args:
        per_seed: (n_y, n_x, n_seeds) final alignment of every seed.
        x: (n_x,) increasing x values.
        threshold: θ.
        estimate: optional (n_y,) refined crossing to centre the interval on.
        n_bootstrap, level, seed: resamples, coverage, numpy generator seed.

    Returns:
        (n_y, 2) lower and upper x.
    """
    per_seed = np.asarray(per_seed, float)
    x = np.asarray(x, float)
    if per_seed.ndim != 3 or per_seed.shape[1] != x.shape[0]:
        raise ValueError(f"per_seed must have shape (n_y, n_x={x.shape[0]}, n_seeds), got {per_seed.shape}.")
    if not 0 < level < 1:
        raise ValueError(f"level={level} must lie in (0, 1), e.g. 0.95.")
    geometric = _is_geometric(x)
    to_u = np.log if geometric else (lambda v: v)
    n_y, _, n_seeds = per_seed.shape
    draws = np.random.default_rng(seed).integers(0, n_seeds, size=(n_bootstrap, n_seeds))
    crossings = np.full((n_bootstrap, n_y), np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells: diverged seeds only
        for b, draw in enumerate(draws):
            crossings[b] = boundary_by_interpolation(np.nanmean(per_seed[:, :, draw], axis=-1), x, threshold)[0]
        full = boundary_by_interpolation(np.nanmean(per_seed, axis=-1), x, threshold)[0]
    u = to_u(crossings)
    enough = np.mean(np.isfinite(u), axis=0) >= 0.9
    tails = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        interval = np.nanpercentile(u, tails, axis=0).T
    if estimate is not None:
        shift = to_u(np.asarray(estimate, float)) - to_u(full)
        interval = interval + np.where(np.isfinite(shift), shift, 0.0)[:, None]
    interval = np.clip(interval, to_u(x[0]), to_u(x[-1]))
    interval = np.exp(interval) if geometric else interval
    return np.where(enough[:, None], interval, np.nan)


def interpolated_start(
    mean_alignment: np.ndarray, x: np.ndarray, bracket: np.ndarray, threshold: float = DEFAULT_THRESHOLD
) -> np.ndarray:
    """(n_y,) a first guess of each row's crossing inside its ``bracket`` (n_y, 2): the root of
    the monotone cubic (PCHIP) interpolant of the row's grid values (in log x where the axis is
    log-spaced) in the bracket's cell, found without simulating anything. More accurate than
    the linear interpolation of :func:`boundary_by_interpolation` where the map is smooth, so a
    Newton iteration started there needs fewer steps. NaN where the bracket is NaN.
    """
    from scipy.interpolate import PchipInterpolator
    from scipy.optimize import brentq

    mean_alignment = np.asarray(mean_alignment, float)
    x = np.asarray(x, float)
    geometric = _is_geometric(x)
    coord = np.log(x) if geometric else x
    out = np.full(mean_alignment.shape[0], np.nan)
    for row, values in enumerate(mean_alignment):
        lo, hi = bracket[row]
        if not (np.isfinite(lo) and np.isfinite(hi)) or not np.isfinite(values).all():
            continue
        a, b = (np.log(lo), np.log(hi)) if geometric else (lo, hi)
        curve = PchipInterpolator(coord, values - threshold)
        fa, fb = float(curve(a)), float(curve(b))
        root = brentq(curve, a, b, xtol=1e-12) if fa < 0 <= fb else a + (b - a) * (-fa) / (fb - fa)
        out[row] = np.exp(root) if geometric else root
    return out


def seed_mean_final_alignment(sweep: Sweep) -> np.ndarray:
    """(n_points,) seed mean of the final total alignment of every point of ``sweep``, run as one
    chunk of the sweep's compiled program (the evaluation :func:`refine_boundary` uses)."""
    summary = compute_chunk(sweep, 0, sweep.n_points)
    return np.nanmean(summary["final_alignment"], axis=1)


def probe_sweep(sweep: Sweep, x_axis: str, probe: np.ndarray) -> Sweep:
    """``sweep`` with one point per row of its y axis, at x = ``probe[row]``: the two axes zipped,
    every other setting (base, seeds, seed, total-time rule, traces, ...) unchanged."""
    if len(sweep.axes) != 2 or sweep.zipped:
        raise ValueError(f"refine_boundary needs a sweep of two unzipped axes, got axes {[a.name for a in sweep.axes]} "
                         f"with zipped={sweep.zipped}.")
    y_axis = next(a for a in sweep.axes if a.name != x_axis)
    axes = tuple(
        dataclasses.replace(a, values=tuple(float(v) for v in (probe if a.name == x_axis else a.values)))
        for a in sweep.axes
    )
    return dataclasses.replace(sweep, axes=axes, zipped=((y_axis.name, x_axis),))


def refine_boundary(
    sweep: Sweep,
    x_axis: str,
    bracket: np.ndarray,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    iterations: int = REFINE_ITERATIONS,
    evaluate: Callable[[Sweep], np.ndarray] = seed_mean_final_alignment,
) -> np.ndarray:
    """Bisect the boundary on the x axis's traced parameter, all rows in parallel.

    Each iteration evaluates the midpoints (geometric for log-spaced axes) of every row's
    bracket as one chunk of the sweep's compiled program, and keeps the half whose ends
    straddle the threshold. Rows without a bracket stay NaN. The probes form a sweep derived
    from ``sweep`` (:func:`probe_sweep`): only the axis values change.

    Args:
        sweep: a two-axis sweep (any order of the x and y axes).
        x_axis: name of the x axis.
        bracket: (n_y, 2) lower and upper x of each row's crossing (NaN: no crossing).
        threshold: the seed-mean alignment that separates the regimes.
        iterations: halvings of the bracket.
        evaluate: maps a probe sweep (one point per row, in row order) to the (n_y,) seed-mean
            alignment; default :func:`seed_mean_final_alignment`.

    Returns:
        (n_y,) refined boundary x, within :func:`bisection_tolerance` of the crossing (in log x
        for log-spaced axes) where the bracket holds one crossing. Cost: ``iterations`` chunks
        of n_y points, i.e. ``iterations × n_y × sweep.n_seeds`` simulated runs.
    """
    x_values = np.asarray(sweep.axis(x_axis).values, float)
    geometric = _is_geometric(x_values)
    bracket = np.asarray(bracket, float)
    lower, upper = bracket[:, 0].copy(), bracket[:, 1].copy()
    valid = np.isfinite(lower) & np.isfinite(upper)
    if not valid.any():
        return np.full(len(lower), np.nan)
    for _ in range(iterations):
        mid = np.sqrt(lower * upper) if geometric else 0.5 * (lower + upper)
        probe = np.where(valid, mid, x_values[0])
        mean = np.asarray(evaluate(probe_sweep(sweep, x_axis, probe)), float)
        above = mean >= threshold
        upper = np.where(valid & above, mid, upper)
        lower = np.where(valid & ~above, mid, lower)
    out = np.sqrt(lower * upper) if geometric else 0.5 * (lower + upper)
    return np.where(valid, out, np.nan)


def bisection_tolerance(bracket: np.ndarray, iterations: int = REFINE_ITERATIONS, *, log_x: bool = False) -> np.ndarray:
    """(n_y,) the distance, in the axis coordinate (log x if ``log_x``), within which
    :func:`refine_boundary` places each row's crossing after ``iterations`` halvings of its
    ``bracket`` (n_y, 2): half the final bracket, |u_hi − u_lo| / 2^(iterations + 1). NaN rows
    stay NaN."""
    bracket = np.asarray(bracket, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.log(bracket) if log_x else bracket
    return np.abs(u[:, 1] - u[:, 0]) / 2.0 ** (iterations + 1)
