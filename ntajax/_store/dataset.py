"""Labelled results: trajectories and summaries as an xarray Dataset, written to zarr.

Dimensions: ``variant`` (e.g. flexible / forgetful), ``seed``, ``t``, ``block``,
``teacher``, ``path``, ``gate``. Raw recorded arrays are stored as recorded (never permuted,
MODEL §7.4); the assignment π is stored next to them.

A run store is enough to continue the runs exactly: it holds every record of the
:class:`~ntajax.Trajectory`, the final student state of every variant and seed
(``final_<field>``) and the simulation of every variant (attribute ``config``);
:func:`load_trajectory` reads one variant back as a ``Trajectory`` whose ``final`` is the
student state type, so ``ntajax.run(config, key, init=loaded.final, start_step=config.n_steps)``
continues the run. Every store carries the provenance record
(:func:`ntajax._provenance.provenance`) as flat attributes and as the JSON string ``provenance``.
"""

import dataclasses
import importlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from .._provenance import provenance as _provenance
from .._simulation import Simulation
from .._curricula.clock import block_starts
from .._summary import Summary
from .._trajectory import Trajectory

__all__ = ["load_trajectory", "provenance", "provenance_attrs", "to_dataset", "write_zarr"]


def provenance(*, seed: int | None = None) -> dict:
    """The attributes every store carries: :func:`ntajax._provenance.provenance` plus the flat
    ``jax_version`` key that stores have always had."""
    return _provenance(seed=seed) | {"jax_version": jax.__version__}


def provenance_attrs(*, seed: int | None = None) -> dict:
    """:func:`provenance` as store attributes: its flat keys plus the whole record as the JSON
    string ``provenance`` (parse it with ``json.loads``)."""
    record = provenance(seed=seed)
    return record | {"provenance": json.dumps(record, sort_keys=True, default=str)}


def to_dataset(results: Mapping[str, tuple[Simulation, Trajectory, Summary]], *, seed: int | None = None) -> xr.Dataset:
    """Stack the runs of several variants into one Dataset along ``variant``.

    Args:
        results: ``{variant: (config, trajectory, summary[, teachers])}``; trajectories and
            summaries carry a leading seed axis. All variants must share the recording grid.
            With teachers, they are stored once per variant (``teachers``: variant, target,
            row, column; with a ``seed`` axis when drawn per seed). Recorded weights
            (``recording=Recording(weights=True)``) are stored as ``weights_<field>`` (variant, seed,
            t_weights, ...) on their own time grid ``t_weights``. The final states are stored as
            ``final_<field>`` (variant, seed, ...), their type as the attribute ``final_type``.
        seed: the root seed of the runs (``jax.random.key(seed)``), recorded in the provenance.

    The ``config`` attribute is ``{variant: simulation.to_dict()}`` as JSON (nested by object,
    :func:`ntajax._simulation.describe`).
    """
    names = list(results)
    configs = [results[n][0] for n in names]
    grids = {(c.grid.n_save, c.grid.t_total, c.n_seeds, c.block_count) for c in configs}
    if len(grids) != 1:
        raise ValueError(f"variants {names} differ in recording grid, seeds or block count: {grids}; store them separately.")

    def stack(get):
        return np.stack([np.asarray(get(results[n][1], results[n][2])) for n in names])

    first = configs[0]
    t = np.asarray(results[names[0]][1].t[0])
    starts = np.asarray(block_starts(first.curriculum.block_length, first.block_count, first.grid.dt), np.float64)
    if first.curriculum.is_state_dependent:  # blocks follow the learner: no clock start; see block_index
        starts = np.full(first.block_count, np.nan)
    data = {
        "loss": (("variant", "seed", "t"), stack(lambda tr, s: tr.loss)),
        "closing_loss": (("variant", "seed", "t"), stack(lambda tr, s: tr.closing_loss)),
        "minibatch_loss": (("variant", "seed", "t"), stack(lambda tr, s: tr.minibatch_loss)),
        "gates": (("variant", "seed", "t", "gate"), stack(lambda tr, s: tr.gates)),
        "path_norms": (("variant", "seed", "t", "path"), stack(lambda tr, s: tr.path_norms)),
        "similarity": (("variant", "seed", "t", "teacher", "path"), stack(lambda tr, s: tr.similarity)),
        "context_alignment": (("variant", "seed", "t"), stack(lambda tr, s: tr.context_alignment)),
        "context": (("variant", "seed", "t"), stack(lambda tr, s: tr.task)),
        "block_index": (("variant", "seed", "t"), stack(lambda tr, s: tr.block)),
        "status": (("variant", "seed"), stack(lambda tr, s: tr.status)),
        "alignment": (("variant", "seed", "t"), stack(lambda tr, s: s.total_alignment)),
        "assignment": (("variant", "seed", "teacher"), stack(lambda tr, s: s.assignment)),
        "adaptation_time": (("variant", "seed", "block"), stack(lambda tr, s: s.adaptation_time)),
        "censored": (("variant", "seed", "block"), stack(lambda tr, s: s.censored)),
        "final_alignment": (("variant", "seed"), stack(lambda tr, s: s.final_alignment)),
        "mean_alignment": (("variant", "seed"), stack(lambda tr, s: s.mean_alignment)),
        "final_loss": (("variant", "seed"), stack(lambda tr, s: s.final_loss)),
        "gate_separation": (("variant", "seed"), stack(lambda tr, s: s.gate_separation)),
        "gate_contrast": (("variant", "seed"), stack(lambda tr, s: s.gate_contrast)),
        "specialisation": (("variant", "seed"), stack(lambda tr, s: s.specialisation)),
        "regime": (("variant", "seed"), stack(lambda tr, s: s.regime)),
    }
    data.update(_weights_and_teachers(names, results))
    finals, final_types, final_fields = _final_states(names, results)
    data.update(finals)
    ds = xr.Dataset(
        data,
        coords={
            "variant": names,
            "seed": np.arange(first.n_seeds),
            "t": t,
            "block": np.arange(first.block_count),
            "block_start": ("block", starts),
            "teacher": np.arange(first.n_teachers),
            "path": np.arange(results[names[0]][1].similarity.shape[-1]),
        },
    )
    ds["alignment"].attrs["description"] = "total alignment A_tot on the assigned paths (MODEL §7.5)"
    ds["adaptation_time"].attrs["description"] = "time to expected loss < 0.1 after each block start (MODEL §7.6)"
    ds["regime"].attrs["description"] = "ntajax's own classifier: 1 flexible, 0 forgetful, -1 diverged, -2 undefined (no gate criterion) (not the paper's)"
    ds.attrs.update(provenance_attrs(seed=seed))
    ds.attrs["config"] = json.dumps({n: c.to_dict() for n, c in zip(names, configs)}, sort_keys=True)
    ds.attrs["final_type"] = json.dumps(final_types, sort_keys=True)
    ds.attrs["final_fields"] = json.dumps(final_fields, sort_keys=True)
    return ds


