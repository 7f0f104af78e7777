"""Executing a sweep: chunks of one compiled program, on local devices or a dask cluster.

The flattened points (C order over the grid) are cut into chunks of equal size (the last one
padded by repeating its final point, whose results are dropped), so every chunk reuses one
compiled program; by default the chunk size is a multiple of the trailing axes' sizes where
that fits, so a chunk is whole rows of the store's N-d grid.
With several local devices a chunk's points are sharded across all of them: a chunk size
the device count does not divide is rounded up to a multiple of it (with a warning), never
run on fewer devices. Finished chunks are written to the store as they arrive, and
re-running the same sweep skips them.

Dependencies run one way: this module uses :mod:`ntajax._sweep.cluster` for the dask
scheduler, and both use the chunk computation of :mod:`ntajax._sweep.sweep`
(:func:`~ntajax._sweep.sweep.compute_chunk`).
"""

import math
import os
import time
from collections.abc import Iterable

import equinox as eqx
import jax
import numpy as np
import xarray as xr

from .._store.sweep_store import SweepStore, fill_grid, grid_dataset, open_sweep
from .._warnings import warn_at_caller
from .cluster import parse_scheduler, run_on_cluster
from .plan import SweepPlan, plan_sweep, run_bytes
from .sweep import Sweep, compute_chunk, program_width, run_points

__all__ = ["DEFAULT_MEMORY_BUDGET_MB", "choose_chunk_size", "compile_count", "compute_chunk", "run_bytes", "run_sweep"]

DEFAULT_MEMORY_BUDGET_MB = 512.0


def choose_chunk_size(sweep: Sweep, memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB, n_devices: int = 1) -> int:
    """Points per chunk: as many as fit the memory budget (of the largest structure), at most 256
    per device, a multiple of the device count, and no more than one structure needs; where it
    fits, a multiple of the product of the trailing axes' sizes (whole rows of the grid)."""
    per_point = run_bytes(sweep) * sweep.n_seeds
    n_points = sweep.points_per_structure
    fit = max(1, int(memory_budget_mb * 2**20 // per_point))
    size = min(fit, 256 * n_devices, math.ceil(n_points / n_devices) * n_devices)
    if size >= n_points:
        return max(n_devices, size - size % n_devices)
    # Prefer whole rows of the grid: a multiple of the product of the most trailing axes that
    # fits (and of the device count), so each chunk is a few large rectangles of the store.
    shape = sweep.traced_shape
    for j in range(len(shape)):
        step = math.lcm(math.prod(shape[j:]), n_devices)
        if step <= size:
            return size - size % step
    return max(n_devices, size - size % n_devices)


def compile_count() -> int:
    """How many times the sweep program has been traced in this process (once per distinct
    structure of a sweep, :attr:`Sweep.n_structures`, unless compiled before)."""
    return eqx.debug.get_num_traces(run_points)


def run_sweep(
    sweep: Sweep,
    out: str | os.PathLike | None,
    *,
    chunk_size: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    scheduler: str | None = None,
    progress: bool = True,
    on_chunk=None,
    description: str = "sweep",
    explain: bool = False,
) -> "xr.Dataset | SweepPlan":
    """Run (or resume) a sweep into the zarr store ``out`` and return it on the sweep grid.

    Args:
        sweep: what to run.
        out: zarr store path, on the sweep's N-d grid (opens with plain ``xr.open_zarr``; see
            :mod:`ntajax._store.sweep_store`); an existing store of the same sweep made by the
            same ntajax code is resumed (with the store's own chunk size), one of a different
            sweep or of different code is refused. ``None``: keep the results in memory and
            return them in the same layout (nothing is written, nothing resumes). A structural
            sweep (static axes, :class:`~ntajax._sweep.sweep.StaticAxis`) goes into one store
            with its structural dimensions first; its chunks never span two structures, and
            each structure compiles its own program once.
        chunk_size: points per compiled call; default from ``memory_budget_mb``. With several
            local devices it is rounded up to a multiple of the device count (an
            :class:`ntajax.NtajaxWarning` says so), so that every device holds the same
            number of points; a resumed store whose chunk size they do not divide pads each
            call instead (:func:`~ntajax._sweep.sweep.program_width`).
        memory_budget_mb: memory a chunk may use (rough estimate, see :func:`run_bytes`).
        scheduler: ``None`` (this process), a dask scheduler address, or ``"local:N"`` for a
            dask LocalCluster with N worker processes (one device each).
        progress: show a progress bar over chunks with points/s and ETA.
        on_chunk: optional callback ``on_chunk(index)`` after each chunk is stored.
        description: label of the progress bar.
        explain: do not run: return the :class:`~ntajax._sweep.plan.SweepPlan` (points, runs,
            compiled programs, chunks, devices, memory, store size, estimated time from a short
            calibration) of what this call would run; nothing is written.
    """
    if scheduler is not None:
        parse_scheduler(scheduler)  # reject a bad address before creating the store
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size} must be at least 1.")
    # With a cluster the driver only writes results: do not initialise JAX's devices here.
    n_devices = len(jax.devices()) if scheduler is None else 1
    if chunk_size is None:
        chunk_size = choose_chunk_size(sweep, memory_budget_mb, n_devices)
    elif chunk_size % n_devices:
        rounded = program_width(chunk_size, n_devices)
        warn_at_caller(
            f"chunk_size={chunk_size} is not a multiple of the {n_devices} local devices; using chunk_size={rounded} "
            f"so that every device holds {rounded // n_devices} points of each chunk."
        )
        chunk_size = rounded
    if explain:
        done = None
        if out is not None and os.path.exists(out):
            existing = SweepStore.open(out, sweep, chunk_size)  # refuses another sweep's store, writes nothing
            chunk_size, done = existing.chunk_size, existing.done()
        return plan_sweep(sweep, chunk_size, n_devices, done=done)
    store = None if out is None else SweepStore.open(out, sweep, chunk_size)
    if store is not None:
        chunk_size = store.chunk_size
        pending = [i for i, done in enumerate(store.done()) if not done]
    else:
        pending = list(range(sweep.n_chunks(chunk_size)))
    results: Iterable[tuple[int, dict]]
    if scheduler is None:
        results = ((i, compute_chunk(sweep, i, chunk_size, n_devices)) for i in pending)
    else:
        results = run_on_cluster(sweep, pending, chunk_size, scheduler)
    kept = {}
    for index, summary in _with_progress(results, pending, chunk_size, sweep, progress, description):
        if store is None:
            kept[index] = summary
        else:
            store.write_chunk(index, summary)
        if on_chunk is not None:
            on_chunk(index)
    if store is None:
        ordered = [kept[i] for i in sorted(kept)]
        flat = {name: np.concatenate([part[name] for part in ordered]) for name in ordered[0]}
        return fill_grid(grid_dataset(sweep), sweep, flat)
    return open_sweep(out)


def _with_progress(results, pending, chunk_size, sweep, show, description):
    from tqdm.auto import tqdm

    def points(i):
        chunk = sweep.chunk(i, chunk_size)[2]
        return chunk.stop - chunk.start

    total_points = sum(points(i) for i in pending)
    start = time.perf_counter()
    done_points = 0
    with tqdm(total=total_points, unit="pt", desc=description, disable=not show or not pending) as bar:
        for index, summary in results:
            n = points(index)
            done_points += n
            bar.update(n)
            bar.set_postfix_str(f"{done_points * sweep.n_seeds / (time.perf_counter() - start):.0f} runs/s")
            yield index, summary
