"""Fig. A1 — full model vs the equivalent 2-D model (FIGURES.md A1; MODEL §2.4, §7.10).

Two columns, full model (left) and toy (right), three rows: task loss, gates, and singular-value
magnitudes (full model: √d_in·s^p_α, the leading two singular values of each path over the
teacher scale s; toy: ‖w^p‖). The toy's loss is multiplied by s²·min(d_in, d_out) = 0.5 to put
it on the full model's scale (y-range [0, 0.5]); its gate time constant is τ_c/Σ_α s_α² = 0.06.
Paths are ordered by the assignment to A (e₁) and B (e₂): the stored assignment π for the full
model and the time-mean column cosine for the toy. One seed and one deterministic toy: no bands.

The full model is the paper's sampled run (B = 200); the expected-gradient run from the same
state (the deterministic reference of FIGURES.md §0) is drawn thin and dashed on top.

Departure from the original: the toy's initial angles are the numeric values of the original's
degree/radian mix-up (π/4 ∓ 45 with 45 in radians, ≈ (0.009730, −0.002304) and (−0.002304,
0.009730)), used deliberately as the spec asks, not recomputed in degrees.

Headline: max and mean |L_full − 0.5·L_toy| and max |c_full − c_toy| (matched paths) over the
common grid of the full model's records, for the sampled run, over the whole run and over the
second half (t ≥ t_tot/2 = 10). The full model starts from random weights whose teacher-span coordinates
(≈ 0.003, random signs, spread over 10 modes per teacher) differ from the toy's (norm 0.01), so
it leaves the initial plateau and specialises a few blocks later than the toy; once both have
specialised the blocks coincide. The exact reduction (in-span start, λ/q in the toy) is checked
in the tests to float32 precision.
"""

import numpy as np

from ntajax._analysis import toy as ta
from ntajax import metrics
from ntajax._cli.figure import FigureContext
from ntajax._plotting import TASK_COLOURS, assigned, band, block_table, shade_blocks
from sweeps import a1 as a1_sweep
from sweeps import toy as toy_sweep

TITLE = "Fig. A1 — full model vs the equivalent 2-D model (loss, gates, singular values)"

FULL_STYLE = {"sampled": {"linestyle": "-", "lw": 1.2}, "expected": {"linestyle": "--", "lw": 0.8}}


# ------------------------------------------------------------------------------ analysis
def toy_assignment(tds) -> np.ndarray:
    """Toy paths assigned to e₁ and e₂ (time-mean column cosine), shape (2,)."""
    w = tds["w"].values[0]
    return np.array([toy_sweep.target_path(w, ta.E1), toy_sweep.target_path(w, ta.E2)])


def full_sv(full, variant: str) -> tuple[np.ndarray, np.ndarray]:
    """Recorded weight times and √d_in·s^p_α of the leading two modes, (seed, T_w, P, 2).

    Read from ``sv_magnitude`` when the store holds it (A16), else computed from ``weights_W``.
    """
    if "sv_magnitude" in full:
        return full["t"].values, full["sv_magnitude"].sel(variant=variant).values
    W = full["weights_W"].sel(variant=variant).values
    scale = float(np.sqrt(np.mean(full["teachers"].sel(variant=variant).values[0] ** 2) * full.sizes["column"]))
    sv = np.stack([np.asarray(metrics.singular_value_magnitudes(W[s], scale, 2)) for s in range(W.shape[0])])
    return full["t_weights"].values, sv


def agreement(full, tds, variant: str = "sampled", after: float = 0.0) -> dict[str, float]:
    """|L_full − 0.5·L_toy| (max, mean) and max |c_full − c_toy| on the full model's grid, t ≥ ``after``.

    The toy is read at the full model's record times (the toy grid is finer and contains them).
    """
    v = full.sel(variant=variant)
    t_full = full["t"].values
    keep = t_full >= after - 1e-9
    index = np.searchsorted(tds["t"].values, t_full[keep] - 1e-9)
    loss_toy = a1_sweep.LOSS_SCALE * tds["loss"].values[0, index]
    loss_full = v["loss"].values[:, keep]  # (seed, T)
    gates_full = assigned(v["gates"].values, v["assignment"].values)[:, keep]  # (seed, T, teacher)
    gates_toy = tds["c"].values[0, index][:, toy_assignment(tds)]
    diff = np.abs(loss_full - loss_toy[None])
    return {"loss_max": float(diff.max()), "loss_mean": float(diff.mean()),
            "gate_max": float(np.max(np.abs(gates_full - gates_toy[None])))}


