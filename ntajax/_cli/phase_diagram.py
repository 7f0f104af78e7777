"""The main job: two dense phase-diagram panels, their boundaries, a store and a figure.

``ntajax phase-diagram`` runs :func:`ntajax._presets.sweeps.phase_a` (τ_B/τ_w × τ_w/τ_c) and
:func:`~ntajax._presets.sweeps.phase_b` (τ_B/τ_w × λ) into ``DIR/phase_diagram.zarr/{a,b}``,
adds the interpolated and the refined boundary to each store — refined by bisection
(:func:`ntajax._sweep.phase.refine_boundary`, the default, with a bootstrap interval over seeds
from the grid: :func:`~ntajax._sweep.phase.grid_bootstrap_interval`) or by gradient-located Newton
steps with a bootstrap interval linearised on exact slopes (:func:`ntajax.gradient_boundary`) —, draws
``DIR/phase_diagram.png`` and returns the two datasets.
"""

import os
import warnings

import numpy as np
import xarray as xr
import zarr

from .._plotting import mean_sem
from ..metrics._seeds import seed_statistics as statistics_over_seeds
from .._gradients.boundary import GRADIENT_MAX_ITERATIONS, gradient_boundary
from .._sweep.phase import (
    DEFAULT_THRESHOLD,
    REFINE_ITERATIONS,
    boundary_by_interpolation,
    grid_bootstrap_interval,
    interpolated_start,
    refine_boundary,
)
from .._sweep.sweep import Sweep
from .._sweep.execute import run_sweep
from .._store.sweep_store import open_sweep


BOUNDARY_METHODS = ("bisection", "gradient")
"""How ``ntajax phase-diagram --boundary`` refines the interpolated boundary: ``bisection``
(:func:`ntajax._sweep.phase.refine_boundary`; the default: on the Fig. 5 panels the seed mean jumps
between levels, so slopes rarely help — BENCHMARKS.md, "Simulated runs needed by the gradient
boundary vs bisection") or ``gradient`` (Newton steps on exact slopes, falling back to bisection)."""


INTERVAL_DESCRIPTION = ("{} end of the 95 % bootstrap interval over seeds of the refined boundary (seeds resampled; "
                        "bisection: each resample's interpolated grid crossing, centred on the refined boundary; "
                        "gradient: each resample's crossing linearised at the last evaluated x; NaN for rows "
                        "without a crossing in 90 % of the resamples or, for gradient, without a positive slope)")


def _check_method(method: str) -> None:
    if method not in BOUNDARY_METHODS:
        raise ValueError(f"boundary method {method!r} is not one of {', '.join(BOUNDARY_METHODS)}.")


def add_boundary(sweep: Sweep, path: str, x_axis: str, *, refine: bool = True, method: str = "bisection",
                 threshold: float = DEFAULT_THRESHOLD) -> xr.Dataset:
    """Compute the regime boundary of a finished two-axis sweep and store it beside the results.

    Stores ``boundary`` (interpolated between grid cells), ``boundary_refined`` (by ``method``;
    NaN without ``refine``; its attributes name the method and its simulated runs) and
    ``boundary_lower``/``boundary_upper`` (the 95 % bootstrap interval over seeds: from the grid
    for bisection, linearised on the slopes for gradient; NaN without ``refine``), all on
    ``boundary_row``. The sweep's results and fingerprint are
    untouched, so the store still resumes; re-running overwrites these variables.
    """
    _check_method(method)
    ds = open_sweep(path)
    y_axis = next(a.name for a in sweep.axes if a.name != x_axis)
    mean = ds["final_alignment"].mean("seed").transpose(y_axis, x_axis).values
    x = ds[x_axis].values
    boundary, bracket = boundary_by_interpolation(mean, x, threshold)
    interval = np.full((len(boundary), 2), np.nan)
    runs = 0
    if not refine:
        refined, how = np.full_like(boundary, np.nan), "none"
    elif method == "gradient":
        solution = gradient_boundary(sweep, x_axis, bracket, start=interpolated_start(mean, x, bracket, threshold),
                                     threshold=threshold)
        refined, interval, runs = solution.boundary, solution.interval, solution.runs
        how = (f"gradient-located: safeguarded Newton steps on forward-mode slopes ({solution.iterations} rounds, "
               f"{int(solution.newton_steps.sum())} Newton and {int(solution.bisection_steps.sum())} bisection steps)")
    else:
        refined = refine_boundary(sweep, x_axis, bracket, threshold=threshold)
        runs = REFINE_ITERATIONS * len(boundary) * sweep.n_seeds
        how = f"bisection on the traced parameter ({REFINE_ITERATIONS} rounds)"
        per_seed = ds["final_alignment"].transpose(y_axis, x_axis, "seed").values
        interval = grid_bootstrap_interval(per_seed, x, threshold=threshold, estimate=refined)
    extra = xr.Dataset(
        {
            "boundary": (("boundary_row",), boundary, {"description": f"interpolated first crossing of mean A_tot = {threshold} along {x_axis}"}),
            "boundary_refined": (("boundary_row",), refined, {"description": f"the same, refined: {how}",
                                                              "method": method if refine else "none",
                                                              "simulated_runs": int(runs)}),
            "boundary_lower": (("boundary_row",), interval[:, 0], {"description": INTERVAL_DESCRIPTION.format("lower")}),
            "boundary_upper": (("boundary_row",), interval[:, 1], {"description": INTERVAL_DESCRIPTION.format("upper")}),
        },
        coords={"boundary_row": ds[y_axis].values},
    )
    extra.attrs = dict(xr.open_zarr(path).attrs)  # appending rewrites the root attributes
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Consolidated metadata.*")
        extra.to_zarr(path, mode="a", consolidated=True)
        # appending over existing variables keeps their old attributes: set them (the method and
        # its runs change with --boundary), then consolidate again
        group = zarr.open_group(path, mode="a")
        for name, variable in extra.data_vars.items():
            group[name].attrs.update(variable.attrs)
        zarr.consolidate_metadata(path)
    return open_sweep(path)


