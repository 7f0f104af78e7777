"""Sweep results on disk: a zarr store on the sweep's N-d grid, written chunk by chunk, resumable.

Layout: every per-run variable has one dimension per sweep axis (:attr:`Sweep.dims`: the
unzipped axes, then one per zipped group, e.g. ``tau_c+tau_w``), then ``seed`` and its own
extra dimensions (``block``, ``teacher``, ``trace_t``, ``gate``). The store opens with plain
``xarray.open_zarr(path)``, without a warning (consolidated zarr v3 metadata).

Chunk by chunk: the sweep's points are cut into chunks of consecutive points in C order over
the grid (:func:`ntajax._sweep.sweep.compute_chunk`). The zarr chunks are blocks of
consecutive points too (``block_points``: the largest such block that divides the sweep
chunk size and is a rectangle of the grid), so each sweep chunk owns whole zarr chunks and is
written, as soon as it is done, as a few rectangular region writes. Its flag in
``progress/chunk_done`` (a subgroup, out of the labelled dataset) is set only after all of its
variables, so a run killed mid-write recomputes that chunk on resume. The root attribute
``complete`` turns true when the last chunk is stored.

Trust: the store records the sweep's fingerprint and the digest of the ntajax source that
made it (:func:`ntajax._provenance.source_digest`), and refuses to resume with a different
sweep or different code, so results are never mixed. Every store carries the provenance
record (:func:`ntajax._provenance.provenance`) as flat attributes and, as one JSON string,
the ``provenance`` attribute.

Structural sweeps (static axes, :class:`~ntajax._sweep.sweep.StaticAxis`): the structural
dimensions come first (e.g. ``(d_in, n_paths, tau_c, seed)``), a chunk never spans two
structures (:meth:`Sweep.chunk`), and the zarr chunks are blocks of one structure's points. A
variable's own dimension whose size depends on the structure is stored at the largest size with
the fill value beyond each structure's own size, and the coordinate ``size_<dim>`` on the
structural dimensions holds each structure's real size (:mod:`ntajax._sweep.structure`).
Static axes' coordinates keep their integer values (``d_in``: int64).

Coordinates: each axis's values along its dimension (``tau_ratio``; for a zipped group every
member along the group's dimension); every traced leaf of the simulation has a coordinate on
the whole grid named by :func:`field_names` (``field_tau_c``, or ``field_<full path>`` where the
last name is not unique) with its full path (e.g. ``student.tau_c``) as the ``path``
attribute. The ``sweep`` attribute is :meth:`Sweep.describe` as JSON, with the base simulation
as :func:`ntajax._simulation.describe` writes it.
"""

import hashlib
import json
import math
import os
import warnings

import numpy as np
import xarray as xr
import zarr

from .. import _provenance
from .dataset import provenance_attrs
from .._sweep.reducers import SUMMARY_FIELDS, Variable, fill_value
from .._sweep.sweep import Sweep

__all__ = ["SUMMARY_FIELDS", "SweepStore", "block_points", "code_fingerprint", "field_names", "grid_dataset",
           "open_sweep", "rectangles", "stored_fields", "sweep_coords"]
_PROGRESS = "progress/chunk_done"


def stored_variables(sweep: Sweep) -> dict[str, Variable]:
    """The per-run variables of a sweep's results, as its reducer lays them out."""
    return sweep.layout.variables


def stored_fields(sweep: Sweep) -> tuple[str, ...]:
    """The names of the per-run variables of a sweep's results (by default the summaries, then
    the requested traces)."""
    return tuple(stored_variables(sweep))


class _quiet(warnings.catch_warnings):
    """Writing consolidated zarr v3 metadata (what lets plain ``xr.open_zarr`` open a store
    without a warning) and fixed-width strings makes zarr warn that they are not in the v3 spec."""

    def __enter__(self):
        out = super().__enter__()
        warnings.filterwarnings("ignore", message=".*does not have a Zarr V3 specification.*")
        warnings.filterwarnings("ignore", message=".*Consolidated metadata is currently not part.*")
        return out


