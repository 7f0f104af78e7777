"""Task representations of recurrent units: FTV histograms and unit clusters, gated vs ungated RNNs.

Yang, Joglekar, Song, Newsome & Wang, "Task representations in neural networks trained to perform
many cognitive tasks" (Nat. Neurosci. 2019). Four rule-based tasks on one shared layout
(:class:`ntajax.Go`, Anti = ``Go(anti=True)``, and the context-dependent decisions DM 1 / DM 2 =
``ContextDecision(attend=0 / 1)``; tasks in a pair conflict on the same channels), tanh RNNs
(α = 0.5, τ_w = 0.05, dt = 0.01), three students:

* **NTA gated, blocked** — P = 4 gated recurrent modules (τ_c = 0.005, the Fig. 2 gate
  regulariser λ_nonneg = 1/11, λ_norm = 10/11), blocks of τ_B = 2 (200 steps) A, B, C, D, A, …
  without a cue; "the network in task m" is the network at the end of task m's last block
  (``run.task_final``);
* **ungated, blocked** — the plain RNN (P = 1, gate held at 1) on the same blocks;
* **ungated, interleaved + cue** — the plain RNN with every trial's task drawn at random and a
  one-hot rule cue (Yang et al.'s setting): one network for every task.

Task variance (:func:`ntajax.response_task_variance`): the variance of a unit's activity across
the trials of a task, averaged over the trial's time steps; units whose summed variance is below
1 % of the largest unit's are left out. (a–c) histograms of FTV(A, B) = (TV_A − TV_B)/(TV_A +
TV_B) for three task pairs, pooled over units and seeds; (d) the mean silhouette of k-means
clusters of the normalised TV profiles against k, with the k chosen by ntajax's criterion
(:func:`ntajax.unit_representation`: largest silhouette among k with silhouette ≥ 0.5 and centres
≥ 0.25 apart, else 1); (e–g) the normalised TV profiles of seed 0 of each student, units sorted
by cluster; (h) the gates of the NTA student in each task's network, and the final evaluation
loss of every student per task.

Where the result agrees with Yang et al. and where not (``ntajax figure rnn-representations
--size quick``: 3 seeds, 48 units, 4000 steps; also :data:`AGREEMENT`, printed in the caption).
Agrees: the interleaved, cued RNN (Yang et al.'s training) learns all four tasks (loss 0.002–0.03
per task) and has units that serve one task of a pair only (|FTV| > 0.9 for 6–12 % of the units
per pair). Differs: Yang et al. found distinct FTV shapes per pair (disjoint, inclusive, mixed)
and about a dozen unit clusters for their 20 tasks and 256 units; here every pair's FTV
distribution is broad and no clustering passes ntajax's criterion (best mean silhouette
0.32–0.37, k = 1) — four tasks and 48 units may be too few. The blocked students are not Yang et
al.'s experiment (the network of each task is a different moment of one training run, so their
FTV also measures forgetting): with NTA gates one task (DM1) runs through its own module in
every seed (the others share one module) and the units are more task-selective than the
ungated network's (|FTV| < 0.3 for 52 % vs 71 % of the units; DM1–DM2 62 % vs 98 %), still
without clusters.
"""

import textwrap

import jax
import numpy as np
import xarray as xr

from ntajax import (
    BlockedTasks, ContextDecision, GatedRNN, Go, InterleavedTasks, Regulariser, RNNExperiment, SharedReadout, rnn_responses,
    task_variance_matrix, train_rnn, unit_representation,
)
from ntajax._cli.figure import FigureContext
from ntajax._plotting import band_caption, mean_sem
from ntajax._store.dataset import provenance

TITLE = "RNN task representations: FTV histograms and unit clusters, NTA-gated vs ungated (Yang et al. 2019)"

TASK_NAMES = ("Go", "Anti", "DM1", "DM2")
PAIRS_SHOWN = ((0, 1), (2, 3), (0, 2))
FTV_BINS = np.linspace(-1.0, 1.0, 21)
K_MAX = 6
VARIANT_COLOURS = {"NTA gated, blocked": "tab:blue", "ungated, blocked": "tab:grey", "ungated, interleaved + cue": "tab:red"}

