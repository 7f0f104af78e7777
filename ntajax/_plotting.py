"""The summary figure of ``ntajax run`` (reads a results Dataset; never trains).

Bands are mean ± SEM over seeds, SEM = sample std (ddof 1)/√N (FIGURES.md §0), with the
95 % Student-t interval shaded lighter around them, and the caption says so; seeds that diverged
are left out and counted in the caption. Importing this module sets no matplotlib state: the command line chooses the
backend when a command draws.
"""

import json

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from .metrics._seeds import nan_mean_std

VARIANT_COLOURS = {"flexible": "black", "forgetful": "tab:grey"}
TASK_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def mean_sem(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error (ddof = 1) along ``axis`` over the finite entries (diverged seeds
    are left out); SEM is 0 for a single seed."""
    x = np.asarray(x, dtype=float)
    n = np.sum(np.isfinite(x), axis=axis)
    mean, std = nan_mean_std(x, axis=axis)
    if x.shape[axis] < 2:
        return mean, np.zeros_like(mean)
    return mean, std / np.sqrt(np.maximum(n, 1))


def shade_contexts(ax, t: np.ndarray, context: np.ndarray) -> None:
    """Shade the background by the active task, using the recorded task index."""
    change = np.flatnonzero(np.diff(context)) + 1
    edges = np.concatenate([[0], change, [len(t) - 1]])
    for a, b in zip(edges[:-1], edges[1:]):
        colour = TASK_COLOURS[int(context[a]) % len(TASK_COLOURS)]
        ax.axvspan(t[a], t[b], color=colour, alpha=0.07, lw=0)


def stored_parameter(ds: xr.Dataset, variant, path: str) -> float:
    """A parameter of a stored variant's simulation by dotted path, e.g. ``"student.tau_w"``
    (read from the nested description in ``ds.attrs["config"]``)."""
    value = json.loads(ds.attrs["config"])[str(variant)]
    for name in path.split("."):
        value = value[name]
    return float(value)


def summary_figure(ds: xr.Dataset):
    """Loss, gates, alignment and adaptation time per block; variants overlaid."""
    t = ds["t"].values
    n_seeds = ds.sizes["seed"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), constrained_layout=True)
    ax_loss, ax_gate, ax_align, ax_adapt = axes.ravel()
    shade_contexts(ax_loss, t, ds["context"].isel(variant=0, seed=0).values)
    for name in ds["variant"].values:
        v = ds.sel(variant=name)
        colour = VARIANT_COLOURS.get(str(name), None)
        band(ax_loss, t, v["loss"].values, colour, label=str(name), interval=True)
        gates, pi = v["gates"].values, v["assignment"].values
        if gates.shape[-1] == ds.sizes["path"]:
            for m in range(pi.shape[1]):
                per_seed = np.stack([gates[s, :, pi[s, m]] for s in range(n_seeds)])
                style = "-" if name == "flexible" else ":"
                band(ax_gate, t, per_seed, TASK_COLOURS[m], label=f"{name}: path of task {m}", linestyle=style)
        sim = v["similarity"].values  # (seed, t, teacher, path)
        n_teachers = pi.shape[1]
        matched = np.stack([[sim[s, :, m, pi[s, m]] for m in range(n_teachers)] for s in range(n_seeds)])
        is_matched = np.zeros((n_seeds, n_teachers, sim.shape[-1]), bool)
        for s in range(n_seeds):
            is_matched[s, np.arange(n_teachers), pi[s]] = True
        mismatched = np.stack(
            [sim[s][:, ~is_matched[s]].mean(axis=-1) for s in range(n_seeds)]
        )  # mean over the mismatched (teacher, path) entries of each seed
        band(ax_align, t, matched.mean(axis=1), colour, label=f"{name} matched", interval=True)
        band(ax_align, t, mismatched, colour, linestyle="--", label=f"{name} mismatched")
        tau_w = stored_parameter(ds, name, "student.tau_w")
        block_length = stored_parameter(ds, name, "curriculum.block_length")
        centres = ds["block_start"].values + block_length / 2
        adapt = v["adaptation_time"].values / tau_w
        mean, sem = mean_sem(adapt)
        ax_adapt.errorbar(centres, mean, yerr=sem, color=colour, marker="o", ms=3, lw=1, capsize=2, label=str(name))
        cens = v["censored"].values.mean(axis=0) > 0.5
        ax_adapt.plot(centres[cens], mean[cens], "x", color="red", ms=6)
    ax_loss.set(xlabel="time t", ylabel="task loss $\\mathcal{L}$", ylim=(0, None), title="loss")
    ax_gate.set(xlabel="time t", ylabel="gate $c_p$", title="gates (paths ordered by assignment π)")
    ax_align.set(xlabel="time t", ylabel="student–teacher alignment", ylim=(-0.2, 1.05),
                 title="alignment $S_{mp}$ (mean of matched / of mismatched entries)")
    ax_adapt.set(xlabel="block centre", ylabel="adaptation time / $\\tau_w$", title="time to loss < 0.1 (red x: censored)")
    ax_adapt.set_yscale("log")
    for ax in axes.ravel():
        ax.legend(fontsize=7, loc="best")
    diverged = int((ds["status"] != 0).sum()) if "status" in ds else 0
    note = f"; {diverged} diverged run(s) left out" if diverged else ""
    fig.suptitle(f"{band_caption(n_seeds, paired=False)}; loss and matched alignment also show the 95 % "
                 f"Student-t interval (lighter){note} (common random numbers across variants)", fontsize=9)
    return fig


# ---------------------------------------------------------------- helpers for figure scripts
def band(ax, t, x, colour=None, label=None, linestyle="-", kind: str = "sem", lw: float = 1.0, alpha: float = 0.25,
         interval: bool = False):
    """Plot the seed mean of ``x`` (seeds first) with a ± SEM (``kind="sem"``) or ± std band.

    SEM = std(ddof=1)/√N (FIGURES.md §0); the band is never rescaled. A single seed draws no band.
    With ``interval``, the 95 % Student-t interval over the finite seeds
    (:func:`ntajax.metrics.seed_statistics`) is shaded as well, lighter, around the SEM band.
    """
    x = np.asarray(x, dtype=float)
    if kind == "sem":
        mean, spread = mean_sem(x)
    elif kind == "std":
        mean, spread = nan_mean_std(x, axis=0)
        spread = spread if x.shape[0] > 1 else np.zeros_like(mean)
    else:
        raise ValueError(f"band kind={kind!r} must be 'sem' or 'std'.")
    (line,) = ax.plot(t, mean, color=colour, label=label, linestyle=linestyle, lw=lw)
    if x.shape[0] > 1:
        ax.fill_between(t, mean - spread, mean + spread, color=line.get_color(), alpha=alpha, lw=0)
    if interval and x.shape[0] > 1:
        from .metrics._seeds import seed_statistics

        stat = seed_statistics(x, axis=0)
        ax.fill_between(t, stat.low, stat.high, color=line.get_color(), alpha=alpha * 0.4, lw=0)
    return line


def shade_blocks(ax, starts, ends, tasks, alpha: float = 0.07, colours=TASK_COLOURS) -> None:
    """Shade the exact block intervals [starts_k, ends_k) by task index (FIGURES.md §0)."""
    for a, b, task in zip(np.asarray(starts), np.asarray(ends), np.asarray(tasks)):
        if np.isfinite(a) and np.isfinite(b):
            ax.axvspan(a, b, color=colours[int(task) % len(colours)], alpha=alpha, lw=0)


def band_caption(n_seeds: int, kind: str = "sem", paired: bool = True) -> str:
    """The caption fragment every banded figure carries, e.g. 'mean ± SEM over N = 10 seeds'."""
    what = "SEM" if kind == "sem" else "std"
    text = f"mean ± {what} over N = {n_seeds} seeds"
    return text + (" (common random numbers across conditions)" if paired else "")


def assigned(values: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    """View of per-path values (seed, t, path) in assignment order: (seed, t, teacher).

    ``assignment`` is (seed, teacher): the path assigned to each teacher (MODEL §7.4). The raw
    array is not modified.
    """
    values = np.asarray(values)
    pi = np.asarray(assignment)
    return np.stack([values[s][:, pi[s]] for s in range(values.shape[0])])


def matched_and_mismatched(similarity: np.ndarray, assignment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Matched S_{m,π(m)} (seed, t, teacher) and mismatched entries (seed, t, other) of S (MODEL §7.4)."""
    sim = np.asarray(similarity)
    pi = np.asarray(assignment)
    n_seeds, _, n_teachers, n_paths = sim.shape
    matched, mismatched = [], []
    for s in range(n_seeds):
        mask = np.zeros((n_teachers, n_paths), bool)
        mask[np.arange(n_teachers), pi[s]] = True
        matched.append(sim[s][:, np.arange(n_teachers), pi[s]])
        mismatched.append(sim[s][:, ~mask])
    return np.stack(matched), np.stack(mismatched)


def block_table(ds: xr.Dataset, variant=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact block starts, ends and task index of a results Dataset (for context shading).

    Starts are ``block_start`` (k·τ_B), ends are min(start + τ_B, t_total), the task is the
    recorded context at the first record of the block.
    """
    name = str(ds["variant"].values[0]) if variant is None else str(variant)
    block_length = stored_parameter(ds, name, "curriculum.block_length")
    t = ds["t"].values
    starts = ds["block_start"].values
    ends = np.minimum(starts + block_length, t[-1])
    context = ds["context"].sel(variant=name).isel(seed=0).values
    first = np.clip(np.searchsorted(t, starts - 1e-9), 0, len(t) - 1)
    keep = starts < t[-1] - 1e-9
    return starts[keep], ends[keep], context[first[keep]]