def run_phase_diagram(
    panels: dict[str, Sweep],
    out: str,
    *,
    scheduler: str | None = None,
    refine: bool = True,
    progress: bool = True,
    boundary: str = "bisection",
) -> dict[str, xr.Dataset]:
    """Run every panel into ``out/phase_diagram.zarr/<panel>`` (resumable) and add its boundary,
    refined by ``boundary`` (one of :data:`BOUNDARY_METHODS`)."""
    _check_method(boundary)
    root = os.path.join(out, "phase_diagram.zarr")
    os.makedirs(out, exist_ok=True)
    zarr.open_group(root, mode="a")
    results = {}
    for name, sweep in panels.items():
        x_axis = sweep.axes[1].name
        path = os.path.join(root, name)
        run_sweep(sweep, path, scheduler=scheduler, progress=progress)
        results[name] = add_boundary(sweep, path, x_axis, refine=refine, method=boundary)
    # the root group's metadata lists the panels: plain xarray.open_zarr(root, group=...) opens
    # without the consolidated-metadata warning
    with warnings.catch_warnings():  # zarr's notice that consolidation is not in the v3 spec yet
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        zarr.consolidate_metadata(root)
    return results


SLOPE_COST = 2.5
"""Cost of a value-and-slope run (forward mode) in forward runs, for ``--explain``'s time estimate
(measured 2–3× on the 2-core CPU, ``bench/bench_gradients.py``)."""

GRADIENT_TYPICAL_ROUNDS = 3
"""Rounds the gradient boundary typically takes where the map is smooth (``--explain``)."""


