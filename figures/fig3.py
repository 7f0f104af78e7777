"""Fig. 3 — compositional generalisation, panels c and d (FIGURES.md Fig. 3).

Three base tasks A, B, C in blocks 0–22, then pairwise composites from block S = 23 on (the first
composite block is CA: composite indices use the absolute block index). Panels:

* **c** task composition: gated student, M = P = 3, additive composites (μ = 0.5); expected loss
  for t ∈ [22.8, 23.8], flexible vs forgetful;
* **d** subtask composition: per-neuron gating (18 gates), row-concatenated composites; same window.
  The paper's setting has **dt/τ_c = 2 (dt = 0.01, τ_c = 0.005), outside the gradient-flow regime**:
  it is reproduced as specified and flagged in the caption; the dashed curves are the
  expected-gradient cross-check with dt = 5e-4 (dt/τ_c = 0.1) that the spec asks for;
* bottom row: the gates in the same window (flexible solid, forgetful dotted), showing that the
  flexible gates recombine existing modules: additive — c_p of the paths assigned to A, B, C;
  concatenated — the mean gate of the rows matched to each base teacher (MODEL §7.9).

Bands are mean ± SEM over seeds (SEM = std(ddof=1)/√N, never rescaled); both variants use the same
seed keys (common random numbers). Context shading uses the exact block boundaries k·τ_B; composite
blocks are hatched. The time axis is nominal time: with the exact clock the composite block starts
at t = 23 and no hand-applied shift (the original's +23·dt) is needed.

Differences from the original: exact expected loss instead of the minibatch loss; paths ordered by a
stored optimal assignment and per-neuron rows by a linear-assignment row matching, applied to views
(the original's sort overwrote the data and its row match was an independent argmax per row).

Headline: for the first composite block, the time until the loss falls below 10 % of its value at
the switch (``recovery``) and the mean loss over [23, 23.8], flexible vs forgetful.
"""

import json

import numpy as np

from ntajax._cli.figure import FigureContext
from ntajax._plotting import TASK_COLOURS, VARIANT_COLOURS, assigned, band, band_caption, block_table, mean_sem
from sweeps import composition

TITLE = "Fig. 3 — task and subtask composition: loss around the first composite block"
T_SWITCH = float(composition.SWITCH_BLOCK)  # τ_B = 1: block S starts at t = S
WINDOW = (22.8, 23.8)
RECOVERY_FRACTION = 0.1
BASE_NAMES = ("A", "B", "C")
COMPOSITE_NAMES = ("AB", "BC", "CA")


# ------------------------------------------------------------------------ shared helpers
def task_name(index: int, n_base: int = 3) -> str:
    return BASE_NAMES[index] if index < n_base else COMPOSITE_NAMES[index - n_base]


def shade_tasks(ax, ds, n_base: int = 3, alpha: float = 0.08) -> None:
    """Shade the exact blocks by task; composite blocks (index ≥ n_base) are hatched."""
    starts, ends, tasks = block_table(ds)
    for a, b, task in zip(starts, ends, tasks):
        colour = TASK_COLOURS[int(task) % len(TASK_COLOURS)]
        if task < n_base:
            ax.axvspan(a, b, color=colour, alpha=alpha, lw=0)
        else:
            ax.axvspan(a, b, facecolor=colour, alpha=alpha * 1.5, lw=0)
            ax.axvspan(a, b, facecolor="none", edgecolor=colour, alpha=0.35, hatch="///", lw=0)


def block_legend_handles(n_base: int = 3) -> list:
    """Legend patches for the shading: base tasks plain, composites hatched."""
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=TASK_COLOURS[m], alpha=0.25, label=f"block {BASE_NAMES[m]}") for m in range(n_base)]
    handles += [Patch(facecolor=TASK_COLOURS[n_base + j], alpha=0.3, hatch="///", edgecolor=TASK_COLOURS[n_base + j],
                      label=f"block {COMPOSITE_NAMES[j]}") for j in range(len(COMPOSITE_NAMES))]
    return handles


