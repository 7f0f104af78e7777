"""Fig. A4 — metrics of the fully connected network (FIGURES.md A4).

The Fig. 6 simulations (flexible and forgetful, same store as Fig. 6; sampled B = 200, dt = 0.01 so
dt/τ_W2 = 1, outside the gradient-flow regime, flagged). Row matching as in Fig. 6: linear
assignment of the 20 hidden units to the 20 teacher rows on the time-mean signed row cosine.

Panels (mean ± SEM over seeds, context shading on the exact block boundaries):

* loss L_task(t), flexible vs forgetful, y-range [0, 1];
* "gates": for each path block m, the mean over all entries of the sorted second-layer block W̆2_m
  (MODEL §7.9), y-range [0, 0.15];
* sorted similarity S^sorted_{mn}(t) = cos_row(W*_m, Ŭ_n), matched solid, mismatched dashed;
* total alignment A_tot(t) on the matched first-layer rows;
* per-layer weight speed (MODEL §7.8) of W1 and of W2: the row-averaged ‖d(row)/dt‖ (central
  differences on the Δ = 0.01 grid, divided by Δ) followed by a running maximum over 2 recorded
  samples (the original's window formula mixed time and sample units; here it is a parameter,
  :data:`sweeps.fc.SPEED_WINDOW`).
"""

import numpy as np

from figures.fig6 import TASKS, step_ratio_label
from ntajax._cli.figure import FigureContext
from ntajax._plotting import TASK_COLOURS, VARIANT_COLOURS, band, band_caption, block_table, mean_sem, shade_blocks
from sweeps import fc as fc_sweep

TITLE = "Fig. A4 — fully connected network metrics: loss, W2 block means, sorted similarity, A_tot, layer speeds"


def speed_decay(ds, variant: str, layer: str = "W1") -> np.ndarray:
    """Per-seed ratio of the mean layer speed over the first 5 blocks to that over the last 5."""
    t = ds["t_weights"].values
    speed = ds[f"speed_{layer}"].sel(variant=variant).values
    early = speed[:, t < 5.0].mean(axis=1)
    late = speed[:, t >= t[-1] - 5.0].mean(axis=1)
    return early / late


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    ds = data["runs"]
    t, t_w = ds["t"].values, ds["t_weights"].values
    blocks = block_table(ds)
    fig, axes = plt.subplots(2, 3, figsize=(16, 8), constrained_layout=True)
    (ax_loss, ax_gate, ax_sim), (ax_align, ax_w1, ax_w2) = axes
    for ax in axes.ravel():
        shade_blocks(ax, *blocks)
    for variant in ("flexible", "forgetful"):
        v = ds.sel(variant=variant)
        colour = VARIANT_COLOURS[variant]
        style = "-" if variant == "flexible" else ":"
        band(ax_loss, t, v["loss"].values, colour, label=variant)
        for m in range(v.sizes["sorted_block"]):
            band(ax_gate, t_w, v["w2_block_mean"].values[:, :, m], TASK_COLOURS[m], linestyle=style,
                 label=f"{variant}: mean of $\\breve W_2^{TASKS[m]}$")
        band(ax_align, t_w, v["row_alignment"].values, colour, label=variant)
        band(ax_w1, t_w, v["speed_W1"].values, colour, label=variant)
        band(ax_w2, t_w, v["speed_W2"].values, colour, label=variant)
    sim = ds["sorted_similarity"].sel(variant="flexible").values
    forgetful_sim = ds["sorted_similarity"].sel(variant="forgetful").values
    n = sim.shape[-1]
    for m in range(n):
        for j in range(n):
            matched = m == j
            label = f"{TASKS[m]}{'' if matched else ' vs ' + TASKS[j]}"
            band(ax_sim, t_w, sim[:, :, m, j], TASK_COLOURS[m], linestyle="-" if matched else "--",
                 label=f"flexible {label}", alpha=0.25 if matched else 0.12)
            band(ax_sim, t_w, forgetful_sim[:, :, m, j], "tab:grey", linestyle="-" if matched else "--",
                 label=f"forgetful {label}" if m == 0 else None, lw=0.7, alpha=0.1)
    window = fc_sweep.SPEED_WINDOW
    ax_loss.set(ylabel="task loss $\\mathcal{L}$ (expected)", ylim=(0, 1), title="loss")
    ax_gate.set(ylabel="mean entry of sorted block", ylim=(0, 0.15), title="\"gates\": mean of each sorted W2 block")
    ax_sim.set(ylabel="$S^{sorted}_{mn}$", ylim=(-0.3, 1.05), title="sorted similarity (— matched, - - mismatched)")
    ax_align.set(ylabel="$A_{tot}$ (row-matched W1)", ylim=(0, 1.05), title="total alignment")
    ax_w1.set(ylabel="mean row speed ‖d row/dt‖", title=f"W1 speed (running max over {window} samples)")
    ax_w2.set(ylabel="mean row speed ‖d row/dt‖", title=f"W2 speed (running max over {window} samples)")
    after_first_block = t_w >= float(ds["block_start"].values[1]) if ds.sizes["block"] > 1 else t_w >= 0
    for ax, layer in ((ax_w1, "W1"), (ax_w2, "W2")):
        # the first block's transient (small initial weights) would flatten the rest of the trace
        top = float(np.nanmax(ds[f"speed_{layer}"].values[..., after_first_block].mean(axis=1)))
        ax.set_ylim(0, 1.15 * top)
    for ax in axes.ravel():
        ax.set(xlabel="time t", xlim=(0, float(t[-1])))
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(f"Fig. A4: {band_caption(ds.sizes['seed'])}; {step_ratio_label(ds)}; rows matched by linear "
                 "assignment", fontsize=9)
    return ctx.save(fig, "a4")


def headline(data: dict) -> str:
    ds = data["runs"]
    parts = []
    for variant in ("flexible", "forgetful"):
        mean, sem = mean_sem(speed_decay(ds, variant))
        parts.append(f"{variant} {float(mean):.1f} ± {float(sem):.1f}")
    return "W1 speed, first 5 blocks over last 5 blocks: " + ", ".join(parts)
