"""Sweep presets (FIGURES.md Fig. 5) and TOML sweep specs.

* ``fig5a`` / ``fig5b`` — the paper's exact 5 × 5 grids in its sampled dynamics (B = 200,
  dt = 1e-3, t_tot = 7, 10 seeds, common random numbers across cells).
* ``phase_a`` / ``phase_b`` — the dense panels of ``ntajax phase-diagram`` (16 × 16 by
  default, expected-gradient flow), with ranges wide enough to show both regimes.
"""

import tomllib
from collections.abc import Callable

import numpy as np

from .._config import Config
from .._sweep.sweep import OriginalLambda, Sweep, make_axis

FIG5A_LAMBDA_NONNEG, FIG5A_LAMBDA_NORM = 0.5, 2.5  # original λ = 0.3, nonneg : L1 = 1 : 5 (MODEL §4.3)
FIG5_BLOCK_OVER_TAU_W = (1.0, 4.0, 6.0, 8.0, 10.0)  # τ_B ∈ {0.1, 0.4, 0.6, 0.8, 1} with τ_w = 0.1


def fig5_base(gradient: str = "sampled", n_save: int = 1001) -> Config:
    """Fig. 5 base: d_in 20, d_out 10, M = P = 2, τ_w = 0.1, dt = 1e-3, B = 200, t_tot = 7.

    The expected-gradient flow runs on the exact reduced-coordinate engine (``"subspace"``).
    """
    return Config(
        d_in=20, d_out=10, n_teachers=2, n_paths=2, tau_w=0.1, tau_c=0.02, dt=1e-3, t_total=7.0, n_save=n_save,
        batch_size=200, gradient=gradient, engine="scan" if gradient == "sampled" else "subspace", norm_order=1,
        lambda_nonneg=FIG5A_LAMBDA_NONNEG, lambda_norm=FIG5A_LAMBDA_NORM,
    )


def fig5a(gradient: str = "sampled") -> Sweep:
    """Fig. 5a: τ_B/τ_w ∈ {1, 4, 6, 8, 10} × τ_w/τ_c ∈ {1, 1.25, 5/3, 2.5, 5}, λ = 0.3 (1 : 5)."""
    return Sweep(
        fig5_base(gradient),
        (make_axis("block_over_tau_w", FIG5_BLOCK_OVER_TAU_W), make_axis("tau_ratio", (1.0, 1.25, 5 / 3, 2.5, 5.0))),
        n_seeds=10,
    )


def fig5b(gradient: str = "sampled") -> Sweep:
    """Fig. 5b: τ_B/τ_w ∈ {1, 4, 6, 8, 10} × original λ ∈ {0, 0.05, …, 0.2} (1 : 5), τ_c = 0.005."""
    return Sweep(
        fig5_base(gradient).replace(tau_c=0.005),
        (make_axis("block_over_tau_w", FIG5_BLOCK_OVER_TAU_W), OriginalLambda(values=(0.0, 0.05, 0.1, 0.15, 0.2))),
        n_seeds=10,
    )


def phase_a(resolution: int = 16, n_seeds: int = 10, gradient: str = "expected") -> Sweep:
    """Dense panel (a): τ_B/τ_w ∈ geomspace(1, 16) × τ_w/τ_c ∈ geomspace(1, 40), Fig. 5a regulariser."""
    return Sweep(
        fig5_base(gradient, n_save=101),
        (make_axis("block_over_tau_w", np.geomspace(1, 16, resolution)), make_axis("tau_ratio", np.geomspace(1, 40, resolution))),
        n_seeds=n_seeds,
    )


def phase_b(resolution: int = 16, n_seeds: int = 10, gradient: str = "expected") -> Sweep:
    """Dense panel (b): τ_B/τ_w ∈ geomspace(1, 16) × original λ ∈ geomspace(1e-5, 0.4) (1 : 5), τ_c = 0.005.

    At the paper's τ_w/τ_c = 20 the transition lies at very small λ (λ = 0 is forgetful), so the
    λ axis is logarithmic.
    """
    return Sweep(
        fig5_base(gradient, n_save=101).replace(tau_c=0.005),
        (make_axis("block_over_tau_w", np.geomspace(1, 16, resolution)), OriginalLambda(values=tuple(np.geomspace(1e-5, 0.4, resolution)))),
        n_seeds=n_seeds,
    )


SWEEP_PRESETS: dict[str, Callable[[], Sweep]] = {"fig5a": fig5a, "fig5b": fig5b, "phase_a": phase_a, "phase_b": phase_b}


def load_sweep_toml(path: str) -> Sweep:
    """A sweep from a TOML file.

    Example::

        [base]                      # any Config field; traced values are the defaults of every point
        tau_w = 0.1
        t_total = 7.0
        gradient = "expected"

        [axes]                      # traced fields or derived axes (tau_ratio, block_over_tau_w, lambda)
        block_over_tau_w = [1, 4, 10]
        tau_ratio = [1, 2, 5]

        [sweep]
        n_seeds = 10
        seed = 0
        zipped = []                 # e.g. [["tau_c", "tau_w"]]
        # n_blocks_total = 10       # optional: every point runs 10 of its own blocks
        # traces = ["loss", "alignment"]   # optional time series per run
        # trace_every = 10
    """
    with open(path, "rb") as f:
        spec = tomllib.load(f)
    unknown = set(spec) - {"base", "axes", "sweep"}
    if unknown:
        raise ValueError(f"{path}: unknown sections {sorted(unknown)}; use [base], [axes] and [sweep].")
    if not spec.get("axes"):
        raise ValueError(f"{path}: the [axes] section is empty; name at least one axis with its values.")
    try:
        base = Config(**spec.get("base", {}))
    except TypeError as error:
        raise ValueError(f"{path}: [base]: {error}") from None
    axes = tuple(make_axis(name, values) for name, values in spec["axes"].items())
    options = spec.get("sweep", {})
    allowed = {"n_seeds", "seed", "zipped", "n_blocks_total", "traces", "trace_every"}
    bad = set(options) - allowed
    if bad:
        raise ValueError(f"{path}: unknown [sweep] options {sorted(bad)}; allowed: {', '.join(sorted(allowed))}.")
    zipped = tuple(tuple(g) for g in options.get("zipped", ()))
    return Sweep(base, axes, n_seeds=int(options.get("n_seeds", 10)), seed=int(options.get("seed", 0)), zipped=zipped,
                 n_blocks_total=options.get("n_blocks_total"), traces=tuple(options.get("traces", ())),
                 trace_every=int(options.get("trace_every", 1)))