def dynamics_label(ds, variant: str = "flexible") -> str:
    """'sampled B = 200, dt = 0.001' or 'expected gradient, dt = 0.0005' from the stored config."""
    config = json.loads(ds.attrs["config"])[variant]
    gradient, dt = config["gradient"], config["grid"]["dt"]
    if gradient["type"] == "SampledGradient":
        return f"sampled B = {gradient['batch_size']}, dt = {dt:g}"
    return f"expected gradient, dt = {dt:g}"


def gate_step_ratio(ds, variant: str = "flexible") -> str:
    """'τ_c = 0.005: dt/τ_c = 2, outside ...' from the stored config, flagged when ≥ 0.5 (MODEL §5.2)."""
    config = json.loads(ds.attrs["config"])[variant]
    tau_c = config["student"]["tau_c"]
    ratio = config["grid"]["dt"] / tau_c
    flag = ", outside the gradient-flow regime (flagged)" if ratio >= 0.5 else ""
    return f"τ_c = {tau_c:g}: dt/τ_c = {ratio:.3g}{flag}"


def time_slice(t: np.ndarray, lo: float, hi: float) -> slice:
    """Indices of the records with lo ≤ t ≤ hi (tolerance 1 % of the spacing: t is float32)."""
    tol = 0.01 * float(np.min(np.diff(t)))
    return slice(int(np.searchsorted(t, lo - tol)), int(np.searchsorted(t, hi + tol)))


def switch_response(ds, variant: str, t_switch: float = T_SWITCH, window: float = WINDOW[1] - T_SWITCH,
                    fraction: float = RECOVERY_FRACTION) -> dict:
    """Per-seed loss response to the switch at ``t_switch`` (arrays over seeds).

    * ``before``: loss at the last record before the switch (end of the last base block);
    * ``at``: loss at the first record at or after the switch (at t_switch itself when the
      recording grid contains it: the state before any update on the new task);
    * ``mean``: mean loss over [t_switch, t_switch + window] (trapezoid rule);
    * ``recovery``: time from the switch until the loss first falls below ``fraction`` × ``at``
      (NaN if it does not within the window: censored).
    """
    t = ds["t"].values
    loss = ds["loss"].sel(variant=variant).values
    part = time_slice(t, t_switch, t_switch + window)
    i0 = part.start
    seg, tseg = loss[:, part], t[part]
    at = loss[:, i0]
    below = seg < fraction * at[:, None]
    recovery = np.where(below.any(axis=1), tseg[np.argmax(below, axis=1)] - t_switch, np.nan)
    return {
        "before": loss[:, i0 - 1],
        "at": at,
        "mean": np.trapezoid(seg, tseg, axis=1) / (tseg[-1] - tseg[0]),
        "recovery": recovery,
    }


def _fmt(x: np.ndarray, digits: int = 3) -> str:
    mean, sem = mean_sem(x)
    if not np.isfinite(mean):
        return "censored"
    return f"{float(mean):.{digits}f} ± {float(sem):.{digits}f}"


# ------------------------------------------------------------------------ plot
def _loss_window(ax, ds, label_suffix="", linestyle="-", alpha=0.25):
    t = ds["t"].values
    part = time_slice(t, *WINDOW)
    for variant in ("flexible", "forgetful"):
        band(ax, t[part], ds["loss"].sel(variant=variant).values[:, part], VARIANT_COLOURS[variant],
             label=f"{variant}{label_suffix}", linestyle=linestyle, alpha=alpha)


