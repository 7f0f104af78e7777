"""Fig. A7 — phase diagrams of the fully connected network (FIGURES.md A7).

Two 5 × 5 grids, 10 seeds per cell with common random numbers across cells (see :mod:`sweeps.a7`):
(a) block length τ_B/τ_W1 × second-layer speed τ_W1/τ_W2 (increasing left to right) at λ = 0.25;
(b) τ_B/τ_W1 × original regulariser strength λ at τ_W2 = 0.01. The colour is the seed mean of the
final total alignment A_tot(t_tot) on the row-matched first-layer rows ('Oranges' over [0.7, 1]);
the second row gives the per-cell SEM (std(ddof=1)/√N). Every cell prints its mean.

Step sizes: dt = 0.01 gives dt/τ_W2 between 0.5 and 1.33 (1.33 at τ_W2 = 0.0075, 1 at the
τ_W2 = 0.01 of panel b), outside the gradient-flow regime (MODEL §5.2): reproduced as specified
and flagged; cells with dt/τ_W2 ≥ 1 are marked "†".

Fixed relative to the original: row matching by linear assignment instead of an independent argmax
per teacher row, and provenance — the original notebook read its panels from a different location
than it wrote them (the published panel may come from an earlier sweep); here the plot reads the
content-hashed stores computed from exactly these settings.

Third row: the gradient-flow cross-check of the longest-block row of both panels (expected
gradients, dt = 0.001; :mod:`sweeps.a7`), which tells whether a cell's specialisation belongs to
the gradient flow or to the discrete dynamics at the paper's step size.

Headline: the number of cells in the flexible regime, defined here as a seed-mean A_tot(t_tot) ≥
0.8 (:data:`FLEXIBLE_THRESHOLD`).
"""

import json

import numpy as np

from ntajax._cli.figure import FigureContext
from sweeps import a7 as a7_sweep

TITLE = "Fig. A7 — fully connected network phase diagrams (row-matched final A_tot)"
FLEXIBLE_THRESHOLD = 0.8
VMIN, VMAX = 0.7, 1.0


def panel_arrays(ds) -> dict:
    """Seed mean, SEM and axis labels of one panel, ordered for display: rows τ_B/τ_W1 from the
    largest (top) down, columns with the x quantity increasing left to right."""
    a = ds["final_alignment"].values  # (block_length, x, seed)
    n = np.sum(np.isfinite(a), axis=-1)
    mean = np.nanmean(a, axis=-1)
    sem = np.nanstd(a, axis=-1, ddof=1) / np.sqrt(n) if a.shape[-1] > 1 else np.zeros_like(mean)
    rows = np.argsort(-ds["block_over_tau_w1"].values)
    if ds.attrs["panel"] == "a":
        x = ds["tau_ratio"].values
        x_label = "$\\tau_{W1}/\\tau_{W2}$"
    else:
        x = ds["lambda"].values
        x_label = "original $\\lambda$ (nonneg : L2 = 1 : 10; $\\lambda_{nonneg} = \\lambda_{norm} = 10\\lambda/11$)"
    cols = np.argsort(x)
    return {
        "mean": mean[np.ix_(rows, cols)], "sem": sem[np.ix_(rows, cols)], "x": x[cols], "x_label": x_label,
        "y": ds["block_over_tau_w1"].values[rows], "flag": ds["dt_over_tau_w2"].values[cols] >= 1 - 1e-6,
    }


def dynamics(ds) -> tuple[str, float]:
    """('sampled B = 200, dt = 0.01' or 'expected gradient, dt = 0.001', dt) from the stored base config."""
    config = json.loads(ds.attrs["base_config"])
    gradient, dt = config["gradient"], float(config["grid"]["dt"])
    if gradient["type"] == "SampledGradient":
        return f"sampled B = {gradient['batch_size']}, dt = {dt:g}", dt
    return f"expected gradient, dt = {dt:g}", dt


def cross_check_arrays(check, panel: str) -> dict:
    """One-row arrays of the gradient-flow cross-check in the display order of :func:`panel_arrays`."""
    a = check[f"{panel}_final_alignment"].values  # (x, seed)
    x = check["tau_ratio"].values if panel == "a" else check["lambda"].values
    cols = np.argsort(x)
    _, dt = dynamics(check)
    ratio = check["dt_over_tau_w2"].values if panel == "a" else np.full(x.shape, dt / a7_sweep.PANEL_B_TAU_W2)
    return {"mean": np.nanmean(a, axis=-1)[cols][None], "x": x[cols], "flag": ratio[cols] >= 1 - 1e-6,
            "y": [check.attrs["block_length"] / a7_sweep.TAU_W1],
            "x_label": "$\\tau_{W1}/\\tau_{W2}$" if panel == "a" else "original $\\lambda$"}


