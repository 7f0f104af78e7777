"""Fig. 6 with A5 and A6 — gating emerges in a fully connected network (FIGURES.md Fig. 6, A5, A6).

The two-layer linear network ŷ = W2 W1 x (hidden 20 = P·H = 2·10, no gates; the gate regulariser
acts on all of W2) on the Fig. 2 task, flexible (λ_nonneg = λ_norm = 0.2, k = 2) vs forgetful (no
regulariser), τ_W1 = 0.06, τ_W2 = 0.01, sampled B = 200, **dt = 0.01: dt/τ_W2 = 1, outside the
gradient-flow regime (MODEL §5.2), reproduced as specified and flagged**. 30 blocks of τ_B = 1.

Row matching (MODEL §7.9), for every panel: the 20 hidden units are matched to the 20 teacher
rows by linear assignment on the time-mean signed row cosine over the whole simulation (the
original's independent argmax per teacher row can pick a unit twice). Columns of the sorted second
layer are ordered by the teacher row their unit matches: [W̆2_A, W̆2_B].

Files:
* ``fig6`` — (A) seed-mean sorted W2 of the flexible network at the end of the last A block and of
  the last B block ('Oranges' over [0, 0.5]); (B) total alignment A_tot(t) on the matched
  first-layer rows, flexible vs forgetful, mean ± SEM; dashed: the gradient-flow cross-check
  (expected gradients, dt = 0.001, dt/τ_W2 = 0.1; MODEL §5.2). In that cross-check the flexible
  network does not specialise, so the emergent gating of this figure belongs to the discrete
  dynamics at the paper's step size dt/τ_W2 = 1 — which is why the flag matters here.
* ``a6`` — the same heatmaps for (a) the flexible and (b) the forgetful network.
* ``a5`` — the unsorted W2 of seed 0 at the same two times (flexible top, forgetful bottom).

"The end of a block" is the state after its last update: the record at the block's end time,
taken before any update of the next block (for the last block, the final state).
Bands are mean ± SEM over seeds (never rescaled); common random numbers across the two variants.

Headline: in its own context, the mean diagonal of the own sorted block vs the mean |entry| of the
other block (flexible and forgetful), and the final A_tot.
"""

import json

import numpy as np

from ntajax._cli.figure import FigureContext
from ntajax._plotting import VARIANT_COLOURS, band, band_caption, block_table, mean_sem, shade_blocks

TITLE = "Fig. 6 (A5, A6) — fully connected network: sorted second layer and total alignment"
TASKS = ("A", "B")
VMIN, VMAX = 0.0, 0.5


# ------------------------------------------------------------------------ shared helpers
def step_ratio_label(ds, variant: str = "flexible", short: bool = False) -> str:
    """Dynamics and the dt/τ_W2 flag from the stored config."""
    config = json.loads(ds.attrs["config"])[variant]
    gradient, dt = config["gradient"], config["grid"]["dt"]
    mode = f"sampled B = {gradient['batch_size']}" if gradient["type"] == "SampledGradient" else "expected gradient"
    ratio = dt / config["student"]["tau_w2"]
    flag = " — outside the gradient-flow regime (flagged)" if ratio >= 0.5 and not short else ""
    return f"{mode}, dt = {dt:g}, dt/τ_W2 = {ratio:.2g}{flag}"


def own_and_other(ds, variant: str) -> dict:
    """Per-seed block structure of the sorted W2 at the end of the last block of each task.

    For context m: ``diagonal`` = mean of diag(W̆2_m) (its own block), ``own_off`` = mean |entry| of the
    off-diagonal part of W̆2_m, ``other`` = mean |entry| of the other blocks. Each is averaged over the
    contexts; arrays over seeds.
    """
    w = ds["w2_sorted_end"].sel(variant=variant).values  # (seed, ctx, d_out, M·d_out)
    n_seeds, n_ctx, d_out, _ = w.shape
    diagonal, own_off, other = (np.zeros((n_seeds, n_ctx)) for _ in range(3))
    for m in range(n_ctx):
        own = w[:, m, :, m * d_out:(m + 1) * d_out]
        rest = np.delete(w[:, m], np.s_[m * d_out:(m + 1) * d_out], axis=-1)
        diag = np.einsum("sii->si", own)
        diagonal[:, m] = diag.mean(axis=-1)
        own_off[:, m] = (np.abs(own).sum(axis=(-2, -1)) - np.abs(diag).sum(axis=-1)) / (d_out * d_out - d_out)
        other[:, m] = np.abs(rest).mean(axis=(-2, -1))
    return {"diagonal": diagonal.mean(axis=1), "own_off": own_off.mean(axis=1), "other": other.mean(axis=1)}


