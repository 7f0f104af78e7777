"""Labelled results: trajectories and summaries as an xarray Dataset, written to zarr.

Dimensions: ``variant`` (e.g. flexible / forgetful), ``seed``, ``t``, ``block``,
``teacher``, ``path``, ``gate``. Raw recorded arrays are stored as recorded (never permuted,
MODEL §7.4); the assignment π is stored next to them.
"""

import dataclasses
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping

import jax
import numpy as np
import xarray as xr

from .._provenance import provenance as _provenance
from .._simulation import Simulation
from .._summary import Summary
from .._trajectory import Trajectory

__all__ = ["provenance", "to_dataset", "write_zarr"]


def provenance(*, seed: int | None = None) -> dict:
    """The attributes every store carries: :func:`ntajax._provenance.provenance` plus the flat
    ``jax_version`` key that stores have always had."""
    return _provenance(seed=seed) | {"jax_version": jax.__version__}


def to_dataset(results: Mapping[str, tuple[Simulation, Trajectory, Summary]]) -> xr.Dataset:
    """Stack the runs of several variants into one Dataset along ``variant``.

    Args:
        results: ``{variant: (config, trajectory, summary[, teachers])}``; trajectories and
            summaries carry a leading seed axis. All variants must share the recording grid.
            With teachers, they are stored once per variant (``teachers``: variant, target,
            row, column; with a ``seed`` axis when drawn per seed). Recorded weights
            (``recording=Recording(weights=True)``) are stored as ``weights_<field>`` (variant, seed,
            t_weights, ...) on their own time grid ``t_weights``.

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
    starts = np.arange(first.block_count) * float(first.curriculum.block_length)
    data = {
        "loss": (("variant", "seed", "t"), stack(lambda tr, s: tr.loss)),
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
        "regime": (("variant", "seed"), stack(lambda tr, s: s.regime)),
    }
    data.update(_weights_and_teachers(names, results))
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
    ds["regime"].attrs["description"] = "ntajax's own classifier: 1 flexible, 0 forgetful, -2 undefined (no gate criterion) (not the paper's)"
    ds.attrs.update(provenance())
    ds.attrs["config"] = json.dumps({n: c.to_dict() for n, c in zip(names, configs)}, sort_keys=True)
    return ds


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