def _type_name(obj) -> str:
    return f"{type(obj).__module__}:{type(obj).__qualname__}"


def _state_fields(state) -> list[str]:
    return [f.name for f in dataclasses.fields(state) if eqx.is_array(getattr(state, f.name))]


def _final_states(names, results) -> tuple[dict, dict, dict]:
    """The final student state of every variant and seed, one variable per state field
    (``final_<field>``: variant, seed, ...; per variant ``final_<variant>_<field>`` where the
    variants' states differ in type or shape), each variant's state type, and which variable
    holds which field of each variant."""
    finals = [results[n][1].final for n in names]
    types = {n: _type_name(f) for n, f in zip(names, finals)}
    shapes = [[(k, np.shape(getattr(f, k))) for k in _state_fields(f)] for f in finals]
    out, where = {}, {}
    if len(set(types.values())) == 1 and all(s == shapes[0] for s in shapes):
        for field in _state_fields(finals[0]):
            values = np.stack([np.asarray(getattr(f, field)) for f in finals])
            extra = tuple(f"final_{field}_axis{i}" for i in range(values.ndim - 2))
            out[f"final_{field}"] = (("variant", "seed") + extra, values)
        return out, types, {n: {k: f"final_{k}" for k in _state_fields(finals[0])} for n in names}
    for name, final in zip(names, finals):
        where[name] = {}
        for field in _state_fields(final):
            values = np.asarray(getattr(final, field))
            extra = tuple(f"final_{name}_{field}_axis{i}" for i in range(values.ndim - 1))
            out[f"final_{name}_{field}"] = (("seed",) + extra, values)
            where[name][field] = f"final_{name}_{field}"
    return out, types, where


def _rebuild_state(type_name: str, arrays: dict, simulation: Simulation | None):
    """A student state of the stored type with the stored ``arrays`` as its fields: the type of
    ``simulation.state_shape()`` where a simulation is given, else the stored class."""
    if simulation is not None:
        template = simulation.state_shape()
        if _type_name(template) != type_name:
            raise TypeError(f"the store holds {type_name} states, but the given simulation's student makes "
                            f"{_type_name(template)} states; pass the simulation the store was made with.")
        names = [f.name for f in dataclasses.fields(template) if isinstance(getattr(template, f.name), jax.ShapeDtypeStruct)]
        missing = sorted(set(names) - set(arrays))
        if missing:
            raise KeyError(f"the store holds no arrays for the state fields {missing}.")
        return eqx.tree_at(lambda s: [getattr(s, n) for n in names], template, [arrays[n] for n in names])
    module, _, qualname = type_name.partition(":")
    cls = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    return cls(**arrays)


