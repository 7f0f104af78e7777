"""Continual-learning baselines on the Fig. 2 task (MODEL §9, §6.3; FIGURES §0 conventions).

The gated student of Fig. 2 (d_in 20, d_out 10, M = P = 2, orthogonal rotated teachers with
s = 1/√20 shared across seeds, τ_w = 1.3, sampled B = 200, dt = 1e-3, t_tot = 24) on A, B, A, B, …
for every method of :func:`ntajax._sweep.baselines.baselines`:

* flexible NTA (τ_c = 0.03, λ_nonneg = 1/11, λ_norm = 10/11 with k = 1) and forgetful NTA
  (τ_c = τ_w, no regulariser) — neither is told the task boundaries;
* online EWC with the analytic Fisher and the L2 pull, both on the forgetful config with
  λ_EWC = ``FIGURE_LAMBDA`` and γ = ``FIGURE_DECAY``; oracle gating (gates one-hot on the current
  task); EWC on the single path — **these are told the task boundaries (oracle knowledge)**;
* the ungated single-path student (P = 1, gate held at 1) and the interleaved curriculum
  (forgetful config, one task per step drawn uniformly; in expected mode the task-averaged
  gradient) as references.

Store ``comparison``: every method over the shared grid τ_B ∈ ``BLOCK_LENGTHS`` (one compiled
program per method; τ_B is traced), 10 seeds with common random numbers across methods and grid
points; per run the adaptation time per block (§7.6), retention (expected loss on the previous
block's task at the end of each block), re-gated retention (the same after re-setting only the
gates), final and time-mean total alignment, and the loss on both tasks at the end.

Store ``lambda_sweep``: online EWC and the L2 pull on the forgetful config, and EWC added to the
flexible NTA, over λ_EWC ∈ ``LAMBDAS`` (the penalty's traced leaf ``engine.penalty.lambda_ewc``) at τ_B = 1 (γ = ``FIGURE_DECAY``; each compiles once; the
tiny size runs EWC only).
"""

from ntajax import Blocked, ExpectedGradient, Gated, Regulariser, SampledGradient, Simulation, TimeGrid, make_axis
from ntajax._sweep.baselines import Baseline, baselines, compare_methods
from ntajax._engines.continual import ContinualScan, OnlineEWC
from ntajax._cli.figure import FigureContext


BLOCK_LENGTHS = (0.5, 1.0, 2.0, 4.0)
LAMBDAS = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
FIGURE_LAMBDA = 0.3
FIGURE_DECAY = 1.0
T_TOTAL = 24.0


def settings(ctx: FigureContext) -> dict:
    """Run settings at the context's size (quick and tiny use the expected-gradient flow; ``gradient``
    is ``"sampled"`` or ``"expected"``, see :func:`flexible_config`)."""
    return ctx.pick(
        dict(gradient="sampled", n_seeds=10, t_total=T_TOTAL, n_save=2401, block_lengths=BLOCK_LENGTHS, lambdas=LAMBDAS),
        dict(gradient="expected", n_seeds=3, t_total=T_TOTAL, n_save=481, block_lengths=BLOCK_LENGTHS, lambdas=LAMBDAS),
        dict(gradient="expected", n_seeds=2, t_total=4.0, n_save=41, block_lengths=(0.5, 1.0), lambdas=(0.1, 1.0),
             lambda_methods=("ewc",)),
    )


def flexible_config(s: dict) -> Simulation:
    """The Fig. 2 flexible simulation at these settings (τ_B is set by the sweep axis)."""
    gradient = SampledGradient(batch_size=200) if s["gradient"] == "sampled" else ExpectedGradient()
    return Simulation(
        d_in=20, d_out=10, n_teachers=2,
        student=Gated(n_paths=2, tau_w=1.3, tau_c=0.03),
        regulariser=Regulariser(lambda_nonneg=1 / 11, lambda_norm=10 / 11, norm_order=1),
        curriculum=Blocked(block_length=1.0),
        gradient=gradient,
        grid=TimeGrid(dt=1e-3, t_total=s["t_total"], n_save=s["n_save"]),
        n_seeds=s["n_seeds"],
    )


def methods(s: dict) -> dict[str, Baseline]:
    return baselines(flexible_config(s), lambda_ewc=FIGURE_LAMBDA, ewc_decay=FIGURE_DECAY)


def lambda_methods(s: dict) -> dict[str, Baseline]:
    """EWC and L2 on the forgetful config, and EWC on the flexible NTA (λ_EWC set by the axis)."""
    all_methods = methods(s)
    flexible = all_methods["flexible"].config
    ewc_flexible = flexible.replace(engine=ContinualScan(penalty=OnlineEWC(lambda_ewc=FIGURE_LAMBDA, ewc_decay=FIGURE_DECAY)))
    out = {
        "ewc": all_methods["ewc"],
        "l2": all_methods["l2"],
        "ewc_flexible": Baseline(ewc_flexible, "flexible NTA + EWC (boundaries)", True),
    }
    return {k: v for k, v in out.items() if k in s.get("lambda_methods", out)}


def compute(ctx: FigureContext) -> dict:
    s = settings(ctx)
    comparison = methods(s)
    grid = (make_axis("block_length", s["block_lengths"]),)
    strengths = lambda_methods(s)
    lambda_grid = (make_axis("lambda_ewc", s["lambdas"]),)
    description = {"methods": {k: m.config for k, m in comparison.items()}, "block_lengths": s["block_lengths"],
                   "seed": ctx.seed, "n_seeds": s["n_seeds"], "analysis": "compare_methods v1"}
    lambda_description = {"methods": {k: m.config for k, m in strengths.items()}, "lambdas": s["lambdas"],
                          "seed": ctx.seed, "n_seeds": s["n_seeds"], "analysis": "compare_methods v1"}
    return {
        "comparison": ctx.cached("baselines", description, lambda: compare_methods(
            comparison, grid, n_seeds=s["n_seeds"], seed=ctx.seed, progress=ctx.progress)),
        "lambda_sweep": ctx.cached("baselines-lambda", lambda_description, lambda: compare_methods(
            strengths, lambda_grid, n_seeds=s["n_seeds"], seed=ctx.seed, progress=ctx.progress)),
    }
