"""Sweep results on disk: a zarr store written chunk by chunk, resumable.

Layout: a flat ``point`` dimension (C order over the sweep's grid), ``seed`` and ``block``;
each sweep chunk owns whole zarr chunks along ``point``, so chunks are written
independently. A chunk's ``chunk_done`` flag is written only after all of its variables,
so a run killed mid-write recomputes that chunk on resume. The store records the sweep's
fingerprint and refuses to mix results of a different sweep.
:func:`open_sweep` returns the results on the sweep's N-d grid.

Coordinates: ``axis_<name>`` (point) holds each axis's value per point (on the grid of
:func:`open_sweep`, a coordinate ``<name>`` along the axis's dimension); every traced leaf of
the simulation has a per-point coordinate named by :func:`field_names` (``field_tau_c``, or
``field_<full path>`` where the last name is not unique) with its full path (e.g.
``student.tau_c``) as the ``path`` attribute. The ``sweep`` attribute is
:meth:`Sweep.describe` as JSON, with the base simulation as
:func:`ntajax._simulation.describe` writes it.
"""

import json
import os
import warnings

import jax
import numpy as np
import xarray as xr

from .dataset import provenance
from .._sweep.sweep import SUMMARY_FIELDS, Sweep

__all__ = ["SUMMARY_FIELDS", "SweepStore", "field_names", "open_sweep", "stored_fields"]
_INT_FIELDS = ("regime", "status", "assignment")
_EXTRA_DIMS = {"adaptation_time": ("block",), "assignment": ("teacher",), "trace_gates": ("trace_t", "gate")}


def _dims_of(name: str) -> tuple[str, ...]:
    extra = _EXTRA_DIMS.get(name, ("trace_t",) if name.startswith("trace_") else ())
    return ("point", "seed") + extra


def stored_fields(sweep: Sweep) -> tuple[str, ...]:
    """The per-run variables of a sweep's store: summaries, then requested traces."""
    return SUMMARY_FIELDS + tuple(f"trace_{name}" for name in sweep.traces)


def _quiet():
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.filterwarnings("ignore", message=".*does not have a Zarr V3 specification.*")
    warnings.filterwarnings("ignore", message=".*Consolidated metadata is currently not part.*")
    return ctx


def field_names(paths) -> dict[str, str]:
    """Coordinate name of each traced leaf: ``field_<name>`` with the leaf's last name where that
    is unique (``field_tau_c``, ``field_lambda_ewc``), else ``field_<full path>``."""
    last = [p.rsplit(".", 1)[-1] for p in paths]
    return {p: f"field_{n}" if last.count(n) == 1 else f"field_{p}" for p, n in zip(paths, last)}


def _n_gates(config) -> int:
    """Number of gate entries of the simulation's student (the length of its gate vector)."""
    student = jax.eval_shape(
        lambda k: config.student.initialise(k, d_in=config.d_in, d_out=config.d_out, n_teachers=config.n_teachers),
        jax.random.key(0),
    )
    return int(jax.eval_shape(lambda s: s.gate_vector(), student).shape[0])


