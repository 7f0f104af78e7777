"""Fig. 8 — task-switching cost over training (FIGURES.md Fig. 8, MODEL §7.12).

For the first four switches t_j = 1…4, the expected loss L(t_j + n·Δ), n = 1…5 (Δ = dt = 0.01),
one line per switch, flexible and forgetful panels, mean ± SEM over seeds. Differences from the
original: switch times are exact (no finite-difference detection of task changes), bands are SEM
(the original used the std and multiplied the forgetful bars by √20 by hand), and the loss is the
exact expected loss rather than the minibatch loss. dt/τ_c = 1 is outside the gradient-flow regime
(MODEL §5.2): the setting is reproduced as published and flagged.
"""

import numpy as np

from ntajax import metrics
from ntajax._cli.figure import FigureContext
from ntajax._plotting import band_caption, mean_sem

TITLE = "Fig. 8 — task-switching cost: loss just after each of the first switches"
N_SWITCHES, N_AFTER = 4, 5


def post_switch(ds, variant: str) -> np.ndarray:
    """(seed, switch, n) losses L(t_j + n·Δ) for switches j = 1…4."""
    t = ds["t"].values
    switches = ds["block_start"].values[1 : N_SWITCHES + 1]
    loss = ds["loss"].sel(variant=variant).values
    return np.stack([np.asarray(metrics.post_switch_losses(t, loss[s], switches, N_AFTER)) for s in range(loss.shape[0])])


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    ds = data["runs"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True, constrained_layout=True)
    colours = plt.cm.viridis(np.linspace(0.1, 0.9, N_SWITCHES))
    steps = np.arange(1, N_AFTER + 1)
    for ax, variant in zip(axes, ("flexible", "forgetful")):
        values = post_switch(ds, variant)
        for j in range(N_SWITCHES):
            mean, sem = mean_sem(values[:, j])
            ax.errorbar(steps, mean, yerr=sem, color=colours[j], marker="o", ms=3, capsize=2, label=f"after {j + 1} block(s) trained")
        ax.set(title=variant, xlabel="step after the switch (Δ = 0.01)", xticks=steps)
    axes[0].set_ylabel("task loss $\\mathcal{L}$ (expected)")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Fig. 8: {band_caption(ds.sizes['seed'])}; sampled B = 200, dt = 0.01 (dt/τ_c = 1, flagged)", fontsize=9)
    return ctx.save(fig, "fig8")


def headline(data: dict) -> str:
    ds = data["runs"]
    parts = []
    for variant in ("flexible", "forgetful"):
        first = np.nanmean(post_switch(ds, variant)[:, :, 0], axis=0)
        parts.append(f"{variant} L(t_j+Δ) switch 1 → 4: {first[0]:.3f} → {first[-1]:.3f}")
    return "; ".join(parts)