def _heatmaps(fig, axes, matrices, times, title, sorted_columns: bool):
    """Two 10 × 20 heatmaps (contexts A and B) on one colour scale."""
    image = None
    d_out = matrices.shape[-2]
    for m, ax in enumerate(axes):
        image = ax.imshow(matrices[m], cmap="Oranges", vmin=VMIN, vmax=VMAX, aspect="equal", interpolation="nearest")
        ax.set(title=f"{title}: end of the last {TASKS[m]} block (t = {times[m]:g})", ylabel="output")
        if sorted_columns:
            ax.axvline(d_out - 0.5, color="k", lw=0.8)
            ax.set_xticks([d_out / 2 - 0.5, 1.5 * d_out - 0.5])
            labels = ["$\\breve W_2^A$ (units matched to A rows)", "$\\breve W_2^B$ (matched to B rows)"]
            ax.set_xticklabels(labels, fontsize=7)
        else:
            ax.set_xlabel("hidden unit (unsorted)")
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="$W_2$ entry")


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    ds = data["runs"]
    n_seeds = ds.sizes["seed"]
    times = ds["t_end"].values
    caption = f"{band_caption(n_seeds)}; {step_ratio_label(ds)}"
    files = []

    # Fig. 6: (A) flexible sorted heatmaps, (B) total alignment
    fig = plt.figure(figsize=(13, 7.5), constrained_layout=True)
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 1.1])
    heat = [fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])]
    flexible_mean = ds["w2_sorted_end"].sel(variant="flexible").values.mean(axis=0)
    _heatmaps(fig, heat, flexible_mean, times, "A  flexible, seed mean", sorted_columns=True)
    ax = fig.add_subplot(grid[1, :])
    shade_blocks(ax, *block_table(ds))
    t_w = ds["t_weights"].values
    for variant in ("flexible", "forgetful"):
        band(ax, t_w, ds["row_alignment"].sel(variant=variant).values, VARIANT_COLOURS[variant],
             label=f"{variant} ({step_ratio_label(ds, short=True)})")
    if "expected" in data:
        check = data["expected"]
        for variant in ("flexible", "forgetful"):
            band(ax, check["t_weights"].values, check["row_alignment"].sel(variant=variant).values,
                 VARIANT_COLOURS[variant], linestyle="--", alpha=0.12,
                 label=f"{variant}, gradient-flow cross-check ({step_ratio_label(check, short=True)})")
    ax.set(xlabel="time t", ylabel="total alignment $A_{tot}$ (row-matched W1)", ylim=(0, 1.05),
           xlim=(0, float(t_w[-1])), title="B  total alignment on the row-matched first-layer rows")
    ax.legend(fontsize=8)
    fig.suptitle(f"Fig. 6: {caption}", fontsize=9)
    files += ctx.save(fig, "fig6")

    # A6: flexible (a) and forgetful (b) sorted heatmaps
    fig, axes = plt.subplots(2, 2, figsize=(13, 6.5), constrained_layout=True)
    for row, variant, letter in zip(axes, ("flexible", "forgetful"), "ab"):
        _heatmaps(fig, row, ds["w2_sorted_end"].sel(variant=variant).values.mean(axis=0), times,
                  f"{letter}  {variant}, seed mean", sorted_columns=True)
    fig.suptitle(f"Fig. A6: sorted second layer [W̆2_A, W̆2_B], seed mean over N = {n_seeds}; {step_ratio_label(ds)}",
                 fontsize=9)
    files += ctx.save(fig, "a6")

    # A5: unsorted W2 of seed 0
    fig, axes = plt.subplots(2, 2, figsize=(13, 6.5), constrained_layout=True)
    for row, variant in zip(axes, ("flexible", "forgetful")):
        _heatmaps(fig, row, ds["w2_end"].sel(variant=variant).values[0], times, f"{variant}, seed 0, unsorted",
                  sorted_columns=False)
    fig.suptitle(f"Fig. A5: unsorted second layer W2 of seed 0; {step_ratio_label(ds)}", fontsize=9)
    files += ctx.save(fig, "a5")
    return files


def headline(data: dict) -> str:
    ds = data["runs"]
    parts = []
    for variant in ("flexible", "forgetful"):
        s = own_and_other(ds, variant)
        a_mean, a_sem = mean_sem(ds["final_row_alignment"].sel(variant=variant).values)
        parts.append(f"{variant} diag(own block) {float(np.mean(s['diagonal'])):.3f} vs other block "
                     f"{float(np.mean(s['other'])):.3f}, final A_tot {float(a_mean):.3f} ± {float(a_sem):.3f}")
    text = "sorted W2 at the end of its own context: " + "; ".join(parts)
    if "expected" in data:
        a_mean, a_sem = mean_sem(data["expected"]["final_row_alignment"].sel(variant="flexible").values)
        dt = json.loads(data["expected"].attrs["config"])["flexible"]["grid"]["dt"]
        text += (f"; gradient-flow cross-check (dt = {dt:g}) flexible final A_tot "
                 f"{float(a_mean):.3f} ± {float(a_sem):.3f}")
    return text
