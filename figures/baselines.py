"""Continual-learning baselines vs the NTA model on the Fig. 2 task (MODEL §9; sweeps/baselines.py).

Top row, τ_B = 1: (a) adaptation time per block a_k/τ_w (MODEL §7.6), (b) retention — the expected
loss on the previous block's task at the end of each block, with the student as it is — and
(c) re-gated retention, the same after re-setting only the gates with the weights frozen (what the
modules still know), per block; (d) the stability–plasticity trade-off of EWC and the L2 pull over
λ_EWC (re-gated retention against adaptation time, late blocks), with the NTA models as points.
Bottom row, over the shared grid of block lengths: late-block adaptation time (as a fraction of
τ_B), retention, re-gated retention, and the final total alignment A_tot (MODEL §7.5; the single
path can reach at most 1/2).

**EWC, the L2 pull and oracle gating (dashed, marked "boundaries") are told the task boundaries —
oracle knowledge that the NTA model does not get.** The interleaved curriculum has no blocks: its
adaptation time is undefined and its retention is read at the blocked runs' block ends. Bands and
error bars are mean ± SEM over seeds (SEM = std(ddof=1)/√N), with common random numbers across
methods and block lengths. "Late blocks" are the second half of each run's blocks.
"""

import json
import warnings

import numpy as np

from ntajax._cli.figure import FigureContext
from ntajax._plotting import band, band_caption, mean_sem
from sweeps import baselines as baselines_sweep

TITLE = "Continual-learning baselines (EWC, L2, oracle gating, single path, interleaved) vs flexible and forgetful NTA"

COLOURS = {
    "flexible": "black", "forgetful": "tab:grey", "ewc": "tab:red", "l2": "tab:orange", "oracle": "tab:green",
    "single_path": "tab:purple", "ewc_single_path": "tab:pink", "interleaved": "tab:blue", "ewc_flexible": "tab:brown",
}
TAU_W = 1.3


def _style(ds, key):
    told = bool(ds["needs_task_boundaries"].sel(baseline=key))
    return dict(color=COLOURS.get(key), linestyle="--" if told else "-", label=str(ds["label"].sel(baseline=key).values))


