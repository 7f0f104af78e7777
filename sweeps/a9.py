"""Fig. A9 computations: the toy simulations and the block-size effective potential (FIGURES.md A9).

Toy (computed but not plotted in the original; here panel A): τ_c = 0.05, τ_w = 5, t_tot = 50,
t_ctx ∈ {1, 2}, from (0.9, 0.1, 0.1, 0.9 | ½, ½), Fig. 4's regulariser (λ_nonneg = 1/11,
λ_norm = 10/11, k = 1), dt = 1e-3, Δ = 0.05, targets e₂ first, float64; the curriculum's
sharpness is not given for A9, Fig. 4's g = 100 is used.

Potential model (:class:`ntajax._potential.PotentialModel`, float64, deterministic): the flow
from (±0.1, 0) over t ∈ [0, 10] (diffrax, 300 saved points, positions at the slice times read
from the dense solution), the three potential terms along x₁ at t ∈ {0.5, 1.5, 3.5, 5.5} (x₂ of
the first trajectory), and the effective losses L⁽¹⁾(w̄), L⁽²⁾(w̄; τ_b) for w̄ ∈ [−1.05, 1.05],
τ_b ∈ geomspace(0.01, 10, 5).
"""

import jax
import numpy as np
import xarray as xr

from ntajax._cli.figure import FigureContext
from ntajax._analysis.potential import PotentialModel, first_order_loss

from sweeps.toy import ToyRun, toy_config, toy_init, toy_store

SLICE_TIMES = (0.5, 1.5, 3.5, 5.5)
STARTS = ((0.1, 0.0), (-0.1, 0.0))
TAU_BS = tuple(float(v) for v in np.geomspace(0.01, 10, 5))


def toy_runs(ctx: FigureContext) -> dict[str, ToyRun]:
    t_total, n_save = ctx.pick((50.0, 1001), (50.0, 1001), (10.0, 201))
    init = toy_init((0.9, 0.1), (0.1, 0.9), (0.5, 0.5))
    runs = {}
    for t_ctx in (1.0, 2.0):
        config = toy_config(tau_w=5.0, tau_c=0.05, block_length=t_ctx, t_total=t_total, n_save=n_save, dtype="float64",
                            n_blocks=int(np.ceil(t_total)))
        runs[f"t_ctx={t_ctx:g}"] = ToyRun(config, init, first=2)
    return runs


def potential_dataset(model: PotentialModel, n_x: int = 601, n_wbar: int = 421) -> xr.Dataset:
    """Flow, slices and effective losses of the A9 potential model."""
    with jax.enable_x64(True):
        ts, xs, x_at = model.flow(np.asarray(STARTS), t1=10.0, n_save=300, at=SLICE_TIMES)
        ts, xs, x_at = np.asarray(ts), np.asarray(xs), np.asarray(x_at)
        x1 = np.linspace(-1.5, 1.5, n_x)
        slices = {k: np.empty((len(SLICE_TIMES), n_x)) for k in ("lin", "quad", "wall", "total")}
        at_positions = np.empty((len(SLICE_TIMES), len(STARTS)))
        for i, t in enumerate(SLICE_TIMES):
            x2 = x_at[0, i, 1]
            terms = model.terms(np.stack([x1, np.full_like(x1, x2)], -1), t)
            for key, values in slices.items():
                values[i] = np.asarray(terms[key])
            on_slice = np.stack([x_at[:, i, 0], np.full(len(STARTS), x2)], -1)
            at_positions[i] = np.asarray(model.total(on_slice, t))
        active = np.asarray(model.window(np.asarray(SLICE_TIMES))) > 0.5
        wbar = np.linspace(-1.05, 1.05, n_wbar)
        second = np.stack([np.asarray(model.second_order_loss(wbar, tau_b)) for tau_b in TAU_BS])
    return xr.Dataset(
        {
            "x": (("start", "t_flow", "dim"), xs),
            "x_at_slice": (("start", "slice", "dim"), x_at),
            "V_lin": (("slice", "x1"), slices["lin"]),
            "V_quad": (("slice", "x1"), slices["quad"]),
            "V_wall": (("slice", "x1"), slices["wall"]),
            "V_tot": (("slice", "x1"), slices["total"]),
            "V_tot_at_position": (("slice", "start"), at_positions),
            "task_A_active": (("slice",), active),
            "L1": (("wbar",), first_order_loss(wbar)),
            "L2": (("tau_b", "wbar"), second),
        },
        coords={"t_flow": ts, "start": np.arange(len(STARTS)), "dim": [0, 1],
                "slice_time": ("slice", list(SLICE_TIMES)), "x1": x1, "wbar": wbar, "tau_b": list(TAU_BS)},
        attrs={"coupling_C": model.coupling, "period_T": model.period, "tau_w": model.tau_w, "tau_c": model.tau_c,
               "tau_b": model.tau_b, "sharpness": model.sharpness,
               "starts": str(STARTS)},
    )


def compute(ctx: FigureContext) -> dict:
    """Stores ``toy`` (t_ctx = 1 and 2) and ``potential``."""
    model = PotentialModel()
    potential = ctx.cached("a9_potential", {"a9_potential": model, "slices": SLICE_TIMES, "starts": STARTS,
                                            "tau_bs": TAU_BS}, lambda: potential_dataset(model))
    return {"toy": toy_store(ctx, "a9_toy", toy_runs(ctx)), "potential": potential}