def explain_phase_diagram(panels: dict[str, Sweep], out: str, *, refine: bool = True,
                          scheduler: str | None = None, boundary: str = "bisection") -> str:
    """What :func:`run_phase_diagram` would run, without running it or writing anything.

    Per panel: the sweep's :class:`~ntajax._sweep.plan.SweepPlan` (a resumed store counts only its
    missing chunks; a store of another sweep is refused) and, with ``refine``, the boundary's runs:
    for ``bisection`` ``REFINE_ITERATIONS`` rounds of one probe point per row × seeds; for
    ``gradient`` between ``GRADIENT_TYPICAL_ROUNDS`` (smooth maps) and
    ``GRADIENT_MAX_ITERATIONS`` rounds (it stops when every row has converged), each run with its
    slope costing about ``SLOPE_COST`` forward runs; one more compiled program either way, time
    estimated from the panel's calibration. Then the totals (the gradient's at its upper bound).
    """
    _check_method(boundary)
    root = os.path.join(out, "phase_diagram.zarr")
    lines, total_s, total_runs, total_programs = [], 0.0, 0, 0
    for name, sweep in panels.items():
        plan = run_sweep(sweep, os.path.join(root, name), scheduler=scheduler, explain=True)
        lines.append(f"panel {name}: {' × '.join(a.name for a in sweep.axes)} → {root}/{name}")
        lines.extend("  " + line for line in str(plan).splitlines())
        total_runs += plan.n_pending * plan.n_seeds
        total_programs += plan.n_programs
        total_s += plan.estimated_s or 0.0
        if refine:
            rows = len(sweep.axes[0].values)
            per_round = rows * sweep.n_seeds
            cost = 1.0 if boundary == "bisection" else SLOPE_COST

            def seconds(runs):
                if plan.run_step_s is None:
                    return None
                return plan.compile_s * cost + plan.run_step_s * runs * plan.steps_per_run * cost

            if boundary == "bisection":
                runs = REFINE_ITERATIONS * per_round
                time_s = seconds(runs)
                when = "" if time_s is None else f", ≈ {time_s:.0f} s"
                lines.append(f"  refinement    {REFINE_ITERATIONS} bisection rounds × {rows} rows × {sweep.n_seeds} seeds = "
                             f"{runs:,} runs, 1 more compiled program{when}")
            else:
                low, runs = GRADIENT_TYPICAL_ROUNDS * per_round, GRADIENT_MAX_ITERATIONS * per_round
                time_s = seconds(runs)
                when = "" if time_s is None else f", ≈ {seconds(low):.0f}–{time_s:.0f} s"
                lines.append(f"  refinement    gradient-located (Newton, bisection where the map is flat or jumps): "
                             f"{GRADIENT_TYPICAL_ROUNDS}–{GRADIENT_MAX_ITERATIONS} rounds × {rows} rows × {sweep.n_seeds} "
                             f"seeds = {low:,}–{runs:,} runs with their slopes (≈ {SLOPE_COST:g}× a run each), "
                             f"1 more compiled program{when}")
            total_s += time_s or 0.0
            total_runs += runs
            total_programs += 1
    lines.append(f"total: {total_runs:,} runs, at most {total_programs} compiled programs (panels of one structure "
                 f"share theirs), ≈ {total_s:.0f} s (±50 %; nothing was run or written)")
    return "\n".join(lines)


AXIS_LABELS = {
    "tau_ratio": r"gate speed $\tau_w/\tau_c$",
    "block_over_tau_w": r"block length $\tau_B/\tau_w$",
    "lambda": "regularisation λ (original; λ_nonneg = 5λ/3, λ_norm = 25λ/3)",
}


