"""Fig. A3 — representational cost with more paths than tasks (FIGURES.md A3).

Gates c_p(t) of all four paths, one panel per condition (without / with the W column-norm
penalty, MODEL §4.2). Path order per seed: first the path that most often holds the largest gate
over the last 1000 recorded samples of A blocks, then the same for B (among the rest), then the
remaining paths; the first two are coloured as in Fig. 2, the others grey. Curves are mean ± SEM
over seeds after ordering per seed (the original showed one seed).
"""

import numpy as np

from ntajax._cli.figure import FigureContext
from ntajax._plotting import TASK_COLOURS, band, band_caption, block_table, shade_blocks

TITLE = "Fig. A3 — P = 4 paths for M = 2 tasks, with and without the W column penalty"
ACTIVE = 0.1  # a path counts as active when its gate exceeds this at the end of its task's block


def path_order(gates: np.ndarray, context: np.ndarray, n_last: int = 1000) -> np.ndarray:
    """The spec's per-seed order: most frequent argmax over the last ``n_last`` A records, then B, then the rest."""
    order = []
    for task in (0, 1):
        records = np.flatnonzero(context == task)[-n_last:]
        winners = np.argmax(gates[records], axis=-1)
        counts = np.bincount(winners, minlength=gates.shape[-1]).astype(float)
        counts[order] = -1
        order.append(int(np.argmax(counts)))
    return np.asarray(order + [p for p in range(gates.shape[-1]) if p not in order])


def active_paths(ds, variant) -> np.ndarray:
    """Per seed: paths whose gate is > ACTIVE at the last record of either task's final block."""
    v = ds.sel(variant=variant)
    out = []
    for s in range(ds.sizes["seed"]):
        gates, context = v["gates"].values[s], v["context"].values[s]
        ends = [np.flatnonzero(context == task)[-1] for task in (0, 1)]
        out.append(int(np.sum(np.max(gates[ends], axis=0) > ACTIVE)))
    return np.asarray(out)


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    ds = data["runs"]
    t = ds["t"].values
    starts, ends, tasks = block_table(ds)
    fig, axes = plt.subplots(2, 1, figsize=(11, 6), sharex=True, constrained_layout=True)
    for ax, variant in zip(axes, ds["variant"].values):
        v = ds.sel(variant=variant)
        ordered = np.stack([v["gates"].values[s][:, path_order(v["gates"].values[s], v["context"].values[s])]
                            for s in range(ds.sizes["seed"])])
        shade_blocks(ax, starts, ends, tasks)
        for rank in range(ordered.shape[-1]):
            colour = TASK_COLOURS[rank] if rank < 2 else "grey"
            label = f"path of {'AB'[rank]}" if rank < 2 else f"extra path {rank - 1}"
            band(ax, t, ordered[:, :, rank], colour, label=label)
        n_active = active_paths(ds, variant)
        ax.set(ylabel="gate $c_p$", title=f"{variant}: active paths at the end {n_active.mean():.1f} (per seed {n_active.tolist()})")
        ax.legend(fontsize=7, ncol=4, loc="upper right")
    axes[-1].set_xlabel("time t")
    fig.suptitle(f"Fig. A3: {band_caption(ds.sizes['seed'])}, paths ordered per seed; sampled B = 200", fontsize=9)
    return ctx.save(fig, "a3")


def headline(data: dict) -> str:
    ds = data["runs"]
    return "; ".join(f"{v}: {active_paths(ds, v).mean():.1f} active paths (gate > {ACTIVE})" for v in ds["variant"].values)