def field_names(paths) -> dict[str, str]:
    """Coordinate name of each traced leaf: ``field_<name>`` with the leaf's last name where that
    is unique (``field_tau_c``, ``field_lambda_ewc``), else ``field_<full path>``."""
    last = [p.rsplit(".", 1)[-1] for p in paths]
    return {p: f"field_{n}" if last.count(n) == 1 else f"field_{p}" for p, n in zip(paths, last)}


def _aligned_blocks(shape: tuple[int, ...]) -> list[tuple[int, tuple[int, ...]]]:
    """Every run of consecutive points (C order) that tiles the grid as rectangles: (points,
    block shape) for m consecutive indices of axis j (m dividing its size) times all trailing axes."""
    out = [(1, (1,) * len(shape))]
    for j in range(len(shape) - 1, -1, -1):
        trailing = math.prod(shape[j + 1:])
        for m in range(1, shape[j] + 1):
            if shape[j] % m == 0:
                out.append((m * trailing, (1,) * j + (m,) + tuple(shape[j + 1:])))
    return out


def block_points(shape: tuple[int, ...], chunk_size: int, n_structure_dims: int = 0) -> tuple[int, tuple[int, ...]]:
    """The zarr chunk of a sweep store: (points, shape on the grid) of the largest rectangular
    run of consecutive points whose size divides ``chunk_size`` (the whole grid when one chunk
    covers it), so that every sweep chunk is a union of whole zarr chunks. With
    ``n_structure_dims`` leading structural dimensions, the run lies within one structure (the
    trailing dimensions)."""
    if n_structure_dims:
        points, block = block_points(tuple(shape[n_structure_dims:]), chunk_size)
        return points, (1,) * n_structure_dims + block
    n_points = math.prod(shape)
    if chunk_size >= n_points:
        return n_points, tuple(shape)
    return max((b for b in _aligned_blocks(tuple(shape)) if chunk_size % b[0] == 0), key=lambda b: b[0])


def rectangles(start: int, stop: int, shape: tuple[int, ...]) -> list[tuple[int, int, tuple[slice, ...]]]:
    """The consecutive points ``start:stop`` (C order over ``shape``) as rectangles of the grid:
    (first point, end point, index) with the points of each rectangle consecutive."""
    if start >= stop:
        return []
    if not shape:
        return [(start, stop, ())]
    inner = math.prod(shape[1:])
    full = tuple(slice(None) for _ in shape[1:])
    i0, r0 = divmod(start, inner)
    i1, r1 = divmod(stop, inner)

    def within(row, a, b):  # points a:b of one row
        return [(row * inner + s, row * inner + e, (slice(row, row + 1),) + index)
                for s, e, index in rectangles(a, b, shape[1:])]

    if i0 == i1:
        return within(i0, r0, r1)
    out = []
    if r0:
        out += within(i0, r0, inner)
        i0 += 1
    if i1 > i0:
        out.append((i0 * inner, i1 * inner, (slice(i0, i1),) + full))
    if r1:
        out += within(i1, 0, r1)
    return out


def sweep_coords(sweep: Sweep) -> dict:
    """Coordinates of a sweep's grid: each axis's values along its dimension, every traced
    leaf's value on the whole grid (``field_<name>``, with its full path as attribute ``path``),
    and, in a structural sweep, each structure's size of every own dimension whose size varies
    (``size_<dim>`` on the structural dimensions)."""
    dims, shape = list(sweep.dims), tuple(sweep.shape)
    values = sweep.axis_values()
    static = {a.name for a in sweep.static_axes}
    coords = {}
    for axis in sweep.axes:
        dim = next(d for d in dims if axis.name in d.split("+"))
        column = [v[axis.name] for v in values]
        dtype = np.int64 if axis.name in static and all(isinstance(v, int) for v in column) else np.float64
        grid = np.asarray(column, dtype).reshape(shape)
        index = [0] * len(dims)
        index[dims.index(dim)] = slice(None)
        coords[axis.name] = (dim, grid[tuple(index)])
    points = sweep.point_fields()
    for path, name in field_names(sweep.structures[0].config.traced_paths()).items():
        coords[name] = (tuple(dims), np.asarray([p[path] for p in points], np.float64).reshape(shape), {"path": path})
    for dim, sizes in sweep.layout.structure_sizes.items():
        coords[f"size_{dim}"] = (sweep.structure_dims, np.asarray(sizes, np.int64).reshape(sweep.structure_shape),
                                 {"description": f"entries of {dim!r} this structure fills; the rest hold the fill value "
                                                 "(NaN, -2 or False)"})
    return coords