def seed_statistics(ds: xr.Dataset) -> tuple[str, str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(y axis, x axis, x values, y values, seed mean, SEM) of a two-axis sweep's final A_tot.

    Mean and SEM have shape (n_y, n_x); SEM = std(ddof=1)/√N over the finite seeds (0 for one seed).
    """
    y_axis, x_axis = _dims(ds)
    data = ds["final_alignment"].transpose(y_axis, x_axis, "seed").values
    mean, sem = mean_sem(data, axis=-1)  # diverged seeds (NaN) left out, without numpy warnings
    return y_axis, x_axis, ds[x_axis].values, ds[y_axis].values, mean, sem


def draw_panel(fig, ax, ds: xr.Dataset, values: np.ndarray, *, label: str, cmap: str, limits, boundary: bool = True):
    """A heatmap of ``values`` (n_y, n_x) on the sweep's axes (log-scaled where they span > 8×), with
    the refined boundary (or the interpolated one) drawn on top, its bootstrap interval over seeds
    as a band where the store has one (``boundary_interval``), and a colour bar."""
    y_axis, x_axis = _dims(ds)
    mesh = ax.pcolormesh(ds[x_axis].values, ds[y_axis].values, values, cmap=cmap, vmin=limits[0], vmax=limits[1],
                         shading="nearest")
    fig.colorbar(mesh, ax=ax, label=label)
    if boundary:
        refined = ds["boundary_refined"].values
        line = refined if np.isfinite(refined).any() else ds["boundary"].values
        rows = ds["boundary_row"].values
        ax.plot(line, rows, color="tab:blue", lw=2, marker="o", ms=3,
                label="flexible/forgetful boundary: mean A_tot = ¾ (ntajax's threshold)")
        if "boundary_lower" in ds and np.isfinite(ds["boundary_lower"].values).any():
            lower, upper = ds["boundary_lower"].values, ds["boundary_upper"].values
            ax.fill_betweenx(rows, lower, upper, color="tab:blue", alpha=0.25, lw=0,
                             label="95 % bootstrap interval over seeds")
    # cells averaged over fewer seeds than they ran (diverged seeds) are marked, never hidden
    incomplete = statistics_over_seeds(ds["final_alignment"].transpose(y_axis, x_axis, "seed").values).incomplete
    if incomplete.any():
        rows, cols = np.nonzero(incomplete)
        ax.scatter(ds[x_axis].values[cols], ds[y_axis].values[rows], marker="x", color="black", s=14, lw=0.8,
                   label=f"{incomplete.sum()} cell(s) with diverged seeds (mean over the rest)")
    if boundary or incomplete.any():
        ax.legend(fontsize=7, loc="lower right")
    for axis_name, setter in ((x_axis, ax.set_xscale), (y_axis, ax.set_yscale)):
        axis_values = ds[axis_name].values
        if np.all(axis_values > 0) and axis_values.max() / axis_values.min() > 8:
            setter("log")
    ax.set(xlabel=AXIS_LABELS.get(x_axis, x_axis), ylabel=AXIS_LABELS.get(y_axis, y_axis))


def phase_figure(results: dict[str, xr.Dataset]):
    """Heatmaps of the seed-mean final total alignment (top) and its SEM (bottom), with the boundary."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(5.5 * len(results), 8.5), constrained_layout=True, squeeze=False)
    for col, (name, ds) in enumerate(results.items()):
        _, _, _, _, mean, sem = seed_statistics(ds)
        draw_panel(fig, axes[0, col], ds, mean, label="final total alignment $A_{tot}$ (seed mean)", cmap="Oranges",
                   limits=(0.5, 1.0))
        draw_panel(fig, axes[1, col], ds, sem, label="SEM over seeds", cmap="Greys", limits=(0, None))
        for ax in axes[:, col]:
            ax.set_title(f"panel {name}")
    n_seeds = next(iter(results.values())).sizes["seed"]
    fig.suptitle(f"NTA phase diagram: mean over N = {n_seeds} seeds (common random numbers across cells); "
                 "boundary and classifier are ntajax's (threshold ¾), not the paper's", fontsize=9)
    return fig


def _dims(ds: xr.Dataset) -> tuple[str, str]:
    import json

    dims = json.loads(ds.attrs["dims"])
    return dims[0], dims[1]


def phase_summary(results: dict[str, xr.Dataset]) -> str:
    lines = []
    for name, ds in results.items():
        y_axis, x_axis = _dims(ds)
        mean = ds["final_alignment"].mean("seed")
        flexible = float((ds["regime"] == 1).mean())
        diverged = int((ds["status"] == 1).sum())
        incomplete = int((ds["final_alignment"].isnull().any("seed")).sum())
        marked = f" in {incomplete} cell(s), marked × in the figure" if incomplete else ""
        lines.append(f"panel {name}: {y_axis} × {x_axis}, {ds.sizes[y_axis]}×{ds.sizes[x_axis]} cells × {ds.sizes['seed']} seeds;"
                     f" mean A_tot {float(mean.min()):.2f}–{float(mean.max()):.2f}; flexible runs {flexible:.0%};"
                     f" diverged runs {diverged}{marked}")
        boundary = ds["boundary_refined"].values if np.isfinite(ds["boundary_refined"].values).any() else ds["boundary"].values
        pairs = ", ".join(f"{y:.3g}→{b:.3g}" for y, b in zip(ds["boundary_row"].values, boundary) if np.isfinite(b))
        method = ds["boundary_refined"].attrs.get("method", "bisection")
        runs = ds["boundary_refined"].attrs.get("simulated_runs")
        how = f" [{method}, {runs:,} simulated runs]" if method != "none" and runs else ""
        lines.append(f"  boundary ({y_axis} → {x_axis}){how}: {pairs or 'none inside the grid'}")
        if "boundary_lower" in ds and np.isfinite(ds["boundary_lower"].values).any():
            bands = ", ".join(f"{y:.3g}→[{lo:.3g}, {hi:.3g}]" for y, lo, hi in
                              zip(ds["boundary_row"].values, ds["boundary_lower"].values, ds["boundary_upper"].values)
                              if np.isfinite(lo))
            lines.append(f"  95 % bootstrap interval over seeds: {bands}")
    return "\n".join(lines)