def flexible_cells(ds, threshold: float = FLEXIBLE_THRESHOLD) -> tuple[int, int]:
    """(cells with seed-mean A_tot(t_tot) ≥ threshold, all cells)."""
    mean = np.nanmean(ds["final_alignment"].values, axis=-1)
    return int(np.sum(mean >= threshold)), int(mean.size)


def _heatmap(fig, ax, values, arrays, title, vmin, vmax, fmt):
    image = ax.imshow(values, cmap="Oranges", vmin=vmin, vmax=vmax, aspect="auto", origin="upper")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            mark = "†" if arrays["flag"][j] else ""
            ax.text(j, i, f"{values[i, j]:{fmt}}{mark}", ha="center", va="center", fontsize=7,
                    color="white" if values[i, j] > vmin + 0.75 * (vmax - vmin) else "black")
    ax.set_xticks(range(len(arrays["x"])))
    ax.set_xticklabels([f"{v:.3g}" for v in arrays["x"]])
    ax.set_yticks(range(len(arrays["y"])))
    ax.set_yticklabels([f"{v:.3g}" for v in arrays["y"]])
    ax.set(xlabel=arrays["x_label"], ylabel="$\\tau_B/\\tau_{W1}$", title=title)
    fig.colorbar(image, ax=ax, shrink=0.85)


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    has_check = "cross_check" in data
    heights = [1, 1, 0.35] if has_check else [1, 1]
    fig, axes = plt.subplots(len(heights), 2, figsize=(13, 11.5 if has_check else 9), constrained_layout=True,
                             gridspec_kw={"height_ratios": heights})
    n_seeds = data["a"].sizes["seed"]
    for col, key in enumerate(("a", "b")):
        ds = data[key]
        arrays = panel_arrays(ds)
        count, total = flexible_cells(ds)
        what = f"λ = {a7_sweep.PANEL_A_LAMBDA:g}" if key == "a" else f"τ_W2 = {a7_sweep.PANEL_B_TAU_W2:g}"
        title = (f"{key}  final $A_{{tot}}$ (row-matched), seed mean, {what}; "
                 f"{count}/{total} cells ≥ {FLEXIBLE_THRESHOLD}")
        _heatmap(fig, axes[0, col], arrays["mean"], arrays, title, VMIN, VMAX, ".2f")
        sem_max = max(float(np.nanmax(arrays["sem"])), 1e-6)
        _heatmap(fig, axes[1, col], arrays["sem"], arrays, f"{key}  SEM over N = {n_seeds} seeds", 0.0, sem_max, ".3f")
    if has_check:
        check = data["cross_check"]
        for col, key in enumerate(("a", "b")):
            arrays = cross_check_arrays(check, key)
            title = f"{key}  gradient-flow cross-check: {dynamics(check)[0]}, τ_B = {check.attrs['block_length']:g}"
            _heatmap(fig, axes[2, col], arrays["mean"], arrays, title, VMIN, VMAX, ".2f")
    ratios = np.concatenate([data[k]["dt_over_tau_w2"].values for k in ("a", "b")])
    fig.suptitle(
        f"Fig. A7: two-layer network, τ_W1 = {a7_sweep.TAU_W1:g}, {dynamics(data['a'])[0]}, t_tot = 20; colour = seed "
        f"mean over N = {n_seeds} seeds (common random numbers across cells).\n"
        f"dt/τ_W2 ranges from {ratios.min():.2g} to {ratios.max():.3g}: outside the gradient-flow regime in every cell "
        "(flagged; † marks dt/τ_W2 ≥ 1). Rows matched by linear assignment.",
        fontsize=9,
    )
    return ctx.save(fig, "a7")


def headline(data: dict) -> str:
    parts = []
    for key in ("a", "b"):
        count, total = flexible_cells(data[key])
        best = float(np.nanmax(np.nanmean(data[key]["final_alignment"].values, axis=-1)))
        parts.append(f"panel {key} {count}/{total} (best cell {best:.3f})")
    text = f"cells in the flexible regime (seed-mean final A_tot ≥ {FLEXIBLE_THRESHOLD}): " + ", ".join(parts)
    if "cross_check" in data:
        check = data["cross_check"]
        best = max(float(np.nanmax(np.nanmean(check[f"{k}_final_alignment"].values, axis=-1))) for k in ("a", "b"))
        text += f"; gradient-flow cross-check ({dynamics(check)[0]}, longest blocks): best cell {best:.3f}"
    return text
