"""Fig. 5 — NTA phase diagrams (FIGURES.md Fig. 5), plus the dense version with the boundary.

Top: the paper's panels — (a) block length τ_B/τ_w × gate speed τ_w/τ_c, (b) τ_B/τ_w × original
regulariser strength λ (clean λ_nonneg = 5λ/3, λ_norm = 25λ/3) — colour = seed mean of the
final total alignment A_tot(t = 7) ('Oranges' over [0.7, 1]), each cell annotated with its SEM
over seeds. Bottom: the dense panels of ``ntajax phase-diagram`` (expected-gradient flow), with
the flexible/forgetful boundary where the seed mean crosses ¾ — ntajax's own threshold, the paper
defines none. All cells of a panel share one compiled program and the same seed keys (common
random numbers).
"""

import json

import numpy as np

from ntajax._cli.figure import FigureContext
from ntajax._cli.phase_diagram import AXIS_LABELS, draw_panel, seed_statistics

TITLE = "Fig. 5 — phase diagrams: block length × gate speed and × regularisation (5 × 5 and dense)"


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 9), constrained_layout=True)
    for col, name in enumerate(("a", "b")):
        ax = axes[0, col]
        y_axis, x_axis, x, y, mean, sem = seed_statistics(data[f"fig5{name}"])
        image = ax.imshow(mean, origin="lower", cmap="Oranges", vmin=0.7, vmax=1.0, aspect="auto")
        for i in range(len(y)):
            for j in range(len(x)):
                ax.text(j, i, f"{mean[i, j]:.2f}\n±{sem[i, j]:.2f}", ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(x)), [f"{v:.3g}" for v in x])
        ax.set_yticks(range(len(y)), [f"{v:.3g}" for v in y])
        ax.set(xlabel=AXIS_LABELS.get(x_axis, x_axis), ylabel=AXIS_LABELS.get(y_axis, y_axis),
               title=f"{name}: paper grid, sampled B = 200 (mean ± SEM, N = {data[f'fig5{name}'].sizes['seed']})")
        fig.colorbar(image, ax=ax, label="final total alignment $A_{tot}$")
        ax = axes[1, col]
        dense = data[f"dense_{name}"]
        _, _, x, y, mean, sem = seed_statistics(dense)
        draw_panel(fig, ax, dense, mean, label="final total alignment $A_{tot}$ (seed mean)", cmap="Oranges", limits=(0.5, 1.0))
        ax.set_title(f"{name}: dense, expected flow ({len(y)}×{len(x)} cells, N = {dense.sizes['seed']}; SEM max {np.nanmax(sem):.2f})")
    t_total = json.loads(data["fig5a"].attrs["sweep"])["base"]["grid"]["t_total"]
    fig.suptitle(f"Fig. 5: colour = seed mean of A_tot at t = {t_total:g}; common random numbers across cells", fontsize=10)
    return ctx.save(fig, "fig5")


def headline(data: dict) -> str:
    parts = []
    for name in ("a", "b"):
        _, _, _, _, mean, _ = seed_statistics(data[f"fig5{name}"])
        parts.append(f"{name}: A_tot {np.nanmin(mean):.2f} (short blocks / slow or unregularised gates) → {np.nanmax(mean):.2f}")
    return "; ".join(parts)
