"""rnn-switching — blocked tasks in a gated RNN: flexible vs forgetful (loss, gates, adaptation time).

Simulated (this script's ``compute``; :func:`ntajax.rnn_sweep`, one compiled program for both
gated variants): gated tanh RNNs (:class:`ntajax.GatedRNN`, N = 32 hidden units, P = 2 modules,
leak α = 0.3, τ_w = 0.5) learn Go and Anti (:class:`ntajax.Go`, Yang et al. 2019 style, 20-step
trials) on the same input and output channels (:class:`ntajax.SharedReadout`) in blocks A, B,
A, B, … of τ_B = 5 without a task cue (:class:`ntajax.BlockedTasks`): the network must infer the
task from its errors, as the NTA model does. BPTT on 16 fresh trials per step, dt = 0.02
(learning rate dt/τ), 10 000 steps (40 blocks).

* **flexible**: fast gates τ_c = 0.05 (τ_w/τ_c = 10) with the paper's Fig. 2 gate regulariser
  (λ_norm = 10/11 with k = 1, λ_nonneg = 1/11, MODEL §4.3);
* **forgetful**: τ_c = τ_w = 0.5, no regulariser (the paper's forgetful control);
* **plain RNN**: one ungated module (``GatedRNN(n_modules=1, gated=False)``), same τ_w.

Panels: (a) minibatch loss (mean per recording interval), (b) gates of seed 0 of the flexible and
(c) of the forgetful network, (d) adaptation time per block (time from the block's start to the
first step with minibatch loss < 0.05), (e) the switch cost (mean loss over the first 10 % of
each block), (f) the weight speed ‖Δθ_w‖/Δt. Bands mean ± SEM over seeds (common random numbers).

Agreement with the paper (Sandbrink et al., NeurIPS 2024), measured at paper size (8 seeds, 40
blocks; ``ntajax figure rnn-switching``: 105 s on the 2-core CPU):

* **agrees** — fast bounded gates with long blocks make the recurrent network flexible. Its
  adaptation time falls ~100× over training (first two blocks 3.4 → 0.034 in the late blocks),
  the forgetful network's ~11× (2.9 → 0.26) and the plain RNN's ~2× (3.2 → 1.4); the late switch
  cost (loss over the first 10 % of a block) is 0.038 flexible vs 0.120 forgetful vs 0.268 plain.
  The flexible gates jump between two task-specific settings at every switch while the
  forgetful gates do not separate (S = 0.01) and grow without bound (c₁ ≈ 2.3 at the end), as
  unregularised gates do in the paper; the flexible weights slow down more (panel f).
* **differs** — the gates do not become one-hot (one module per task): in all 8 seeds Anti is
  served by one module alone (c ≈ (1, 0) or (0, 1)) and Go by an even mix (c ≈ (0.5, 0.5)), so
  S = 0.43 rather than 1 (the tasks share their fixation part, and a mix of the modules is a
  solution as well); the flexible network's loss at the block ends stays above the forgetful
  one's late in training (0.0075 vs 0.0031; the regulariser's pull on the gates is a likely
  cause, not checked further); and the forgetful RNN's adaptation also speeds up over the blocks
  (÷11, against ÷1.7 for the forgetful linear model of ntajax's Fig. 2).
"""

import warnings

import jax
import numpy as np
import xarray as xr

import ntajax
from ntajax._cli.figure import FigureContext
from ntajax._plotting import band, band_caption, mean_sem

TITLE = "rnn-switching — gated RNN on blocked Go/Anti: flexible vs forgetful (loss, gates, adaptation time)"

VARIANTS = ("flexible", "forgetful", "plain RNN")
COLOURS = {"flexible": "tab:blue", "forgetful": "tab:red", "plain RNN": "tab:grey"}
THRESHOLD = 0.05


def settings(ctx: FigureContext) -> dict:
    return ctx.pick(
        dict(n_seeds=8, n_steps=10_000, block_length=5.0, n_hidden=32, batch_size=16, record_every=25),
        dict(n_seeds=4, n_steps=5_000, block_length=5.0, n_hidden=32, batch_size=16, record_every=25),
        dict(n_seeds=2, n_steps=400, block_length=1.0, n_hidden=12, batch_size=8, record_every=10),
    )


def experiment(s: dict, *, n_modules: int = 2, gated: bool = True) -> ntajax.RNNExperiment:
    return ntajax.RNNExperiment(
        student=ntajax.GatedRNN(n_hidden=s["n_hidden"], n_modules=n_modules, gated=gated, alpha=0.3, tau_w=0.5,
                                tau_c=0.05),
        tasks=(ntajax.Go(), ntajax.Go(anti=True)),
        readout=ntajax.SharedReadout(),
        curriculum=ntajax.BlockedTasks(block_length=s["block_length"]),
        regulariser=ntajax.Regulariser(lambda_norm=10 / 11, lambda_nonneg=1 / 11, norm_order=1),
        dt=0.02, n_steps=s["n_steps"], batch_size=s["batch_size"], record_every=s["record_every"], eval_size=64,
        max_blocks=int(np.ceil(s["n_steps"] * 0.02 / s["block_length"])) + 1, adaptation_threshold=THRESHOLD,
    )