def _late(values: np.ndarray) -> np.ndarray:
    """Per-seed mean over the second half of the blocks that exist (values: seed × block, NaN beyond)."""
    out = []
    for row in values:
        if not np.any(np.isfinite(row)):
            out.append(np.nan)
            continue
        finite = np.flatnonzero(np.isfinite(row))
        if finite.size == 0:
            out.append(np.nan)
            continue
        n = finite[-1] + 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (interleaved adaptation) give NaN
            out.append(np.nanmean(row[n // 2:n]))
    return np.asarray(out)


def late_mean(ds, name: str, key: str, **sel) -> np.ndarray:
    """Per-seed late-block mean of a per-block variable (seed axis first)."""
    return _late(ds[name].sel(baseline=key, **sel).transpose("seed", "block").values)


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    ds, lam = data["comparison"], data["lambda_sweep"]
    n_seeds = ds.sizes["seed"]
    keys = [str(k) for k in ds["baseline"].values]
    lengths = ds["block_length"].values
    one = float(lengths[np.argmin(np.abs(lengths - 1.0))])
    fig, axes = plt.subplots(2, 4, figsize=(19, 8.5), constrained_layout=True)
    (ax_adapt, ax_ret, ax_reg, ax_trade), (ax_a_grid, ax_r_grid, ax_g_grid, ax_align) = axes
    at_one = ds.sel(block_length=one)
    n_blocks = int(np.sum(np.isfinite(at_one["retention"].isel(baseline=0, seed=0).values[1:]))) + 1
    centres = (np.arange(n_blocks) + 0.5) * one
    for key in keys:
        style = _style(ds, key)
        v = at_one.sel(baseline=key)
        if key != "interleaved":
            band(ax_adapt, centres, v["adaptation_time"].values[:, :n_blocks] / TAU_W, style["color"], style["label"],
                 style["linestyle"])
        band(ax_ret, centres[1:], v["retention"].values[:, 1:n_blocks], style["color"], style["label"], style["linestyle"])
        band(ax_reg, centres[1:], v["regated_retention"].values[:, 1:n_blocks], style["color"], style["label"],
             style["linestyle"])
        grid_values = {
            ax_a_grid: np.stack([late_mean(ds, "adaptation_time", key, block_length=b) / b for b in lengths], -1),
            ax_r_grid: np.stack([late_mean(ds, "retention", key, block_length=b) for b in lengths], -1),
            ax_g_grid: np.stack([late_mean(ds, "regated_retention", key, block_length=b) for b in lengths], -1),
            ax_align: ds["final_alignment"].sel(baseline=key).transpose("seed", "block_length").values,
        }
        for ax, values in grid_values.items():
            if ax is ax_a_grid and key == "interleaved":
                continue
            mean, sem = mean_sem(values)
            ax.errorbar(lengths, mean, yerr=sem, marker="o", ms=3, capsize=2, lw=1, **style)
    # stability–plasticity plane over λ_EWC (late blocks at τ_B = 1)
    for key in [str(k) for k in lam["baseline"].values]:
        style = _style(lam, key)
        x = np.stack([late_mean(lam, "adaptation_time", key, lambda_ewc=v) / TAU_W for v in lam["lambda_ewc"].values], -1)
        y = np.stack([late_mean(lam, "regated_retention", key, lambda_ewc=v) for v in lam["lambda_ewc"].values], -1)
        mx, sx = mean_sem(x)
        my, sy = mean_sem(y)
        ax_trade.errorbar(mx, my, xerr=sx, yerr=sy, marker="o", ms=3, capsize=2, lw=1, **style)
        for value, xi, yi in zip(lam["lambda_ewc"].values, mx, my):
            ax_trade.annotate(f"{value:g}", (xi, yi), fontsize=6, color=style["color"], xytext=(2, 2), textcoords="offset points")
    for key in ("flexible", "forgetful", "oracle"):
        if key in keys:
            x = late_mean(ds, "adaptation_time", key, block_length=one) / TAU_W
            y = late_mean(ds, "regated_retention", key, block_length=one)
            style = _style(ds, key)
            ax_trade.errorbar(np.mean(x), np.mean(y), xerr=mean_sem(x)[1], yerr=mean_sem(y)[1], marker="s", ms=6,
                              color=style["color"], label=style["label"], capsize=2, linestyle="none")
    for ax in (ax_a_grid, ax_r_grid, ax_g_grid, ax_align):
        ax.set_xscale("log")
        ax.set_xticks(lengths, [f"{b:g}" for b in lengths])
        ax.minorticks_off()
    ax_adapt.set(xlabel="block centre (τ_B = 1)", ylabel="adaptation time / $\\tau_w$", yscale="log",
                 title="a  time to loss < 0.1 after each switch")
    ax_ret.set(xlabel="block centre (τ_B = 1)", ylabel="loss on previous task at block end", title="b  retention")
    ax_reg.set(xlabel="block centre (τ_B = 1)", ylabel="same, gates re-set (weights frozen)", title="c  re-gated retention")
    ax_trade.set(xlabel="late adaptation time / $\\tau_w$", ylabel="late re-gated retention",
                 title="d  EWC / L2 over $\\lambda_{EWC}$ (labels), τ_B = 1")
    ax_a_grid.set(xlabel="block length τ_B", ylabel="late adaptation time / τ_B", title="e  adaptation vs τ_B")
    ax_r_grid.set(xlabel="block length τ_B", ylabel="late retention", title="f  retention vs τ_B")
    ax_g_grid.set(xlabel="block length τ_B", ylabel="late re-gated retention", title="g  re-gated retention vs τ_B")
    ax_align.set(xlabel="block length τ_B", ylabel="final total alignment $A_{tot}$", ylim=(0, 1.05),
                 title="h  alignment vs τ_B (single path ≤ ½)")
    ax_ret.legend(fontsize=6, loc="best")
    ax_trade.legend(fontsize=6, loc="best")
    gradient = _gradient_label(ds)
    fig.suptitle(
        "Baselines on the Fig. 2 task. EWC, L2 pull and oracle gating (dashed, 'boundaries') are told the task boundaries "
        "(oracle knowledge); the NTA model is not.\n"
        f"{band_caption(n_seeds)}; {gradient}, dt = 1e-3, τ_w = 1.3; λ_EWC = {baselines_sweep.FIGURE_LAMBDA:g}, "
        f"γ = {baselines_sweep.FIGURE_DECAY:g} in a–c and e–h; interleaved: no blocks (no adaptation time)",
        fontsize=9,
    )
    return ctx.save(fig, "baselines")


def _gradient_label(ds) -> str:
    """The gradient mode of the comparison, from the serialised simulations (nested dicts, see
    ``ntajax._simulation.describe``) in the store's ``methods`` attribute."""
    methods = json.loads(ds.attrs.get("methods", "{}"))
    sampled = [m["gradient"] for m in methods.values() if m.get("gradient", {}).get("type") == "SampledGradient"]
    if sampled:
        return f"sampled B = {sampled[0].get('batch_size', '?')}"
    return "expected gradient"


def _nanmean(x) -> float:
    x = np.asarray(x, float)
    return float(np.mean(x[np.isfinite(x)])) if np.any(np.isfinite(x)) else float("nan")


def headline_numbers(data: dict) -> dict:
    """Late-block re-gated retention, retention, adaptation time/τ_w and final A_tot at τ_B = 1 (seed means)."""
    ds = data["comparison"]
    lengths = ds["block_length"].values
    one = float(lengths[np.argmin(np.abs(lengths - 1.0))])
    out = {}
    for key in [str(k) for k in ds["baseline"].values]:
        out[key] = dict(
            regated=_nanmean(late_mean(ds, "regated_retention", key, block_length=one)),
            retention=_nanmean(late_mean(ds, "retention", key, block_length=one)),
            adaptation=_nanmean(late_mean(ds, "adaptation_time", key, block_length=one)) / TAU_W,
            alignment=float(ds["final_alignment"].sel(baseline=key, block_length=one).mean()),
        )
    return out


def headline(data: dict) -> str:
    n = headline_numbers(data)
    pick = [k for k in ("flexible", "ewc", "forgetful", "oracle") if k in n]
    regated = ", ".join(f"{k} {n[k]['regated']:.3f}" for k in pick)
    align = "/".join(f"{n[k]['alignment']:.2f}" for k in pick)
    adapt = "/".join(f"{n[k]['adaptation']:.2f}" for k in pick)
    return (f"τ_B = 1, late blocks: re-gated retention {regated}; A_tot {align}; adaptation/τ_w {adapt} "
            f"({'/'.join(pick)}; EWC and oracle are told task boundaries)")
