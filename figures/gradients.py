"""Exact hyperparameter gradients (issue 11): checks against finite differences and the gradient
field over a phase-diagram panel.

(a) d(final loss)/dx for every traced leaf x of a small gated problem (float64, expected flow,
fractional switch clock): reverse mode through the Euler scan (``ntajax.outcome_gradient``) and
the central difference of independent runs (relative step 1e-5), with their relative difference
printed on each bar (λ_nonneg: both exactly 0, the gates stay positive so the penalty is
inactive). (b) d(final loss)/dτ_B of the discrete run against the continuous-time derivative
(central difference of the ODE solution, diffrax Tsit5 at rtol 1e-10): the difference shrinks
∝ dt (first order). (c) The Fig. 5a panel (τ_B/τ_w × τ_w/τ_c, expected flow): colour = seed mean
of the final total alignment A_tot (each seed's own assignment), arrows = its exact gradient
(∂A/∂log(τ_B/τ_w), ∂A/∂log(τ_w/τ_c)) in the axes' log coordinates, all cells from one vmapped
gradient program; arrow lengths are scaled per panel, and arrows above the panel's 90th
percentile are drawn at that length in red (cells near the boundary, where a seed close to the
bifurcation makes the seed mean very steep).
"""

import numpy as np

from ntajax._cli.figure import FigureContext

TITLE = "Gradients — exact hyperparameter gradients vs finite differences, and the gradient field of a phase diagram"

LABELS = {"student.tau_w": r"$\tau_w$", "student.tau_c": r"$\tau_c$", "student.init_scale": r"$\sigma_0$",
          "curriculum.block_length": r"$\tau_B$", "regulariser.lambda_norm": r"$\lambda_{norm}$",
          "regulariser.lambda_nonneg": r"$\lambda_{nonneg}$"}


def convergence_order(ds) -> float:
    """The slope of log|g(dt) − g_ODE| against log dt (1 for first order)."""
    error = np.abs(ds["exact"].values - ds.attrs["continuous"])
    return float(np.polyfit(np.log(ds["dt"].values), np.log(error), 1)[0])


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), constrained_layout=True)
    check = data["gradient_check"]
    ax = axes[0]
    names = [str(p) for p in check["parameter"].values]
    x = np.arange(len(names))
    ax.bar(x - 0.2, check["exact"].values, 0.4, label="exact (reverse mode)")
    ax.bar(x + 0.2, check["fd"].values, 0.4, label="central difference")
    for i, error in enumerate(check["relative_error"].values):
        top = max(check["exact"].values[i], check["fd"].values[i], 0.0)
        text = "both 0" if check["fd"].values[i] == 0 and check["exact"].values[i] == 0 else f"{error:.0e}"
        ax.text(i, top, text, ha="center", va="bottom", fontsize=8)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(x, [LABELS.get(n, n) for n in names])
    ax.set(ylabel="d final loss / dx", title="(a) every traced leaf: exact vs central difference\n"
           "(relative difference on each bar; float64)")
    ax.legend(fontsize=8)

    ax = axes[1]
    conv = data["block_length_dt"]
    dt = conv["dt"].values
    error = np.abs(conv["exact"].values - conv.attrs["continuous"])
    ax.loglog(dt, error, "o-", label=r"|exact discrete $\partial_{\tau_B}L$ − ODE|")
    ax.loglog(dt, error[0] * dt / dt[0], "k--", lw=0.8, label=r"$\propto dt$")
    ax.set_xticks(dt, [f"{d:g}" for d in dt])
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set(xlabel="dt", ylabel="difference", title=f"(b) τ_B derivative → continuous time (order {convergence_order(conv):.2f})\n"
           f"ODE reference {conv.attrs['continuous']:.5f}, τ_B = {conv.attrs['block_length']:g}")
    ax.legend(fontsize=8)

    ax = axes[2]
    field = data["gradient_field"]
    bx, ry = np.log10(field["block_over_tau_w"].values), np.log10(field["tau_ratio"].values)
    X, Y = np.meshgrid(bx, ry, indexing="ij")
    image = ax.pcolormesh(X, Y, field["alignment"].values, cmap="Oranges", vmin=0.5, vmax=1.0, shading="nearest")
    # the stores hold dA/d ln x; the axes are log10 x, and dA/d log10 x = ln(10)·dA/d ln x
    u, v = field["d_log_block"].values * np.log(10), field["d_log_ratio"].values * np.log(10)
    # near the boundary a cell's gradient can be orders of magnitude above the rest (a seed close to
    # the bifurcation): arrows longer than the 90th percentile are drawn at that length, in red
    length = np.hypot(u, v)
    cap = np.nanpercentile(length, 90)
    clipped = length > cap
    shrink = np.where(clipped, cap / np.where(length > 0, length, 1.0), 1.0)
    ax.quiver(X, Y, u * shrink, v * shrink, angles="xy", pivot="mid", color=np.where(clipped.ravel(), "tab:red", "k"))
    ax.set_xticks(bx, [f"{b:.2g}" for b in 10 ** bx])
    ax.set_yticks(ry, [f"{r:.2g}" for r in 10 ** ry])
    ax.set(xlabel=r"block length $\tau_B/\tau_w$ (log)", ylabel=r"gate speed $\tau_w/\tau_c$ (log)",
           title=f"(c) A_tot at t = {field.attrs['t_total']:g} (N = {field.attrs['n_seeds']}) and its exact gradient")
    fig.colorbar(image, ax=ax, label="final total alignment $A_{tot}$ (seed mean)")
    return ctx.save(fig, "gradients")


def headline(data: dict) -> str:
    check = data["gradient_check"]
    error = float(np.max(check["relative_error"].values))
    conv = data["block_length_dt"]
    field = data["gradient_field"]
    return (f"max relative difference exact vs central difference over {check.sizes['parameter']} leaves: {error:.1e}; "
            f"τ_B derivative converges to the ODE's with order {convergence_order(conv):.2f} in dt; gradient field over "
            f"{field['alignment'].size} cells (A_tot {float(field['alignment'].min()):.2f} → "
            f"{float(field['alignment'].max()):.2f})")
