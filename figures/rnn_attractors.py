"""Shared vs separate attractors of a multi-task RNN under gated, orthogonal and parallel outputs.

Turner & Barak, "The simplicity bias in multi-task RNNs: shared attractors, reuse of dynamics,
and geometric representation" (NeurIPS 2023). Two 2-bit flip-flop tasks (each needs 2² = 4
stable fixed points) on separate input and output channels, learnt by one plain tanh RNN
(``GatedRNN(n_modules=1, gated=False)``, α = 0.5, trials interleaved at random, no cue: the
active input channels tell the tasks apart) under the three output constraints of the paper:

* **gated** — loss only on the current task's outputs (:class:`ntajax.GatedReadout`);
* **orthogonal** — the other task's outputs trained to 0 (:class:`ntajax.OrthogonalReadout`);
* **parallel** — both tasks in every trial (:class:`ntajax.ParallelReadout`).

"Task m's trajectories" are the hidden states on trials with pulses on task m's channels only
(for every constraint, so the parallel network is probed one task at a time), from the 10th step
of the 30-step trial on (before the first pulse both tasks sit at the same state). Measures per
seed (:mod:`ntajax._rnn`):

* (a) the 5-fold cross-validated accuracy of a ridge linear classifier of the task from the
  hidden state (0.5: overlapping, 1: separable) and (b) the F ratio of between- to within-task
  variance of the states (:func:`ntajax.decoding_accuracy`, :func:`ntajax.trajectory_f_ratio`);
* (c) the number of attractors at zero input — the stable fixed points that states of the
  network's own trials (both tasks at once for parallel outputs) flow to: 300 steps of the map
  from each state (plus noise), then optimistix Levenberg–Marquardt on F(h) − h, merged within
  0.05, stable when every |λ| < 1.001 of the Jacobian — and the number of unstable eigenvalues of
  the recurrent weights W, #{λ : |1 − α + αλ| > 1} (the linearisation at h = 0,
  :func:`ntajax.unstable_eigenvalue_count`);
* (d) the fraction of the attractors reached from both tasks' states (shared) among those reached
  from either (each task probed on its own channels);
* (e–g) stable (filled) and unstable (×) fixed points and three trials per task in the top three
  principal components of the states of seed 0; (h) evaluation loss during training.

Predictions of the paper: under gated outputs the tasks reuse one set of attractors (4 shared
fixed points, 2 unstable eigenvalues, overlapping trajectories), under orthogonal and parallel
outputs they use separate ones (4 + 4 points for orthogonal, the 4 × 4 product for parallel, 4
unstable eigenvalues, separable trajectories).

Where the result agrees with the paper and where not (``ntajax figure rnn-attractors --size
quick``, 3 seeds; also :data:`AGREEMENT`, printed in the caption). Agrees on the attractors:
orthogonal outputs make 8.0 = 4 + 4 attractors, 17 % of them reached from both tasks (separate
sets); parallel outputs make the 16 = 4 × 4 product; gated outputs reuse attractors (81 % reached
from both tasks). Differs: gated networks keep 7.0 attractors rather than the minimal shared 4;
the unstable eigenvalues of W do not order as predicted (gated 3.7, orthogonal 2.3, parallel 4.0
against 2, 4, 4); and the trajectories are only weakly separable under every constraint (held-out
accuracy 0.63 / 0.64 / 0.78, F ≤ 0.03), so the geometric measures do not separate gated from
orthogonal outputs in this setting. For parallel outputs the "shared" fraction counts product
attractors that both one-task probes fall into (the other task's bits sit at whatever the probe
leaves them), not reuse in the paper's sense.
"""

import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ntajax import (
    FlipFlop, GatedReadout, GatedRNN, InterleavedTasks, OrthogonalReadout, ParallelReadout, RNNExperiment, decoding_accuracy,
    find_fixed_points, fit_pca, rnn_responses, sample_initial_states, stack_by_task, train_rnn, trajectory_f_ratio,
    unstable_eigenvalue_count,
)
from ntajax._cli.figure import FigureContext
from ntajax._plotting import band_caption, mean_sem
from ntajax._rnn.fixed_points import deduplicate
from ntajax._store.dataset import provenance

