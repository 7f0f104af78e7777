"""Sweep results on disk: a zarr store written chunk by chunk, resumable.

Layout: a flat ``point`` dimension (C order over the sweep's grid), ``seed`` and ``block``;
each sweep chunk owns whole zarr chunks along ``point``, so chunks are written
independently. A chunk's ``chunk_done`` flag is written only after all of its variables,
so a run killed mid-write recomputes that chunk on resume. The store records the sweep's
fingerprint and refuses to mix results of a different sweep.
:func:`open_sweep` returns the results on the sweep's N-d grid.
"""

import json
import os
import warnings

import numpy as np
import xarray as xr

from .._config import TRACED_FIELDS
from .dataset import provenance
from .._sweep.sweep import RunSummary, Sweep

SUMMARY_FIELDS = tuple(RunSummary.__dataclass_fields__)  # the per-run summary variables
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


def _n_gates(config) -> int:
    """Number of gate entries of the config's student (the length of its gate vector)."""
    import jax

    student = jax.eval_shape(lambda k: config.student_class.initialise(config, key=k), jax.random.key(0))
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
    for field in TRACED_FIELDS:
        coords[field] = ("point", np.asarray([p.get(field, float(getattr(sweep.base, field))) for p in points], np.float64))
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(provenance())
    ds.attrs["sweep"] = json.dumps(sweep.describe(), sort_keys=True)
    ds.attrs["fingerprint"] = sweep.fingerprint()
    ds.attrs["dims"] = json.dumps(list(sweep.dims))
    ds.attrs["shape"] = json.dumps(list(sweep.shape))
    ds.attrs["chunk_size"] = chunk_size
    ds["regime"].attrs["description"] = "ntajax's own classifier: 1 flexible, 0 forgetful, -1 diverged (not the paper's)"
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
    axis_names = {axis["name"] for axis in sweep["axes"]}
    for field in TRACED_FIELDS:
        if field not in axis_names:  # an axis already has its own 1-D coordinate of that name
            coords[field] = (tuple(dims), flat[field].values.reshape(shape))
    ds = xr.Dataset({k: (d, v, a) for k, (d, v, a) in data.items()}, coords=coords)
    ds.attrs.update(flat.attrs)
    ds.attrs["complete"] = bool(flat["chunk_done"].values.all())
    return ds
