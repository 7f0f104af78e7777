"""Fig. 2 simulations: flexible vs forgetful gated student, M = P = 2 (FIGURES.md Fig. 2).

Sampled minibatches (B = 200, dt = 1e-3), τ_B = 1, t_tot = 20, Δ = 0.002, 10 seeds with
shared teachers and common random numbers across the two variants. Full weights are
recorded every Δ_w = 0.02 (every 10th record) for the weight-speed panel: the dynamics do not
depend on the recording grid, so this is the same simulation, read more coarsely.
"""

from ntajax import Variant
from ntajax._cli.figure import FigureContext
from ntajax._presets.runs import fig2 as fig2_preset

from sweeps._common import variants_store


def variants(ctx: FigureContext) -> dict[str, Variant]:
    """The two Fig. 2 variants at the context's size."""
    t_total, n_save, n_seeds, weights_every = ctx.pick((20.0, 10001, 10, 10), (10.0, 5001, 3, 10), (2.0, 201, 2, 2))
    out = {}
    for name, v in fig2_preset().items():
        config = v.config.replace(grid=v.config.grid.replace(t_total=t_total, n_save=n_save), n_seeds=n_seeds,
                                  recording=v.config.recording.replace(weights=True, weights_every=weights_every))
        out[name] = v._replace(config=config)
    return out


def compute(ctx: FigureContext) -> dict:
    return {"runs": variants_store(ctx, "fig2", variants(ctx))}