GATED_POINTS = {  # flexible, forgetful
    "student.tau_c": [0.05, 0.5],
    "regulariser.lambda_norm": [10 / 11, 0.0],
    "regulariser.lambda_nonneg": [1 / 11, 0.0],
}


def _dataset(runs: list, ex: ntajax.RNNExperiment, s: dict) -> xr.Dataset:
    n_rec, every = ex.n_records, ex.record_every
    interval = [np.asarray(r.step_loss).reshape(*r.step_loss.shape[:-1], -1, every).mean(-1) for r in runs]
    n_blocks = int(np.ceil(ex.n_steps * ex.dt / s["block_length"] - 1e-9))

    def stack(field, cut=None):
        arrays = [np.asarray(getattr(r, field)) for r in runs]
        if cut is not None:
            arrays = [a[..., :cut] for a in arrays]
        return np.stack(arrays)

    gates = np.full((len(runs), s["n_seeds"], n_rec, 2), np.nan)
    task_gates = np.full((len(runs), s["n_seeds"], 2, 2), np.nan)
    for v, r in enumerate(runs):
        P = r.gates.shape[-1]
        gates[v, ..., :P] = np.asarray(r.gates)
        task_gates[v, ..., :P] = np.asarray(r.task_final.c)
    record_t = np.asarray(runs[0].record_step[0]) * ex.dt
    return xr.Dataset(
        {
            "interval_loss": (("variant", "seed", "interval"), np.stack(interval)),
            "eval_loss": (("variant", "seed", "record", "task"), stack("eval_loss")),
            "gates": (("variant", "seed", "record", "module"), gates),
            "weight_speed": (("variant", "seed", "record"), stack("weight_speed")),
            "adaptation_time": (("variant", "seed", "block"), stack("adaptation_time", n_blocks)),
            "block_start_loss": (("variant", "seed", "block"), stack("block_start_loss", n_blocks)),
            "block_end_loss": (("variant", "seed", "block"), stack("block_end_loss", n_blocks)),
            "block_task": (("block",), np.asarray(runs[0].block_task[0][:n_blocks])),
            "task_gates": (("variant", "seed", "task", "module"), task_gates),
            "status": (("variant", "seed"), stack("status")),
        },
        coords={"variant": list(VARIANTS), "seed": np.arange(s["n_seeds"]), "record_t": ("record", record_t),
                "interval_t": ("interval", (np.arange(ex.n_steps // every) + 0.5) * every * ex.dt),
                "block": np.arange(n_blocks), "task": list(ex.task_names), "module": [0, 1]},
        attrs={"block_length": s["block_length"], "dt": ex.dt, "n_steps": ex.n_steps, "threshold": THRESHOLD,
               "n_hidden": s["n_hidden"]},
    )


def compute(ctx: FigureContext) -> dict:
    s = settings(ctx)
    gated = experiment(s)
    plain = experiment(s, n_modules=1, gated=False).set({"regulariser.lambda_norm": 0.0, "regulariser.lambda_nonneg": 0.0})

    def run():
        both = ntajax.rnn_sweep(gated, GATED_POINTS, ctx.seed, n_seeds=s["n_seeds"])
        flexible, forgetful = (jax.tree.map(lambda x, i=i: x[i], both) for i in range(2))
        baseline = ntajax.train_rnn(plain, ctx.seed, n_seeds=s["n_seeds"])
        return _dataset([flexible, forgetful, baseline], gated, s)

    work = f"3 variants × {s['n_seeds']} seeds × {s['n_steps']} steps"
    description = {"figure": "rnn-switching", "store_version": 1, "gated": gated, "plain": plain, "points": GATED_POINTS, "settings": s,
                   "seed": ctx.seed}
    return {"runs": ctx.cached("rnn_switching", description, run, work=work)}


# ------------------------------------------------------------------------------------ numbers
def late(ds) -> np.ndarray:
    """The blocks of the last quarter of training."""
    return ntajax._rnn.metrics.late_blocks(int(ds.attrs["n_steps"]), ds.attrs["block_length"] / ds.attrs["dt"])


def headline_numbers(data: dict) -> dict:
    with warnings.catch_warnings():
        return _numbers(data)


def _numbers(data: dict) -> dict:
    ds = data["runs"]
    blocks = late(ds)
    out = {}
    warnings.simplefilter("ignore", RuntimeWarning)  # NaN where no seed reached the threshold (tiny runs)
    for v in VARIANTS:
        d = ds.sel(variant=v)
        out[f"{v} late adaptation"] = float(np.nanmean(d["adaptation_time"].values[:, blocks]))
        out[f"{v} first adaptation"] = float(np.nanmean(d["adaptation_time"].values[:, :2]))
        out[f"{v} late switch loss"] = float(np.nanmean(d["block_start_loss"].values[:, blocks]))
        out[f"{v} first switch loss"] = float(np.nanmean(d["block_start_loss"].values[:, 1:3]))
        out[f"{v} late end loss"] = float(np.nanmean(d["block_end_loss"].values[:, blocks]))
        out[f"{v} separation"] = float(np.nanmean(ntajax.gate_separation(d["task_gates"].values)))
    return out


def headline(data: dict) -> str:
    n = headline_numbers(data)
    return (f"late-block adaptation time flexible {n['flexible late adaptation']:.3g} vs forgetful "
            f"{n['forgetful late adaptation']:.3g} vs plain RNN {n['plain RNN late adaptation']:.3g} (first two blocks "
            f"{n['flexible first adaptation']:.3g} / {n['forgetful first adaptation']:.3g} / "
            f"{n['plain RNN first adaptation']:.3g}); switch loss "
            f"{n['flexible late switch loss']:.3f} / {n['forgetful late switch loss']:.3f} / "
            f"{n['plain RNN late switch loss']:.3f}; loss at block ends {n['flexible late end loss']:.4f} / "
            f"{n['forgetful late end loss']:.4f} / {n['plain RNN late end loss']:.4f}; gate separation S flexible {n['flexible separation']:.2f} vs "
            f"forgetful {n['forgetful separation']:.2f}")


# ------------------------------------------------------------------------------------ plot
def _shade(ax, ds):
    tau = ds.attrs["block_length"]
    for k, task in enumerate(ds["block_task"].values):
        if task == 1:
            ax.axvspan(k * tau, (k + 1) * tau, color="0.92", lw=0)


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    ds = data["runs"]
    n_seeds = ds.sizes["seed"]
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5), constrained_layout=True)
    (ax_loss, ax_flex, ax_forget), (ax_adapt, ax_switch, ax_speed) = axes
    t_int, t_rec = ds["interval_t"].values, ds["record_t"].values
    for ax in (ax_loss, ax_flex, ax_forget, ax_speed):
        _shade(ax, ds)
    for v in VARIANTS:
        d = ds.sel(variant=v)
        band(ax_loss, t_int, d["interval_loss"].values, COLOURS[v], label=v)
        band(ax_speed, t_rec[1:], d["weight_speed"].values[:, 1:], COLOURS[v], label=v)
        blocks = ds["block"].values
        for ax, field in ((ax_adapt, "adaptation_time"), (ax_switch, "block_start_loss")):
            mean, sem = mean_sem(d[field].values)
            ax.errorbar(blocks, mean, yerr=sem, color=COLOURS[v], marker="o", ms=2.5, lw=1, capsize=1.5, label=v)
    ax_loss.set(yscale="log", xlabel="training time t", ylabel="minibatch loss (interval mean)",
                title="a  loss (grey: Anti blocks)")
    ax_loss.legend(fontsize=8)
    for ax, v, letter in ((ax_flex, "flexible", "b"), (ax_forget, "forgetful", "c")):
        g = ds["gates"].sel(variant=v).isel(seed=0).values
        for p, colour in enumerate(("tab:green", "tab:purple")):
            ax.plot(t_rec, g[:, p], color=colour, lw=1, label=f"c_{p + 1}")
        S = np.nanmean(ntajax.gate_separation(ds["task_gates"].sel(variant=v).values))
        ax.set(xlabel="training time t", ylabel="gate", title=f"{letter}  gates, {v}, seed 0 (mean S = {S:.2f})")
        ax.legend(fontsize=8)
    ax_adapt.set(yscale="log", xlabel="block", ylabel=f"time to loss < {ds.attrs['threshold']:g}",
                 title="d  adaptation time per block")
    ax_switch.set(yscale="log", xlabel="block", ylabel="mean loss, first 10 % of block", title="e  switch cost")
    ax_speed.set(yscale="log", xlabel="training time t", ylabel="‖Δθ_w‖ / Δt", title="f  weight speed")
    for ax in (ax_adapt, ax_switch, ax_speed):
        ax.legend(fontsize=8)
    fig.suptitle(
        f"Gated tanh RNN (P = 2, N = {ds.attrs['n_hidden']}) on blocked Go / Anti without a cue, "
        f"τ_B = {ds.attrs['block_length']:g}. Flexible: τ_w/τ_c = 10 with the gate regulariser; forgetful: τ_c = τ_w, "
        f"no regulariser; plain RNN: one ungated module.\n{band_caption(n_seeds)}. "
        "Agrees with the paper: fast bounded gates + long blocks → flexible (adaptation time and switch cost fall, "
        "gates separate by task, weights slow down).\nDiffers: gates not one-hot (Anti uses one module, Go a mix), "
        "flexible block-end loss above forgetful late in training, forgetful adaptation also speeds up.",
        fontsize=9,
    )
    return ctx.save(fig, "rnn-switching")