TITLE = "Multi-task RNN attractors: shared under gated outputs, separate under orthogonal and parallel (Turner & Barak)"

CONSTRAINTS = {"gated": GatedReadout(), "orthogonal": OrthogonalReadout(), "parallel": ParallelReadout()}
COLOURS = {"gated": "tab:blue", "orthogonal": "tab:orange", "parallel": "tab:green"}
TRIAL_STEPS = 30
BURN_IN = 10
MATCH_TOLERANCE = 0.05
MAX_POINTS = 64
RELAX_STEPS = 300
N_SHOW = 3

AGREEMENT = (
    "At --size quick (3 seeds) this agrees with Turner & Barak on the attractors: orthogonal outputs make 8.0 = 4 + 4 attractors, "
    "17 % of them reached from both tasks (separate sets); parallel outputs the 16 = 4 × 4 product; gated outputs reuse "
    "attractors (81 % reached from both tasks). It differs in that gated networks keep 7.0 attractors, not the minimal shared 4; "
    "the unstable eigenvalues of W do not order as predicted (gated 3.7, orthogonal 2.3, parallel 4.0; predicted 2, 4, 4); and "
    "the trajectories are weakly separable under every constraint (accuracy 0.63 / 0.64 / 0.78, F ≤ 0.03), so the geometric "
    "measures do not tell gated from orthogonal here."
)
"""Where the quick-size result agrees with the paper and where not (caption and module docstring)."""


def settings(ctx: FigureContext) -> dict:
    return ctx.pick(
        dict(n_seeds=5, n_hidden=64, n_steps=8000, batch_size=32, n_trials=64, n_initial=256),
        dict(n_seeds=3, n_hidden=48, n_steps=3000, batch_size=32, n_trials=32, n_initial=128),
        dict(n_seeds=1, n_hidden=16, n_steps=100, batch_size=8, n_trials=8, n_initial=16),
    )


def experiment(readout, s: dict) -> RNNExperiment:
    return RNNExperiment(
        student=GatedRNN(n_hidden=s["n_hidden"], n_modules=1, gated=False, alpha=0.5, tau_w=0.05, recurrent_gain=1.0,
                         output_scale=0.5),
        tasks=(FlipFlop(n_bits=2, n_steps=TRIAL_STEPS), FlipFlop(n_bits=2, n_steps=TRIAL_STEPS)),
        readout=readout, curriculum=InterleavedTasks(cue=False), dt=0.01, n_steps=s["n_steps"],
        batch_size=s["batch_size"], record_every=s["n_steps"] // 20,
    )


def _attractors(F, starts, u):
    """Stable fixed points that ``starts`` flow to (iterate RELAX_STEPS steps, then polish)."""
    found = find_fixed_points(F, starts, u, q_tolerance=1e-8, unique_tolerance=MATCH_TOLERANCE / 2, relax_steps=RELAX_STEPS)
    return found.points[found.stable]


def _saddles(F, starts, u):
    """Unstable fixed points: the zeros of F(h) − h nearest to ``starts`` that are not attractors."""
    found = find_fixed_points(F, starts, u, q_tolerance=1e-8, unique_tolerance=MATCH_TOLERANCE)
    return found.points[~found.stable]


def network_step(model, state, h, u):
    """F(h, u) of a trained network (module-level, so that :class:`jax.tree_util.Partial` of it is
    the same program for every network of one size)."""
    return model.step(state, h, u)


