"""Figs. A10 and A11 simulations: the symmetric toy model over one switch and its continuation.

A10 (FIGURES.md A10): toy with τ_w = 1, τ_c ∈ logspace(−1, 0, 5), λ_nonneg = λ_norm = 0.05
(k = 1; original λ = 0.01, nonneg : L1 = 1 : 1), dt = 1e-4, one target block t_ctx = 5 with
target e₂ (t_tot = 5), Δ = 0.0025, float64, from (0, 1, 1, 0 | 0, 1): path 1 holds the new
target e₂ but is gated off, path 2 holds e₁ and is gated on (C̄ = −1, W̄ = 1). The smooth
curriculum's sharpness is not given for A10; Fig. 4's g = 100 is used.

A11 (FIGURES.md A11): for each τ_c, restart from the A10 state recorded at t = 1.25 (mid-switch;
the original's index 500) with the same τ's, regulariser and dt, targets e₂ first again,
t_ctx = 5 and ``a11_blocks`` target blocks (default 4, t_tot = 20, the original's stored
configuration; its code said 2), recorded every Δ = 0.04. The original had to rebuild the
restart state from a recorded index by hand; here it is read from the A10 store.
"""

import numpy as np

from ntajax._cli.figure import FigureContext

from sweeps.toy import TAU_C_SWEEP, ToyRun, state_at, toy_config, toy_init, toy_store

A10_REGULARISER = {"lambda_nonneg": 0.05, "lambda_norm": 0.05}
T_CTX = 5.0
RESTART_TIME = 1.25
A11_BLOCKS = 4
A11_SPACING = 0.04


def _name(tau_c: float) -> str:
    return f"tau_c={tau_c:.4g}"


def a10_runs(ctx: FigureContext) -> dict[str, ToyRun]:
    n_save = ctx.pick(2001, 2001, 501)
    base = toy_config(tau_w=1.0, tau_c=TAU_C_SWEEP[0], block_length=T_CTX, t_total=T_CTX, n_save=n_save, dt=1e-4,
                      dtype="float64", **A10_REGULARISER)
    init = toy_init((0, 1), (1, 0), (0, 1))
    return {_name(tau_c): ToyRun(base.set({"student.tau_c": tau_c}), init, first=2) for tau_c in TAU_C_SWEEP}


def a11_runs(
    ctx: FigureContext, a10, a11_blocks: int = A11_BLOCKS, restart_time: float = RESTART_TIME
) -> dict[str, ToyRun]:
    """Continuations of every A10 run from its recorded state at ``restart_time``."""
    t = a10["t"].values
    index = int(np.argmin(np.abs(t - restart_time)))
    if abs(t[index] - restart_time) > 1e-9:
        raise ValueError(f"restart_time={restart_time} is not on the A10 recording grid (spacing {t[1] - t[0]:g}).")
    t_total = T_CTX * a11_blocks
    n_save = round(t_total / A11_SPACING) + 1
    runs = {}
    for name in a10["condition"].values:
        a10_config = a10_runs(ctx)[str(name)].config
        config = a10_config.replace(grid=a10_config.grid.replace(t_total=t_total, n_save=n_save),
                                    recording=a10_config.recording.replace(n_blocks=None))
        runs[str(name)] = ToyRun(config, state_at(a10, str(name), index), first=2)
    return runs


def compute(ctx: FigureContext, a11_blocks: int | None = None) -> dict:
    """Stores ``a10`` (one switch) and ``a11`` (continuation over ``a11_blocks`` blocks)."""
    if a11_blocks is None:
        a11_blocks = ctx.pick(A11_BLOCKS, A11_BLOCKS, 2)
    a10 = toy_store(ctx, "a10", a10_runs(ctx))
    a11 = toy_store(ctx, "a11", a11_runs(ctx, a10, a11_blocks))
    a11.attrs["restart_time"] = RESTART_TIME
    return {"a10": a10, "a11": a11}
