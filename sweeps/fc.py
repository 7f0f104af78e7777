"""Fig. 6, A4, A5, A6 simulations: the two-layer fully connected linear network (FIGURES.md Fig. 6, A4).

ŷ = W2 W1 x with W1 ∈ R^{20×20} (hidden P·H = 2·10) and W2 ∈ R^{10×20}, no gates: the gate
regulariser acts on every entry of W2 (MODEL §2.3). The Fig. 2 task: two orthogonal rotated
teachers (s = 1/√20, shared across seeds) in blocks A_B__, τ_B = 1, t_tot = 30 (30 blocks).

* ``flexible`` — τ_W1 = 0.06, τ_W2 = 0.01; λ_nonneg = 0.2, λ_norm = 0.2 with k = 2, i.e.
  ½(‖W2‖_F − 1)² [original λ = 0.22, nonneg : L2 = 1 : 10];
* ``forgetful`` — the same without regulariser.

Sampled B = 200 with **dt = 0.01, so dt/τ_W2 = 1: outside the gradient-flow regime (MODEL §5.2,
§8.17), reproduced as specified and flagged**. Both layers start N(0, (0.01/√20)²). Everything is
recorded at Δ = 0.01 (every step), W1 and W2 included; 10 seeds with common random numbers.

The ``expected`` store is the gradient-flow cross-check that MODEL §5.2 offers for such settings: the
same two networks in expected-gradient mode with dt = 0.001 (dt/τ_W2 = 0.1), recorded at Δ = 0.01.
It matters here: in this cross-check the flexible network does not specialise (A_tot stays near
0.5), so the gating seen at the paper's step size is a property of the discrete dynamics with
dt/τ_W2 = 1, not of the gradient flow (see Fig. 6B).

Each store holds the row-matched views of MODEL §7.9 computed from the full-resolution weights (see
:mod:`ntajax._row_store`): the matching of the 20 hidden units to the 20 teacher rows (linear
assignment on the time-mean signed row cosine over the whole simulation), A_tot on the matched
first-layer rows, S^sorted, the W2 block means ("gates"), the per-layer row speed (running
maximum over 2 samples), and W2 unsorted and sorted at the end of the last A and the last B block.
To keep the store small, the raw W1 and W2 are then kept every ``RAW_WEIGHTS_EVERY``-th record
(``weights_W1``/``weights_W2`` on ``t_weights_raw``) and the ``gates`` record (a copy of W2) is
dropped. The path-level summaries of :func:`ntajax._store.to_dataset` (assignment, alignment,
regime, ...) compare the fixed halves of W1 with the teachers and mean nothing for this network;
they are dropped too, in favour of the ``row_*`` variables.
"""

import xarray as xr

from ntajax import (
    Blocked, ExpectedGradient, Recording, Regulariser, SampledGradient, Simulation, TimeGrid, TwoLayer, Variant,
)
from ntajax._cli.figure import FigureContext
from ntajax._store.row_store import add_row_matching

from sweeps._analysed import analysed_store

FC_LAMBDA = 0.2  # λ_nonneg = λ_norm, original λ = 0.22 with nonneg : L2 = 1 : 10 (MODEL §4.3)
RAW_WEIGHTS_EVERY = 10
CROSS_CHECK_DT = 1e-3
SPEED_WINDOW = 2  # samples of the running maximum of the per-layer speed (A4, MODEL §7.8)
PATH_LEVEL = ("alignment", "assignment", "final_alignment", "mean_alignment", "regime", "gate_separation", "gates")


def variants(ctx: FigureContext) -> dict[str, Variant]:
    """The flexible and forgetful FC networks at the context's size (tiny: expected gradients)."""
    sampled = SampledGradient(batch_size=200)
    n_save, n_seeds, gradient = ctx.pick((3001, 10, sampled), (3001, 3, sampled), (301, 2, ExpectedGradient()))
    base = Simulation(
        d_in=20, d_out=10, n_teachers=2, n_seeds=n_seeds,
        student=TwoLayer(n_paths=2, tau_w1=0.06, tau_w2=0.01),
        curriculum=Blocked(block_length=1.0),
        regulariser=Regulariser(norm_order=2),
        gradient=gradient,
        grid=TimeGrid(dt=0.01, t_total=30.0, n_save=n_save),
        recording=Recording(weights=True, weights_every=1),
    )
    flexible = base.replace(regulariser=Regulariser(lambda_nonneg=FC_LAMBDA, lambda_norm=FC_LAMBDA, norm_order=2))
    return {"flexible": Variant(flexible), "forgetful": Variant(base)}


def expected_variants(ctx: FigureContext) -> dict[str, Variant]:
    """The gradient-flow cross-check: the same networks, expected gradients, dt = CROSS_CHECK_DT."""
    n_save, n_seeds = ctx.pick((3001, 10), (3001, 3), (301, 2))

    def cross_check(config: Simulation) -> Simulation:
        grid = config.grid.replace(dt=CROSS_CHECK_DT, n_save=n_save)
        return config.replace(gradient=ExpectedGradient(), grid=grid, n_seeds=n_seeds)

    return {name: v._replace(config=cross_check(v.config)) for name, v in variants(ctx).items()}


def analyse(ds: xr.Dataset) -> xr.Dataset:
    """Row matching on the full-resolution weights, then thin the raw weights (see the module docstring)."""
    out = add_row_matching(ds, speed_window=SPEED_WINDOW)
    raw = out[["weights_W1", "weights_W2"]].isel(t_weights=slice(None, None, RAW_WEIGHTS_EVERY))
    raw = raw.rename(t_weights="t_weights_raw")
    out = out.drop_vars(["weights_W1", "weights_W2", *[v for v in PATH_LEVEL if v in out]])
    out = xr.merge([out, raw], combine_attrs="override")
    out["weights_W1"].attrs["description"] = f"W1 every {RAW_WEIGHTS_EVERY}th record (metrics use every record)"
    out["weights_W2"].attrs["description"] = f"W2 every {RAW_WEIGHTS_EVERY}th record (metrics use every record)"
    out["similarity"].attrs["description"] = "fixed halves of W1 (rows 0-9, 10-19) vs teachers; use sorted_similarity"
    return out


def compute(ctx: FigureContext) -> dict:
    analysis = f"add_row_matching v1, raw every {RAW_WEIGHTS_EVERY}"
    return {
        "runs": analysed_store(ctx, "fc", variants(ctx), analyse, analysis),
        "expected": analysed_store(ctx, "fc-expected", expected_variants(ctx), analyse, analysis),
    }