def code_fingerprint(sweep: Sweep) -> str:
    """What a store must match to be resumed: the sweep's fingerprint and the ntajax source digest."""
    return hashlib.sha256((sweep.fingerprint() + _provenance.source_digest()).encode()).hexdigest()


def grid_dataset(sweep: Sweep) -> xr.Dataset:
    """The sweep's results as a labelled dataset, every entry not yet computed (NaN, −2 or
    False): one dimension per axis, then ``seed``, then each variable's own dimensions;
    coordinates from :func:`sweep_coords`; provenance, the sweep's description and fingerprints
    as attributes. The one layout of a store and of an in-memory sweep result."""
    layout = sweep.layout
    dims, shape = tuple(sweep.dims), tuple(sweep.shape)
    sizes = {"seed": sweep.n_seeds} | layout.sizes
    data = {}
    for name, variable in stored_variables(sweep).items():
        extra = ("seed",) + tuple(variable.dims)
        full = shape + tuple(sizes[d] for d in extra)
        data[name] = (dims + extra, np.full(full, fill_value(variable.dtype), variable.dtype),
                      {"description": variable.description} if variable.description else {})
    used = {d for name, (d_, _, _) in data.items() for d in d_}
    coords = {"seed": np.arange(sweep.n_seeds)}
    coords |= {name: value for name, value in layout.coords.items() if name in used}
    coords |= sweep_coords(sweep)
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(provenance_attrs(seed=sweep.seed))
    ds.attrs["sweep"] = json.dumps(sweep.describe(), sort_keys=True)
    ds.attrs["sweep_fingerprint"] = sweep.fingerprint()
    ds.attrs["code_digest"] = _provenance.source_digest()
    ds.attrs["fingerprint"] = code_fingerprint(sweep)
    ds.attrs["dims"] = json.dumps(list(dims))
    ds.attrs["shape"] = json.dumps(list(shape))
    ds.attrs["complete"] = False
    return ds


def fill_grid(ds: xr.Dataset, sweep: Sweep, flat: dict[str, np.ndarray]) -> xr.Dataset:
    """Put every point's results (``{name: (points, seed, ...)}`` in C order over the grid) into
    the dataset of :func:`grid_dataset`, marked complete."""
    shape = tuple(sweep.shape)
    for name, variable in stored_variables(sweep).items():
        value = np.asarray(flat[name]).astype(variable.dtype)
        ds[name].values[...] = value.reshape(shape + value.shape[1:])
    ds.attrs["complete"] = True
    return ds


def _refuse(path: str, existing: dict, sweep: Sweep) -> None:
    """Raise if the store at ``path`` (attributes ``existing``) was made by other code or another sweep."""
    stored_code = existing.get("code_digest", existing.get("ntajax_source_digest"))
    code = _provenance.source_digest()
    if stored_code != code:
        raise ValueError(
            f"{path} was made by different ntajax code (source digest {str(stored_code)[:12]} ≠ {code[:12]} of the "
            f"code running now): the code differs, so its results could differ from what this code computes. "
            f"Write to a new directory (another --out) or delete the store to rerun. Results are never mixed."
        )
    if existing.get("fingerprint") != code_fingerprint(sweep):
        raise ValueError(
            f"{path} holds results of a different sweep (fingerprint {str(existing.get('sweep_fingerprint', '?'))[:12]} "
            f"≠ {sweep.fingerprint()[:12]}); choose another --out or delete it. Results are never mixed."
        )


