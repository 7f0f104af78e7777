"""Fig. 7 — MNIST: CNN features with a gated softmax readout, flexible vs forgetful (FIGURES.md Fig. 7).

Panels: (a) test accuracy on the current task, (b) gates with each seed's paths ordered by
their mean over the last 100 recorded points (§7.14), (c) steps until test accuracy exceeds
0.85 after each block start, (d) gate inspecificity ‖sort↓(c) − (1, 0)‖₂ at that time.
Bands and error bars are mean ± SEM over seeds (SEM = std(ddof=1)/√N, never divided by √N
again, unlike the original figure); the caption states N. Blocks where a seed never reached
the threshold are left out of that seed's mean and counted in panel (c)'s labels.

Data: ``$NTAJAX_MNIST_DIR`` (standard IDX files) or the shipped 10 000-image split; CNN
features cached under ``$NTAJAX_CACHE_DIR/mnist`` (default ``~/.cache/ntajax/mnist``).
"""

import json
import warnings

import numpy as np

from ntajax._cli.figure import FigureContext
from ntajax._plotting import TASK_COLOURS, VARIANT_COLOURS, band, band_caption, mean_sem, shade_blocks

TITLE = "Fig. 7 — MNIST CNN features with a gated readout (accuracy, sorted gates, steps to 85 %)"
FIRST_SETTLED_BLOCK = 2
"""Blocks before this one are the first exposures to A and B; the headline averages the rest."""


def switch_steps(ds, variant: str, first_block: int = FIRST_SETTLED_BLOCK) -> tuple[float, float]:
    """(mean steps to threshold over seeds and blocks ≥ ``first_block`` where it was reached,
    fraction of those (seed, block) pairs where it was reached)."""
    steps = ds["steps_to_threshold"].sel(variant=variant).values[:, first_block:]
    reached = np.isfinite(steps)
    mean = float(np.mean(steps[reached])) if reached.any() else float("nan")
    return mean, float(reached.mean()) if reached.size else float("nan")


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    ds = data["runs"]
    t = ds["t"].values
    n_seeds = ds.sizes["seed"]
    starts, ends, tasks = ds["block_start"].values, ds["block_end"].values, ds["block_task"].values
    threshold = float(ds.attrs["threshold"])
    record_every = int(ds.attrs["record_every"])
    configs = json.loads(ds.attrs["config"])
    dt = float(next(iter(configs.values()))["grid"]["dt"])
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5), constrained_layout=True)
    (ax_acc, ax_gate), (ax_steps, ax_spec) = axes
    for ax in (ax_acc, ax_gate):
        shade_blocks(ax, starts, ends, tasks)
    centres = (starts + ends) / 2
    n_variants = ds.sizes["variant"]
    for i, variant in enumerate(ds["variant"].values):
        v = ds.sel(variant=variant)
        colour = VARIANT_COLOURS.get(str(variant))
        band(ax_acc, t, v["current_accuracy"].values, colour, label=str(variant))
        gates, order = v["gates"].values, v["gate_order"].values
        sorted_gates = np.stack([gates[s][:, order[s]] for s in range(n_seeds)])
        style = "-" if variant == "flexible" else ":"
        for rank in range(sorted_gates.shape[-1]):
            band(ax_gate, t, sorted_gates[:, :, rank], TASK_COLOURS[rank], linestyle=style,
                 label=f"{variant}: path {rank + 1}")
        offset = (i - (n_variants - 1) / 2) * 0.06 * (starts[1] - starts[0] if len(starts) > 1 else 1.0)
        steps = v["steps_to_threshold"].values
        with warnings.catch_warnings():  # blocks no seed reached are NaN: nothing to average
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, sem = mean_sem(steps)
            spec_mean, spec_sem = mean_sem(v["inspecificity"].values)
        reached = np.isfinite(steps).sum(axis=0)
        ax_steps.errorbar(centres + offset, mean, yerr=sem, color=colour, marker="o", ms=4, lw=1, capsize=2,
                          label=f"{variant} (seeds reaching {threshold:.0%} per block: {', '.join(map(str, reached))})")
        ax_spec.errorbar(centres + offset, spec_mean, yerr=spec_sem, color=colour, marker="s", ms=4, lw=1, capsize=2,
                         label=str(variant))
    ax_acc.axhline(threshold, color="tab:red", lw=0.8, ls="--", label=f"threshold {threshold:.2f}")
    ax_acc.set(xlabel="time t", ylabel="test accuracy (current task)", ylim=(0, 1.02),
               title="a  test accuracy on the current task")
    ax_gate.set(xlabel="time t", ylabel="gate $c_p$",
                title=f"b  gates, paths per seed ordered by mean of last {ds.attrs['last_gate_records']} records")
    ax_steps.set(xlabel="block centre t", ylabel=f"steps to accuracy > {threshold:.2f}", yscale="log",
                 title=f"c  steps to threshold per block (resolution {record_every} step{'s' * (record_every > 1)})")
    ax_spec.set(xlabel="block centre t", ylabel="‖sort↓(c) − (1, 0)‖₂", title="d  gate inspecificity at threshold time")
    for ax in axes.ravel():
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(
        f"Fig. 7: {band_caption(n_seeds)}; test accuracy on all {ds.attrs['n_test']} held-out test images "
        f"every {record_every} step{'s' * (record_every > 1)} (dt = {dt:g});\nreadout trained on "
        f"{ds.attrs['n_train']} images; CNN features frozen (test accuracy "
        f"{json.loads(ds.attrs['features'])['cnn_test_accuracy']:.3f})", fontsize=9)
    return ctx.save(fig, "fig7")


def headline(data: dict) -> str:
    ds = data["runs"]
    parts = []
    for variant in ds["variant"].values:
        mean, reached = switch_steps(ds, str(variant))
        steps = "never reached" if not np.isfinite(mean) else f"{mean:.1f} steps ({reached:.0%} of seed-blocks reached)"
        parts.append(f"{variant} {steps}")
    cnn = json.loads(ds.attrs["features"])["cnn_test_accuracy"]
    return (f"steps to test accuracy > {float(ds.attrs['threshold']):.2f} after switches (blocks ≥ {FIRST_SETTLED_BLOCK}, "
            f"mean over seeds and blocks): {', '.join(parts)}; CNN test accuracy {cnn:.3f}")
