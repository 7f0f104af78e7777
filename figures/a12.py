"""Fig. A12 — compositional generalisation over the whole simulation (FIGURES.md A12).

The four Fig. 3 simulations (additive flexible/forgetful, concatenated flexible/forgetful) with
identical settings, read from the same stores as Fig. 3 (see :mod:`sweeps.composition`). The only
difference the spec makes is the recording spacing of the concatenated runs, Δ = 0.03: their
store is recorded at Δ = 0.01 and is read here every third record (the dynamics do not depend on
the recording grid). The concatenated runs use the paper's dt = 0.01 with τ_c = 0.005, i.e.
dt/τ_c = 2, outside the gradient-flow regime (flagged; Fig. 3d shows the small-dt cross-check).

Rows: additive (top), concatenated (bottom). Columns: loss (flexible vs forgetful); gates
(flexible solid, forgetful dotted); alignment with the three base teachers, flexible; the same,
forgetful. Matched entries solid, mismatched dashed (coloured by the teacher m).

* Additive: gates c_p(t) of the paths assigned to A, B, C and S_{m,π(n)}(t) (MODEL §7.1, §7.4):
  π is the optimal assignment on the time-mean similarity, stored with the run and applied to a
  view (the original's sort overwrote the data and used a different permutation for S).
* Concatenated: the gates of the row-matched rows, averaged within each matched teacher, and the
  sorted similarity S^sorted_{mn}(t) = cos_row(W*_m, Ŭ_n) (MODEL §7.9) on the row matching by linear
  assignment (the original's independent argmax can pick a row twice). The caption states how
  often a match falls on its own output index.

Bands are mean ± SEM over seeds (never rescaled); common random numbers across variants. Context
shading on the exact block boundaries, composite blocks hatched.
"""

import numpy as np

from figures.fig3 import BASE_NAMES, T_SWITCH, block_legend_handles, dynamics_label, gate_step_ratio, shade_tasks
from ntajax._cli.figure import FigureContext
from ntajax._plotting import TASK_COLOURS, VARIANT_COLOURS, assigned, band, band_caption, mean_sem

TITLE = "Fig. A12 — composition over the whole simulation: loss, gates, alignment"
CONCATENATED_SPACING = 0.03  # A12's Δ for the concatenated runs


def decimation(t: np.ndarray, spacing: float) -> int:
    """Every how many records a grid of spacing t[1] − t[0] gives ``spacing`` (at least 1)."""
    return max(1, int(round(spacing / float(t[1] - t[0]))))


def additive_view(ds, variant: str) -> tuple[np.ndarray, np.ndarray]:
    """Gates (seed, t, teacher) and similarity S_{m,π(n)} (seed, t, m, n) of the assigned paths."""
    v = ds.sel(variant=variant)
    pi = v["assignment"].values
    sim = v["similarity"].values
    return assigned(v["gates"].values, pi), np.stack([sim[s][:, :, pi[s]] for s in range(sim.shape[0])])


def composite_phase_alignment(ds, variant: str, kind: str) -> np.ndarray:
    """Per-seed mean matched alignment over the composite phase (t ≥ 23)."""
    if kind == "additive":
        _, sim = additive_view(ds, variant)
        t = ds["t"].values
    else:
        sim = ds["sorted_similarity"].sel(variant=variant).values
        t = ds["t_weights"].values
    diag = np.einsum("stmm->stm", sim).mean(axis=-1)
    return diag[:, t >= T_SWITCH].mean(axis=1)


def entry_label(name: str, matched: bool, first: bool) -> str | None:
    """Legend label of a similarity entry: every matched one, and one mismatched entry per teacher."""
    if matched:
        return f"{name} matched"
    return f"{name} mismatched" if first else None