def _new_tasks_tick(ax):
    ticks = [22.8, T_SWITCH, 23.2, 23.4, 23.6, 23.8]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["22.8", "new tasks", "23.2", "23.4", "23.6", "23.8"])
    ax.axvline(T_SWITCH, color="k", lw=0.6, ls=":")
    ax.set_xlim(*WINDOW)


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    add, cat, exp = data["additive"], data["concatenated"], data["concatenated_expected"]
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5), constrained_layout=True)
    (ax_c, ax_d), (ax_gc, ax_gd) = axes
    for ax, ds in ((ax_c, add), (ax_d, cat), (ax_gc, add), (ax_gd, cat)):
        shade_tasks(ax, ds)
    _loss_window(ax_c, add)
    _loss_window(ax_d, cat, label_suffix=f" ({dynamics_label(cat)})")
    _loss_window(ax_d, exp, label_suffix=f" (cross-check: {dynamics_label(exp)})", linestyle="--", alpha=0.12)

    t = add["t"].values
    part = time_slice(t, *WINDOW)
    for variant, style in (("flexible", "-"), ("forgetful", ":")):
        v = add.sel(variant=variant)
        gates = assigned(v["gates"].values, v["assignment"].values)  # (seed, t, teacher)
        for m in range(gates.shape[-1]):
            band(ax_gc, t[part], gates[:, part, m], TASK_COLOURS[m], label=f"{variant}: path of {BASE_NAMES[m]}",
                 linestyle=style)
    t = cat["t"].values
    part = time_slice(t, *WINDOW)
    for variant, style in (("flexible", "-"), ("forgetful", ":")):
        gates = cat["matched_gates"].sel(variant=variant).values.mean(axis=-1)  # (seed, t, teacher)
        for m in range(gates.shape[-1]):
            band(ax_gd, t[part], gates[:, part, m], TASK_COLOURS[m], label=f"{variant}: rows of {BASE_NAMES[m]}",
                 linestyle=style)
    same = float(cat["same_output_fraction"].mean())

    ax_c.set(ylabel="task loss $\\mathcal{L}$ (expected)", ylim=(0, None),
             title=f"c  task composition (additive, gated M = P = 3; {dynamics_label(add)})")
    ax_d.set(ylabel="task loss $\\mathcal{L}$ (expected)", ylim=(0, None),
             title="d  subtask composition (concatenated, per-neuron gates)")
    ax_gc.set(xlabel="time t", ylabel="gate $c_p$ (paths ordered by π)", title="additive: gates of the assigned paths")
    ax_gd.set(xlabel="time t", ylabel="mean gate of the matched rows",
              title=f"concatenated: gates of row-matched rows ({100 * same:.0f} % matched on own output)")
    for ax in axes.ravel():
        _new_tasks_tick(ax)
        ax.legend(fontsize=7, loc="upper right")
    ax_c.legend(handles=ax_c.get_legend_handles_labels()[0] + block_legend_handles(), fontsize=7, loc="upper right")
    n_seeds = add.sizes["seed"]
    fig.suptitle(
        f"Fig. 3: {band_caption(n_seeds)}. Block B (22) then the first composite block CA (23, hatched). "
        f"Recovery = time to {100 * RECOVERY_FRACTION:.0f} % of the loss at the switch.\n"
        f"(d) {dynamics_label(cat)}, {gate_step_ratio(cat)}; "
        f"dashed: expected-gradient cross-check, {gate_step_ratio(exp)}.",
        fontsize=9,
    )
    return ctx.save(fig, "fig3")


def headline(data: dict) -> str:
    parts = []
    for key, label in (("additive", "additive"), ("concatenated", "concatenated")):
        ds = data[key]
        flex, forg = switch_response(ds, "flexible"), switch_response(ds, "forgetful")
        parts.append(f"{label}: recovery flexible {_fmt(flex['recovery'])} vs forgetful {_fmt(forg['recovery'])}, "
                     f"mean loss {_fmt(flex['mean'], 4)} vs {_fmt(forg['mean'], 4)}")
    return "first composite block (t = 23), time to 10 % of the switch loss: " + "; ".join(parts)