AGREEMENT = (
    "At --size quick (3 seeds, 48 units): as in Yang et al., the interleaved, cued RNN learns all four tasks and has units "
    "specialised to one task of a pair (|FTV| > 0.9 for 6–12 % per pair); unlike Yang et al. (distinct disjoint / inclusive / "
    "mixed FTV shapes, about a dozen clusters for 20 tasks) the FTV distributions are broad for every pair and no clustering "
    "passes the criterion (best mean silhouette 0.32–0.37; k = 1). With blocks, the NTA gates route one task (DM1) through its "
    "own module in every seed and its units are more task-selective than the ungated network's (|FTV| < 0.3 for 52 % vs 71 % "
    "of units; DM1–DM2 62 % vs 98 %), but without unit clusters."
)
"""Where the quick-size result agrees with Yang et al. 2019 and where not (caption and docstring)."""


def settings(ctx: FigureContext) -> dict:
    return ctx.pick(
        dict(n_seeds=5, n_hidden=64, n_steps=16000, batch_size=32, n_trials=64),
        dict(n_seeds=3, n_hidden=48, n_steps=4000, batch_size=32, n_trials=48),
        dict(n_seeds=1, n_hidden=16, n_steps=100, batch_size=8, n_trials=8),
    )


def experiments(s: dict) -> dict[str, RNNExperiment]:
    tasks = (Go(), Go(anti=True), ContextDecision(attend=0), ContextDecision(attend=1))
    common = dict(tasks=tasks, readout=SharedReadout(), dt=0.01, n_steps=s["n_steps"], batch_size=s["batch_size"],
                  record_every=s["n_steps"] // 20)
    plain = GatedRNN(n_hidden=s["n_hidden"], n_modules=1, gated=False, alpha=0.5, tau_w=0.05, output_scale=0.5)
    gated = GatedRNN(n_hidden=s["n_hidden"], n_modules=4, gated=True, alpha=0.5, tau_w=0.05, tau_c=0.02, output_scale=0.5)
    blocks = BlockedTasks(block_length=2.0)
    return {
        "NTA gated, blocked": RNNExperiment(student=gated, curriculum=blocks,
                                            regulariser=Regulariser(lambda_nonneg=1 / 11, lambda_norm=10 / 11, norm_order=1),
                                            **common),
        "ungated, blocked": RNNExperiment(student=plain, curriculum=blocks, **common),
        "ungated, interleaved + cue": RNNExperiment(student=plain, curriculum=InterleavedTasks(cue=True), **common),
    }


def analyse_network(ex: RNNExperiment, run, seed: int, key, n_trials: int) -> dict:
    """Task variances, FTV, clusters and gates of one seed of one student."""
    blocked = ex.curriculum.is_blocked
    state = jax.tree.map(lambda x: x[seed], run.task_final if blocked else run.final)
    k_trials, k_cluster = jax.random.split(key)
    responses = rnn_responses(ex, state, k_trials, n_trials, per_task=blocked)
    hidden = responses.hidden  # (M, n, T, N)
    # task m's loss in the network of task m: ½ (1/T) Σ_k Σ_o m (ŷ − y*)², mean over trials
    own_loss = 0.5 * np.sum(np.asarray(responses.mask * (responses.outputs - responses.targets) ** 2), axis=(2, 3)).mean(1)
    own_loss = own_loss / hidden.shape[2]
    tv = task_variance_matrix(list(hidden))
    rep = unit_representation(tv, key=k_cluster, bins=FTV_BINS, k_max=K_MAX)
    gates = np.asarray(state.c) if blocked else np.broadcast_to(np.asarray(state.c), (ex.n_tasks, state.c.shape[-1]))
    return dict(tv=np.asarray(tv), ftv=rep["ftv"], profiles=rep["profiles"], active=rep["active"], k=rep["k"],
                labels=rep["labels"], silhouette=rep["silhouette"], gates=gates,
                loss=np.asarray(run.eval_loss)[seed, -1], own_loss=own_loss)


def compute(ctx: FigureContext) -> dict:
    s = settings(ctx)
    exs = experiments(s)
    description = {"experiments": exs, "seed": ctx.seed, "settings": s, "analysis": "rnn representations v1",
                   "bins": FTV_BINS, "k_max": K_MAX}

    def run_all() -> xr.Dataset:
        key = jax.random.key(ctx.seed)
        names = list(exs)
        rows, curves = {}, {}
        for name, ex in exs.items():
            run = train_rnn(ex, key, n_seeds=s["n_seeds"])
            curves[name] = np.asarray(run.eval_loss)
            record_time = np.asarray(run.record_step)[0] * ex.dt
            rows[name] = [analyse_network(ex, run, seed, jax.random.fold_in(jax.random.key(ctx.seed + 1), seed),
                                           s["n_trials"])
                          for seed in range(s["n_seeds"])]

        def stack(field, pad_to=None):
            out = []
            for n in names:
                values = [r[field] for r in rows[n]]
                if pad_to is not None:  # gates: P differs between students
                    values = [np.pad(np.asarray(v, float), ((0, 0), (0, pad_to - v.shape[-1])), constant_values=np.nan)
                              for v in values]
                out.append(np.stack(values))
            return np.stack(out)

        pairs = [f"{TASK_NAMES[a]}–{TASK_NAMES[b]}" for a in range(4) for b in range(a + 1, 4)]
        ftv = stack("ftv")  # (variant, seed, pair, unit)
        counts = np.zeros((len(names), len(pairs), len(FTV_BINS) - 1))
        for v in range(len(names)):
            for p in range(len(pairs)):
                values = ftv[v, :, p].ravel()
                counts[v, p] = np.histogram(values[np.isfinite(values)], FTV_BINS)[0]
        ds = xr.Dataset(
            {
                "task_variance": (("variant", "seed", "task", "unit"), stack("tv")),
                "ftv": (("variant", "seed", "pair", "unit"), ftv),
                "ftv_histogram": (("variant", "pair", "bin"), counts),
                "profile": (("variant", "seed", "unit", "task"), stack("profiles")),
                "clustered": (("variant", "seed", "unit"), stack("active")),
                "n_clusters": (("variant", "seed"), stack("k")),
                "cluster": (("variant", "seed", "unit"), stack("labels")),
                "silhouette": (("variant", "seed", "k"), stack("silhouette")),
                "gates": (("variant", "seed", "task", "module"), stack("gates", pad_to=4)),
                "final_loss": (("variant", "seed", "task"), stack("loss")),
                "task_loss": (("variant", "seed", "task"), stack("own_loss")),
                "eval_loss": (("variant", "seed", "record", "task"), np.stack([curves[n] for n in names])),
            },
            coords={"variant": names, "seed": np.arange(s["n_seeds"]), "task": list(TASK_NAMES), "pair": pairs,
                    "bin_left": ("bin", FTV_BINS[:-1]), "bin_right": ("bin", FTV_BINS[1:]), "k": np.arange(2, K_MAX + 1),
                    "module": np.arange(4), "record": record_time},
        )
        ds["task_variance"].attrs["description"] = "variance across a task's trials, averaged over the trial's steps"
        ds["ftv"].attrs["description"] = "(TV_A − TV_B)/(TV_A + TV_B); NaN for units inactive in both tasks"
        ds["n_clusters"].attrs["description"] = ("k in 2..6 with the largest mean silhouette among those with silhouette ≥ 0.5 "
                                                 "and closest centres ≥ 0.25 apart; 1 if none")
        ds["gates"].attrs["description"] = "gates c of the network in each task (NaN: module absent)"
        ds["final_loss"].attrs["description"] = "evaluation loss of every task in the final network"
        ds["task_loss"].attrs["description"] = "loss of task m in the network of task m (fresh trials)"
        ds.attrs.update(provenance())
        return ds

    work = f"3 students × {s['n_seeds']} seeds × {s['n_steps']} BPTT steps"
    return {"representations": ctx.cached("rnn-representations", description, run_all, work=work)}


def _pair_index(ds, a, b):
    return list(ds["pair"].values).index(f"{TASK_NAMES[a]}–{TASK_NAMES[b]}")


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    ds = data["representations"]
    names = [str(v) for v in ds["variant"].values]
    fig, axes = plt.subplots(2, 4, figsize=(20, 9), constrained_layout=True)
    centres = 0.5 * (ds["bin_left"].values + ds["bin_right"].values)
    for ax, (a, b), letter in zip(axes[0, :3], PAIRS_SHOWN, "abc"):
        p = _pair_index(ds, a, b)
        for name in names:
            counts = ds["ftv_histogram"].sel(variant=name).values[p]
            ax.step(centres, counts / max(counts.sum(), 1), where="mid", color=VARIANT_COLOURS[name], label=name)
        ax.set(xlim=(-1.1, 1.1), xlabel=f"FTV({TASK_NAMES[a]}, {TASK_NAMES[b]})", ylabel="fraction of units",
               title=f"{letter}  {TASK_NAMES[a]} vs {TASK_NAMES[b]}")
        ax.legend(fontsize=7)
    ax_d = axes[0, 3]
    for name in names:
        mean, sem = mean_sem(ds["silhouette"].sel(variant=name).values)
        k_text = ", ".join(str(int(k)) for k in ds["n_clusters"].sel(variant=name).values)
        ax_d.errorbar(ds["k"].values, mean, yerr=sem, color=VARIANT_COLOURS[name], marker="o", ms=3, capsize=2,
                      label=f"{name} (chosen k: {k_text})")
    ax_d.axhline(0.5, color="k", lw=0.7, ls=":")
    ax_d.set(xlabel="number of clusters k", ylabel="mean silhouette", ylim=(0, 1.05), title="d  k-means on normalised TV profiles")
    ax_d.legend(fontsize=7)
    for ax, name, letter in zip(axes[1, :3], names, "efg"):
        profiles = ds["profile"].sel(variant=name).isel(seed=0).values
        active = ds["clustered"].sel(variant=name).isel(seed=0).values.astype(bool)
        labels = ds["cluster"].sel(variant=name).isel(seed=0).values
        order = np.lexsort((np.argmax(profiles, axis=1), labels))
        order = order[active[order]]
        image = ax.imshow(profiles[order].T, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        boundaries = np.flatnonzero(np.diff(labels[order])) + 0.5
        for x in boundaries:
            ax.axvline(x, color="w", lw=1)
        ax.set(xlabel="active unit (sorted by cluster)", yticks=range(len(TASK_NAMES)), yticklabels=TASK_NAMES,
               title=f"{letter}  {name}: normalised TV, seed 0 (k = {int(ds['n_clusters'].sel(variant=name).values[0])})")
        fig.colorbar(image, ax=ax, shrink=0.8)
    ax_h = axes[1, 3]
    gated = ds["gates"].sel(variant=names[0]).values  # (seed, task, module)
    mean = np.nanmean(gated, axis=0)
    width = 0.8 / mean.shape[1]
    for p in range(mean.shape[1]):
        ax_h.bar(np.arange(len(TASK_NAMES)) + (p - (mean.shape[1] - 1) / 2) * width, mean[:, p], width,
                 label=f"module {p + 1}", alpha=0.85)
    ax_h.set_xticks(range(len(TASK_NAMES)), TASK_NAMES)
    loss_text = "\n".join(f"{n}: {ds['task_loss'].sel(variant=n).values.mean():.3f}" for n in names)
    ax_h.set(ylabel="gate c_p (mean over seeds)")
    ax_h.set_ylim(min(0.0, float(np.nanmin(mean)) * 1.2), max(1.0, float(np.nanmax(mean))) * 1.35)  # room for the text
    ax_h.set_title("h  NTA gates in each task's network")
    ax_h.legend(fontsize=7, loc="upper right")
    ax_h.text(0.02, 0.98, f"task loss in its own network:\n{loss_text}", transform=ax_h.transAxes, va="top", fontsize=7,
              bbox=dict(facecolor="white", alpha=0.8, edgecolor="none"))
    fig.suptitle(
        "Rule tasks on shared channels (Go, Anti, context-dependent DM 1 / DM 2), tanh RNNs. FTV pooled over units and seeds; "
        "clusters by ntajax's stated criterion.\n"
        + textwrap.fill(f"This run: {headline(data)}. {AGREEMENT}", 260) + f"\n{band_caption(ds.sizes['seed'])}",
        fontsize=9,
    )
    return ctx.save(fig, "rnn_representations")


def headline_numbers(data: dict) -> dict:
    ds = data["representations"]
    out = {}
    for name in ds["variant"].values:
        ftv = ds["ftv"].sel(variant=name).values
        ftv = ftv[np.isfinite(ftv)]
        out[f"extreme {name}"] = float(np.mean(np.abs(ftv) > 0.9)) if ftv.size else np.nan
        out[f"central {name}"] = float(np.mean(np.abs(ftv) < 0.3)) if ftv.size else np.nan
        out[f"k {name}"] = float(np.median(ds["n_clusters"].sel(variant=name).values))
        out[f"loss {name}"] = float(ds["task_loss"].sel(variant=name).mean())
    return out


def headline(data: dict) -> str:
    n = headline_numbers(data)
    names = [str(v) for v in data["representations"]["variant"].values]
    return "; ".join(f"{name}: |FTV| > 0.9 for {n[f'extreme {name}']:.0%}, < 0.3 for {n[f'central {name}']:.0%}, "
                     f"median k {n[f'k {name}']:g}, loss {n[f'loss {name}']:.3f}" for name in names)
