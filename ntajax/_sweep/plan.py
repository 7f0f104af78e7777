"""What a sweep will cost before it runs: ``run_sweep(..., explain=True)`` and ``ntajax sweep --explain``.

:func:`plan_sweep` counts points, runs, compiled programs, chunks and devices, estimates the memory
of one chunk and the size of the store on disk, and, from a short calibration run (the sweep's own
program on a few points and a few recording intervals, timed twice: compile + run, then run),
estimates the wall time. Nothing is written; the calibration compiles one small program.
"""

import dataclasses
import math
import time

import jax
import numpy as np

from .._warnings import deriving
from .sweep import Sweep, program_width, run_points, stack_points, sweep_teachers

CALIBRATION_POINTS = 4
CALIBRATION_STEPS = 2000


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """The cost of a sweep (see the module docstring).

    Attributes:
        n_points, n_seeds, n_runs: grid points, seeds per point, their product.
        n_pending: points still to run (fewer than ``n_points`` when a store is resumed).
        n_programs: distinct compiled programs the run needs (every chunk is padded to one width).
        chunk_size, program_width, n_chunks, n_devices: points per chunk, points per compiled call
            (rounded to the device count), chunks to run, devices sharing a chunk.
        steps_per_run: Euler steps (or equivalent) of one run.
        chunk_memory_mb: rough peak memory of one chunk (``run_bytes`` × width × seeds).
        store_mb: size of the results (uncompressed) on disk.
        compile_s, run_step_s: from the calibration: compile time of the program and seconds per
            run-step; None without calibration.
        estimated_s: estimated wall time of the pending runs (compile included); None without
            calibration. Rough: on a shared CPU expect ±50 %.
    """

    n_points: int
    n_seeds: int
    n_runs: int
    n_pending: int
    n_programs: int
    chunk_size: int
    program_width: int
    n_chunks: int
    n_devices: int
    steps_per_run: int
    chunk_memory_mb: float
    store_mb: float
    compile_s: float | None = None
    run_step_s: float | None = None
    estimated_s: float | None = None

    def __str__(self) -> str:
        lines = [
            f"points        {self.n_points:,} × {self.n_seeds} seeds = {self.n_runs:,} runs "
            f"({self.n_pending:,} points still to run)",
            f"programs      {self.n_programs} compiled program(s), {self.program_width} points per call",
            f"chunks        {self.n_chunks} of {self.chunk_size} points on {self.n_devices} device(s)",
            f"memory        ≈ {self.chunk_memory_mb:,.0f} MB per chunk",
            f"store         ≈ {self.store_mb:,.1f} MB on disk (uncompressed)",
            f"steps         {self.steps_per_run:,} per run, {self.steps_per_run * self.n_pending * self.n_seeds:,} to run",
        ]
        if self.estimated_s is not None:
            lines.append(f"time          ≈ {_duration(self.estimated_s)} (compile ≈ {self.compile_s:.1f} s, "
                         f"{1 / self.run_step_s:,.0f} run-steps/s in the calibration; ±50 %)")
        else:
            lines.append("time          not estimated (no calibration)")
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def run_bytes(sweep: Sweep) -> int:
    """Rough peak bytes of one run (one point, one seed) inside a chunk: the record buffer,
    the student state and, in sampled mode, one block of random inputs."""
    c = sweep.config
    n_paths = getattr(c.student, "n_paths", 1)
    per_record = 8 + n_paths * (1 + c.n_teachers) + n_paths * max(c.d_out, 1)
    state = 4 * n_paths * c.d_out * c.d_in
    rng_batch = getattr(c.engine, "rng_batch", 0)
    draws = rng_batch * c.d_in * c.d_in if c.gradient.is_sampled else 0
    evaluation = getattr(c.engine, "eval_size", 0) * (c.d_in + c.d_out)  # MinibatchScan's fixed evaluation batch
    weights = state // 4 * -(-c.grid.n_save // c.recording.weights_every) if c.recording.weights else 0
    return 4 * (c.grid.n_save * per_record + 6 * state + draws + evaluation + weights)


def store_bytes(sweep: Sweep) -> int:
    """Bytes of the per-run variables of the sweep's results (uncompressed)."""
    config, reducer = sweep.config, sweep.reducer
    sizes = {"seed": sweep.n_seeds} | reducer.sizes(config)
    total = 0
    for variable in reducer.variables(config).values():
        per_point = math.prod(sizes[d] for d in ("seed",) + tuple(variable.dims))
        total += sweep.n_points * per_point * np.dtype(variable.dtype).itemsize
    return total


def calibrate(sweep: Sweep, width: int) -> tuple[float, float]:
    """(compile seconds, seconds per run-step) of the sweep's program on ``width`` copies of its
    first point, over at most :data:`CALIBRATION_STEPS` steps (whole recording intervals)."""
    config = sweep.config
    every = config.save_every * config.recording.weights_every
    intervals = max(1, min(config.grid.n_save - 1, math.ceil(CALIBRATION_STEPS / every))) * config.recording.weights_every
    with deriving():
        short = config.replace(grid=config.grid.replace(t_total=intervals * config.save_every * config.grid.dt,
                                                        n_save=intervals + 1))
    stacked = stack_points(short, [sweep.point_fields()[0]] * width)
    key, teachers = jax.random.key(sweep.seed), sweep_teachers(sweep)

    def once() -> float:
        start = time.perf_counter()
        jax.block_until_ready(run_points(stacked, key, teachers, sweep.reducer))
        return time.perf_counter() - start

    first = once()
    second = once()
    steps = width * sweep.n_seeds * short.n_steps
    return max(first - second, 0.0), second / steps


def plan_sweep(
    sweep: Sweep, chunk_size: int, n_devices: int, *, done: np.ndarray | None = None, calibration: bool = True,
) -> SweepPlan:
    """The :class:`SweepPlan` of running ``sweep`` in chunks of ``chunk_size`` points on ``n_devices``.

    Args:
        done: (n_chunks,) chunks already stored (a resumed store), default none.
        calibration: time a short run to estimate the wall time.
    """
    n_chunks_total = -(-sweep.n_points // chunk_size)
    done = np.zeros(n_chunks_total, bool) if done is None else np.asarray(done, bool)
    pending = [i for i in range(n_chunks_total) if not done[i]]
    n_pending = sum(min((i + 1) * chunk_size, sweep.n_points) - i * chunk_size for i in pending)
    width = program_width(chunk_size, n_devices)
    steps = sweep.config.n_steps
    plan = SweepPlan(
        n_points=sweep.n_points, n_seeds=sweep.n_seeds, n_runs=sweep.n_points * sweep.n_seeds, n_pending=n_pending,
        n_programs=1 if pending else 0, chunk_size=chunk_size, program_width=width, n_chunks=len(pending),
        n_devices=n_devices, steps_per_run=steps, chunk_memory_mb=run_bytes(sweep) * width * sweep.n_seeds / 2**20,
        store_mb=store_bytes(sweep) / 2**20,
    )
    if not calibration or not pending:
        return plan
    compile_s, run_step_s = calibrate(sweep, min(width, CALIBRATION_POINTS))
    padded_points = len(pending) * width
    estimated = compile_s + run_step_s * padded_points * sweep.n_seeds * steps / max(n_devices, 1)
    return dataclasses.replace(plan, compile_s=compile_s, run_step_s=run_step_s, estimated_s=estimated)
