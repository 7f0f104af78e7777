"""Fig. 4 — mechanism of the 2-D toy model (FIGURES.md Fig. 4; MODEL §2.4, §7.7).

Panels: (A) output trajectory ŷ(t) from a specialised start with the wrong module gated on
("flexible", solid) and from an unspecialised start ("forgetful", dashed); (B, C) the weight
trajectories w¹(t), w²(t) of both starts, line width ∝ c_p(t)/max c, with L(t) inset; (D) the
analytic gate-gradient field wᵀε; (E) weight trajectories for short (t_ctx = 1) and long
(t_ctx = 2) blocks at equal total time (each averaged over both target orders), with the
no-gating multipathway reference; (F) the limit cycle in (c̄, w̄); (G) block-to-block convergence;
(H) the symmetric model against the analytic W̄(C̄) for τ_c ∈ logspace(−1, 0, 5).

Every panel is one deterministic simulation per condition (no bands). Regulariser λ_nonneg =
1/11, λ_norm = 10/11 (k = 1); dt = 1e-3; smooth curriculum g = 100. Panel H runs in float64.

Choices and departures (stated here as the spec asks):

* F: paths are labelled so that path 1 is the module that learns the first target (e₂), i.e.
  by the stored assignment, not by the listed order of the initial state. With the listed
  state (0.0255, 0.0245, 0.0245, 0.0255 | ½, ½) the second listed path is the one that takes
  e₂, so the spec's formula w̄ = ½(w¹ − w²)·(e₂ − e₁) on the raw order is ≤ 0; the
  relabelling gives the w̄ ∈ [0, 1] of the spec's axis range (the original sorted its paths).
* G: the spec's d_k compares consecutive blocks, which hold different tasks; on the limit
  cycle it converges to the distance between the two half-cycles (≈ √2 from the gate swing),
  not to 0. The panel shows it together with the distance between a block and the next block
  of the same task (one period 2τ_B later), which is what decays on convergence to the cycle;
  the headline's decay ratio is that of the same-task distance. That distance levels off at a
  few 10⁻³, a discretisation floor that shrinks with the Euler step (measured over 40 blocks:
  5e-3 at dt = 1e-3, 4e-3 at dt = 5e-4; float32 and float64 agree).
* E: the w̄ gap is annotated as |w̄| of the order-averaged end points.
* D: the title is the spec's "∇_c L = w^{pT} ε"; the plotted quantity is the descent direction
  −∂L/∂c_p = w^{pT}ε.
"""

import numpy as np

from ntajax._analysis import toy as ta
from ntajax._cli.figure import FigureContext
from sweeps import toy as toy_sweep

TITLE = "Fig. 4 — mechanism in the 2-D toy model (trajectories, gate field, block length, limit cycle, symmetric model)"

STATE_STYLE = {"flexible": "-", "forgetful": "--"}
PATH_COLOURS = ("tab:blue", "tab:orange")


# ------------------------------------------------------------------------------ analysis
def order_averaged(ds, label: str) -> np.ndarray:
    """Fig. 4E: the element-wise mean of the e₂-first and e₁-first weight trajectories, (T, 2, 2)."""
    return 0.5 * (ds["w"].sel(condition=f"{label}_e2first").values + ds["w"].sel(condition=f"{label}_e1first").values)


def specialisation_gap(w: np.ndarray) -> float:
    """|w̄| = |½[(w¹₂ − w¹₁) − (w²₂ − w²₁)]| of a state (2, 2)."""
    return float(abs(ta.limit_cycle(w, np.zeros(2))[1]))


def cycle_paths(ds) -> tuple[np.ndarray, np.ndarray]:
    """Weights and gates of the F run with path 1 = the module of the first target (e₂)."""
    v = ds.sel(condition="cycle")
    w, c = v["w"].values, v["c"].values
    if ta.limit_cycle(w[-1], c[-1])[1] < 0 and toy_sweep.target_path(w, ta.E2) == 1:
        w, c = w[:, ::-1], c[:, ::-1]
    return w, c


def cycle_convergence(ds) -> dict[str, np.ndarray]:
    """Fig. 4G from the F run: consecutive-block (spec) and same-task distances per block."""
    w, c = cycle_paths(ds)
    t = ds["t"].values
    spacing = float(t[1] - t[0])
    samples = round(float(ds["block_length"].sel(condition="cycle")) / spacing)
    theta = ta.state_vector(w, c)
    k1, d1 = ta.block_distances(theta, samples, lag=1)
    k2, d2 = ta.block_distances(theta, samples, lag=2)
    return {"k_consecutive": k1, "d_consecutive": d1, "k_same_task": k2, "d_same_task": d2}