def _alignment(ax, t, sim, title):
    n = sim.shape[-1]
    for m in range(n):
        for j in range(n):
            matched = m == j
            band(ax, t, sim[:, :, m, j], TASK_COLOURS[m], linestyle="-" if matched else "--",
                 label=entry_label(BASE_NAMES[m], matched, first=j == (m + 1) % n),
                 lw=1.0 if matched else 0.7, alpha=0.25 if matched else 0.12)
    ax.set(ylim=(-0.3, 1.05), title=title)


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    add, cat = data["additive"], data["concatenated"]
    fig, axes = plt.subplots(2, 4, figsize=(20, 9), constrained_layout=True)
    for ax in axes.ravel():
        shade_tasks(ax, add if ax in axes[0] else cat)

    # top row: additive
    t = add["t"].values
    ax_loss, ax_gate, ax_flex, ax_forg = axes[0]
    for variant in ("flexible", "forgetful"):
        band(ax_loss, t, add["loss"].sel(variant=variant).values, VARIANT_COLOURS[variant], label=variant)
        gates, sim = additive_view(add, variant)
        style = "-" if variant == "flexible" else ":"
        for m in range(gates.shape[-1]):
            band(ax_gate, t, gates[:, :, m], TASK_COLOURS[m], label=f"{variant}: path of {BASE_NAMES[m]}",
                 linestyle=style)
        _alignment(ax_flex if variant == "flexible" else ax_forg, t, sim,
                   f"additive, {variant}: $S_{{m,\\pi(n)}}$")
    ax_loss.set(ylabel="task loss $\\mathcal{L}$ (expected)", ylim=(0, None),
                title=f"additive: loss (gated M = P = 3, Δ = {t[1] - t[0]:.3g})")
    ax_gate.set(ylabel="gate $c_p$ (paths ordered by π)", title="additive: gates of the assigned paths")

    # bottom row: concatenated at A12's spacing
    step = decimation(cat["t"].values, CONCATENATED_SPACING)
    t = cat["t"].values[::step]
    t_w = cat["t_weights"].values
    step_w = decimation(t_w, CONCATENATED_SPACING)
    ax_loss, ax_gate, ax_flex, ax_forg = axes[1]
    for variant in ("flexible", "forgetful"):
        v = cat.sel(variant=variant)
        band(ax_loss, t, v["loss"].values[:, ::step], VARIANT_COLOURS[variant], label=variant)
        gates = v["matched_gates"].values[:, ::step].mean(axis=-1)
        style = "-" if variant == "flexible" else ":"
        for m in range(gates.shape[-1]):
            band(ax_gate, t, gates[:, :, m], TASK_COLOURS[m], label=f"{variant}: rows of {BASE_NAMES[m]}",
                 linestyle=style)
        _alignment(ax_flex if variant == "flexible" else ax_forg, t_w[::step_w],
                   v["sorted_similarity"].values[:, ::step_w], f"concatenated, {variant}: $S^{{sorted}}_{{mn}}$")
    same = cat["same_output_fraction"]
    ax_loss.set(ylabel="task loss $\\mathcal{L}$ (expected)", ylim=(0, None),
                title=f"concatenated: loss (per-neuron gates, Δ = {t[1] - t[0]:.3g})")
    ax_gate.set(ylabel="mean gate of the matched rows", title="concatenated: gates of row-matched rows")
    for ax in axes.ravel():
        ax.set_xlabel("time t")
        ax.set_xlim(0, float(t[-1]))
        ax.legend(fontsize=6, loc="best")
    handles = axes[0, 0].get_legend_handles_labels()[0] + block_legend_handles()
    axes[0, 0].legend(handles=handles, fontsize=6, loc="upper right")
    for ax in axes[:, 2:].ravel():
        ax.set_ylabel("alignment with base teachers")
    n_seeds = add.sizes["seed"]
    fig.suptitle(
        f"Fig. A12: {band_caption(n_seeds)}; composite blocks (t ≥ {T_SWITCH:g}) hatched; matched entries solid, "
        f"mismatched dashed.\nAdditive: {dynamics_label(add)}. Concatenated: {dynamics_label(cat)}, "
        f"{gate_step_ratio(cat)}.\nRow matching by linear assignment on the time-mean signed row cosine; "
        f"{100 * float(same.mean()):.0f} % of matches fall on their own output index (flexible "
        f"{100 * float(same.sel(variant='flexible').mean()):.0f} %, "
        f"forgetful {100 * float(same.sel(variant='forgetful').mean()):.0f} %).",
        fontsize=9,
    )
    return ctx.save(fig, "a12")


def headline(data: dict) -> str:
    parts = []
    for key in ("additive", "concatenated"):
        values = []
        for variant in ("flexible", "forgetful"):
            mean, sem = mean_sem(composite_phase_alignment(data[key], variant, key))
            values.append(f"{variant} {float(mean):.3f} ± {float(sem):.3f}")
        parts.append(f"{key} " + " vs ".join(values))
    return "matched alignment with the base teachers over the composite phase (t ≥ 23): " + "; ".join(parts)
