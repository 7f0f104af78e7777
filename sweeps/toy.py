"""Toy-model simulations (MODEL §2.4) and the runs of Fig. 4 (FIGURES.md Fig. 4).

The 2-D toy is the gated student with d_in = 1, d_out = 2, M = P = 2, constant input x = 1
and expected gradients (identical to sampled ones here), trained on the smooth curriculum
(MODEL §6.2). This module holds the shared plumbing of every toy figure:

* :func:`toy_config` — a toy :class:`ntajax.Simulation` (every weight recorded at every save point);
* :func:`toy_init` — an explicit state (w¹₁, w¹₂, w²₁, w²₂ | c₁, c₂), kept in float64 so that a
  float64 run starts exactly at the listed numbers;
* :func:`targets` — the two target vectors, ordered so that the first block's target is e₁ or
  e₂. Every toy config uses the curriculum's natural order (context 0 first) and the target
  order is carried by the (traced) teacher array: the two orders of Fig. 4E then share one
  compiled program, with dynamics identical to ``Smooth(order=(1, 0))``;
* :func:`toy_store` — run a dict of :class:`ToyRun` into a labelled, content-addressed Dataset
  with variables ``w`` (condition, t, path, component), ``c`` (condition, t, path), ``loss``
  (condition, t) and ``target`` (condition, t, component): the recorded pre-update state,
  its expected loss and the target y*(t) at the same time.

Fig. 4's runs (:func:`compute`): ``ac`` (A–C, flexible and forgetful starts), ``e`` (E, short
and long blocks × both target orders), ``f`` (F–G, the 100-block limit cycle) and ``h`` (H,
the symmetric model for τ_c ∈ logspace(−1, 0, 5), float64).
"""

import json
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import ntajax
from ntajax import (
    ExpectedGradient, ExplicitTeachers, Gated, GatedStudent, Recording, Regulariser, Simulation, Smooth, TimeGrid,
)
from ntajax._cli.figure import FigureContext
from ntajax._run import precision
from ntajax._store.dataset import provenance


E1 = np.array([1.0, 0.0])
E2 = np.array([0.0, 1.0])

# Fig. 4 / Fig. 2 flexible regulariser: original λ = 0.1 with nonneg : L1 = 1 : 10 (MODEL §4.3).
FIG4_REGULARISER = {"lambda_nonneg": 1 / 11, "lambda_norm": 10 / 11}

# Fig. 4H / A10 gate time constants: logspace(−1, 0, 5).
TAU_C_SWEEP = tuple(float(v) for v in np.logspace(-1, 0, 5))


class ToyRun(NamedTuple):
    """One deterministic toy simulation: config, explicit initial state, first target (1 or 2)."""

    config: Simulation
    init: GatedStudent
    first: int = 2


def targets(first: int) -> np.ndarray:
    """Target vectors as (2, 2, 1) teacher matrices, the first block's target first.

    ``first=2`` gives (e₂, e₁) (target e₂ during the first block), ``first=1`` gives (e₁, e₂).
    """
    if first not in (1, 2):
        raise ValueError(f"first={first!r} must be 1 (e₁ first) or 2 (e₂ first).")
    order = (E1, E2) if first == 1 else (E2, E1)
    return np.stack(order)[:, :, None]


def toy_config(
    *,
    tau_w: float,
    tau_c: float,
    block_length: float,
    t_total: float,
    n_save: int,
    dt: float = 1e-3,
    sharpness: float = 100.0,
    dtype: str = "float32",
    n_blocks: int | None = None,
    lambda_nonneg: float = FIG4_REGULARISER["lambda_nonneg"],
    lambda_norm: float = FIG4_REGULARISER["lambda_norm"],
) -> Simulation:
    """A toy simulation (MODEL §2.4): k = 1 gate norm, smooth curriculum, weights recorded at every save point."""
    return Simulation(
        d_in=1, d_out=2, n_teachers=2, n_seeds=1, dtype=dtype,
        student=Gated(n_paths=2, tau_w=tau_w, tau_c=tau_c),
        teachers=ExplicitTeachers(),
        curriculum=Smooth(n_contexts=2, sharpness=sharpness, block_length=block_length),
        regulariser=Regulariser(lambda_nonneg=lambda_nonneg, lambda_norm=lambda_norm, norm_order=1),
        gradient=ExpectedGradient(),
        grid=TimeGrid(dt=dt, t_total=t_total, n_save=n_save),
        recording=Recording(weights=True, weights_every=1, n_blocks=n_blocks),
    )