def symmetric_model(ds) -> dict[str, dict[str, np.ndarray]]:
    """Fig. 4H: C̄, W̄ and the analytic W̄(C̄) of every τ_c (paths labelled from the initial state)."""
    out = {}
    for name in ds["condition"].values:
        v = ds.sel(condition=name)
        new_path = toy_sweep.target_path(v["w"].values[:1], ta.E2)
        params = ta.order_parameters(v["w"].values, v["c"].values, ta.E2, ta.E1, new_path)
        tau_c, tau_w = float(v["tau_c"]), float(v["tau_w"])
        out[str(name)] = {"tau_c": tau_c, "Cbar": params["Cbar"], "Wbar": params["Wbar"],
                          "analytic": ta.analytic_wbar(params["Cbar"], tau_c, tau_w)}
    return out


def symmetric_deviation(ds) -> dict[float, float]:
    """max_t |W̄_sim − W̄_analytic(C̄_sim)| per τ_c."""
    return {v["tau_c"]: float(np.nanmax(np.abs(v["Wbar"] - v["analytic"]))) for v in symmetric_model(ds).values()}


# ------------------------------------------------------------------------------ drawing
def _width_line(ax, xy, weight, colour, max_width=4.0, linestyle="-", alpha=1.0, label=None):
    """A trajectory whose line width (and opacity) follows ``weight`` ∈ [0, 1]."""
    from matplotlib.collections import LineCollection

    segments = np.stack([xy[:-1], xy[1:]], axis=1)
    w = np.clip(0.5 * (weight[:-1] + weight[1:]), 0, 1)
    rgba = np.zeros((len(w), 4))
    from matplotlib.colors import to_rgba

    rgba[:] = to_rgba(colour)
    rgba[:, 3] = alpha * (0.25 + 0.75 * w)
    lc = LineCollection(segments, linewidths=0.4 + max_width * w, colors=rgba, linestyles=linestyle, capstyle="round")
    ax.add_collection(lc)
    if label:
        ax.plot([], [], color=colour, linestyle=linestyle, label=label)
    return lc


def _arrows(ax, xy, colour, n=3):
    """Direction-of-motion arrows at ``n`` points along a trajectory."""
    travelled = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))])
    if travelled[-1] <= 1e-9:
        return
    for f in np.linspace(0.2, 0.8, n):
        i = int(np.searchsorted(travelled, f * travelled[-1]))
        i = min(max(i, 1), len(xy) - 2)
        ax.annotate("", xy=xy[i + 1], xytext=xy[i - 1],
                    arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 0.8, "mutation_scale": 10})


def _panel_output(ax, ds):
    for state in ("flexible", "forgetful"):
        v = ds.sel(condition=state)
        y = ta.output(v["w"].values, v["c"].values)
        ax.plot(y[:, 0], y[:, 1], color="black", linestyle=STATE_STYLE[state], lw=1.2, label=state)
        _arrows(ax, y, "black", n=2)
    y0 = ta.output(ds["w"].values[0, 0], ds["c"].values[0, 0])
    target = ds["target"].values[0, 1]
    eps = target - y0
    ax.plot(*ta.E2, "*", color="tab:red", ms=12, label="current target e₂", zorder=5)
    ax.plot(*ta.E1, "o", color="tab:grey", ms=8, label="previous target e₁", zorder=5)
    ax.annotate("", xy=y0 + 0.35 * eps / np.linalg.norm(eps), xytext=y0,
                arrowprops={"arrowstyle": "-|>", "color": "tab:red", "lw": 1.5})
    ax.text(*(y0 + 0.4 * eps / np.linalg.norm(eps) + np.array([0.03, 0.0])), "ε", color="tab:red", fontsize=11)
    ax.set(xlabel="$y_1$", ylabel="$y_2$", xlim=(-0.15, 1.2), ylim=(-0.15, 1.2), aspect="equal",
           title="A  output ŷ(t), target e₂ for t ∈ [0, 1]")
    ax.legend(fontsize=7, loc="upper right")