# ------------------------------------------------------------------------------ drawing
def draw_full(axes, full, variants=("sampled", "expected"), kind: str = "sem", faint_seeds: bool = False):
    """Loss, gates (by π) and SV magnitudes of the full model on three axes (A1, A16)."""
    ax_loss, ax_gate, ax_sv = axes
    starts, ends, tasks = block_table(full)
    t = full["t"].values
    for ax in axes:
        shade_blocks(ax, starts, ends, tasks)
    for variant in variants:
        v = full.sel(variant=variant)
        style = FULL_STYLE.get(variant, FULL_STYLE["sampled"])
        if faint_seeds:
            for s in range(min(v.sizes["seed"], 100)):
                ax_loss.plot(t, v["loss"].values[s], color="black", lw=0.3, alpha=0.05)
        band(ax_loss, t, v["loss"].values, "black", label=f"{variant}", kind=kind, **style)
        gates = assigned(v["gates"].values, v["assignment"].values)
        for m, letter in enumerate("AB"):
            band(ax_gate, t, gates[:, :, m], TASK_COLOURS[m], label=f"{variant}: path of {letter}", kind=kind, **style)
        t_w, sv = full_sv(full, variant)
        sv = np.stack([sv[s][:, v["assignment"].values[s]] for s in range(sv.shape[0])])  # (seed, T_w, teacher, 2)
        for m, letter in enumerate("AB"):
            for alpha_index in range(2):
                band(ax_sv, t_w, sv[:, :, m, alpha_index], TASK_COLOURS[m], kind=kind,
                     label=f"{variant}: path of {letter}" if alpha_index == 0 else None,
                     alpha=0.25, lw=style["lw"] * (1.0 if alpha_index == 0 else 0.6), linestyle=style["linestyle"])


def draw_toy(axes, tds, every: int = 1):
    """Loss (× 0.5), gates and ‖w^p‖ of the toy on three axes, paths ordered by target (A1, A16)."""
    ax_loss, ax_gate, ax_sv = axes
    t = tds["t"].values[::every]
    block = np.floor(t + 1e-9).astype(int)
    starts = np.unique(block).astype(float)
    tasks = (starts.astype(int) + (0 if int(tds["first_target"].values[0]) == 1 else 1)) % 2
    for ax in axes:
        shade_blocks(ax, starts, np.minimum(starts + 1, t[-1]), tasks)
    order = toy_assignment(tds)
    ax_loss.plot(t, a1_sweep.LOSS_SCALE * tds["loss"].values[0, ::every], color="black", lw=1.2, label="toy × 0.5")
    c = tds["c"].values[0, ::every]
    norms = np.linalg.norm(tds["w"].values[0, ::every], axis=-1)
    for m, letter in enumerate("AB"):
        ax_gate.plot(t, c[:, order[m]], color=TASK_COLOURS[m], lw=1.2, label=f"path of {letter} (e{m + 1})")
        ax_sv.plot(t, norms[:, order[m]], color=TASK_COLOURS[m], lw=1.2, label=f"‖w‖ of path of {letter}")


def label_axes(axes_full, axes_toy, tau_c_toy: float):
    for ax in (axes_full[0], axes_toy[0]):
        ax.set(ylim=(0, 0.5), xlabel="time t")
    axes_full[0].set(ylabel="task loss $\\mathcal{L}$ (expected)", title="full model: loss")
    axes_toy[0].set(ylabel="$\\mathcal{L}_{toy}\\cdot s^2\\min(d_{in}, d_{out})$", title="toy: loss (× 0.5)")
    axes_full[1].set(xlabel="time t", ylabel="gate $c_p$ (paths ordered by π)", title="full model: gates")
    rescaled = f"$\\tau_c \\to \\tau_c/\\sum_\\alpha s_\\alpha^2$ = {tau_c_toy:g}"
    axes_toy[1].set(xlabel="time t", ylabel=f"gate $c_p$  ({rescaled})", title="toy: gates")
    axes_full[2].set(xlabel="time t", ylabel="$\\sqrt{d_{in}}\\, s^p_\\alpha$ (leading two)",
                     title="full model: SV magnitudes")
    axes_toy[2].set(xlabel="time t", ylabel="$\\|w^p\\|$", title="toy: SV magnitudes")
    for ax in (*axes_full, *axes_toy):
        ax.legend(fontsize=6, loc="best")


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    full, tds = data["full"], data["toy"]
    fig, axes = plt.subplots(3, 2, figsize=(13, 10), constrained_layout=True, sharex=True)
    draw_full(axes[:, 0], full)
    spacing = float(full["t"].values[1] - full["t"].values[0]) * 10
    every = max(1, round(spacing / float(tds["t"].values[1] - tds["t"].values[0])))
    draw_toy(axes[:, 1], tds, every=every)
    label_axes(axes[:, 0], axes[:, 1], float(tds["tau_c"].values[0]))
    fig.suptitle("Fig. A1: full model (one seed, sampled B = 200; dashed: expected-gradient reference from the "
                 "same state) vs equivalent toy (deterministic); no bands", fontsize=10)
    return ctx.save(fig, "a1")


def headline(data: dict) -> str:
    full, tds = data["full"], data["toy"]
    whole = agreement(full, tds)
    settled = 0.5 * float(full["t"].values[-1])
    late = agreement(full, tds, after=settled)
    return (f"full (sampled) vs toy: max|ΔL| = {whole['loss_max']:.3f} (mean {whole['loss_mean']:.4f}), "
            f"max|Δc| = {whole['gate_max']:.2f}; second half (t ≥ {settled:g}): max|ΔL| = {late['loss_max']:.3f}, "
            f"max|Δc| = {late['gate_max']:.2f}")
