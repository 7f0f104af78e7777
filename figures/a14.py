"""Fig. A14 — learning base components from composites only (FIGURES.md A14).

The gated student (M = P = 3) sees only the additive composites AB, BC, CA in blocks; the base
teachers A, B, C are never presented. Panels per row: expected loss; gates of the three paths
assigned to A, B, C; S_mp(t) against the three **base** teachers after the assignment π, which is
itself computed against the base teachers (matched solid, mismatched dashed).

* Top row: exactly the spec's settings (τ_w = 0.05, τ_c = 0.03, λ = 0.2 with nonneg : L1 = 1 : 5,
  sampled B = 200, dt = 1e-3, 50 blocks). In ntajax's simulation of these settings the three paths
  stay near copies of the current composite: the matched alignment sits at the value of that
  symmetric state (drawn as a grey line), not at 1 — the paper's claim does not appear here.
* Bottom row: an ntajax companion with τ_c = 0.003 (everything else identical, same seed keys), in
  which each path does align with one base teacher and each composite is served by two gates. The
  matched alignment peaks near 0.99 around t ≈ 25 and then drifts down slowly (≈ 0.92 at t = 50)
  while some mismatched entries grow: the specialised state is reached but not held exactly.

Bands are mean ± SEM over seeds, never rescaled; context shading on the exact block boundaries
(every block is a composite, hatched). Paths are ordered by the stored optimal assignment, applied
to views only (the original's sort overwrote the data).
"""

import numpy as np

from figures.a12 import additive_view, entry_label
from figures.fig3 import BASE_NAMES, block_legend_handles, dynamics_label, shade_tasks
from ntajax import metrics
from ntajax._cli.figure import FigureContext
from ntajax._plotting import TASK_COLOURS, band, band_caption, mean_sem
from sweeps import a14 as a14_sweep

TITLE = "Fig. A14 — base components learned from composites only"
ROWS = {"paper": "spec settings (τ_c = 0.03)", "fast_gates": f"ntajax companion: τ_c = {a14_sweep.FAST_GATES_TAU_C:g}"}


def final_matched_alignment(ds, variant: str) -> np.ndarray:
    """Per-seed A_tot(t_total) = mean_m S_{m,π(m)} against the base teachers (MODEL §7.5)."""
    return ds["final_alignment"].sel(variant=variant).values


def symmetric_alignment(ds, variant: str = "paper") -> float:
    """A_tot of the symmetric state in which every path equals the current composite at t_total.

    The best assignment cannot do better than the mean over base teachers of cos_row(W*_m, composite)
    (every path is the same matrix), an independent reference computed from the stored teachers.
    """
    teachers = ds["teachers"].sel(variant=variant).values
    n_base = ds.sizes["teacher"]
    current = int(ds["context"].sel(variant=variant).values[0, -1])
    return float(np.mean(np.asarray(metrics.row_cosine(teachers[:n_base], teachers[current][None]))))


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    ds = data["runs"]
    t = ds["t"].values
    variants = [str(v) for v in ds["variant"].values]
    fig, axes = plt.subplots(len(variants), 3, figsize=(16, 4 * len(variants)), constrained_layout=True, squeeze=False)
    reference = symmetric_alignment(ds)
    for row, variant in zip(axes, variants):
        ax_loss, ax_gate, ax_sim = row
        for ax in row:
            shade_tasks(ax, ds)
        band(ax_loss, t, ds["loss"].sel(variant=variant).values, "black", label=variant)
        gates, sim = additive_view(ds, variant)
        for m in range(gates.shape[-1]):
            band(ax_gate, t, gates[:, :, m], TASK_COLOURS[m], label=f"path of {BASE_NAMES[m]}")
            for j in range(sim.shape[-1]):
                matched = m == j
                band(ax_sim, t, sim[:, :, m, j], TASK_COLOURS[m], linestyle="-" if matched else "--",
                     label=entry_label(BASE_NAMES[m], matched, first=j == (m + 1) % 3),
                     lw=1.0 if matched else 0.7, alpha=0.25 if matched else 0.12)
        ax_sim.axhline(reference, color="grey", lw=0.8, ls="-.", label=f"symmetric state A_tot = {reference:.3f}")
        a = final_matched_alignment(ds, variant)
        mean, sem = mean_sem(a)
        label = ROWS.get(variant, variant)
        ax_loss.set(ylabel="task loss $\\mathcal{L}$ (expected)", ylim=(0, None), title=f"{label}: loss")
        ax_gate.set(ylabel="gate $c_p$ (paths ordered by π)", ylim=(-0.05, 1.05), title=f"{label}: gates")
        ax_sim.set(ylabel="alignment with base teachers", ylim=(-0.3, 1.05),
                   title=f"{label}: $S_{{m,\\pi(n)}}$\nfinal $A_{{tot}}$ = {float(mean):.3f} ± {float(sem):.3f}")
        for ax in row:
            ax.set_xlabel("time t")
            ax.set_xlim(0, float(t[-1]))
            ax.legend(fontsize=7, loc="best")
    axes[0, 0].legend(handles=axes[0, 0].get_legend_handles_labels()[0] + block_legend_handles()[3:], fontsize=7,
                      loc="upper right")
    fig.suptitle(
        f"Fig. A14: {band_caption(ds.sizes['seed'])}; {dynamics_label(ds, variants[0])}.\nOnly the composites AB, BC, "
        "CA are trained (hatched blocks); S and π are against the base teachers A, B, C, which are never shown.",
        fontsize=9,
    )
    return ctx.save(fig, "a14")


def headline(data: dict) -> str:
    ds = data["runs"]
    parts = []
    for variant in [str(v) for v in ds["variant"].values]:
        mean, sem = mean_sem(final_matched_alignment(ds, variant))
        parts.append(f"{ROWS.get(variant, variant)} {float(mean):.3f} ± {float(sem):.3f}")
    return (f"final matched alignment with the (never shown) base teachers: {'; '.join(parts)} "
            f"(symmetric copy-the-composite state: {symmetric_alignment(ds):.3f})")