def analyse_network(ex: RNNExperiment, state, key, s: dict) -> dict:
    """The measures of one trained network (module docstring)."""
    model = ex.student
    probe = ex.replace(readout=GatedReadout())  # one task's channels per trial, the same layout for every constraint
    k_trials, k_fold, *k_start = jax.random.split(key, 3 + ex.n_tasks)
    hidden = np.asarray(rnn_responses(probe, state, k_trials, s["n_trials"]).hidden)[:, :, BURN_IN:]  # (M, n, T', N)
    states, labels = stack_by_task(list(hidden))
    accuracy = float(decoding_accuracy(states, labels, ex.n_tasks, key=k_fold))
    f_ratio = float(trajectory_f_ratio(list(hidden)))
    F = jax.tree_util.Partial(network_step, model, state)  # a pytree: one compile for every network of this size
    u0 = jnp.zeros(ex.d_in)
    noise = 0.05 * float(np.sqrt(np.mean(hidden**2)))
    # attractors of the network's own trials (for parallel outputs: both tasks at once)
    # (gated and orthogonal trials have the probe's inputs: only the masks differ)
    own = np.asarray(rnn_responses(ex, state, k_trials, s["n_trials"]).hidden) if not ex.readout.uses_task_index else hidden
    everything = _attractors(F, sample_initial_states(own, s["n_initial"], key=k_start[0], noise=noise), u0)
    # which of them each task's states flow to (one task's channels at a time)
    reached = np.zeros((len(everything), ex.n_tasks), bool)
    extra = []
    for m in range(ex.n_tasks):
        points = _attractors(F, sample_initial_states(hidden[m], s["n_initial"], key=k_start[m + 1], noise=noise), u0)
        for p in points:
            distance = np.linalg.norm(everything - p, axis=1) if len(everything) else np.zeros(0)
            if len(distance) and distance.min() <= MATCH_TOLERANCE:
                reached[int(np.argmin(distance)), m] = True
            else:
                extra.append(p)
    used = reached.any(1)
    category = np.where(reached.all(1), 2, np.where(used, np.argmax(reached, 1), 3))  # A only, B only, both, neither
    unstable = _saddles(F, sample_initial_states(own, s["n_initial"], key=k_start[-1], noise=noise), u0)
    W = np.asarray(state.effective_recurrent())
    pca = fit_pca(states, 3)
    shown = hidden[:, :N_SHOW] if hidden.shape[1] >= N_SHOW else hidden
    return dict(
        accuracy=accuracy, f_ratio=f_ratio, n_stable=len(everything), n_used=int(used.sum()), n_shared=int(np.sum(category == 2)),
        shared_fraction=float(np.sum(category == 2) / used.sum()) if used.any() else np.nan, n_unstable_points=len(unstable),
        n_missed=len(extra), unstable_eigenvalues=unstable_eigenvalue_count(W, float(model.alpha)),
        points=np.asarray(pca.project(everything)) if len(everything) else np.zeros((0, 3)), category=category,
        unstable_points=np.asarray(pca.project(unstable)) if len(unstable) else np.zeros((0, 3)),
        trajectories=np.asarray(pca.project(shown)), explained=np.asarray(pca.explained),
    )


def _pad(x, n, fill=np.nan):
    out = np.full((n,) + x.shape[1:], fill, dtype=float)
    out[: min(n, len(x))] = x[:n]
    return out


