"""Fig. A3 simulations: P = 4 paths for M = 2 tasks, with and without the W column penalty.

The Fig. 2 flexible setting with four paths (all gates start at 0.5, Σc = 2): τ_w = 1.3,
τ_c = 0.03, sampled B = 200, dt = 1e-3, τ_B = 1, t_tot = 25, every step recorded (FIGURES.md
A3). Without the penalty: λ_nonneg = 6/11, λ_norm = 60/11 (k = 1) [λ = 0.6, 1 : 10 : 0]; with
it: λ_nonneg = 6/31, λ_norm = 60/31, λ_W = 6/31 on mean_{p,j}‖W_p[:, j]‖₂ [λ = 0.6, 1 : 10 : 20].
The original ran one seed; ntajax runs several and orders the paths per seed.
"""

from ntajax import Blocked, Gated, Regulariser, SampledGradient, Simulation, TimeGrid, Variant
from ntajax._cli.figure import FigureContext

from sweeps._common import variants_store


def variants(ctx: FigureContext) -> dict[str, Variant]:
    t_total, n_seeds, every = ctx.pick((25.0, 5, 1), (10.0, 2, 5), (3.0, 2, 10))
    base = Simulation(
        d_in=20, d_out=10, n_teachers=2, n_seeds=n_seeds,
        student=Gated(n_paths=4, tau_w=1.3, tau_c=0.03),
        curriculum=Blocked(block_length=1.0),
        gradient=SampledGradient(batch_size=200),
        grid=TimeGrid(dt=1e-3, t_total=t_total, n_save=int(round(t_total / 1e-3)) // every + 1),
    )
    return {
        "no W penalty": Variant(base.replace(regulariser=Regulariser(lambda_nonneg=6 / 11, lambda_norm=60 / 11,
                                                                     norm_order=1))),
        "W penalty": Variant(base.replace(regulariser=Regulariser(lambda_nonneg=6 / 31, lambda_norm=60 / 31,
                                                                  lambda_w=6 / 31, norm_order=1))),
    }


def compute(ctx: FigureContext) -> dict:
    return {"runs": variants_store(ctx, "a3", variants(ctx))}
