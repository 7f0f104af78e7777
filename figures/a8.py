"""Fig. A8 — adaptation through the neural tangent kernel, analytic (FIGURES.md A8; MODEL §7.11).

For the toy with τ_c = τ_w = τ the output moves as dŷ/dt = (1/τ)Kε with
K = Σ_p (w^p w^pᵀ + c_p² I₂). The adaptation rate along the error ε = (−1, 1) is εᵀKε, the sum of
a gate-learning part Σ_p (w^pᵀε)² and a weight-learning part Σ_p c_p²‖ε‖². Grid: 100 × 100
points (w¹₁, w¹₂) ∈ [0, 1]², w² = (1 − w¹₁, 1 − w¹₂), c = (w¹₁, w¹₂), points with w¹₁ + w¹₂ > 1
masked; float64; no simulation, so no bands.

Panels: the three quantities on one shared colour scale (PowerNorm γ = 0.5 from 0 to the common
maximum, diverging colour map), with the specialised configurations w¹ = (½ − w̄, ½ + w̄),
w² = (½ + w̄, ½ − w̄) for w̄ ∈ {0.1, 0.25, 0.4} drawn as arrows and the line w₁ + w₂ = 1 dashed.
The headline is the gate-learning share of εᵀKε at those configurations (with c = w¹ as on the
grid), computed with :func:`ntajax.metrics.ntk_split`.
"""

import jax
import numpy as np
import xarray as xr

from ntajax._analysis import toy as ta
from ntajax import metrics
from ntajax._cli.figure import FigureContext

TITLE = "Fig. A8 — NTK split of the toy's adaptation rate into gate and weight learning (analytic)"

EPS = (-1.0, 1.0)
WBARS = (0.1, 0.25, 0.4)
QUANTITIES = {
    "total": "$\\varepsilon^\\top K \\varepsilon$ (both terms)",
    "gate": "gate learning $\\sum_p (w^{p\\top}\\varepsilon)^2$",
    "weight": "weight learning $\\sum_p c_p^2\\|\\varepsilon\\|^2$",
}


def specialised_state(wbar: float) -> tuple[np.ndarray, np.ndarray]:
    """The arrow configuration of w̄: w¹ = (½ − w̄, ½ + w̄), w² = (½ + w̄, ½ − w̄), c = w¹ (grid rule)."""
    w1 = np.array([0.5 - wbar, 0.5 + wbar])
    return np.stack([w1, 1 - w1]), w1.copy()


def gate_share(wbars=WBARS) -> dict[float, float]:
    """Gate-learning share Σ_p(w^pᵀε)²/εᵀKε at each specialised configuration (metrics.ntk_split)."""
    with jax.enable_x64(True):
        out = {}
        for wbar in wbars:
            w, c = specialised_state(wbar)
            total, gate, _ = metrics.ntk_split(w, c, np.asarray(EPS))
            out[float(wbar)] = float(gate) / float(total)
    return out


def _dataset(n: int) -> xr.Dataset:
    grid = ta.ntk_grid(n, eps=EPS)
    dims = ("w12", "w11")
    ds = xr.Dataset({k: (dims, grid[k]) for k in QUANTITIES}, coords={"w11": grid["w11"], "w12": grid["w12"]})
    share = gate_share()
    ds["wbar"] = ("wbar", list(share))
    ds["gate_share"] = ("wbar", list(share.values()))
    ds.attrs["description"] = "εᵀKε and its gate/weight parts on the Fig. A8 grid, ε = (−1, 1), float64 (MODEL §7.11)"
    return ds


def compute(ctx: FigureContext) -> dict:
    n = ctx.pick(100, 100, 40)
    return {"ntk": ctx.cached("a8_ntk", {"a8_ntk_grid": n, "eps": EPS, "wbars": WBARS}, lambda: _dataset(n))}


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt
    from matplotlib.colors import PowerNorm

    ds = data["ntk"]
    vmax = max(float(np.nanmax(ds[k].values)) for k in QUANTITIES)
    norm = PowerNorm(gamma=0.5, vmin=0.0, vmax=vmax)
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="white")
    fig, axes = plt.subplots(1, 3, figsize=(15, 5), constrained_layout=True)
    extent = (0, 1, 0, 1)
    for ax, (key, label) in zip(axes, QUANTITIES.items()):
        image = ax.imshow(np.ma.masked_invalid(ds[key].values), origin="lower", extent=extent, cmap=cmap, norm=norm,
                          interpolation="nearest")
        ax.plot([0, 1], [1, 0], "--", color="black", lw=1, label="$w_1 + w_2 = 1$")
        for i, wbar in enumerate(WBARS):
            w, _ = specialised_state(wbar)
            for p, colour in enumerate(("tab:green", "tab:purple")):
                ax.annotate("", xy=w[p], xytext=(0, 0),
                            arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 0.8 + 0.6 * i,
                                        "alpha": 0.5 + 0.2 * i})
        ax.plot([], [], color="tab:green", label="$w^1 = (½ - \\bar w, ½ + \\bar w)$")
        ax.plot([], [], color="tab:purple", label="$w^2 = (½ + \\bar w, ½ - \\bar w)$")
        ax.set(xlabel="$w^1_1$ (= $c_1$)", ylabel="$w^1_2$ (= $c_2$)", xlim=(0, 1), ylim=(0, 1), aspect="equal",
               title=label)
        wbars = ", ".join(f"{w:g}" for w in WBARS)
        ax.legend(fontsize=7, loc="upper right", title=f"w̄ ∈ {{{wbars}}}", title_fontsize=7)
    fig.colorbar(image, ax=axes, shrink=0.85, label="adaptation rate along ε (PowerNorm γ = 0.5)")
    fig.suptitle("Fig. A8: toy NTK split, τ_c = τ_w, ε = (−1, 1), $w^2 = 1 - w^1$, c = $w^1$; "
                 "masked where $w^1_1 + w^1_2 > 1$ (analytic, float64, no bands)", fontsize=10)
    return ctx.save(fig, "a8")


def headline(data: dict) -> str:
    ds = data["ntk"]
    shares = ", ".join(f"{float(s):.3f}" for s in ds["gate_share"].values)
    diagonal = np.diagonal(ds["gate"].values)
    return (f"gate-learning share of εᵀKε = {shares} at w̄ = {', '.join(f'{float(w):g}' for w in ds['wbar'].values)}; "
            f"max gate part for unspecialised modules (w¹₁ = w¹₂) = {np.nanmax(np.abs(diagonal)):.1e}")