def toy_init(w1, w2, c) -> GatedStudent:
    """The state (w¹₁, w¹₂ | w²₁, w²₂ | c₁, c₂) as a float64 GatedStudent (cast to the run's dtype)."""
    W = np.asarray([w1, w2], dtype=np.float64)[:, :, None]
    return GatedStudent(W=W, c=np.asarray(c, dtype=np.float64))


def state_at(ds: xr.Dataset, condition: str, index: int) -> GatedStudent:
    """The recorded state of ``condition`` at record ``index`` (to continue a run from it)."""
    v = ds.sel(condition=condition)
    W = np.asarray(v["w"].values[index], np.float64)[:, :, None]
    return GatedStudent(W=W, c=np.asarray(v["c"].values[index], np.float64))


def target_path(w: np.ndarray, target: np.ndarray) -> int:
    """The path whose time-mean column cosine with ``target`` is largest (the stored assignment
    of a toy run; MODEL §2.4: the column cosine, since a row cosine of 2×1 matrices only sees signs)."""
    w = np.asarray(w, float)
    cos = (w @ target) / np.maximum(np.linalg.norm(w, axis=-1) * np.linalg.norm(target), 1e-12)  # (T, P)
    return int(np.argmax(cos.mean(axis=0)))


def simulate(run: ToyRun) -> dict[str, np.ndarray]:
    """Simulate one toy run: recorded times, weights (T, 2, 2), gates (T, 2), loss (T,), target (T, 2)."""
    config = run.config
    teachers = targets(run.first)
    tr = ntajax.run(config, jax.random.key(0), teachers=teachers, init=run.init)
    t = np.asarray(tr.t[0])
    # The engine evaluates the target of a record at its own step, except for the final record
    # (t = t_total), which closes the last simulated block with that step's target.
    t_target = np.minimum(t, (config.n_steps - 1) * config.grid.dt)
    with precision(config):
        dtype = config.float_dtype
        curriculum = config.cast().schedule  # block length in the run's dtype
        weights = jax.vmap(
            lambda s: curriculum.weights(t=s, block=0, step=0, key=None, n_targets=2)
        )(jnp.asarray(t_target, dtype))
        target = np.asarray(weights) @ teachers[:, :, 0]
    return {
        "t": t,
        "w": np.asarray(tr.weights.W[0, ..., 0]),
        "c": np.asarray(tr.weights.c[0]),
        "loss": np.asarray(tr.loss[0]),
        "target": target,
        "status": int(np.asarray(tr.status)[0]),
    }


