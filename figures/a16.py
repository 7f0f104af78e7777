"""Fig. A16 — the few-shot regime (FIGURES.md A16).

The Fig. 2 flexible model with one sample per step and dt = 0.03 (B = 1; each block of τ_B = 1
holds 33 or 34 samples), 100 seeds that differ only in their data (shared initial state and
teachers), float64, next to the equivalent toy model of Fig. A1. Panels as in Fig. A1 — loss,
gates (paths ordered by the stored assignment π), singular-value magnitudes √d_in·s^p_α
(leading two; toy: ‖w^p‖) — for the full model (mean ± SEM over N = 100 seeds, SEM =
std(ddof = 1)/√N; individual seeds faint) and the toy (one deterministic simulation, no band),
plus the full model's loss on its own with a marker at every step (= every sample).

Post-switch recovery (the headline): for each seed and block k ≥ 1, the number of samples
(steps) from the block's first step until the expected loss first drops below 0.1; blocks where
it never does are censored and left out of the mean (their fraction is reported). Blocks are
read from the engine's recorded block index, whose starts are the clean clock's steps
round(k/0.03) (t = 0.99, 2.01, 3.0, ...), not the nominal k·τ_B.

Settings outside gradient flow (dt/τ_c = 1) are reproduced faithfully; ntajax warns about them.
"""

import numpy as np

from ntajax._cli.figure import FigureContext
from ntajax._plotting import band, band_caption, block_table, mean_sem, shade_blocks

from figures.a1 import draw_full, draw_toy, label_axes

TITLE = "Fig. A16 — few-shot regime: B = 1, dt = 0.03, 100 seeds (float64), with the equivalent toy"

THRESHOLD = 0.1
LATE_BLOCKS = 5


def recovery_samples(full, threshold: float = THRESHOLD) -> np.ndarray:
    """Samples from each block's first step until loss < ``threshold``, (seed, block); NaN if censored."""
    v = full.isel(variant=0)
    loss = v["loss"].values  # (seed, T)
    block = v["block_index"].values  # (seed, T)
    n_blocks = int(block.max()) + 1
    out = np.full((loss.shape[0], n_blocks), np.nan)
    for s in range(loss.shape[0]):
        for k in range(n_blocks):
            index = np.flatnonzero(block[s] == k)
            if len(index) == 0:
                continue
            below = np.flatnonzero(loss[s, index] < threshold)
            if len(below):
                out[s, k] = below[0]
    return out


def recovery_summary(full, late: int = LATE_BLOCKS) -> dict[str, float]:
    """Mean ± SEM over seeds of the per-seed mean recovery over the last ``late`` blocks, and block 1."""
    samples = recovery_samples(full)
    n_blocks = samples.shape[1]
    last = samples[:, max(1, n_blocks - late):]
    observed = np.isfinite(last).any(axis=1)
    per_seed = np.array([np.mean(row[np.isfinite(row)]) for row in last[observed]])
    if len(per_seed):
        mean, sem = (x[0] for x in mean_sem(per_seed[:, None]))
    else:
        mean = sem = float("nan")
    first = samples[:, 1] if n_blocks > 1 else samples[:, 0]
    return {"late_mean": float(mean), "late_sem": float(sem), "late_censored": float(np.mean(np.isnan(last))),
            "late_blocks": (max(1, n_blocks - late), n_blocks - 1),
            "first_mean": float(np.mean(first[np.isfinite(first)])) if np.any(np.isfinite(first)) else float("nan"),
            "first_censored": float(np.mean(np.isnan(first))), "n_seeds": samples.shape[0]}


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    full, tds = data["full"], data["toy"]
    n_seeds = full.sizes["seed"]
    fig = plt.figure(figsize=(13, 13), constrained_layout=True)
    grid = fig.add_gridspec(4, 2)
    axes = np.array([[fig.add_subplot(grid[r, c]) for c in range(2)] for r in range(3)])
    ax_steps = fig.add_subplot(grid[3, :])
    draw_full(axes[:, 0], full, variants=tuple(str(v) for v in full["variant"].values), faint_seeds=True)
    draw_toy(axes[:, 1], tds, every=10)
    label_axes(axes[:, 0], axes[:, 1], float(tds["tau_c"].values[0]))
    axes[0, 0].set_title(f"full model: loss ({band_caption(n_seeds, paired=False)}; faint: seeds)")
    t = full["t"].values
    starts, ends, tasks = block_table(full)
    shade_blocks(ax_steps, starts, ends, tasks)
    loss = full["loss"].isel(variant=0).values
    for s in range(n_seeds):
        ax_steps.plot(t, loss[s], color="black", lw=0.3, alpha=0.05)
    line = band(ax_steps, t, loss, "black", label=f"{band_caption(n_seeds, paired=False)}")
    line.set(marker=".", ms=3)
    ax_steps.axhline(THRESHOLD, color="tab:red", lw=0.6, linestyle=":", label=f"threshold {THRESHOLD:g}")
    ax_steps.set(xlabel="time t (one marker per step = per sample)", ylabel="task loss $\\mathcal{L}$ (expected)",
                 ylim=(0, 0.5), title="full model: loss at every step (B = 1, dt = 0.03: 33–34 samples per block)")
    ax_steps.legend(fontsize=7, loc="upper right")
    fig.suptitle("Fig. A16: few-shot regime, B = 1, dt = 0.03 (dt/τ_c = 1), float64; full model: "
                 f"{band_caption(n_seeds, paired=False)} differing only in data; toy: one deterministic run (no band)",
                 fontsize=10)
    return ctx.save(fig, "a16")


def headline(data: dict) -> str:
    r = recovery_summary(data["full"])
    first, last = r["late_blocks"]

    def number(x, spec):
        return format(x, spec) if np.isfinite(x) else "— (all censored)"

    return (f"post-switch recovery (samples to loss < {THRESHOLD:g}): blocks {first}–{last} "
            f"{number(r['late_mean'], '.1f')} ± {number(r['late_sem'], '.1f')} (mean ± SEM, N = {r['n_seeds']}; "
            f"censored {r['late_censored']:.0%}) vs block 1 {number(r['first_mean'], '.1f')} "
            f"(censored {r['first_censored']:.0%})")
