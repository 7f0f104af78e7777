"""Fig. A2 — gate switching speed scales with teacher dimensionality (FIGURES.md A2).

x: Σ_α s_α² of the student path assigned to A (its ‖W_p‖²_F at the end); y: τ_c times the
peak gate speed max_{t,p}|dc_p/dt| within each block, averaged over the last 10 % of blocks.
Theory (MODEL §7.8): right after a switch between specialised modules τ_c ċ ≈ ‖W*_new‖²_F, so
the points lie near y = x. Difference from the original: the peak is taken within each block
(the original's per-block value used the whole trajectory in every block). Points are the mean
± SEM over seeds (the original had one seed).
"""

import numpy as np

from ntajax._cli.figure import FigureContext
from ntajax._plotting import band_caption, mean_sem

TITLE = "Fig. A2 — peak gate speed vs teacher rank (τ_c·max|ċ| against Σ s²)"


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MultipleLocator

    ds = data["a2"]
    x_mean, x_sem = mean_sem(ds["path_norm_sq"].values, axis=1)
    y_mean, y_sem = mean_sem(ds["peak_gate_speed"].values, axis=1)
    fig, (ax, ax_g) = plt.subplots(1, 2, figsize=(10, 4.6), constrained_layout=True)
    ax.errorbar(x_mean, y_mean, xerr=x_sem, yerr=y_sem, marker="o", ms=4, color="black", capsize=2, lw=1)
    for d, x, y in zip(ds["d"].values, x_mean, y_mean):
        ax.annotate(f"d={d}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    top = float(np.nanmax([np.nanmax(x_mean), np.nanmax(y_mean), 1.0])) * 1.1
    ax.plot([0, top], [0, top], "--", color="grey", label="y = x")
    ax.set(xlim=(0, top), ylim=(0, top), aspect="equal", xlabel="Σ_α s_α² of the path assigned to A",
           ylabel="τ_c · peak |dc/dt| per block (last 10 % of blocks)", title="A2: gate speed vs teacher rank")
    ax.xaxis.set_major_locator(MultipleLocator(5)), ax.xaxis.set_minor_locator(MultipleLocator(1))
    ax.yaxis.set_major_locator(MultipleLocator(5)), ax.yaxis.set_minor_locator(MultipleLocator(1))
    ax.grid(which="major", alpha=0.5), ax.grid(which="minor", alpha=0.15)
    ax.legend(fontsize=8)
    t = ds["t_display"].values
    colours = plt.cm.viridis(np.linspace(0, 1, ds.sizes["d"]))
    for i, d in enumerate(ds["d"].values):
        ax_g.plot(t, ds["gates"].values[i, 0, :, 0], color=colours[i], lw=0.6, label=f"r = {int(ds['rank'].values[i])}")
    ax_g.set(xlabel="time t", ylabel="gate $c_1$ (seed 0)", title="gate traces (decimated for display)")
    ax_g.legend(fontsize=6, ncol=2)
    fig.suptitle(f"Fig. A2: {band_caption(ds.sizes['seed'])}; sampled B = 200, dt = 1e-3, unit singular values", fontsize=9)
    return ctx.save(fig, "a2")


def headline(data: dict) -> str:
    ds = data["a2"]
    x = ds["path_norm_sq"].mean("seed").values
    y = ds["peak_gate_speed"].mean("seed").values
    ratio = y / x
    return f"τ_c·peak|ċ| / Σs² over ranks: {np.nanmin(ratio):.2f}–{np.nanmax(ratio):.2f} (theory 1); Σs² of path A {np.nanmin(x):.1f}–{np.nanmax(x):.1f}"
