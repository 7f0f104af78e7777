"""Task-representation analyses: fractional task variance, unit clusters, shared vs separate hidden states.

Three sets of simulations (teachers orthogonal rotated, s = 1/√d_in, shared across seeds; common
random numbers across the variants of a store; full weights recorded at every block end):

* ``per_neuron`` — per-neuron gating (MODEL §2.2), d_in 20, d_out 6, M = P = 3 (18 gated rows),
  A, B, C, A, … with τ_B = 1, t_tot = 30, τ_w = 0.2, τ_c = 0.005; flexible λ_nonneg = λ_norm =
  0.25/11 (k = 2 over all 18 gates, the Fig. 3d regulariser), forgetful: none. Expected-gradient
  flow with dt = 1e-3 (dt/τ_c = 0.2; Fig. 3d's sampled dt = 0.01 has dt/τ_c = 2).
* ``fc`` — the two-layer network of Fig. 6 exactly (d_in 20, hidden 2·10, d_out 10, M = 2, τ_W1 =
  0.06, τ_W2 = 0.01, λ_nonneg = λ_norm = 0.2 with k = 2 on vec W2; sampled B = 200, **dt = 0.01,
  dt/τ_W2 = 1, outside the gradient-flow regime, as in the paper** — its gradient flow does not
  specialise, see sweeps/fc.py), t_tot = 30, τ_B = 1.
* ``multihead`` — the multi-head student of :mod:`ntajax._engines.multi_head` (d_in 20, H = d_out = 10,
  M = P = 2, hidden 20, two heads of 10 outputs), τ_w = 0.3 for both layers, τ_B = 2, t_tot = 40,
  in the three output modes (gated, orthogonal, parallel) × with NTA gating (τ_c = 0.03, the Fig. 2
  regulariser λ_nonneg = 1/11, λ_norm = 10/11, k = 1) or without (gates held at 1). Sampled B = 200,
  dt = 1e-3.

Analyses (per seed; :mod:`ntajax.metrics._representations`): "the network in task m" is the
student at the end of the last block of task m (for parallel outputs, the final state for every
task). Task variance TV_m(u) of every unit (gated rows; FC hidden units weighted by ‖W2[:, k]‖),
FTV per task pair and its histogram (pooled over seeds), k-means clusters of the normalised
profiles with ntajax's stated criterion; for the multi-head student the held-out linear
separability of the hidden states' second-order features, the exact F-ratio of between- to
within-task variance, the covariance overlap of the tasks' hidden states, the overlap of the two
heads' readout spaces, and the loss of each head on its task.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ntajax import (
    Blocked, ExpectedGradient, MultiHead, NtajaxWarning, PerNeuron, Recording, Regulariser, SampledGradient, Simulation,
    TimeGrid, TwoLayer, Variant,
)
from ntajax._engines.continual import FrozenGates, LearnedGates
from ntajax._presets.experiment import run_variants
from ntajax._cli.figure import FigureContext
from ntajax._engines.multi_head import GatedOutputs, MultiHeadScan, OrthogonalOutputs, ParallelOutputs
from ntajax._analysis.representations import hidden_geometry, hidden_map, last_block_ends, task_variances
from ntajax._store.dataset import provenance
from ntajax.metrics._representations import (
    choose_clusters,
    covariance_overlap,
    ftv_by_pair,
    ftv_histogram,
    normalised_profiles,
    task_pairs,
)


PER_NEURON_LAMBDA = 0.25 / 11  # λ = 0.025, nonneg : L2 = 1 : 10 (MODEL §4.3, Fig. 3d)
FC_LAMBDA = 0.2  # λ = 0.22, nonneg : L2 = 1 : 10 (Fig. 6)
FTV_BINS = np.linspace(-1.0, 1.0, 21)
K_MAX = 6
N_PROBE = 1000
GATINGS = {"NTA gating": LearnedGates(), "no gating": FrozenGates(1.0)}
OUTPUT_MODES = (GatedOutputs(), OrthogonalOutputs(), ParallelOutputs())  # stored under their ``name``
SAMPLED = SampledGradient(batch_size=200)
EXPECTED = ExpectedGradient()


def settings(ctx: FigureContext) -> dict:
    return ctx.pick(
        dict(n_seeds=10, t_per_neuron=30.0, t_fc=30.0, t_multihead=40.0, fc_gradient=SAMPLED, mh_gradient=SAMPLED,
             mh_block=2.0),
        dict(n_seeds=3, t_per_neuron=30.0, t_fc=30.0, t_multihead=40.0, fc_gradient=SAMPLED, mh_gradient=EXPECTED,
             mh_block=2.0),
        dict(n_seeds=2, t_per_neuron=3.0, t_fc=2.0, t_multihead=4.0, fc_gradient=EXPECTED, mh_gradient=EXPECTED,
             mh_block=1.0),
    )


def per_neuron_variants(s: dict) -> dict[str, Variant]:
    t = s["t_per_neuron"]
    base = Simulation(d_in=20, d_out=6, n_teachers=3, n_seeds=s["n_seeds"], student=PerNeuron(n_paths=3, tau_w=0.2, tau_c=0.005),
                      curriculum=Blocked(block_length=1.0), regulariser=Regulariser(norm_order=2), gradient=EXPECTED,
                      grid=TimeGrid(dt=1e-3, t_total=t, n_save=int(10 * t) + 1),
                      recording=Recording(weights=True, weights_every=10))
    flexible = base.replace(regulariser=Regulariser(lambda_nonneg=PER_NEURON_LAMBDA, lambda_norm=PER_NEURON_LAMBDA, norm_order=2))
    return {"flexible": Variant(flexible), "forgetful": Variant(base)}


def fc_variants(s: dict) -> dict[str, Variant]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NtajaxWarning)  # dt/τ_W2 = 1, flagged in the module docstring
        return _fc_variants(s)


def _fc_variants(s: dict) -> dict[str, Variant]:
    t = s["t_fc"]
    base = Simulation(d_in=20, d_out=10, n_teachers=2, n_seeds=s["n_seeds"], student=TwoLayer(n_paths=2, tau_w1=0.06, tau_w2=0.01),
                      curriculum=Blocked(block_length=1.0), regulariser=Regulariser(norm_order=2), gradient=s["fc_gradient"],
                      grid=TimeGrid(dt=0.01, t_total=t, n_save=int(10 * t) + 1),
                      recording=Recording(weights=True, weights_every=10))
    flexible = base.replace(regulariser=Regulariser(lambda_nonneg=FC_LAMBDA, lambda_norm=FC_LAMBDA, norm_order=2))
    return {"flexible": Variant(flexible), "forgetful": Variant(base)}


def multihead_variants(s: dict) -> dict[str, Variant]:
    t, block = s["t_multihead"], s["mh_block"]
    out = {}
    for mode in OUTPUT_MODES:
        for gating_name, gates in GATINGS.items():
            config = Simulation(
                d_in=20, d_out=10, n_teachers=2, n_seeds=s["n_seeds"], student=MultiHead(n_paths=2, tau_w=0.3, tau_c=0.03),
                curriculum=Blocked(block_length=block),
                regulariser=Regulariser(lambda_nonneg=1 / 11, lambda_norm=10 / 11, norm_order=1), gradient=s["mh_gradient"],
                grid=TimeGrid(dt=1e-3, t_total=t, n_save=int(round(t / (block / 10))) + 1),
                recording=Recording(weights=True, weights_every=10), engine=MultiHeadScan(outputs=mode, gates=gates),
            )
            out[f"{mode.name}|{gating_name}"] = Variant(config)
    return out


def _task_states(config: Simulation, trajectory, seed: int, parallel: bool = False) -> list:
    """The student of ``seed`` at the end of the last block of every base task (or the final state)."""
    # host copies: slicing device arrays eagerly compiles a program per slice shape
    weights = jax.tree.map(np.asarray, trajectory.weights)
    n_tasks = config.n_teachers
    if parallel:
        return [jax.tree.map(lambda x: x[seed, -1], weights)] * n_tasks
    schedule = config.schedule
    index = last_block_ends(config.weight_save_times, float(config.curriculum.block_length), config.grid.t_total,
                            lambda k: int(np.argmax(np.asarray(schedule.task_of_block(k, n_tasks)))), n_tasks)
    return [jax.tree.map(lambda x: x[seed, i], weights) for i in index]


def _ftv_dataset(results: dict, key) -> xr.Dataset:
    """Task variances, FTV, histograms and clusters of every variant (flexible / forgetful)."""
    names = list(results)
    rows = {name: [] for name in names}
    for v, name in enumerate(names):
        config, trajectory, _, _ = results[name]
        for s in range(config.n_seeds):
            tv = task_variances(_task_states(config, trajectory, s))
            profiles, active = normalised_profiles(tv)
            clusters = choose_clusters(profiles, jax.random.fold_in(key, 1000 * v + s), weights=active.astype(profiles.dtype),
                                       k_max=K_MAX)
            rows[name].append(dict(tv=np.asarray(tv), ftv=np.asarray(ftv_by_pair(tv)), profiles=np.asarray(profiles),
                                   active=np.asarray(active), k=clusters["k"], labels=np.asarray(clusters["labels"]),
                                   silhouette=np.asarray(clusters["silhouette"]), separation=np.asarray(clusters["separation"]),
                                   loss=float(trajectory.loss[s, -1])))

    def stack(field):
        return np.stack([np.stack([r[field] for r in rows[n]]) for n in names])

    config = results[names[0]][0]
    pairs = task_pairs(config.n_teachers)
    ftv = stack("ftv")
    histogram = np.asarray(ftv_histogram(jnp.asarray(np.moveaxis(ftv, 1, 2).reshape(len(names), len(pairs), -1)), FTV_BINS))
    ds = xr.Dataset(
        {
            "task_variance": (("variant", "seed", "task", "unit"), stack("tv")),
            "ftv": (("variant", "seed", "pair", "unit"), ftv),
            "ftv_histogram": (("variant", "pair", "bin"), histogram),
            "profile": (("variant", "seed", "unit", "task"), stack("profiles")),
            "clustered": (("variant", "seed", "unit"), stack("active")),
            "n_clusters": (("variant", "seed"), stack("k")),
            "cluster": (("variant", "seed", "unit"), stack("labels")),
            "silhouette": (("variant", "seed", "k"), stack("silhouette")),
            "centre_separation": (("variant", "seed", "k"), stack("separation")),
            "final_loss": (("variant", "seed"), stack("loss")),
        },
        coords={"variant": names, "seed": np.arange(config.n_seeds), "task": np.arange(config.n_teachers),
                "pair": [f"{'ABCD'[a]}{'ABCD'[b]}" for a, b in pairs], "bin_left": ("bin", FTV_BINS[:-1]),
                "bin_right": ("bin", FTV_BINS[1:]), "k": np.arange(2, K_MAX + 1)},
    )
    ds["ftv"].attrs["description"] = "(TV_A − TV_B)/(TV_A + TV_B); NaN for units inactive in both tasks"
    ds["n_clusters"].attrs["description"] = ("k in 2..6 with the largest mean silhouette among those with silhouette ≥ 0.5 and "
                                             "closest centres ≥ 0.25 apart; 1 if none")
    ds.attrs.update(provenance())
    ds.attrs["config"] = str({n: results[n][0].to_dict() for n in names})
    return ds


def _multihead_dataset(results: dict, key) -> xr.Dataset:
    modes, gatings = [m.name for m in OUTPUT_MODES], list(GATINGS)
    first = next(iter(results.values()))[0]
    n_seeds = first.n_seeds
    fields = ("separability", "separability_first_order", "f_ratio", "f_ratio_sampled", "overlap", "readout_overlap")
    values = {f: np.full((len(modes), len(gatings), n_seeds), np.nan) for f in fields}
    head_loss = np.full((len(modes), len(gatings), n_seeds, first.n_teachers), np.nan)
    n_paths = first.student.n_paths
    gates_end = np.full((len(modes), len(gatings), n_seeds, first.n_teachers, n_paths), np.nan)
    ftv = np.full((len(modes), len(gatings), n_seeds, n_paths * first.d_out), np.nan)
    for i, (mode, mode_name) in enumerate(zip(OUTPUT_MODES, modes)):
        for j, gating_name in enumerate(gatings):
            config, trajectory, _, teachers = results[f"{mode_name}|{gating_name}"]
            for s in range(n_seeds):
                states = _task_states(config, trajectory, s, parallel=isinstance(mode, ParallelOutputs))
                geometry = hidden_geometry(jnp.stack([hidden_map(x) for x in states]), jax.random.fold_in(key, s), N_PROBE)
                V = states[-1].V
                geometry["readout_overlap"] = covariance_overlap(V[0].T @ V[0], V[1].T @ V[1])
                for f in fields:
                    values[f][i, j, s] = float(geometry[f])
                for m, state in enumerate(states):
                    head_loss[i, j, s, m] = 0.5 * float(jnp.sum((teachers[m] - state.head_maps()[m]) ** 2))
                    gates_end[i, j, s, m] = np.asarray(state.c)
                ftv[i, j, s] = np.asarray(ftv_by_pair(task_variances(states)))[0]
    dims = ("mode", "gating", "seed")
    ds = xr.Dataset(
        {f: (dims, values[f]) for f in fields}
        | {"head_loss": (dims + ("task",), head_loss), "gates": (dims + ("task", "path"), gates_end),
           "ftv": (dims + ("unit",), ftv)},
        coords={"mode": modes, "gating": gatings, "seed": np.arange(n_seeds), "task": np.arange(first.n_teachers),
                "path": np.arange(n_paths)},
    )
    ds["separability"].attrs["description"] = "held-out linear-classifier accuracy on the second-order features vec(h hᵀ)"
    ds["separability_first_order"].attrs["description"] = "the same on h itself (centred: at most 3/4 by symmetry)"
    ds["f_ratio"].attrs["description"] = "between-task / within-task variance of vec(h hᵀ), exact for Gaussian inputs"
    ds["overlap"].attrs["description"] = "⟨Σ_A, Σ_B⟩/(‖Σ_A‖‖Σ_B‖) of the hidden covariances: 1 shared, 0 separate"
    ds["readout_overlap"].attrs["description"] = "the same for the heads' readout matrices V_mᵀV_m (final state)"
    ds["head_loss"].attrs["description"] = "½‖W*_m − V_m A‖² of head m in the state of task m"
    ds.attrs.update(provenance())
    ds.attrs["config"] = str({n: r[0].to_dict() for n, r in results.items()})
    return ds


def _stored(ctx: FigureContext, name: str, variants: dict, analyse, version: str) -> xr.Dataset:
    description = {"variants": variants, "seed": ctx.seed, "analysis": version,
                   "bins": FTV_BINS, "k_max": K_MAX, "n_probe": N_PROBE}

    def compute():
        key = jax.random.key(ctx.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NtajaxWarning)  # the FC step size, flagged in the module docstring
            results = run_variants(variants, key, progress=ctx.progress, description=name, summarise_fn=None)
        return analyse(results, jax.random.fold_in(key, 7))

    return ctx.cached(name, description, compute)


def compute(ctx: FigureContext) -> dict:
    s = settings(ctx)
    return {
        "per_neuron": _stored(ctx, "representations-per-neuron", per_neuron_variants(s), _ftv_dataset, "ftv v1"),
        "fc": _stored(ctx, "representations-fc", fc_variants(s), _ftv_dataset, "ftv v1"),
        "multihead": _stored(ctx, "representations-multihead", multihead_variants(s), _multihead_dataset, "geometry v1"),
    }
