"""Fig. 2 — flexible vs forgetful learning (FIGURES.md Fig. 2).

Panels: (a) expected task loss, (b) gates of the paths assigned to A and B, (c) matched and
mismatched student–teacher alignment, (d) normalised weight speed, (e) gate speed of the
flexible model with the stack norm on a twin axis, (f) adaptation time per block.
Bands are mean ± SEM over seeds (SEM = std(ddof=1)/√N, never divided by √N again, unlike the
original figure); paths are ordered by the stored assignment π, never by permuting raw data.
Differences from the original: the loss is the exact expected loss (not the noisy minibatch
loss), gate speed is divided by the recording spacing (a true rate), and the time axis needs
no hand-applied shift.
"""

import numpy as np

from ntajax import metrics
from ntajax._cli.figure import FigureContext
from ntajax._plotting import (TASK_COLOURS, VARIANT_COLOURS, assigned, band, band_caption, block_table,
                              matched_and_mismatched, shade_blocks, stored_parameter)

TITLE = "Fig. 2 — flexible vs forgetful learning (loss, gates, alignment, speeds, adaptation time)"


def _weight_speed(ds, variant):
    W = ds["weights_W"].sel(variant=variant).values  # (seed, T_w, P, d_out, d_in)
    t_w = ds["t_weights"].values
    return t_w, np.stack([np.asarray(metrics.normalised_weight_speed(W[s], float(t_w[1] - t_w[0]))) for s in range(W.shape[0])])


def adaptation_ratio(ds, variant: str) -> float:
    """Seed-mean adaptation time of the first two blocks over that of the last two."""
    a = np.nanmean(ds["adaptation_time"].sel(variant=variant).values, axis=0)
    a = a[np.isfinite(a)]
    return float(np.mean(a[:2]) / np.mean(a[-2:]))


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    ds = data["runs"]
    t = ds["t"].values
    starts, ends, tasks = block_table(ds)
    n_seeds = ds.sizes["seed"]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7), constrained_layout=True)
    (ax_loss, ax_gate, ax_align), (ax_wspeed, ax_gspeed, ax_adapt) = axes
    for ax in (ax_loss, ax_gate, ax_align, ax_wspeed, ax_gspeed):
        shade_blocks(ax, starts, ends, tasks)
    for variant in ("flexible", "forgetful"):
        v = ds.sel(variant=variant)
        colour = VARIANT_COLOURS[variant]
        band(ax_loss, t, v["loss"].values, colour, label=variant)
        gates = assigned(v["gates"].values, v["assignment"].values)
        style = "-" if variant == "flexible" else ":"
        for m, letter in enumerate("AB"):
            band(ax_gate, t, gates[:, :, m], TASK_COLOURS[m], label=f"{variant}: path of {letter}", linestyle=style)
        matched, mismatched = matched_and_mismatched(v["similarity"].values, v["assignment"].values)
        band(ax_align, t, matched.mean(axis=-1), colour, label=f"{variant} matched")
        band(ax_align, t, mismatched.mean(axis=-1), colour, linestyle="--", label=f"{variant} mismatched")
        t_w, speed = _weight_speed(ds, variant)
        band(ax_wspeed, t_w, speed, colour, label=variant)
        block_length = float(ds["block_start"].values[1] - ds["block_start"].values[0]) if ds.sizes["block"] > 1 else t[-1]
        tau_w = stored_parameter(ds, variant, "student.tau_w")
        centres = ds["block_start"].values + block_length / 2
        adapt = v["adaptation_time"].values / tau_w
        mean = np.nanmean(adapt, axis=0)
        sem = np.nanstd(adapt, axis=0, ddof=1) / np.sqrt(np.sum(np.isfinite(adapt), axis=0)) if n_seeds > 1 else 0 * mean
        ax_adapt.errorbar(centres, mean, yerr=sem, color=colour, marker="o", ms=3, lw=1, capsize=2, label=variant)
        censored = v["censored"].values.mean(axis=0) > 0.5
        ax_adapt.plot(centres[censored], mean[censored], "x", color="red", ms=7, label="censored" if variant == "forgetful" else None)
    flex = ds.sel(variant="flexible")
    gspeed = np.stack([np.asarray(metrics.gate_speed(flex["gates"].values[s], float(t[1] - t[0]))) for s in range(n_seeds)])
    band(ax_gspeed, t, gspeed, "black", label="flexible gate speed ‖dc/dt‖")
    twin = ax_gspeed.twinx()
    stack = np.sqrt(np.sum(flex["path_norms"].values ** 2, axis=-1))
    band(twin, t, stack, "tab:purple", linestyle="--", label="stack norm √Σ‖W_p‖²")
    ideal = float(np.sqrt(np.sum(ds["teachers"].sel(variant="flexible").values[:2] ** 2)))
    twin.axhline(ideal, color="tab:purple", lw=0.8, alpha=0.6)
    twin.set_ylabel("stack norm (dashed; line: ideal √Σ‖W*_m‖²)")
    ax_loss.set(xlabel="time t", ylabel="task loss $\\mathcal{L}$ (expected)", ylim=(0, 0.5), title="a  loss")
    ax_gate.set(xlabel="time t", ylabel="gate $c_p$", ylim=(0, 1.5), title="b  gates (paths ordered by π)")
    ax_align.set(xlabel="time t", ylabel="student–teacher alignment", ylim=(-0.2, 1.05), title="c  alignment (— matched, - - mismatched)")
    ax_wspeed.set(xlabel="time t", ylabel="normalised weight speed", ylim=(-0.1, 1.7), title="d  weight speed")
    ax_gspeed.set(xlabel="time t", ylabel="gate speed ‖dc/dt‖ (per unit time)", title="e  gate speed and norm (flexible)")
    ax_adapt.set(xlabel="block centre", ylabel="adaptation time / $\\tau_w$", yscale="log", title="f  time to loss < 0.1")
    for ax in (ax_loss, ax_gate, ax_align, ax_wspeed, ax_adapt):
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(f"Fig. 2: {band_caption(n_seeds)}; sampled B = 200, dt = 1e-3", fontsize=10)
    return ctx.save(fig, "fig2")


def headline(data: dict) -> str:
    ds = data["runs"]
    return (f"adaptation time first/last blocks: flexible ÷{adaptation_ratio(ds, 'flexible'):.1f}, "
            f"forgetful ÷{adaptation_ratio(ds, 'forgetful'):.1f}; "
            f"final A_tot flexible {float(ds['final_alignment'].sel(variant='flexible').mean()):.3f}")
