"""Task representations: fractional task variance, unit clusters, shared vs separate hidden states.

Top row (sweeps/representations.py, stores ``per_neuron`` and ``fc``): histograms of the
fractional task variance FTV = (TV_A − TV_B)/(TV_A + TV_B) of every unit (Yang et al. 2019),
pooled over seeds, per task pair — (a) flexible and (b) forgetful per-neuron gating (18 gated rows,
M = 3), (c) the two-layer network of Fig. 6 (hidden units weighted by their output weights,
M = 2); (d) the mean silhouette of k-means clusters of the normalised task-variance profiles
against k, with the number of clusters chosen by ntajax's stated criterion (the k with the largest
silhouette among those with silhouette ≥ 0.5 and centres ≥ 0.25 apart, else 1); (e) the profiles
of one flexible per-neuron network, units sorted by cluster.

Bottom row (store ``multihead``): multi-head linear students with one head per task in three
output modes — gated (loss only on the current head), orthogonal (other heads trained to output
zero), parallel (both tasks at once) — with NTA gating or with gates held at 1: (f) held-out
linear separability of the tasks' hidden states (on the second-order features vec(h hᵀ), since
centred linear states have equal means in every task), (g) the F-ratio of between- to within-task
variance of those features, (h) the overlap of the tasks' hidden covariances (1 shared, 0
separate), (i) the loss of each head on its task in the state of that task, (j) FTV of the
multi-head hidden units. In parallel mode both tasks are performed by one state, so its hidden
states of the two tasks coincide by construction. Bars and error bars are mean ± SEM over seeds
(SEM = std(ddof=1)/√N), common random numbers across conditions.
"""

import numpy as np

from ntajax._cli.figure import FigureContext
from ntajax._plotting import band_caption, mean_sem

TITLE = "Task representations: fractional task variance, clusters, shared vs separate hidden states under output constraints"

PAIR_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")
GATING_COLOURS = {"NTA gating": "black", "no gating": "tab:grey"}


def _histogram(ax, ds, variant, linestyle="-", prefix=""):
    centres = 0.5 * (ds["bin_left"].values + ds["bin_right"].values)
    width = float(ds["bin_right"].values[0] - ds["bin_left"].values[0])
    for p, pair in enumerate(ds["pair"].values):
        counts = ds["ftv_histogram"].sel(variant=variant, pair=pair).values.astype(float)
        total = max(counts.sum(), 1.0)
        ax.step(centres, counts / total, where="mid", color=PAIR_COLOURS[p % len(PAIR_COLOURS)], linestyle=linestyle,
                label=f"{prefix}{pair}")
    ax.set(xlim=(-1 - width, 1 + width), xlabel="FTV(A, B)", ylabel="fraction of units")


def _chosen_text(ds, variant) -> str:
    k = ds["n_clusters"].sel(variant=variant).values
    values, counts = np.unique(k, return_counts=True)
    return ", ".join(f"k={v}: {c}/{len(k)}" for v, c in zip(values, counts))


