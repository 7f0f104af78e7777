"""Fig. A7 simulations: phase diagrams of the fully connected network (FIGURES.md A7).

Two 5 × 5 grids of two-layer linear networks (MODEL §2.3; d_in 20, hidden 20 = 2·10, d_out 10),
10 seeds per cell, on two orthogonal rotated teachers in blocks A_B__. Common settings:
τ_W1 = 0.04, sampled B = 200, dt = 0.01, t_tot = 20 for every cell (clean clock: 25, 34 — the last
one 0.2 long —, 50, 100 and 200 blocks), recorded at Δ = 0.02, teachers shared across seeds and
cells, and the same seed keys in every cell (common random numbers, MODEL §5.4).

* Panel a: τ_B ∈ {0.8, 0.6, 0.4, 0.2, 0.1} × τ_W2 ∈ {0.0075, 0.01, 0.0125, 0.015, 0.02}
  (τ_W1/τ_W2 ∈ {5.33, 4, 3.2, 2.67, 2}) with λ_nonneg = λ_norm = 10·0.25/11 (k = 2 on vec W2)
  [original λ = 0.25, nonneg : L2 = 1 : 10].
* Panel b: τ_B × original λ ∈ {0, 0.2, 0.25, 0.3, 0.35} (λ_nonneg = λ_norm = 10λ/11, k = 2) at
  τ_W2 = 0.01.

**dt/τ_W2 is 1.33 at τ_W2 = 0.0075 and at least 0.5 in every cell: outside the gradient-flow regime
(MODEL §5.2), reproduced as specified and flagged.**

Metric (MODEL §7.5, §7.9): per run, the 20 hidden units are matched to the 20 teacher rows by
linear assignment on the time-mean (over the whole record) signed row cosine between W1 rows and
teacher rows; A_tot(t_tot) is the mean matched row cosine at t_tot and ``mean_alignment`` its time
mean (the time mean is linear, so it is the mean of the matched time-mean cosines).

Implementation: all 50 cells share one static configuration, so every chunk of cells × seeds runs
as one ``jit(vmap)`` program over a stacked config (traced τ_W2, λ's and τ_B; compiled once): the
sweep executor with this script's own reducer (:class:`RowCosines`), which keeps each run's
time-mean and final 20 × 20 row-cosine matrices, final loss and status; the assignment is solved
on the host (SciPy). The sweep summaries of
:mod:`ntajax._sweep` assign whole gated paths, which is not the metric here.

Gradient-flow cross-check (``cross_check``): the longest-block row (τ_B = 0.8) of both panels in
expected-gradient mode with dt = 0.001 (dt/τ_W2 ≤ 0.13). It shows whether the specialisation of a
cell belongs to the gradient flow or to the discrete dynamics at the paper's step size.

Provenance: the original notebook read its results from a different location than it wrote them, so
the published panel may come from an earlier sweep (MODEL §8.18). These stores are keyed by a
content hash of the complete configuration; ntajax's results are the reference for this figure.
"""

import json
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ntajax import (
    Blocked, ExpectedGradient, GradientMode, NtajaxWarning, Recording, Regulariser, SampledGradient, Simulation,
    TimeGrid, TwoLayer, metrics,
)
from ntajax._cli.figure import FigureContext
from ntajax._run import make_teachers
from ntajax._simulation import describe
from ntajax._store.dataset import provenance
from ntajax._sweep.reducers import Reducer
from ntajax._sweep.sweep import run_points, stack_points
from ntajax.metrics import _rows


BLOCK_LENGTHS = (0.8, 0.6, 0.4, 0.2, 0.1)
TAU_W2 = (0.0075, 0.01, 0.0125, 0.015, 0.02)
LAMBDAS = (0.0, 0.2, 0.25, 0.3, 0.35)  # original λ, nonneg : L2 = 1 : 10
PANEL_A_LAMBDA = 0.25
PANEL_B_TAU_W2 = 0.01
TAU_W1 = 0.04
CROSS_CHECK_DT = 1e-3


