"""Figs. A10 and A11 — specialisation space of the symmetric toy model (FIGURES.md A10/A11; MODEL §7.7).

A10 (one switch, τ_c ∈ logspace(−1, 0, 5), τ_w = 1, λ_nonneg = λ_norm = 0.05, dt = 1e-4,
float64): W̄ against C̄ with the analytic W̄(C̄) = √(1 − ½(τ_c/τ_w)(1 − C̄²)) dashed; the
deviation W̄ − W̄_analytic; symmetry check 1 (w̄₁ against w̄₂) and check 2 (e₁ against −e₂, with
e = ŷ − y*, the original's sign); time courses of e₁ and −e₂, W̄, W̿ and C̄. One line per τ_c on a
shared log colour scale. A11: the continuation from the A10 state at t = 1.25 over further
target blocks (4 by default, a parameter of :func:`sweeps.a10.compute`), one panel per block.
Deterministic simulations: no bands.

Labels: in a block with target e_new, "new" is the path that holds e_new (path 1 for e₂, path 2
for e₁, read from the A10 initial state), so C̄ runs from about −1 to +1 in every block.

Beyond the spec: the analytic curve is the integral curve of the symmetric ansatz through
(C̄, W̄) = (±1, 1); its invariant is W̄² − (τ_c/2τ_w)C̄². In A11 each later block starts where the
previous one ended (C̄₀ ≠ −1 after an incomplete switch, W̄₀ ≠ 1), so the A11 panels also draw
the integral curve through the block's first point, W̄ = √(W̄₀² + (τ_c/2τ_w)(C̄² − C̄₀²)) (dotted),
which is the like-for-like block-by-block comparison; the headline reports both. The A11 axes
are A10's, [−1, 1] × [0.65, 1], widened only as far as needed to show block starts above W̄ = 1.
"""

import json

import numpy as np

from ntajax._analysis import toy as ta
from ntajax._cli.figure import FigureContext
from sweeps import toy as toy_sweep

TITLE = "Figs. A10/A11 — symmetric toy model: one switch against the analytic W̄(C̄), and further switches"


# ------------------------------------------------------------------------------ analysis
def _labels(ds, name: str) -> dict[int, int]:
    """Path holding each target (1: e₁, 2: e₂), from the first record of the run."""
    w0 = ds["w"].sel(condition=name).values[:1]
    return {1: toy_sweep.target_path(w0, ta.E1), 2: toy_sweep.target_path(w0, ta.E2)}


def block_parameters(ds, name: str, labels: dict[int, int] | None = None) -> list[dict[str, np.ndarray]]:
    """Order parameters of run ``name`` block by block, each block labelled by its own target.

    A block is a maximal run of records whose dominant target component (argmax y*) is the
    same, so the records inside a smooth switch go with the target that dominates them. Blocks
    that begin after the nominal span (a sliver of the next target at t = t_tot) are dropped.
    Returns one dict per block with ``t``, ``Cbar``, ``Wbar``, ``Wbarbar``, ``wbar1``, ``wbar2``,
    ``e`` (= ŷ − y*, (T_k, 2)), ``tau_c``, ``tau_w``, ``new`` (1 or 2).
    """
    v = ds.sel(condition=name)
    labels = _labels(ds, name) if labels is None else labels
    t = v["t"].values
    t_ctx = float(v["block_length"])
    n_nominal = int(np.ceil(t[-1] / t_ctx - 1e-9))
    dominant = np.argmax(v["target"].values, axis=-1) + 1  # 1: e₁, 2: e₂
    block = np.concatenate([[0], np.cumsum(dominant[1:] != dominant[:-1])])
    error = ta.output(v["w"].values, v["c"].values) - v["target"].values
    out = []
    for k in range(min(block.max() + 1, n_nominal)):
        sel = block == k
        new = int(dominant[sel][0])
        e_new, e_old = (ta.E1, ta.E2) if new == 1 else (ta.E2, ta.E1)
        params = ta.order_parameters(v["w"].values[sel], v["c"].values[sel], e_new, e_old, labels[new])
        params.update(t=t[sel], e=error[sel], tau_c=float(v["tau_c"]), tau_w=float(v["tau_w"]), new=new)
        out.append(params)
    return out


def invariant_curve(cbar, cbar0: float, wbar0: float, tau_c: float, tau_w: float) -> np.ndarray:
    """Integral curve of the symmetric ansatz through (C̄₀, W̄₀): √(W̄₀² + (τ_c/2τ_w)(C̄² − C̄₀²))."""
    radicand = wbar0**2 + 0.5 * (tau_c / tau_w) * (np.asarray(cbar, float) ** 2 - cbar0**2)
    return np.sqrt(np.where(radicand >= 0, radicand, np.nan))


