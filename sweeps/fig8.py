"""Fig. 8 simulations: loss right after the first switches, flexible vs forgetful (FIGURES.md Fig. 8).

τ_w = 0.07, τ_c = 0.01, flexible λ_nonneg = 0.18, λ_norm = 0.72 (k = 1) [original λ = 0.09,
nonneg : L1 = 1 : 4]; forgetful: the same τ's without regulariser. Sampled B = 200, dt = 0.01
(dt/τ_c = 1: outside the gradient-flow regime, reproduced as published and flagged), τ_B = 1,
t_tot = 30, every step recorded, 10 seeds, common random numbers across the two variants.
"""

import ntajax
from ntajax import Variant
from ntajax._cli.figure import FigureContext

from sweeps._common import variants_store


def variants(ctx: FigureContext) -> dict[str, Variant]:
    t_total, n_seeds = ctx.pick((30.0, 10), (10.0, 5), (5.0, 2))
    # dt/τ_c = 1 is the published setting: the simulation warns (NtajaxWarning), the figure says so.
    base = ntajax.Simulation(
        d_in=20, d_out=10, n_teachers=2, student=ntajax.Gated(n_paths=2, tau_w=0.07, tau_c=0.01),
        grid=ntajax.TimeGrid(dt=0.01, t_total=t_total, n_save=int(round(t_total / 0.01)) + 1),
        gradient=ntajax.SampledGradient(batch_size=200), n_seeds=n_seeds,
        curriculum=ntajax.Blocked(block_length=1.0), regulariser=ntajax.Regulariser(norm_order=1),
    )
    flexible = base.replace(regulariser=ntajax.Regulariser(lambda_nonneg=0.18, lambda_norm=0.72, norm_order=1))
    return {"flexible": Variant(flexible), "forgetful": Variant(base)}


def compute(ctx: FigureContext) -> dict:
    return {"runs": variants_store(ctx, "fig8", variants(ctx))}