def clean_lambda(original: float) -> float:
    """λ_nonneg = λ_norm = 10λ/11 for the original λ with nonneg : L2 = 1 : 10 (MODEL §4.3)."""
    return 10.0 * original / 11.0


def grid(ctx: FigureContext) -> dict:
    """Axis values and run settings at the context's size (tiny: 2 × 2 cells, expected gradients)."""
    sizes = ctx.pick(
        dict(block_lengths=BLOCK_LENGTHS, tau_w2=TAU_W2, lambdas=LAMBDAS, n_seeds=10,
             gradient=SampledGradient(batch_size=200), chunk=5),
        dict(block_lengths=BLOCK_LENGTHS, tau_w2=TAU_W2, lambdas=LAMBDAS, n_seeds=3,
             gradient=SampledGradient(batch_size=200), chunk=25),
        dict(block_lengths=(0.8, 0.1), tau_w2=(0.0075, 0.02), lambdas=(0.0, 0.35), n_seeds=2,
             gradient=ExpectedGradient(), chunk=4),
    )
    return sizes


def base_config(n_seeds: int, gradient: GradientMode, n_blocks: int) -> Simulation:
    """The static configuration every cell shares (traced fields are set per cell)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NtajaxWarning)  # flagged per cell by check_cells
        return Simulation(
            d_in=20, d_out=10, n_teachers=2, n_seeds=n_seeds,
            student=TwoLayer(n_paths=2, tau_w1=TAU_W1, tau_w2=0.01),
            curriculum=Blocked(block_length=1.0),
            regulariser=Regulariser(norm_order=2),
            gradient=gradient,
            grid=TimeGrid(dt=0.01, t_total=20.0, n_save=1001),
            recording=Recording(weights=True, weights_every=1, n_blocks=n_blocks),
        )


def _point(tau_b: float, tau_w2: float, lam: float) -> dict[str, float]:
    return {"curriculum.block_length": tau_b, "student.tau_w2": tau_w2, "regulariser.lambda_nonneg": lam,
            "regulariser.lambda_norm": lam}


def cells(sizes: dict) -> tuple[list[dict], list[tuple]]:
    """Traced values of every cell (by full path) and its (panel, i, j) position."""
    points, where = [], []
    for i, tau_b in enumerate(sizes["block_lengths"]):
        for j, tau_w2 in enumerate(sizes["tau_w2"]):
            lam = clean_lambda(PANEL_A_LAMBDA)
            points.append(_point(tau_b, tau_w2, lam))
            where.append(("a", i, j))
        for j, original in enumerate(sizes["lambdas"]):
            lam = clean_lambda(original)
            points.append(_point(tau_b, PANEL_B_TAU_W2, lam))
            where.append(("b", i, j))
    return points, where


def _resolved(base: Simulation, point: dict) -> dict[str, float]:
    """A cell's values keyed by full path (short names such as ``tau_w2`` are resolved)."""
    return {base.resolve_path(name): value for name, value in point.items()}


def check_cells(base: Simulation, points: list[dict]) -> list[str]:
    """Validate every cell (a bad value fails before anything runs) and collect the step-size flags."""
    flags = []
    for p in points:
        p = _resolved(base, p)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", NtajaxWarning)
            base.check_point(p)
        if caught:
            tau_w2 = p.get("student.tau_w2", float(base.student.tau_w2))
            flags.append(f"τ_W2 = {tau_w2:g}: dt/τ_W2 = {base.grid.dt / tau_w2:.3g}")
    return sorted(set(flags))