def load_trajectory(source, variant: str, *, simulation: Simulation | None = None) -> Trajectory:
    """One variant of a run store (:func:`to_dataset`, e.g. ``ntajax run``'s ``results.zarr``)
    as a :class:`~ntajax.Trajectory` with a leading seed axis, exactly as stored.

    Its ``final`` is the student state type (rebuilt from the stored class, or from
    ``simulation.state_shape()`` when ``simulation`` is given), so
    ``ntajax.run(config, key, init=loaded.final, start_step=config.n_steps)`` continues the
    run exactly (same key, same teachers).

    Args:
        source: a store path or an opened Dataset.
        variant: the variant to load (one of ``ds["variant"]``).
        simulation: optional: the variant's simulation, whose student model rebuilds the state.

    Raises:
        KeyError: the store has no such variant, or holds no final state (an older store).
    """
    ds = source if isinstance(source, xr.Dataset) else xr.open_zarr(os.fspath(source))
    variants = [str(v) for v in ds["variant"].values]
    if str(variant) not in variants:
        raise KeyError(f"variant {variant!r} is not in the store; it holds {variants}.")
    if "final_type" not in ds.attrs:
        raise KeyError("this store holds no final states (written before ntajax stored them); rerun it to continue from it.")
    v = ds.sel(variant=str(variant))
    type_name = json.loads(ds.attrs["final_type"])[str(variant)]
    where = json.loads(ds.attrs["final_fields"])[str(variant)]
    fields = {field: jnp.asarray((v[name] if "variant" in ds[name].dims else ds[name]).values) for field, name in where.items()}
    final = _rebuild_state(type_name, fields, simulation)
    weights = None
    weight_names = [k for k in ds.data_vars if k.startswith("weights_")]
    if weight_names:
        weights = _rebuild_state(type_name, {k[len("weights_"):]: jnp.asarray(v[k].values) for k in weight_names}, simulation)
    n_seeds = ds.sizes["seed"]
    t = np.broadcast_to(ds["t"].values, (n_seeds, ds.sizes["t"]))

    def get(name):
        return jnp.asarray(v[name].values)

    return Trajectory(
        t=jnp.asarray(t), block=get("block_index"), task=get("context"), loss=get("loss"),
        closing_loss=get("closing_loss") if "closing_loss" in ds else jnp.full_like(get("loss"), jnp.nan),
        minibatch_loss=get("minibatch_loss"), gates=get("gates"), path_norms=get("path_norms"),
        similarity=get("similarity"), context_alignment=get("context_alignment"), weights=weights, final=final,
        status=get("status"),
    )


def _weights_and_teachers(names, results) -> dict:
    """Recorded weights (one variable per student field) and the teachers, if present."""
    out = {}
    first = results[names[0]]
    if first[1].weights is not None:
        for field in dataclasses.fields(first[1].weights):
            values = np.stack([np.asarray(getattr(results[n][1].weights, field.name)) for n in names])
            extra = tuple(f"{field.name}_axis{i}" for i in range(values.ndim - 3))
            out[f"weights_{field.name}"] = (("variant", "seed", "t_weights") + extra, values)
        out["t_weights"] = ("t_weights", first[0].weight_save_times)
    if len(first) > 3 and first[3] is not None:
        teachers = np.stack([np.asarray(results[n][3]) for n in names])
        dims = ("variant", "target", "row", "column") if teachers.ndim == 4 else ("variant", "seed", "target", "row", "column")
        out["teachers"] = (dims, teachers)
    return out


def write_zarr(ds: xr.Dataset, path: str | os.PathLike) -> None:
    """Write atomically: to a temporary directory beside ``path``, then rename over it."""
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-", suffix=".zarr", dir=parent)
    try:
        with warnings.catch_warnings():
            # zarr v3 flags the fixed-width string coordinate ('variant') as not yet in its spec.
            warnings.filterwarnings("ignore", message=".*does not have a Zarr V3 specification.*")
            warnings.filterwarnings("ignore", message=".*Consolidated metadata is currently not part.*")
            ds.to_zarr(tmp, mode="w", consolidated=True)
        if os.path.exists(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
