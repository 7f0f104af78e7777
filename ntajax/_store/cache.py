"""Result stores keyed by a content hash of everything that determines them (MODEL §8.18).

:func:`content_hash` turns a description — configs, explicit arrays (teachers, initial
states), schedules, plain numbers and strings, nested in dicts, lists and tuples — into a
sha256 hex digest, together with the ntajax version and a digest of ntajax's source code. :func:`cached_dataset` stores a
computed :class:`xarray.Dataset` under ``<root>/<name>-<hash>.zarr`` and returns the stored
copy on later calls, so a figure script recomputes only what changed and can never read a
store made from different settings.
"""

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import xarray as xr

from .._provenance import VERSION, source_digest
from .._simulation import describe


def _canonical(obj):
    """A JSON-ready, deterministic description of ``obj``.

    Simulations and every other Equinox module (students, curricula, engines, explicit initial
    states) are described by :func:`ntajax._simulation.describe`, the one serialiser of configs;
    other objects with a ``describe()`` method (a :class:`~ntajax.Sweep`, its axes) by that
    method; free-standing arrays by a digest of their bytes.
    """
    if isinstance(obj, eqx.Module):
        return describe(obj)
    if isinstance(obj, (jax.Array, np.ndarray)) and not isinstance(obj, np.generic):
        arr = np.ascontiguousarray(np.asarray(obj))
        return {"array": hashlib.sha256(arr.tobytes()).hexdigest(), "shape": list(arr.shape), "dtype": str(arr.dtype)}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if callable(getattr(obj, "describe", None)):
            return {type(obj).__name__: _canonical(obj.describe())}
        return {type(obj).__name__: {f.name: _canonical(getattr(obj, f.name)) for f in dataclasses.fields(obj)}}
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, (np.generic,)):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return repr(obj)


def content_hash(description) -> str:
    """sha256 of the canonical form of ``description``, the ntajax version and :func:`source_digest`."""
    text = json.dumps(_canonical(description), sort_keys=True) + "|ntajax " + VERSION + "|" + source_digest()
    return hashlib.sha256(text.encode()).hexdigest()


def cached_dataset(root: str | os.PathLike, name: str, description, compute: Callable[[], xr.Dataset]) -> xr.Dataset:
    """The Dataset stored for ``description``, computing and storing it first if needed.

    Args:
        root: directory holding the stores.
        name: readable prefix of the store name.
        description: everything the result depends on (see :func:`content_hash`).
        compute: produces the Dataset when no store exists.

    Returns:
        The Dataset read back from ``<root>/<name>-<hash[:16]>.zarr`` (loaded into memory).
    """
    from .dataset import write_zarr

    digest = content_hash(description)
    path = Path(root) / f"{name}-{digest[:16]}.zarr"
    if not path.exists():
        ds = compute()
        ds.attrs["content_hash"] = digest
        ds.attrs["description"] = json.dumps(_canonical(description), sort_keys=True)
        write_zarr(ds, path)
    return xr.open_zarr(path).load()