def _template(sweep: Sweep, chunk_size: int) -> xr.Dataset:
    config = sweep.config
    n_chunks = -(-sweep.n_points // chunk_size)
    trace_t = config.save_times[:: sweep.trace_every]
    sizes = {"point": sweep.n_points, "seed": sweep.n_seeds, "block": config.block_count, "teacher": config.n_teachers,
             "trace_t": len(trace_t), "gate": _n_gates(config)}
    data = {}
    for name in stored_fields(sweep):
        dims = _dims_of(name)
        shape = tuple(sizes[d] for d in dims)
        data[name] = (dims, np.full(shape, -2, np.int32) if name in _INT_FIELDS else np.full(shape, np.nan, np.float32))
    data["chunk_done"] = (("chunk",), np.zeros(n_chunks, bool))
    coords = {"point": np.arange(sweep.n_points), "seed": np.arange(sweep.n_seeds), "block": np.arange(config.block_count),
              "chunk": np.arange(n_chunks), "teacher": np.arange(config.n_teachers)}
    if sweep.traces:
        coords["trace_t"] = trace_t
    points = sweep.point_fields()
    values = sweep.axis_values()
    for axis in sweep.axes:
        coords[f"axis_{axis.name}"] = ("point", np.asarray([v[axis.name] for v in values], np.float64))
    for path, name in field_names(config.traced_paths()).items():
        coords[name] = ("point", np.asarray([p[path] for p in points], np.float64), {"path": path})
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(provenance(seed=sweep.seed))
    ds.attrs["sweep"] = json.dumps(sweep.describe(), sort_keys=True)
    ds.attrs["fingerprint"] = sweep.fingerprint()
    ds.attrs["dims"] = json.dumps(list(sweep.dims))
    ds.attrs["shape"] = json.dumps(list(sweep.shape))
    ds.attrs["chunk_size"] = chunk_size
    ds["regime"].attrs["description"] = "ntajax's own classifier: 1 flexible, 0 forgetful, -1 diverged, -2 undefined (no gate criterion) (not the paper's)"
    ds["status"].attrs["description"] = "0 ok, 1 diverged, 2 solver failed, -2 not yet computed"
    return ds


class SweepStore:
    """A zarr store for one sweep. Create or reopen with :meth:`open`."""

    def __init__(self, path: str, sweep: Sweep, chunk_size: int):
        self.path = os.fspath(path)
        self.sweep = sweep
        self.chunk_size = chunk_size

    @classmethod
    def open(cls, path, sweep: Sweep, chunk_size: int) -> "SweepStore":
        """Create the store, or reopen it for resuming if it holds the same sweep.

        Raises:
            ValueError: the store exists but was made by a different sweep spec (or chunk size).
        """
        path = os.fspath(path)
        if os.path.exists(path):
            existing = xr.open_zarr(path)
            if existing.attrs.get("fingerprint") != sweep.fingerprint():
                raise ValueError(
                    f"{path} holds results of a different sweep (fingerprint {existing.attrs.get('fingerprint', '?')[:12]} "
                    f"≠ {sweep.fingerprint()[:12]}); choose another --out or delete it. Results are never mixed."
                )
            if int(existing.attrs["chunk_size"]) != chunk_size:
                chunk_size = int(existing.attrs["chunk_size"])  # resume with the store's chunking
            return cls(path, sweep, chunk_size)
        ds = _template(sweep, chunk_size)
        encoding = {name: {"chunks": (chunk_size,) + ds[name].shape[1:]} for name in stored_fields(sweep)}
        ctx = _quiet()
        try:
            ds.to_zarr(path, mode="w", encoding=encoding, consolidated=True)
        finally:
            ctx.__exit__(None, None, None)
        return cls(path, sweep, chunk_size)

    @property
    def n_chunks(self) -> int:
        return -(-self.sweep.n_points // self.chunk_size)

    def chunk_slice(self, index: int) -> slice:
        return slice(index * self.chunk_size, min((index + 1) * self.chunk_size, self.sweep.n_points))

    def done(self) -> np.ndarray:
        """(n_chunks,) bool: which chunks are already stored."""
        return xr.open_zarr(self.path)["chunk_done"].values.copy()

    def write_chunk(self, index: int, summary: dict[str, np.ndarray]) -> None:
        """Store one chunk's summaries ((points, seeds[, blocks]) arrays), then mark it done."""
        region = self.chunk_slice(index)
        n = region.stop - region.start
        data = {}
        for name in stored_fields(self.sweep):
            value = np.asarray(summary[name])[:n]
            data[name] = (_dims_of(name), value.astype(np.int32 if name in _INT_FIELDS else np.float32))
        chunk = xr.Dataset(data)
        ctx = _quiet()
        try:
            chunk.to_zarr(self.path, region={d: (region if d == "point" else slice(None)) for d in chunk.dims})
            flag = xr.Dataset({"chunk_done": (("chunk",), np.ones(1, bool))})
            flag.to_zarr(self.path, region={"chunk": slice(index, index + 1)})
        finally:
            ctx.__exit__(None, None, None)


def open_sweep(path) -> xr.Dataset:
    """Open a sweep store as a Dataset on the sweep's grid: one dimension per axis, then ``seed``."""
    flat = xr.open_zarr(path).load()
    dims = json.loads(flat.attrs["dims"])
    shape = json.loads(flat.attrs["shape"])
    sweep = json.loads(flat.attrs["sweep"])
    data = {}
    for name, var in flat.data_vars.items():
        if name == "chunk_done":
            continue
        if "point" not in var.dims:
            data[name] = (var.dims, var.values, var.attrs)  # e.g. the phase boundary
            continue
        rest = var.dims[1:]
        data[name] = (tuple(dims) + rest, var.values.reshape(tuple(shape) + var.shape[1:]), var.attrs)
    coords = {"seed": flat["seed"].values, "block": flat["block"].values, "teacher": flat["teacher"].values}
    if "trace_t" in flat.coords:
        coords["trace_t"] = flat["trace_t"].values
    if "boundary_row" in flat.coords:
        coords["boundary_row"] = flat["boundary_row"].values
    for axis in sweep["axes"]:
        name = axis["name"]
        dim = next(d for d in dims if name in d.split("+"))
        values = flat[f"axis_{name}"].values.reshape(shape)
        index = [0] * len(dims)
        index[dims.index(dim)] = slice(None)
        coords[name] = (dim, values[tuple(index)]) if "+" in dim else values[tuple(index)]
    for name, coord in flat.coords.items():
        if name.startswith("field_"):
            coords[name] = (tuple(dims), coord.values.reshape(shape), coord.attrs)
    ds = xr.Dataset({k: (d, v, a) for k, (d, v, a) in data.items()}, coords=coords)
    ds.attrs.update(flat.attrs)
    ds.attrs["complete"] = bool(flat["chunk_done"].values.all())
    return ds