def runs_dataset(runs: dict[str, ToyRun]) -> xr.Dataset:
    """Simulate ``runs`` (same recording grid) into one Dataset along ``condition``."""
    results = {name: simulate(run) for name, run in runs.items()}
    names = list(results)
    grids = {len(r["t"]) for r in results.values()}
    if len(grids) != 1:
        raise ValueError(f"toy runs {names} have different recording grids {grids}; store them separately.")

    def stack(key):
        return np.stack([results[n][key] for n in names])

    ds = xr.Dataset(
        {
            "w": (("condition", "t", "path", "component"), stack("w")),
            "c": (("condition", "t", "path"), stack("c")),
            "loss": (("condition", "t"), stack("loss")),
            "target": (("condition", "t", "component"), stack("target")),
            "status": (("condition",), stack("status")),
        },
        coords={
            "condition": names,
            "t": results[names[0]]["t"],
            "path": [0, 1],
            "component": [0, 1],
            "tau_w": ("condition", [float(runs[n].config.student.tau_w) for n in names]),
            "tau_c": ("condition", [float(runs[n].config.student.tau_c) for n in names]),
            "block_length": ("condition", [float(runs[n].config.curriculum.block_length) for n in names]),
            "first_target": ("condition", [runs[n].first for n in names]),
        },
    )
    ds["w"].attrs["description"] = "w[p, q] = component q of path p (w^p_q), recorded before the step's update"
    ds["target"].attrs["description"] = "target y*(t) of the smooth curriculum at the recorded time"
    ds["loss"].attrs["description"] = "task loss ½‖y* − ŷ‖² (exact; the toy input is x = 1)"
    ds.attrs.update(provenance())
    ds.attrs["config"] = json.dumps({n: runs[n].config.to_dict() for n in names}, sort_keys=True)
    ds.attrs["init"] = json.dumps(
        {n: {"W": np.asarray(runs[n].init.W)[:, :, 0].tolist(), "c": np.asarray(runs[n].init.c).tolist()}
         for n in names}
    )
    return ds


def toy_store(ctx: FigureContext, name: str, runs: dict[str, ToyRun]) -> xr.Dataset:
    """:func:`runs_dataset` through the content-addressed cache (keyed by configs, states and target orders)."""
    description = {"toy_runs": {n: {"config": r.config, "init": r.init, "first": r.first} for n, r in runs.items()}}
    return ctx.cached(name, description, lambda: runs_dataset(runs))


# ------------------------------------------------------------------------------------ Fig. 4
def fig4_runs(ctx: FigureContext) -> dict[str, dict[str, ToyRun]]:
    """The runs of every Fig. 4 panel group at the context's size."""
    ac_config = toy_config(tau_w=0.4 / 3, tau_c=0.2 / 3, block_length=1.0, t_total=1.0, n_save=1001)
    ac = {
        "flexible": ToyRun(ac_config, toy_init((1, 0), (0, 1), (1, 0)), first=2),
        "forgetful": ToyRun(ac_config, toy_init((1, 0), (1, 0), (0.5, 0.5)), first=2),
    }
    # tiny: E and F share one compiled program (same grid and block count); the claims still hold
    e_total, e_save = ctx.pick((16.0, 1001), (16.0, 1001), (16.0, 161))
    e_init = toy_init((0.15, 0.10), (0.10, 0.15), (0.5, 0.5))
    e = {}
    for label, t_ctx in (("short", 1.0), ("long", 2.0)):
        config = toy_config(tau_w=5.0, tau_c=0.05, block_length=t_ctx, t_total=e_total, n_save=e_save,
                            n_blocks=int(np.ceil(e_total)))
        for first in (2, 1):
            e[f"{label}_e{first}first"] = ToyRun(config, e_init, first=first)
    f_total, f_save = ctx.pick((100.0, 1001), (40.0, 401), (16.0, 161))
    f = {"cycle": ToyRun(toy_config(tau_w=2.0, tau_c=1 / 50, block_length=1.0, t_total=f_total, n_save=f_save),
                         toy_init((0.0255, 0.0245), (0.0245, 0.0255), (0.5, 0.5)), first=2)}
    h_config = toy_config(tau_w=1.0, tau_c=TAU_C_SWEEP[0], block_length=5.0, t_total=1.0, n_save=1001, dtype="float64")
    h = {f"tau_c={tau_c:.4g}": ToyRun(h_config.set({"student.tau_c": tau_c}), toy_init((1, 0), (0, 1), (1, 0)), first=2)
         for tau_c in TAU_C_SWEEP}
    return {"ac": ac, "e": e, "f": f, "h": h}


def compute(ctx: FigureContext) -> dict[str, xr.Dataset]:
    """Fig. 4's toy stores: ``ac``, ``e``, ``f``, ``h`` (see the module docstring)."""
    return {key: toy_store(ctx, f"fig4_{key}", runs) for key, runs in fig4_runs(ctx).items()}
