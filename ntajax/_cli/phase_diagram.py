"""The main job: two dense phase-diagram panels, their boundaries, a store and a figure.

``ntajax phase-diagram`` runs :func:`ntajax._presets.sweeps.phase_a` (τ_B/τ_w × τ_w/τ_c) and
:func:`~ntajax._presets.sweeps.phase_b` (τ_B/τ_w × λ) into ``DIR/phase_diagram.zarr/{a,b}``,
adds the interpolated and bisection-refined boundaries to each store, draws
``DIR/phase_diagram.png`` and returns the two datasets.
"""

import os
import warnings

import numpy as np
import xarray as xr
import zarr

from .._plotting import mean_sem
from ..metrics._seeds import seed_statistics as statistics_over_seeds
from .._sweep.phase import DEFAULT_THRESHOLD, boundary_by_interpolation, refine_boundary
from .._sweep.sweep import Sweep
from .._sweep.execute import run_sweep
from .._store.sweep_store import open_sweep


def add_boundary(sweep: Sweep, path: str, x_axis: str, *, refine: bool = True, threshold: float = DEFAULT_THRESHOLD) -> xr.Dataset:
    """Compute the regime boundary of a finished two-axis sweep and store it beside the results."""
    ds = open_sweep(path)
    y_axis = next(a.name for a in sweep.axes if a.name != x_axis)
    mean = ds["final_alignment"].mean("seed").transpose(y_axis, x_axis).values
    x = ds[x_axis].values
    boundary, bracket = boundary_by_interpolation(mean, x, threshold)
    refined = refine_boundary(sweep, x_axis, bracket, threshold=threshold) if refine else np.full_like(boundary, np.nan)
    extra = xr.Dataset(
        {
            "boundary": (("boundary_row",), boundary, {"description": f"interpolated first crossing of mean A_tot = {threshold} along {x_axis}"}),
            "boundary_refined": (("boundary_row",), refined, {"description": "the same, refined by bisection on the traced parameter"}),
        },
        coords={"boundary_row": ds[y_axis].values},
    )
    extra.attrs = dict(xr.open_zarr(path).attrs)  # appending rewrites the root attributes
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Consolidated metadata.*")
        extra.to_zarr(path, mode="a", consolidated=True)
    return open_sweep(path)


def run_phase_diagram(
    panels: dict[str, Sweep],
    out: str,
    *,
    scheduler: str | None = None,
    refine: bool = True,
    progress: bool = True,
) -> dict[str, xr.Dataset]:
    """Run every panel into ``out/phase_diagram.zarr/<panel>`` (resumable) and add its boundary."""
    root = os.path.join(out, "phase_diagram.zarr")
    os.makedirs(out, exist_ok=True)
    zarr.open_group(root, mode="a")
    results = {}
    for name, sweep in panels.items():
        x_axis = sweep.axes[1].name
        path = os.path.join(root, name)
        run_sweep(sweep, path, scheduler=scheduler, progress=progress)
        results[name] = add_boundary(sweep, path, x_axis, refine=refine)
    # the root group's metadata lists the panels: plain xarray.open_zarr(root, group=...) opens
    # without the consolidated-metadata warning
    with warnings.catch_warnings():  # zarr's notice that consolidation is not in the v3 spec yet
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        zarr.consolidate_metadata(root)
    return results


REFINE_ITERATIONS = 6
"""Bisection rounds of the boundary refinement (:func:`ntajax._sweep.phase.refine_boundary`'s default)."""


def explain_phase_diagram(panels: dict[str, Sweep], out: str, *, refine: bool = True,
                          scheduler: str | None = None) -> str:
    """What :func:`run_phase_diagram` would run, without running it or writing anything.

    Per panel: the sweep's :class:`~ntajax._sweep.plan.SweepPlan` (a resumed store counts only its
    missing chunks; a store of another sweep is refused) and, with ``refine``, the bisection runs
    (``REFINE_ITERATIONS`` rounds of one probe point per row × seeds, one more compiled program;
    time estimated from the panel's calibration at the probe chunk's width). Then the totals.
    """
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
            runs = REFINE_ITERATIONS * rows * sweep.n_seeds
            time_s = None
            if plan.run_step_s is not None:
                time_s = plan.compile_s + plan.run_step_s * runs * plan.steps_per_run
                total_s += time_s
            when = "" if time_s is None else f", ≈ {time_s:.0f} s"
            lines.append(f"  refinement    {REFINE_ITERATIONS} bisection rounds × {rows} rows × {sweep.n_seeds} seeds = "
                         f"{runs:,} runs, 1 more compiled program{when}")
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
    the refined boundary (or the interpolated one) drawn on top and a colour bar."""
    y_axis, x_axis = _dims(ds)
    mesh = ax.pcolormesh(ds[x_axis].values, ds[y_axis].values, values, cmap=cmap, vmin=limits[0], vmax=limits[1],
                         shading="nearest")
    fig.colorbar(mesh, ax=ax, label=label)
    if boundary:
        refined = ds["boundary_refined"].values
        line = refined if np.isfinite(refined).any() else ds["boundary"].values
        ax.plot(line, ds["boundary_row"].values, color="tab:blue", lw=2, marker="o", ms=3,
                label="flexible/forgetful boundary: mean A_tot = ¾ (ntajax's threshold)")
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
        lines.append(f"  boundary ({y_axis} → {x_axis}): {pairs or 'none inside the grid'}")
    return "\n".join(lines)