def a10_deviation(ds) -> dict[float, float]:
    """A10: max_t |W̄_sim − W̄_analytic(C̄_sim)| over the switch, per τ_c."""
    out = {}
    for name in ds["condition"].values:
        p = block_parameters(ds, str(name))[0]
        out[p["tau_c"]] = float(np.nanmax(np.abs(p["Wbar"] - ta.analytic_wbar(p["Cbar"], p["tau_c"], p["tau_w"]))))
    return out


def a11_deviation(a11, a10) -> dict[str, dict[float, float]]:
    """A11: max over blocks and records of |W̄ − curve| for the spec's curve and the block-start curve."""
    spec, start = {}, {}
    for name in a11["condition"].values:
        blocks = block_parameters(a11, str(name), _labels(a10, str(name)))
        tau_c = blocks[0]["tau_c"]
        spec[tau_c] = max(float(np.nanmax(np.abs(b["Wbar"] - ta.analytic_wbar(b["Cbar"], tau_c, b["tau_w"]))))
                          for b in blocks)
        start[tau_c] = max(
            float(np.nanmax(np.abs(b["Wbar"] - invariant_curve(b["Cbar"], b["Cbar"][0], b["Wbar"][0], tau_c,
                                                               b["tau_w"]))))
            for b in blocks
        )
    return {"spec": spec, "block_start": start}


# ------------------------------------------------------------------------------ drawing
def _colours(ds):
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    taus = ds["tau_c"].values
    norm = LogNorm(vmin=float(taus.min()), vmax=float(taus.max()))
    cmap = plt.get_cmap("viridis")
    return norm, cmap


def _a10_figure(ds):
    import matplotlib.pyplot as plt

    norm, cmap = _colours(ds)
    fig, axes = plt.subplots(2, 4, figsize=(19, 9), constrained_layout=True)
    (ax_curve, ax_dev, ax_sym1, ax_sym2), (ax_err, ax_wbar, ax_wbb, ax_cbar) = axes
    grid = np.linspace(-1, 1, 401)
    for name in ds["condition"].values:
        p = block_parameters(ds, str(name))[0]
        colour = cmap(norm(p["tau_c"]))
        analytic = ta.analytic_wbar(p["Cbar"], p["tau_c"], p["tau_w"])
        ax_curve.plot(p["Cbar"], p["Wbar"], color=colour, lw=1.6)
        ax_curve.plot(grid, ta.analytic_wbar(grid, p["tau_c"], p["tau_w"]), "--", color=colour, lw=1)
        ax_dev.plot(p["Cbar"], p["Wbar"] - analytic, color=colour, lw=1.2)
        ax_sym1.plot(p["wbar2"], p["wbar1"], color=colour, lw=1.2)
        ax_sym2.plot(-p["e"][:, 1], p["e"][:, 0], color=colour, lw=1.2)
        ax_err.plot(p["t"], p["e"][:, 0], color=colour, lw=1.2)
        ax_err.plot(p["t"], -p["e"][:, 1], "--", color=colour, lw=1.2)
        ax_wbar.plot(p["t"], p["Wbar"], color=colour, lw=1.2)
        ax_wbb.plot(p["t"], p["Wbarbar"], color=colour, lw=1.2)
        ax_cbar.plot(p["t"], p["Cbar"], color=colour, lw=1.2)
    ax_curve.plot([], [], "-", color="black", label="simulation")
    ax_curve.plot([], [], "--", color="black", label="analytic $\\bar W(\\bar C)$")
    ax_curve.set(xlim=(-1, 1), ylim=(0.65, 1), xlabel="$\\bar C = c_{new} - c_{old}$", ylabel="$\\bar W$",
                 title="W̄ against C̄ (one switch)")
    ax_curve.legend(fontsize=7, loc="lower left")
    ax_dev.axhline(0, color="black", lw=0.6)
    ax_dev.set(xlim=(-1, 1), xlabel="$\\bar C$", ylabel="$\\bar W_{sim} - \\bar W_{analytic}(\\bar C)$",
               title="deviation from the analytic curve")
    for ax, lo, hi in ((ax_sym1, 0.7, 1.0), (ax_sym2, 0.0, 1.0)):
        ax.plot([lo, hi], [lo, hi], "--", color="grey", lw=1)
        ax.set(xlim=(lo, hi), ylim=(lo, hi), aspect="equal")
    ax_sym1.set(xlabel="$\\bar w_2 = (w^{new} - w^{old})\\cdot e_{new}$",
                ylabel="$\\bar w_1 = (w^{old} - w^{new})\\cdot e_{old}$", title="symmetry check 1")
    ax_sym2.set(xlabel="$-e_2$", ylabel="$e_1$", title="symmetry check 2 ($e = \\hat y - y^*$)")
    ax_err.plot([], [], "-", color="black", label="$e_1$")
    ax_err.plot([], [], "--", color="black", label="$-e_2$")
    ax_err.legend(fontsize=7)
    ax_err.set(xlabel="time t", ylabel="error component", title="$e_1$ and $-e_2$")
    ax_wbar.set(xlabel="time t", ylabel="$\\bar W$", title="$\\bar W(t)$")
    ax_wbb.set(xlabel="time t", ylabel="$\\bar{\\bar W} = \\frac{1}{2}(w^{new} + w^{old})\\cdot(e_{new} - e_{old})$",
               title="$\\bar{\\bar W}(t)$ (common mode)")
    ax_cbar.set(xlabel="time t", ylabel="$\\bar C$", title="$\\bar C(t)$")
    import matplotlib.pyplot as plt

    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes, shrink=0.6, label="$\\tau_c$ ($\\tau_w$ = 1)")
    grid_ = next(iter(json.loads(ds.attrs["config"]).values()))["grid"]
    fig.suptitle(f"Fig. A10: symmetric toy model over one switch (target e₂ for t ∈ [0, {grid_['t_total']:g}]), "
                 f"λ_nonneg = λ_norm = 0.05, dt = {grid_['dt']:g}, float64; deterministic, no bands", fontsize=10)
    return fig