class RowCosines(Reducer):
    """What A7 keeps of each run: the time-mean and final 20 × 20 row-cosine matrices between the
    teacher rows and the W1 rows, the final loss and the status (the row matching is solved on
    the host)."""

    def __call__(self, config, trajectory, teachers, t_end):
        rowcos = _rows.row_cosines(teachers[: config.n_teachers], trajectory.weights.W1)
        return {"mean_rowcos": jnp.mean(rowcos, axis=0), "final_rowcos": rowcos[-1],
                "final_loss": trajectory.loss[-1], "status": trajectory.status}


def run_cells(base: Simulation, points: list[dict], key, chunk: int, progress: bool = False) -> dict:
    """Every cell × seed, ``chunk`` cells per compiled call; host-side row matching per run.
    ``points`` give each cell's traced values by path (or unique short name, e.g. ``tau_w2``)."""
    from tqdm.auto import tqdm

    points = [_resolved(base, p) for p in points]
    teachers = make_teachers(base, key)
    pieces = []
    for start in tqdm(range(0, len(points), chunk), desc="A7 cells", disable=not progress, leave=False):
        part = points[start:start + chunk]
        part = part + [part[-1]] * (chunk - len(part))  # pad: every call has the same shape (one compile)
        out = jax.device_get(run_points(stack_points(base, part), key, teachers, RowCosines()))
        pieces.append({k: np.asarray(v)[: len(points) - start] for k, v in out.items()})
    result = {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
    n_cells, n_seeds = result["final_loss"].shape
    match = np.zeros(result["mean_rowcos"].shape[:3], dtype=np.int64)
    final = np.zeros((n_cells, n_seeds))
    mean = np.zeros((n_cells, n_seeds))
    k = np.arange(match.shape[-1])
    for c in range(n_cells):
        for s in range(n_seeds):
            if result["status"][c, s] != 0 or not np.all(np.isfinite(result["mean_rowcos"][c, s])):
                final[c, s] = mean[c, s] = np.nan
                continue
            m = metrics.row_matching(result["mean_rowcos"][c, s])
            match[c, s] = m
            final[c, s] = result["final_rowcos"][c, s][k, m].mean()
            mean[c, s] = result["mean_rowcos"][c, s][k, m].mean()
    return {"final_alignment": final, "mean_alignment": mean, "final_loss": result["final_loss"],
            "status": result["status"], "row_match": match}


def _panel(sizes: dict, where: list[tuple], results: dict, panel: str, flags: list[str], base: Simulation
           ) -> xr.Dataset:
    x_name, x_values = ("tau_w2", sizes["tau_w2"]) if panel == "a" else ("lambda", sizes["lambdas"])
    shape = (len(sizes["block_lengths"]), len(x_values))
    index = np.zeros(shape, dtype=np.int64)
    for c, (p, i, j) in enumerate(where):
        if p == panel:
            index[i, j] = c
    dims = ("block_length", x_name, "seed")
    names = ("final_alignment", "mean_alignment", "final_loss", "status")
    data = {name: (dims, results[name][index]) for name in names}
    data["row_match"] = (dims + ("teacher_row",), results["row_match"][index])
    coords = {
        "block_length": list(sizes["block_lengths"]),
        "block_over_tau_w1": ("block_length", [b / TAU_W1 for b in sizes["block_lengths"]]),
        x_name: list(x_values),
        "seed": np.arange(base.n_seeds),
        "teacher_row": np.arange(results["row_match"].shape[-1]),
    }
    if panel == "a":
        coords["tau_ratio"] = ("tau_w2", [TAU_W1 / v for v in x_values])
        coords["dt_over_tau_w2"] = ("tau_w2", [base.grid.dt / v for v in x_values])
    else:
        coords["lambda_clean"] = ("lambda", [clean_lambda(v) for v in x_values])
        coords["dt_over_tau_w2"] = ("lambda", [base.grid.dt / PANEL_B_TAU_W2] * len(x_values))
    ds = xr.Dataset(data, coords=coords)
    ds["final_alignment"].attrs["description"] = "A_tot(t_tot) on the row-matched first-layer rows (MODEL §7.5, §7.9)"
    ds["mean_alignment"].attrs["description"] = "time mean of A_tot on the row-matched first-layer rows"
    ds.attrs.update(provenance())
    ds.attrs["panel"] = panel
    ds.attrs["base_config"] = json.dumps(describe(base), sort_keys=True)
    ds.attrs["step_size_flags"] = "; ".join(flags)
    ds.attrs["lambda_a"] = PANEL_A_LAMBDA
    return ds


def _cross_check(sizes: dict, where: list[tuple], results: dict, base: Simulation) -> xr.Dataset:
    data, coords = {}, {"seed": np.arange(base.n_seeds)}
    for panel, x_name, x_values in (("a", "tau_w2", sizes["tau_w2"]), ("b", "lambda", sizes["lambdas"])):
        index = [c for c, (p, _, _) in enumerate(where) if p == panel]
        for name in ("final_alignment", "mean_alignment", "final_loss", "status"):
            data[f"{panel}_{name}"] = ((x_name, "seed"), results[name][index])
        coords[x_name] = list(x_values)
    coords["tau_ratio"] = ("tau_w2", [TAU_W1 / v for v in sizes["tau_w2"]])
    coords["dt_over_tau_w2"] = ("tau_w2", [base.grid.dt / v for v in sizes["tau_w2"]])
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(provenance())
    ds.attrs["block_length"] = float(max(sizes["block_lengths"]))
    ds.attrs["base_config"] = json.dumps(describe(base), sort_keys=True)
    ds.attrs["description"] = ("gradient-flow cross-check (MODEL §5.2): the longest-block row of both panels in "
                               f"expected-gradient mode with dt = {base.grid.dt:g}")
    return ds


def compute(ctx: FigureContext) -> dict:
    """Both panels from one set of runs, stored as two labelled grids ``a`` and ``b``, plus the
    gradient-flow cross-check ``cross_check`` of their longest-block row (expected gradients,
    dt = 0.001, so dt/τ_W2 ≤ 0.13)."""
    sizes = grid(ctx)
    n_blocks = max(int(np.ceil(20.0 / b - 1e-9)) for b in sizes["block_lengths"])
    base = base_config(sizes["n_seeds"], sizes["gradient"], n_blocks)
    points, where = cells(sizes)
    description = {"base": base, "points": points, "seed": ctx.seed, "reduction": "row-matched A_tot v1"}
    store: dict = {}

    def run_all() -> dict:
        if not store:
            flags = check_cells(base, points)
            if flags:
                warnings.warn("A7 cells outside the gradient-flow regime: " + "; ".join(flags), NtajaxWarning,
                              stacklevel=2)
            results = run_cells(base, points, jax.random.key(ctx.seed), sizes["chunk"], progress=ctx.progress)
            store.update({panel: _panel(sizes, where, results, panel, flags, base) for panel in ("a", "b")})
        return store

    check_sizes = {**sizes, "block_lengths": (max(sizes["block_lengths"]),)}
    expected = base_config(sizes["n_seeds"], ExpectedGradient(), n_blocks)
    check_base = expected.replace(grid=expected.grid.replace(dt=CROSS_CHECK_DT))
    check_points, check_where = cells(check_sizes)

    def run_check() -> xr.Dataset:
        results = run_cells(check_base, check_points, jax.random.key(ctx.seed), sizes["chunk"], progress=ctx.progress)
        return _cross_check(check_sizes, check_where, results, check_base)

    return {
        "a": ctx.cached("a7-panel-a", {**description, "panel": "a"}, lambda: run_all()["a"]),
        "b": ctx.cached("a7-panel-b", {**description, "panel": "b"}, lambda: run_all()["b"]),
        "cross_check": ctx.cached("a7-cross-check", {"base": check_base, "points": check_points, "seed": ctx.seed,
                                                     "reduction": "row-matched A_tot v1"}, run_check),
    }
