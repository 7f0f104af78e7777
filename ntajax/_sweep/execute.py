"""Executing a sweep: chunks of one compiled program, on local devices or a dask cluster.

The flattened points are cut into chunks of equal size (the last one padded by repeating
its final point, whose results are dropped), so every chunk reuses one compiled program.
With several local devices a chunk's points are sharded across them. Finished chunks are
written to the store as they arrive, and re-running the same sweep skips them.
"""

import math
import os
import time
from collections.abc import Iterable

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .sweep import Sweep, run_points, stack_points, sweep_teachers
from .._store.sweep_store import SUMMARY_FIELDS, SweepStore, open_sweep

DEFAULT_MEMORY_BUDGET_MB = 512.0


def run_bytes(sweep: Sweep) -> int:
    """Rough peak bytes of one run (one point, one seed) inside a chunk: the record buffer,
    the student state and, in sampled mode, one block of random inputs."""
    c = sweep.config
    per_record = 8 + c.n_paths * (1 + c.n_teachers) + c.n_paths * max(c.d_out, 1)
    state = 4 * c.n_paths * c.d_out * c.d_in
    draws = c.engine.rng_batch * c.d_in * c.d_in if c.gradient.is_sampled and hasattr(c.engine, "rng_batch") else 0
    return 4 * (c.n_save * per_record + 6 * state + draws)


def choose_chunk_size(sweep: Sweep, memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB, n_devices: int = 1) -> int:
    """Points per chunk: as many as fit the memory budget, at most 256 per device, a multiple
    of the device count, and no more than the sweep needs."""
    per_point = run_bytes(sweep) * sweep.n_seeds
    fit = max(1, int(memory_budget_mb * 2**20 // per_point))
    size = min(fit, 256 * n_devices, math.ceil(sweep.n_points / n_devices) * n_devices)
    return max(n_devices, size - size % n_devices)


def _shard(config, n_devices: int):
    if n_devices <= 1:
        return config
    mesh = Mesh(np.asarray(jax.devices()[:n_devices]), ("points",))
    sharding = NamedSharding(mesh, PartitionSpec("points"))
    return jax.tree.map(lambda x: jax.device_put(x, sharding) if isinstance(x, jax.Array) and x.ndim == 1 else x, config)


def compute_chunk(sweep: Sweep, index: int, chunk_size: int, n_devices: int | None = None) -> dict[str, np.ndarray]:
    """Summaries of chunk ``index`` as numpy arrays with leading axes (point, seed).

    Pure in (sweep, index, chunk_size): a dask worker, a resumed run and an uninterrupted
    run compute identical values.
    """
    n_devices = len(jax.devices()) if n_devices is None else n_devices
    chunk = slice(index * chunk_size, (index + 1) * chunk_size)
    points = sweep.point_fields()[chunk]
    padded = points + [points[-1]] * (chunk_size - len(points))
    config = _shard(stack_points(sweep.config, padded), n_devices if chunk_size % n_devices == 0 else 1)
    t_end = None
    if sweep.n_blocks_total is not None:
        ends = sweep.end_times()[chunk]
        t_end = jnp.asarray(ends + [ends[-1]] * (chunk_size - len(ends)), jnp.float32)
    summary, traces = run_points(config, jax.random.key(sweep.seed), sweep_teachers(sweep), t_end, sweep.traces, sweep.trace_every)
    out = {name: np.asarray(getattr(summary, name))[: len(points)] for name in SUMMARY_FIELDS}
    out |= {f"trace_{name}": np.asarray(value)[: len(points)] for name, value in traces.items()}
    return out


def compile_count() -> int:
    """How many times the sweep program has been traced in this process."""
    import equinox as eqx

    return eqx.debug.get_num_traces(run_points)


def run_sweep(
    sweep: Sweep,
    out: str | os.PathLike,
    *,
    chunk_size: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    scheduler: str | None = None,
    progress: bool = True,
    on_chunk=None,
) -> xr.Dataset:
    """Run (or resume) a sweep into the zarr store ``out`` and return it on the sweep grid.

    Args:
        sweep: what to run.
        out: zarr store path; an existing store of the same sweep is resumed, one of a
            different sweep is refused.
        chunk_size: points per compiled call; default from ``memory_budget_mb``.
        memory_budget_mb: memory a chunk may use (rough estimate, see :func:`run_bytes`).
        scheduler: ``None`` (this process), a dask scheduler address, or ``"local:N"`` for a
            dask LocalCluster with N worker processes.
        progress: show a progress bar over chunks with points/s and ETA.
        on_chunk: optional callback ``on_chunk(index)`` after each chunk is stored.
    """
    if scheduler is not None:
        from .cluster import _parse_scheduler

        _parse_scheduler(scheduler)  # reject a bad address before creating the store
    # With a cluster the driver only writes results: do not initialise JAX's devices here.
    n_devices = len(jax.devices()) if scheduler is None else 1
    if chunk_size is None:
        chunk_size = choose_chunk_size(sweep, memory_budget_mb, n_devices)
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size} must be at least 1.")
    store = SweepStore.open(out, sweep, chunk_size)
    pending = [i for i, done in enumerate(store.done()) if not done]
    results: Iterable[tuple[int, dict]]
    if scheduler is None:
        results = ((i, compute_chunk(sweep, i, store.chunk_size)) for i in pending)
        results = _with_progress(results, pending, store, sweep, progress)
        for index, summary in results:
            store.write_chunk(index, summary)
            if on_chunk is not None:
                on_chunk(index)
    else:
        from .cluster import run_on_cluster

        for index, summary in _with_progress(
            run_on_cluster(sweep, pending, store.chunk_size, scheduler), pending, store, sweep, progress
        ):
            store.write_chunk(index, summary)
            if on_chunk is not None:
                on_chunk(index)
    return open_sweep(out)


def _with_progress(results, pending, store, sweep, show):
    from tqdm.auto import tqdm

    total_points = sum(store.chunk_slice(i).stop - store.chunk_slice(i).start for i in pending)
    start = time.perf_counter()
    done_points = 0
    with tqdm(total=total_points, unit="pt", desc="sweep", disable=not show or not pending) as bar:
        for index, summary in results:
            n = store.chunk_slice(index).stop - store.chunk_slice(index).start
            done_points += n
            bar.update(n)
            bar.set_postfix_str(f"{done_points * sweep.n_seeds / (time.perf_counter() - start):.0f} runs/s")
            yield index, summary
