"""Fig. A9 — block-size effective potential, a heuristic (FIGURES.md A9).

Panels: (A) the toy model for short (t_ctx = 1) and long (t_ctx = 2) blocks from the
specialised start (0.9, 0.1, 0.1, 0.9 | ½, ½): |w̄|(t) and the weight trajectories (the matching
panel of the mechanism figure, Fig. 4E; the original computed these runs but did not plot
them); (A′) x₁(t) of the potential flow from (±0.1, 0) with the active task shaded; (B) 1-D
slices of V_lin (dotted), V_quad (dashed) and V_tot (solid) along x₁ at t ∈ {0.5, 1.5, 3.5, 5.5},
at x₂ of the first trajectory, with both trajectories' positions and their gap, background
shaded by the active task, y-range [−0.7, 0.7]; (C) the effective block-averaged losses
L⁽¹⁾(w̄) = 4w̄² and L⁽²⁾(w̄; τ_b) for τ_b ∈ geomspace(0.01, 10, 5) on a log colour scale.

Everything is deterministic and float64; no bands. The slice positions are read from diffrax's
dense solution at the slice times (the 300-point save grid does not contain them).
"""

import itertools

import numpy as np

from ntajax._analysis import toy as ta
from ntajax._cli.figure import FigureContext
from ntajax._plotting import TASK_COLOURS

TITLE = "Fig. A9 — block-size effective potential (toy runs, potential flow, slices, effective losses)"

START_COLOURS = ("tab:red", "tab:blue")


def toy_gaps(ds) -> dict[float, np.ndarray]:
    """|w̄|(t) of each toy run, keyed by t_ctx."""
    return {float(ds["block_length"].sel(condition=n)): np.abs(ta.limit_cycle(ds["w"].sel(condition=n).values,
                                                                               ds["c"].sel(condition=n).values)[1])
            for n in ds["condition"].values}


def flow_gap(ds) -> np.ndarray:
    """x₁ of the first trajectory minus x₁ of the second over the flow's save grid."""
    return ds["x"].values[0, :, 0] - ds["x"].values[1, :, 0]