def _bars(ax, mh, field, ylabel, title):
    modes = [str(m) for m in mh["mode"].values]
    x = np.arange(len(modes))
    width = 0.38
    for j, gating in enumerate(mh["gating"].values):
        mean, sem = mean_sem(mh[field].sel(gating=gating).transpose("seed", "mode").values)
        ax.bar(x + (j - 0.5) * width, mean, width, yerr=sem, capsize=2, color=GATING_COLOURS.get(str(gating)),
               label=str(gating), alpha=0.85)
    ax.set_xticks(x, modes)
    ax.set(ylabel=ylabel, title=title)


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    pn, fc, mh = data["per_neuron"], data["fc"], data["multihead"]
    fig, axes = plt.subplots(2, 5, figsize=(23, 8.5), constrained_layout=True)
    (ax_a, ax_b, ax_c, ax_d, ax_e), (ax_f, ax_g, ax_h, ax_i, ax_j) = axes
    _histogram(ax_a, pn, "flexible")
    ax_a.set_title(f"a  per-neuron, flexible ({_chosen_text(pn, 'flexible')})", fontsize=9)
    _histogram(ax_b, pn, "forgetful")
    ax_b.set_title(f"b  per-neuron, forgetful ({_chosen_text(pn, 'forgetful')})", fontsize=9)
    _histogram(ax_c, fc, "flexible", prefix="flexible ")
    _histogram(ax_c, fc, "forgetful", linestyle="--", prefix="forgetful ")
    ax_c.set_title(f"c  FC network (flexible {_chosen_text(fc, 'flexible')}; forgetful {_chosen_text(fc, 'forgetful')})",
                   fontsize=8)
    for ax in (ax_a, ax_b, ax_c):
        ax.legend(fontsize=7, title="task pair", title_fontsize=7)
    for name, ds, colour in (("per-neuron", pn, "tab:blue"), ("FC", fc, "tab:red")):
        for variant, style in (("flexible", "-"), ("forgetful", "--")):
            values = ds["silhouette"].sel(variant=variant).values
            mean, sem = mean_sem(values)
            ax_d.errorbar(ds["k"].values, mean, yerr=sem, color=colour, linestyle=style, marker="o", ms=3, capsize=2,
                          label=f"{name} {variant}")
    ax_d.axhline(0.5, color="k", lw=0.7, ls=":")
    ax_d.set(xlabel="number of clusters k", ylabel="mean silhouette", ylim=(0, 1.05),
             title="d  k-means on TV profiles (dotted: 0.5)")
    ax_d.legend(fontsize=7)
    profiles = pn["profile"].sel(variant="flexible").isel(seed=0).values
    order = np.lexsort((np.argmax(profiles, axis=1), pn["cluster"].sel(variant="flexible").isel(seed=0).values))
    image = ax_e.imshow(profiles[order].T, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    ax_e.set(xlabel="unit (sorted by cluster)", ylabel="task", yticks=range(profiles.shape[1]),
             yticklabels=list("ABCD"[: profiles.shape[1]]), title="e  TV profiles, per-neuron flexible, seed 0")
    fig.colorbar(image, ax=ax_e, shrink=0.8)
    _bars(ax_f, mh, "separability", "held-out accuracy", "f  linear separability of hidden states")
    ax_f.axhline(0.5, color="k", lw=0.7, ls=":")
    ax_f.set_ylim(0.4, 1.02)
    ax_f.legend(fontsize=7)
    _bars(ax_g, mh, "f_ratio", "between / within variance", "g  F-ratio (second-order features)")
    _bars(ax_h, mh, "overlap", "covariance overlap", "h  hidden covariance overlap (1 shared)")
    ax_h.set_ylim(0, 1.05)
    modes = [str(m) for m in mh["mode"].values]
    x = np.arange(len(modes))
    for j, gating in enumerate(mh["gating"].values):
        mean, sem = mean_sem(mh["head_loss"].sel(gating=gating).mean("task").transpose("seed", "mode").values)
        ax_i.bar(x + (j - 0.5) * 0.38, mean, 0.38, yerr=sem, capsize=2, color=GATING_COLOURS.get(str(gating)), alpha=0.85,
                 label=str(gating))
    ax_i.set_xticks(x, modes)
    ax_i.set(ylabel="½‖W*_m − V_m A‖² (mean over heads)", title="i  head loss on its own task")
    ax_i.set_yscale("symlog", linthresh=1e-3)
    bins = np.linspace(-1, 1, 21)
    centres = 0.5 * (bins[1:] + bins[:-1])
    for mode, colour in zip(modes, ("tab:blue", "tab:orange", "tab:green")):
        for gating, style in (("NTA gating", "-"), ("no gating", "--")):
            values = mh["ftv"].sel(mode=mode, gating=gating).values.ravel()
            values = values[np.isfinite(values)]
            counts, _ = np.histogram(values, bins)
            ax_j.step(centres, counts / max(counts.sum(), 1), where="mid", color=colour, linestyle=style,
                      label=f"{mode}, {gating}")
    ax_j.set(xlabel="FTV(A, B) of hidden units", ylabel="fraction of units", title="j  multi-head hidden units")
    ax_j.legend(fontsize=6)
    n_seeds = pn.sizes["seed"]
    fig.suptitle(
        "Task representations. FTV histograms pooled over seeds; clusters by ntajax's stated criterion. Multi-head students: "
        "gated = loss on the current head only, orthogonal = other heads trained to 0, parallel = both tasks at once.\n"
        f"{band_caption(n_seeds)}; the network 'in task m' is the state at the end of the last block of task m",
        fontsize=9,
    )
    return ctx.save(fig, "representations")


def headline_numbers(data: dict) -> dict:
    pn, fc, mh = data["per_neuron"], data["fc"], data["multihead"]

    def extreme(ds, variant):
        ftv = ds["ftv"].sel(variant=variant).values
        ftv = ftv[np.isfinite(ftv)]
        return float(np.mean(np.abs(ftv) > 0.9))

    out = {
        "per_neuron_flexible_extreme": extreme(pn, "flexible"), "per_neuron_forgetful_extreme": extreme(pn, "forgetful"),
        "fc_flexible_extreme": extreme(fc, "flexible"), "fc_forgetful_extreme": extreme(fc, "forgetful"),
        "per_neuron_flexible_k": float(np.median(pn["n_clusters"].sel(variant="flexible").values)),
        "per_neuron_forgetful_k": float(np.median(pn["n_clusters"].sel(variant="forgetful").values)),
    }
    for mode in mh["mode"].values:
        for gating in mh["gating"].values:
            out[f"separability {mode} {gating}"] = float(mh["separability"].sel(mode=mode, gating=gating).mean())
    return out


def headline(data: dict) -> str:
    n = headline_numbers(data)
    return (f"|FTV| > 0.9: per-neuron flexible {n['per_neuron_flexible_extreme']:.0%} vs forgetful "
            f"{n['per_neuron_forgetful_extreme']:.0%}, FC {n['fc_flexible_extreme']:.0%} vs {n['fc_forgetful_extreme']:.0%}; "
            f"median clusters {n['per_neuron_flexible_k']:g} vs {n['per_neuron_forgetful_k']:g}; separability with NTA gating "
            f"gated {n['separability gated NTA gating']:.2f} / orthogonal {n['separability orthogonal NTA gating']:.2f} / "
            f"parallel {n['separability parallel NTA gating']:.2f}, without: {n['separability gated no gating']:.2f} / "
            f"{n['separability orthogonal no gating']:.2f} / {n['separability parallel no gating']:.2f}")