def _panel_weights(ax, ds, state, letter):
    v = ds.sel(condition=state)
    w, c = v["w"].values, v["c"].values
    cmax = max(float(np.max(c)), 1e-12)
    same = np.allclose(w[:, 0], w[:, 1])
    for p in range(2):
        label = f"$w^{p + 1}$ (width ∝ $c_{p + 1}$/max c)" + (" = $w^1$" if same and p == 1 else "")
        # the second path is dashed so that identical paths (the forgetful start) stay visible
        _width_line(ax, w[:, p], c[:, p] / cmax, PATH_COLOURS[p], max_width=4.0 if p == 0 else 1.5,
                    linestyle="-" if p == 0 else "--", label=label)
        _arrows(ax, w[:, p], PATH_COLOURS[p])
        ax.plot(*w[0, p], "o", color=PATH_COLOURS[p], ms=4)
    ax.plot(*ta.E1, "x", color="grey")
    ax.plot(*ta.E2, "x", color="grey")
    lo = min(-0.2, float(np.min(w)) - 0.1)
    hi = max(1.2, float(np.max(w)) + 0.1)
    ax.set(xlabel="$w_1$", ylabel="$w_2$", xlim=(lo, hi), ylim=(lo, hi), aspect="equal",
           title=f"{letter}  weights, {state} start")
    ax.legend(fontsize=7, loc="lower left")
    inset = ax.inset_axes([0.6, 0.62, 0.36, 0.33])
    inset.plot(v["t"].values, v["loss"].values, color="black", lw=1)
    inset.set_xlabel("t", fontsize=7, labelpad=0)
    inset.set_ylabel("$\\mathcal{L}$", fontsize=7, labelpad=0)
    inset.tick_params(labelsize=6)


def _panel_field(fig, ax, ds):
    axis = np.linspace(-0.5, 1.5, 100)
    w1, w2 = np.meshgrid(axis, axis)
    field = ta.gate_gradient_field(w1, w2, eps=(-1.0, 1.0))
    levels = np.linspace(-1.5, 1.5, 21)  # 20 contour intervals
    cs = ax.contourf(w1, w2, field, levels=levels, cmap="RdBu_r", vmin=-1.5, vmax=1.5, extend="both")
    fig.colorbar(cs, ax=ax, shrink=0.8, label="$w^{\\top}\\varepsilon$ (gate descent direction)")
    for state, marker in (("flexible", "o"), ("forgetful", "s")):
        w0 = ds["w"].sel(condition=state).values[0]
        ax.plot(w0[:, 0], w0[:, 1], marker, color="black", mfc="none", ms=7, label=f"{state} start")
    ax.set(xlabel="$w_1$", ylabel="$w_2$", aspect="equal",
           title="D  $\\nabla_c \\mathcal{L} = w^{p\\top}\\varepsilon$, ε = (−1, 1)\n(plotted: descent direction)")
    ax.legend(fontsize=7, loc="lower left")


def _panel_blocks(ax, ds):
    for label, alpha, lw in (("short", 0.4, 1.0), ("long", 1.0, 1.6)):
        w = order_averaged(ds, label)
        t_ctx = float(ds["block_length"].sel(condition=f"{label}_e2first"))
        for p in range(2):
            ax.plot(w[:, p, 0], w[:, p, 1], color=PATH_COLOURS[p], alpha=alpha, lw=lw,
                    label=f"{label} ($t_{{ctx}}$ = {t_ctx:g}): $w^{p + 1}$")
            ax.plot(*w[-1, p], "o", color=PATH_COLOURS[p], alpha=alpha, ms=4)
        gap = specialisation_gap(w[-1])
        ax.plot(w[-1, :, 0], w[-1, :, 1], ":", color="black", alpha=alpha, lw=0.8)
        end = w[-1, 0]
        ax.annotate(f"{label}: |w̄| = {gap:.2f}", xy=end, xytext=(end[0] - 0.05, end[1] + 0.07), fontsize=8,
                    arrowprops={"arrowstyle": "-", "color": "grey", "lw": 0.5})
    w0 = ds["w"].values[0, 0]
    for p in range(2):
        ref = ta.multipathway_reference(w0[p])
        ax.plot(ref[:, 0], ref[:, 1], color="grey", lw=0.8, linestyle=(0, (1, 1)),
                label="no gating (Shi et al. 2022, D = 1)" if p == 0 else None)
    t_tot = float(ds["t"].values[-1])
    ax.set(xlabel="$w_1$", ylabel="$w_2$", xlim=(0, 1), ylim=(0, 1), aspect="equal",
           title=f"E  block length, $t_{{tot}}$ = {t_tot:g}\n(mean of both target orders)")
    ax.legend(fontsize=6, loc="upper right")