def _a11_figure(a11, a10):
    import matplotlib.pyplot as plt

    norm, cmap = _colours(a11)
    names = [str(n) for n in a11["condition"].values]
    all_blocks = {n: block_parameters(a11, n, _labels(a10, n)) for n in names}
    n_blocks = len(all_blocks[names[0]])
    fig, axes = plt.subplots(1, n_blocks, figsize=(4.6 * n_blocks + 1, 4.8), constrained_layout=True, squeeze=False)
    grid = np.linspace(-1.05, 1.05, 421)
    top = max(1.0, max(float(np.nanmax(b["Wbar"])) for blocks in all_blocks.values() for b in blocks) + 0.01)
    t_ctx = float(a11["block_length"].values[0])
    for k, ax in enumerate(axes[0]):
        for name in names:
            b = all_blocks[name][k]
            colour = cmap(norm(b["tau_c"]))
            ax.plot(b["Cbar"], b["Wbar"], color=colour, lw=1.6)
            ax.plot(b["Cbar"][0], b["Wbar"][0], "o", color=colour, ms=4)
            ax.plot(grid, ta.analytic_wbar(grid, b["tau_c"], b["tau_w"]), "--", color=colour, lw=0.9)
            ax.plot(grid, invariant_curve(grid, b["Cbar"][0], b["Wbar"][0], b["tau_c"], b["tau_w"]), ":", color=colour,
                    lw=1.2)
        new = all_blocks[names[0]][k]["new"]
        ax.set(xlim=(-1.0, 1.0), ylim=(0.65, top), xlabel="$\\bar C = c_{new} - c_{old}$", ylabel="$\\bar W$",
               title=f"block {k + 1}: t ∈ [{k * t_ctx:g}, {(k + 1) * t_ctx:g}), target e{new}")
    ax0 = axes[0, 0]
    ax0.plot([], [], "-", color="black", label="simulation (dot: block start)")
    ax0.plot([], [], "--", color="black", label="analytic $\\bar W(\\bar C)$ through (±1, 1)")
    ax0.plot([], [], ":", color="black", label="integral curve through the block start")
    ax0.legend(fontsize=7, loc="lower left")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes, shrink=0.85, label="$\\tau_c$ ($\\tau_w$ = 1)")
    fig.suptitle(f"Fig. A11: continuation from the A10 state at t = {a11.attrs.get('restart_time', 1.25):g} "
                 f"(time restarts at 0, targets e₂ first), {n_blocks} blocks of t_ctx = {t_ctx:g}; "
                 "deterministic, no bands",
                 fontsize=10)
    return fig


def plot(data: dict, ctx: FigureContext) -> list:
    return ctx.save(_a10_figure(data["a10"]), "a10") + ctx.save(_a11_figure(data["a11"], data["a10"]), "a11")


def headline(data: dict) -> str:
    dev = a10_deviation(data["a10"])
    a11 = a11_deviation(data["a11"], data["a10"])
    taus = ", ".join(f"{k:.3g}" for k in dev)
    return (f"A10 max|W̄ − W̄_analytic| = {', '.join(f'{v:.1e}' for v in dev.values())} for τ_c = {taus}; "
            "A11 max deviation from the block-start integral curve "
            f"{', '.join(f'{v:.1e}' for v in a11['block_start'].values())}"
            f" (from the spec's curve through (±1, 1): {', '.join(f'{v:.2f}' for v in a11['spec'].values())})")