def _shade_tasks(ax, t_end: float, period: float):
    """Task A where the frame is 0 (t ∈ [−T/2, T/2) mod 2T), task B otherwise."""
    edges = np.arange(-period / 2, t_end + period, period)
    for i, (a, b) in enumerate(itertools.pairwise(edges)):
        ax.axvspan(max(a, 0), min(b, t_end), color=TASK_COLOURS[i % 2], alpha=0.08, lw=0)


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    toy, pot = data["toy"], data["potential"]
    fig, axes = plt.subplots(2, 4, figsize=(19, 9), constrained_layout=True)
    ax_gap, ax_b0, ax_b1, ax_traj = axes[0]
    ax_flow, ax_b2, ax_b3, ax_c = axes[1]

    t = toy["t"].values
    styles = ({"alpha": 0.5, "lw": 1.0}, {"alpha": 1.0, "lw": 1.6})
    for (t_ctx, gap), style in zip(sorted(toy_gaps(toy).items()), styles):
        ax_gap.plot(t, gap, color="black", label=f"$t_{{ctx}}$ = {t_ctx:g}", **style)
        w = toy["w"].sel(condition=f"t_ctx={t_ctx:g}").values
        for p in range(2):
            ax_traj.plot(w[:, p, 0], w[:, p, 1], color=("tab:blue", "tab:orange")[p],
                         label=f"$t_{{ctx}}$ = {t_ctx:g}: $w^{p + 1}$", **style)
    ax_gap.set(xlabel="time t", ylabel="|w̄|", title="A  toy: specialisation |w̄|(t), τ_c = 0.05, τ_w = 5")
    ax_gap.legend(fontsize=7)
    ax_traj.set(xlabel="$w_1$", ylabel="$w_2$", aspect="equal", title="A  toy: weight trajectories (cf. Fig. 4E)")
    ax_traj.legend(fontsize=6)

    period = float(pot.attrs["period_T"])
    t_flow = pot["t_flow"].values
    _shade_tasks(ax_flow, float(t_flow[-1]), period)
    for s, colour in enumerate(START_COLOURS):
        x0 = pot["x"].values[s, 0]
        ax_flow.plot(t_flow, pot["x"].values[s, :, 0], color=colour, label=f"start ({x0[0]:+.1f}, {x0[1]:g})")
    ax_flow.plot(t_flow, flow_gap(pot), color="black", lw=0.8, linestyle="--", label="gap $x_1^{(1)} - x_1^{(2)}$")
    for ts in pot["slice_time"].values:
        ax_flow.axvline(ts, color="grey", lw=0.5, linestyle=":")
    ax_flow.set(xlabel="time t", ylabel="$x_1$", title="A′  potential flow (diffrax), task A/B shaded")
    ax_flow.legend(fontsize=7)

    x1 = pot["x1"].values
    for i, ax in enumerate((ax_b0, ax_b1, ax_b2, ax_b3)):
        task_a = bool(pot["task_A_active"].values[i])
        ax.set_facecolor(np.array(plt.matplotlib.colors.to_rgba(TASK_COLOURS[0 if task_a else 1])) * [1, 1, 1, 0.12])
        ax.plot(x1, pot["V_lin"].values[i], ":", color="black", label="$V_{lin}$")
        ax.plot(x1, pot["V_quad"].values[i], "--", color="black", label="$V_{quad}$")
        ax.plot(x1, pot["V_tot"].values[i], "-", color="black", lw=1.5, label="$V_{tot}$")
        positions = pot["x_at_slice"].values[:, i]
        for s, colour in enumerate(START_COLOURS):
            ax.plot(positions[s, 0], pot["V_tot_at_position"].values[i, s], "o", color=colour, ms=7)
        gap = positions[0, 0] - positions[1, 0]
        ax.annotate("", xy=(positions[0, 0], -0.6), xytext=(positions[1, 0], -0.6),
                    arrowprops={"arrowstyle": "<->", "color": "black", "lw": 0.8})
        ax.text(0.5 * (positions[0, 0] + positions[1, 0]), -0.55, f"gap = {gap:.2f}", ha="center", fontsize=8)
        ax.set(xlim=(x1[0], x1[-1]), ylim=(-0.7, 0.7), xlabel="$x_1$", ylabel="potential",
               title=f"B  t = {float(pot['slice_time'].values[i]):g}, task {'A' if task_a else 'B'} "
                     f"($x_2$ = {positions[0, 1]:.3f})")
        if i == 0:
            ax.legend(fontsize=7, loc="upper center")

    norm = LogNorm(vmin=min(pot["tau_b"].values), vmax=max(pot["tau_b"].values))
    cmap = plt.get_cmap("viridis")
    wbar = pot["wbar"].values
    ax_c.plot(wbar, pot["L1"].values, color="black", lw=2, label="$L^{(1)}(\\bar w) = 4\\bar w^2$")
    for j, tau_b in enumerate(pot["tau_b"].values):
        ax_c.plot(wbar, pot["L2"].values[j], color=cmap(norm(tau_b)), lw=1.3)
    ax_c.plot([], [], color=cmap(0.5), label="$L^{(2)}(\\bar w; \\tau_b)$")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax_c, label="$\\tau_b$")
    ax_c.set(xlim=(-1.05, 1.05), xlabel="$\\bar w$", ylabel="effective loss",
             title="C  effective block-averaged losses")
    ax_c.legend(fontsize=7)
    fig.suptitle(f"Fig. A9: effective potential, τ_w = {pot.attrs['tau_w']:g}, τ_c = {pot.attrs['tau_c']:g}, "
                 f"τ_b = {pot.attrs['tau_b']:g}, C = {pot.attrs['coupling_C']:.3g}, T = {period:g}; float64, "
                 "deterministic, no bands", fontsize=10)
    return ctx.save(fig, "a9")


def headline(data: dict) -> str:
    pot, toy = data["potential"], data["toy"]
    gap = flow_gap(pot)
    minima = pot["L2"].min("wbar").values
    taus = pot["tau_b"].values
    gaps = toy_gaps(toy)
    t_end = float(toy["t"].values[-1])
    return (f"potential flow gap x₁⁺ − x₁⁻: {gap[0]:.2f} → {gap[-1]:.2f} at t = {float(pot['t_flow'].values[-1]):g}; "
            f"min L⁽²⁾ {minima[0]:.3f} (τ_b = {taus[0]:g}) → {minima[-1]:.2f} (τ_b = {taus[-1]:g}); "
            f"toy |w̄|(t = {t_end:g}) t_ctx = 2: {gaps[2.0][-1]:.3f} vs t_ctx = 1: {gaps[1.0][-1]:.3f}")