def _panel_cycle(fig, ax, ds):
    from matplotlib.collections import LineCollection

    w, c = cycle_paths(ds)
    cbar, wbar = ta.limit_cycle(w, c)
    t = ds["t"].values
    xy = np.stack([cbar, wbar], -1)
    lc = LineCollection(np.stack([xy[:-1], xy[1:]], 1), cmap="viridis", lw=0.8)
    lc.set_array(t[:-1])
    ax.add_collection(lc)
    fig.colorbar(lc, ax=ax, shrink=0.8, label="time t (early → late)")
    ax.set(xlim=(-1.2, 1.2), ylim=(0, 1), xlabel="$\\bar c = c_2 - c_1$",
           ylabel="$\\bar w = \\frac{1}{2}(w^1 - w^2)\\cdot(e_2 - e_1)$",
           title="F  limit cycle\n(path 1 = module of the first target e₂)")


def _panel_convergence(ax, ds):
    conv = cycle_convergence(ds)
    ax.semilogy(conv["k_same_task"], conv["d_same_task"], "o-", ms=3, color="black",
                label="$\\max_t\\|\\theta_{k+2}(t) - \\theta_k(t)\\|$ (same task, one period later)")
    ax.semilogy(conv["k_consecutive"], conv["d_consecutive"], "s-", ms=2, lw=0.8, color="tab:grey",
                label="$d_k = \\max_t\\|\\theta_{k+1}(t) - \\theta_k(t)\\|$ (consecutive blocks, spec)")
    ax.set(xlabel="block number k (first and last two dropped)", ylabel="distance", title="G  convergence to the cycle")
    ax.legend(fontsize=6, loc="lower left")


def _panel_symmetric(fig, ax, ds):
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    model = symmetric_model(ds)
    taus = [v["tau_c"] for v in model.values()]
    norm = LogNorm(vmin=min(taus), vmax=max(taus))
    cmap = plt.get_cmap("viridis")
    grid = np.linspace(-1, 1, 401)
    tau_w = float(ds["tau_w"].values[0])
    for v in model.values():
        colour = cmap(norm(v["tau_c"]))
        ax.plot(v["Cbar"], v["Wbar"], color=colour, lw=1.6)
        ax.plot(grid, ta.analytic_wbar(grid, v["tau_c"], tau_w), "--", color=colour, lw=1)
    ax.plot([], [], "-", color="black", label="simulation")
    ax.plot([], [], "--", color="black", label="analytic $\\bar W(\\bar C)$")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.8, label="$\\tau_c$ ($\\tau_w$ = 1)")
    ax.set(xlim=(-1, 1), ylim=(0.65, 1), xlabel="$\\bar C = c_{new} - c_{old}$", ylabel="$\\bar W$",
           title="H  symmetric model, t ∈ [0, 1] (float64)")
    ax.legend(fontsize=7, loc="lower left")


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(19, 9), constrained_layout=True)
    (ax_a, ax_b, ax_c, ax_d), (ax_e, ax_f, ax_g, ax_h) = axes
    _panel_output(ax_a, data["ac"])
    _panel_weights(ax_b, data["ac"], "forgetful", "B")
    _panel_weights(ax_c, data["ac"], "flexible", "C")
    _panel_field(fig, ax_d, data["ac"])
    _panel_blocks(ax_e, data["e"])
    _panel_cycle(fig, ax_f, data["f"])
    _panel_convergence(ax_g, data["f"])
    _panel_symmetric(fig, ax_h, data["h"])
    fig.suptitle("Fig. 4: 2-D toy model, one deterministic simulation per condition (no bands); "
                 "λ_nonneg = 1/11, λ_norm = 10/11 (k = 1), dt = 1e-3, smooth curriculum g = 100", fontsize=10)
    return ctx.save(fig, "fig4")


def headline(data: dict) -> str:
    dev = symmetric_deviation(data["h"])
    e = data["e"]
    short, long = specialisation_gap(order_averaged(e, "short")[-1]), specialisation_gap(order_averaged(e, "long")[-1])
    conv = cycle_convergence(data["f"])
    d = conv["d_same_task"]
    decay = d[0] / np.median(d[-min(10, len(d)):])
    return ("H: max|W̄ − W̄_analytic| = " + ", ".join(f"{v:.1e}" for v in dev.values())
            + " for τ_c = " + ", ".join(f"{k:.3g}" for k in dev) + f"; E: |w̄| long {long:.3f} vs short {short:.3f}"
            + f"; G: same-task distance decays ×{decay:.0f} (first block vs median of the last 10; "
            + f"consecutive-block d_k → {conv['d_consecutive'][-1]:.3f})")
