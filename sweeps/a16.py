"""Fig. A16 simulations: the few-shot regime (FIGURES.md A16).

Full model: the Fig. 2 flexible setting (τ_w = 1.3, τ_c = 0.03, λ_nonneg = 1/11,
λ_norm = 10/11, k = 1, rotated teachers shared by all seeds) with one sample per step and a
large step, B = 1 and dt = 0.03 (per-step rates dt/τ_c = 1 and dt/τ_w ≈ 0.023: far outside the
gradient-flow regime, faithfully reproduced and flagged by ntajax's warning), A_B__ with τ_B = 1,
100 seeds that differ only in their data (gates 0.5 and weights from one fixed key, the same for
every seed), float64, every step recorded.

Time grid: the clean clock starts block k at step round(k/0.03), so blocks hold 33 or 34 steps
(= samples), and [0, 20] takes round(20/0.03) = 667 steps. ntajax's configs need t_tot to be a
whole number of steps, so t_tot = 667·dt = 20.01: exactly those 667 steps (the step at 19.98 is the
last one of block 19), recorded at every step, i.e. the 667 pre-update states plus the final
state (668 records; the spec's "667 points" counts the former). The record at t = 20.01 is the
final state; nothing of block 20 is simulated.

Full weights are recorded at every step and reduced to the singular-value magnitudes
√d_in·s^p_α (leading two) before storing (the full float64 weights would be 214 MB).

Toy: the A1 toy (τ_w = 1.3, τ_c = 0.06, g = 1000, t_ctx = 1, e₁ first, dt = 1e-3, t_tot = 20,
every step recorded, A1's initial state); it is the very same store as Fig. A1's.
"""

import jax
import numpy as np

from ntajax import SampledGradient, Variant, metrics, summarise
from ntajax._presets.experiment import run_variants
from ntajax._cli.figure import FigureContext
from ntajax._presets.runs import fig2 as fig2_preset
from ntajax._run import precision
from ntajax._store.dataset import to_dataset

from sweeps import a1 as a1_sweep
from sweeps.toy import toy_store

DT = 0.03
N_STEPS = round(20 / DT)  # 667


def full_variant(ctx: FigureContext) -> Variant:
    n_steps, n_seeds = ctx.pick((N_STEPS, 100), (N_STEPS, 20), (N_STEPS, 4))
    flexible = fig2_preset()["flexible"].config
    config = flexible.replace(grid=flexible.grid.replace(dt=DT, t_total=n_steps * DT, n_save=n_steps + 1),
                              gradient=SampledGradient(batch_size=1), n_seeds=n_seeds, dtype="float64",
                              recording=flexible.recording.replace(weights=True, weights_every=1))
    return Variant(config, init=a1_sweep.fixed_init(config))


def _summarise(config, trajectory):
    # summarise a float64 run in float64 (run_variants calls the summary outside the run's x64 scope)
    with precision(config):
        return summarise(config, trajectory)


def _full_dataset(variant: Variant, seed: int, progress: bool):
    results = run_variants({"flexible": variant}, jax.random.key(seed), progress=progress, description="a16",
                           summarise_fn=_summarise)
    ds = to_dataset(results)
    W = ds["weights_W"].values  # (variant, seed, T, P, d_out, d_in)
    scale = float(np.sqrt(np.mean(ds["teachers"].values[0, 0] ** 2) * ds.sizes["column"]))  # s
    with jax.enable_x64(True):
        sv = np.asarray(metrics.singular_value_magnitudes(W, scale, 2))
    ds = ds.drop_vars([name for name in ds.data_vars if name.startswith("weights_")] + ["t_weights"])
    ds["sv_magnitude"] = (("variant", "seed", "t", "path", "mode"), sv)
    ds["sv_magnitude"].attrs["description"] = (
        "√d_in·s^p_α: leading two singular values of each path over s (MODEL §7.10)")
    return ds


def compute(ctx: FigureContext) -> dict:
    """Stores ``full`` (100 seeds, SV magnitudes instead of the weights) and ``toy`` (A1's)."""
    variant = full_variant(ctx)
    full = ctx.cached("a16_full", {"variants": {"flexible": variant}, "seed": ctx.seed, "reduced": "sv_magnitude"},
                      lambda: _full_dataset(variant, ctx.seed, ctx.progress))
    return {"full": full, "toy": toy_store(ctx, "a1_toy", {"toy": a1_sweep.toy_run(ctx)})}