def compute(ctx: FigureContext) -> dict:
    s = settings(ctx)
    experiments = {name: experiment(readout, s) for name, readout in CONSTRAINTS.items()}
    description = {"experiments": experiments, "seed": ctx.seed, "settings": s, "analysis": "attractors v1",
                   "burn_in": BURN_IN, "match_tolerance": MATCH_TOLERANCE}

    def run_all() -> xr.Dataset:
        key = jax.random.key(ctx.seed)
        rows, curves, pictures = {}, {}, {}
        for name, ex in experiments.items():
            run = train_rnn(ex, key, n_seeds=s["n_seeds"])
            curves[name] = np.asarray(run.eval_loss).mean(-1)
            rows[name] = []
            for seed in range(s["n_seeds"]):
                state = jax.tree.map(lambda x: x[seed], run.final)
                out = analyse_network(ex, state, jax.random.fold_in(jax.random.key(ctx.seed + 1), seed), s)
                out["final_loss"] = float(np.asarray(run.eval_loss)[seed, -1].mean())
                out["status"] = int(run.status[seed])
                rows[name].append(out)
            pictures[name] = rows[name][0]
            record_step = np.asarray(run.record_step)[0]
        names = list(experiments)
        scalar = ("accuracy", "f_ratio", "n_stable", "n_used", "n_shared", "shared_fraction", "n_unstable_points", "n_missed",
                  "unstable_eigenvalues", "final_loss", "status")
        data = {f: (("constraint", "seed"), np.array([[r[f] for r in rows[n]] for n in names], dtype=float)) for f in scalar}
        p = pictures
        data.update(
            eval_loss=(("constraint", "seed", "record"), np.stack([curves[n] for n in names])),
            fp_pc=(("constraint", "point", "pc"), np.stack([_pad(p[n]["points"], MAX_POINTS) for n in names])),
            fp_category=(("constraint", "point"), np.stack([_pad(p[n]["category"][:, None], MAX_POINTS, -1)[:, 0] for n in names])),
            unstable_pc=(("constraint", "point", "pc"), np.stack([_pad(p[n]["unstable_points"], MAX_POINTS) for n in names])),
            trajectory_pc=(("constraint", "task", "trial", "time", "pc"), np.stack([p[n]["trajectories"] for n in names])),
            explained=(("constraint", "pc"), np.stack([p[n]["explained"] for n in names])),
        )
        ds = xr.Dataset(data, coords={"constraint": names, "seed": np.arange(s["n_seeds"]), "record": record_step * 0.01,
                                      "pc": [1, 2, 3], "task": ["A", "B"]})
        ds["accuracy"].attrs["description"] = "5-fold cross-validated ridge classifier accuracy of the task from h (0.5 chance)"
        ds["f_ratio"].attrs["description"] = "between-task variance of the task means / mean within-task variance of h"
        ds["n_stable"].attrs["description"] = "stable fixed points at u = 0 reached from either task's states"
        ds["shared_fraction"].attrs["description"] = "fraction of those reached from both tasks' states"
        ds["unstable_eigenvalues"].attrs["description"] = "#{λ of W : |1 − α + αλ| > 1}"
        ds["fp_category"].attrs["description"] = "seed 0: 0 reached from task A only, 1 from B only, 2 from both, −1 padding"
        ds.attrs.update(provenance())
        return ds

    work = f"3 constraints × {s['n_seeds']} seeds × {s['n_steps']} BPTT steps"
    return {"attractors": ctx.cached("rnn-attractors", description, run_all, work=work)}