class SweepStore:
    """A zarr store for one sweep. Create or reopen with :meth:`open`."""

    def __init__(self, path: str, sweep: Sweep, chunk_size: int):
        self.path = os.fspath(path)
        self.sweep = sweep
        self.chunk_size = chunk_size

    @classmethod
    def open(cls, path, sweep: Sweep, chunk_size: int) -> "SweepStore":
        """Create the store, or reopen it for resuming if it holds the same sweep made by the
        same code (with the store's own chunk size).

        Raises:
            ValueError: the store exists but was made by a different sweep spec or by different
                ntajax code (the message says which, and that a new directory or deleting the
                store is the fix).
        """
        path = os.fspath(path)
        if os.path.exists(path):
            existing = dict(zarr.open_group(path, mode="r").attrs)
            _refuse(path, existing, sweep)
            store = cls(path, sweep, int(existing["chunk_size"]))
            if not existing.get("complete") and store.done().all():
                store._mark_complete()  # killed between the last chunk and its mark
            return store
        ds = grid_dataset(sweep)
        ds.attrs["chunk_size"] = chunk_size
        _, block_shape = block_points(tuple(sweep.shape), chunk_size, len(sweep.structure_dims))
        encoding = {name: {"chunks": block_shape + ds[name].shape[len(block_shape):]} for name in stored_fields(sweep)}
        n_chunks = sweep.n_chunks(chunk_size)
        with _quiet():
            ds.to_zarr(path, mode="w", encoding=encoding, consolidated=False)
            group = zarr.open_group(path, mode="r+", use_consolidated=False)
            progress = group.create_group("progress")
            done = progress.create_array("chunk_done", shape=(n_chunks,), dtype=bool, fill_value=False, chunks=(1,))
            done[:] = False
            zarr.consolidate_metadata(path)
        return cls(path, sweep, chunk_size)

    @property
    def n_chunks(self) -> int:
        return self.sweep.n_chunks(self.chunk_size)

    def chunk_slice(self, index: int) -> slice:
        """The grid points (C order) of chunk ``index`` (:meth:`Sweep.chunk`)."""
        return self.sweep.chunk(index, self.chunk_size)[2]

    def done(self) -> np.ndarray:
        """(n_chunks,) bool: which chunks are already stored."""
        return _chunk_done(self.path)

    def write_chunk(self, index: int, summary: dict[str, np.ndarray]) -> None:
        """Store one chunk's summaries ((points, seeds[, ...]) arrays) into its rectangles of
        the grid, then mark it done (and the store complete after the last chunk)."""
        region = self.chunk_slice(index)
        shape = tuple(self.sweep.shape)
        parts = rectangles(region.start, region.stop, shape)
        group = zarr.open_group(self.path, mode="r+", use_consolidated=False)
        for name, variable in stored_variables(self.sweep).items():
            value = np.asarray(summary[name])[: region.stop - region.start].astype(variable.dtype)
            array = group[name]
            for start, stop, index_ in parts:
                rect = tuple(len(range(*s.indices(n))) for s, n in zip(index_, shape))
                piece = value[start - region.start: stop - region.start]
                array[index_] = piece.reshape(rect + piece.shape[1:])
        group[_PROGRESS][index] = True
        if group[_PROGRESS][:].all():
            self._mark_complete()

    def _mark_complete(self) -> None:
        """Set the root attribute ``complete`` (and rewrite the consolidated metadata)."""
        group = zarr.open_group(self.path, mode="r+", use_consolidated=False)
        group.attrs["complete"] = True
        with _quiet():
            zarr.consolidate_metadata(self.path)


def _chunk_done(path) -> np.ndarray:
    return np.asarray(zarr.open_group(os.fspath(path), mode="r", use_consolidated=False)[_PROGRESS][:]).copy()


def open_sweep(path) -> xr.Dataset:
    """Open a sweep store, loaded, on the sweep's grid (one dimension per axis, then ``seed``):
    ``xr.open_zarr(path)`` with the attribute ``complete`` read from the chunk flags."""
    ds = xr.open_zarr(path).load()
    ds.attrs["complete"] = bool(_chunk_done(path).all())
    return ds