def _bars(ax, ds, field, ylabel, title):
    names = [str(c) for c in ds["constraint"].values]
    mean, sem = mean_sem(ds[field].transpose("seed", "constraint").values)
    ax.bar(np.arange(len(names)), mean, yerr=sem, capsize=3, color=[COLOURS[n] for n in names], alpha=0.85)
    for i, n in enumerate(names):
        values = ds[field].sel(constraint=n).values
        ax.plot(np.full(values.shape, i) + np.linspace(-0.15, 0.15, len(values)), values, "k.", ms=3)
    ax.set_xticks(np.arange(len(names)), names)
    ax.set(ylabel=ylabel, title=title)


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    ds = data["attractors"]
    fig, axes = plt.subplots(2, 4, figsize=(19, 9), constrained_layout=True)
    (ax_a, ax_b, ax_c, ax_d), bottom = axes
    _bars(ax_a, ds, "accuracy", "held-out accuracy", "a  linear decoding of the task from h")
    ax_a.axhline(0.5, color="k", lw=0.7, ls=":")
    ax_a.set_ylim(0.4, 1.02)
    _bars(ax_b, ds, "f_ratio", "between / within variance", "b  F ratio of the task trajectories")
    names = [str(c) for c in ds["constraint"].values]
    x = np.arange(len(names))
    for offset, field, label, hatch in ((-0.2, "n_stable", "stable fixed points", None),
                                        (0.2, "unstable_eigenvalues", "unstable eigenvalues of W", "//")):
        mean, sem = mean_sem(ds[field].transpose("seed", "constraint").values)
        ax_c.bar(x + offset, mean, 0.38, yerr=sem, capsize=3, color=[COLOURS[n] for n in names], hatch=hatch, alpha=0.8,
                 label=label, edgecolor="k")
    for y in (2, 4, 8, 16):
        ax_c.axhline(y, color="grey", lw=0.5, ls=":")
    ax_c.set_xticks(x, names)
    ax_c.set(ylabel="count", title="c  stable fixed points (plain) and unstable eigenvalues (hatched)")
    ax_c.legend(fontsize=7)
    _bars(ax_d, ds, "shared_fraction", "fraction of stable points", "d  attractors reached from both tasks")
    ax_d.set_ylim(0, 1.05)
    markers = {0: ("o", "tab:red", "task A only"), 1: ("s", "tab:purple", "task B only"), 2: ("*", "k", "both tasks"),
               3: ("D", "white", "neither task alone")}
    for ax, name in zip(bottom[:3], names):
        traj = ds["trajectory_pc"].sel(constraint=name).values
        for m, colour in enumerate(("tab:red", "tab:purple")):
            for trial in traj[m]:
                ax.plot(trial[:, 0], trial[:, 1], color=colour, lw=0.6, alpha=0.5)
        points = ds["fp_pc"].sel(constraint=name).values
        category = ds["fp_category"].sel(constraint=name).values
        for c, (marker, colour, label) in markers.items():
            sel = category == c
            if np.any(sel):
                ax.scatter(points[sel, 0], points[sel, 1], marker=marker, s=60, color=colour, edgecolor="k", zorder=3,
                           label=f"stable, {label}")
        unstable = ds["unstable_pc"].sel(constraint=name).values
        ax.scatter(unstable[:, 0], unstable[:, 1], marker="x", s=25, color="grey", zorder=2, label="unstable")
        explained = ds["explained"].sel(constraint=name).values
        ax.set(xlabel=f"PC1 ({explained[0]:.0%})", ylabel=f"PC2 ({explained[1]:.0%})",
               title=f"{'efg'[names.index(name)]}  {name}: fixed points and trials (seed 0)")
        ax.legend(fontsize=6, loc="best")
    ax_h = bottom[3]
    for name in names:
        mean, sem = mean_sem(ds["eval_loss"].sel(constraint=name).values)
        t = ds["record"].values
        ax_h.plot(t, mean, color=COLOURS[name], label=name)
        ax_h.fill_between(t, mean - sem, mean + sem, color=COLOURS[name], alpha=0.2)
    ax_h.set_yscale("log")
    ax_h.set(xlabel="training time t = step · dt", ylabel="evaluation loss (mean over tasks)", title="h  training")
    ax_h.legend(fontsize=7)
    fig.suptitle(
        "Two 2-bit flip-flops on separate channels, one tanh RNN, interleaved trials. Turner & Barak: gated outputs → shared "
        "attractors (4 points, 2 unstable eigenvalues); orthogonal / parallel → separate (8 / 16 points, 4 eigenvalues).\n"
        + textwrap.fill(f"This run: {headline(data)}. {AGREEMENT}", 260) + f"\n{band_caption(ds.sizes['seed'])}",
        fontsize=9,
    )
    return ctx.save(fig, "rnn_attractors")


def headline_numbers(data: dict) -> dict:
    ds = data["attractors"]
    out = {}
    for name in ds["constraint"].values:
        row = ds.sel(constraint=name)
        for field in ("accuracy", "f_ratio", "n_stable", "shared_fraction", "unstable_eigenvalues", "final_loss"):
            out[f"{field} {name}"] = float(np.nanmean(row[field].values))
    return out


def headline(data: dict) -> str:
    n = headline_numbers(data)
    names = [str(c) for c in data["attractors"]["constraint"].values]
    return "; ".join(
        f"{name}: accuracy {n[f'accuracy {name}']:.2f}, F {n[f'f_ratio {name}']:.2f}, {n[f'n_stable {name}']:.1f} stable "
        f"points ({n[f'shared_fraction {name}']:.0%} shared), {n[f'unstable_eigenvalues {name}']:.1f} unstable eigenvalues"
        for name in names
    )
