"""What a sweep will cost before it runs: ``run_sweep(..., explain=True)`` and ``ntajax sweep --explain``.

:func:`plan_sweep` counts points, runs, compiled programs, chunks and devices, estimates the memory
of one chunk and the size of the store on disk, and, from a short calibration run (the sweep's own
program on a few points and a few recording intervals, timed twice: compile + run, then run),
estimates the wall time. Nothing is written; the calibration compiles one small program (per
calibrated structure).

A structural sweep (:class:`~ntajax._sweep.sweep.StaticAxis`) needs one compiled program per
distinct structure that still has chunks to run (structures whose programs are identical count
once, as in the real run); its chunks never span two structures. The calibration times at most
:data:`CALIBRATION_STRUCTURES` of its programs (the cheapest, the costliest and some between,
by :func:`run_bytes`) and interpolates the others' compile time and cost per run-step linearly
in their estimated run memory.
"""

import dataclasses
import math
import time

import jax
import numpy as np

from .._run import precision
from .._warnings import deriving
from .sweep import Sweep, program_width, run_points, stack_points, sweep_teachers

CALIBRATION_POINTS = 4
CALIBRATION_STEPS = 2000
CALIBRATION_STRUCTURES = 3


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """The cost of a sweep (see the module docstring).

    Attributes:
        n_points, n_seeds, n_runs: grid points, seeds per point, their product.
        n_pending: points still to run (fewer than ``n_points`` when a store is resumed).
        n_programs: distinct compiled programs the run needs (every chunk of a structure is padded to
            one width; one program per distinct structure with chunks to run).
        chunk_size, program_width, n_chunks, n_devices: points per chunk, points per compiled call
            (rounded to the device count), chunks to run, devices sharing a chunk.
        steps_per_run: Euler steps (or equivalent) of one run (the longest structure's).
        chunk_memory_mb: rough peak memory of one chunk (``run_bytes`` × width × seeds).
        store_mb: size of the results (uncompressed) on disk.
        compile_s, run_step_s: from the calibration: compile time of the program and seconds per
            run-step; None without calibration.
        estimated_s: estimated wall time of the pending runs (compile included); None without
            calibration. Rough: on a shared CPU expect ±50 %.
        n_structures: structures of a structural sweep (1 without static axes).
        pending_steps: run-steps still to run, summed over the structures (None without static
            axes: ``steps_per_run × n_pending × n_seeds``).
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
    n_structures: int = 1
    pending_steps: int | None = None

    def __str__(self) -> str:
        to_run = self.steps_per_run * self.n_pending * self.n_seeds if self.pending_steps is None else self.pending_steps
        lines = [
            f"points        {self.n_points:,} × {self.n_seeds} seeds = {self.n_runs:,} runs "
            f"({self.n_pending:,} points still to run)",
            f"programs      {self.n_programs} compiled program(s), {self.program_width} points per call",
            f"chunks        {self.n_chunks} of {self.chunk_size} points on {self.n_devices} device(s)",
            f"memory        ≈ {self.chunk_memory_mb:,.0f} MB per chunk",
            f"store         ≈ {self.store_mb:,.1f} MB on disk (uncompressed)",
            f"steps         {self.steps_per_run:,} per run, {to_run:,} to run",
        ]
        if self.n_structures > 1:
            lines.insert(1, f"structures    {self.n_structures} (static axes; one compiled program per distinct structure)")
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


def _config_bytes(c) -> int:
    n_paths = getattr(c.student, "n_paths", 1)
    per_record = 8 + n_paths * (1 + c.n_teachers) + n_paths * max(c.d_out, 1)
    state = 4 * n_paths * c.d_out * c.d_in
    rng_batch = getattr(c.engine, "rng_batch", 0)
    draws = rng_batch * c.d_in * c.d_in if c.gradient.is_sampled else 0
    evaluation = getattr(c.engine, "eval_size", 0) * (c.d_in + c.d_out)  # MinibatchScan's fixed evaluation batch
    weights = state // 4 * -(-c.grid.n_save // c.recording.weights_every) if c.recording.weights else 0
    return 4 * (c.grid.n_save * per_record + 6 * state + draws + evaluation + weights)


def run_bytes(sweep: Sweep) -> int:
    """Rough peak bytes of one run (one point, one seed) inside a chunk: the record buffer,
    the student state and, in sampled mode, one block of random inputs (of the largest structure)."""
    return max(_config_bytes(part.config) for part in sweep.structures)


def store_bytes(sweep: Sweep) -> int:
    """Bytes of the per-run variables of the sweep's results (uncompressed)."""
    layout = sweep.layout
    sizes = {"seed": sweep.n_seeds} | layout.sizes
    total = 0
    for variable in layout.variables.values():
        per_point = math.prod(sizes[d] for d in ("seed",) + tuple(variable.dims))
        total += sweep.n_points * per_point * np.dtype(variable.dtype).itemsize
    return total


def calibrate(sweep: Sweep, width: int) -> tuple[float, float]:
    """(compile seconds, seconds per run-step) of the sweep's program on ``width`` copies of its
    first point, over at most :data:`CALIBRATION_STEPS` steps (whole recording intervals). A
    sweep without static axes (e.g. one of ``sweep.structures``)."""
    config = sweep.config
    every = config.save_every * config.recording.weights_every
    intervals = max(1, min(config.grid.n_save - 1, math.ceil(CALIBRATION_STEPS / every))) * config.recording.weights_every
    with deriving():
        short = config.replace(grid=config.grid.replace(t_total=intervals * config.save_every * config.grid.dt,
                                                        n_save=intervals + 1))
    def once() -> float:
        start = time.perf_counter()
        jax.block_until_ready(run_points(stacked, key, teachers, sweep.reducer))
        return time.perf_counter() - start

    with precision(config):  # time the program the run compiles (float64 for a float64 simulation)
        stacked = stack_points(short, [sweep.point_fields()[0]] * width)
        key, teachers = jax.random.key(sweep.seed), sweep_teachers(sweep)
        first = once()
        second = once()
    steps = width * sweep.n_seeds * short.n_steps
    return max(first - second, 0.0), second / steps


def program_key(part: Sweep, width: int):
    """What identifies the compiled program of one structure's chunks: the stacked simulation's
    structure (static fields and all), the program width, and whether read-out times are passed."""
    return jax.tree_util.tree_structure(part.config), width, part.n_blocks_total is not None


def plan_sweep(
    sweep: Sweep, chunk_size: int, n_devices: int, *, done: np.ndarray | None = None, calibration: bool = True,
) -> SweepPlan:
    """The :class:`SweepPlan` of running ``sweep`` in chunks of ``chunk_size`` points on ``n_devices``.

    Args:
        done: (n_chunks,) chunks already stored (a resumed store), default none.
        calibration: time a short run to estimate the wall time.
    """
    n_chunks_total = sweep.n_chunks(chunk_size)
    done = np.zeros(n_chunks_total, bool) if done is None else np.asarray(done, bool)
    pending = [i for i in range(n_chunks_total) if not done[i]]
    chunks = [sweep.chunk(i, chunk_size) for i in pending]
    n_pending = sum(c[2].stop - c[2].start for c in chunks)
    parts = sweep.structures
    width = program_width(chunk_size, n_devices)
    programs: dict = {}  # program key → the structures (indices) with pending chunks that use it
    for structure in sorted({c[0] for c in chunks}):
        programs.setdefault(program_key(parts[structure], width), []).append(structure)
    pending_steps = sum((c[2].stop - c[2].start) * sweep.n_seeds * parts[c[0]].config.n_steps for c in chunks)
    plan = SweepPlan(
        n_points=sweep.n_points, n_seeds=sweep.n_seeds, n_runs=sweep.n_points * sweep.n_seeds, n_pending=n_pending,
        n_programs=len(programs), chunk_size=chunk_size, program_width=width, n_chunks=len(pending),
        n_devices=n_devices, steps_per_run=max(p.config.n_steps for p in parts),
        chunk_memory_mb=run_bytes(sweep) * width * sweep.n_seeds / 2**20, store_mb=store_bytes(sweep) / 2**20,
        n_structures=sweep.n_structures, pending_steps=pending_steps if sweep.static_axes else None,
    )
    if not calibration or not pending:
        return plan
    cost = {key: _config_bytes(parts[members[0]].config) for key, members in programs.items()}
    ordered = sorted(programs, key=lambda key: cost[key])
    picks = sorted({round(i) for i in np.linspace(0, len(ordered) - 1, min(len(ordered), CALIBRATION_STRUCTURES))})
    measured = {ordered[i]: calibrate(parts[programs[ordered[i]][0]], min(width, CALIBRATION_POINTS)) for i in picks}
    xs = [cost[k] for k in measured]
    compile_of = {k: float(np.interp(cost[k], xs, [m[0] for m in measured.values()])) for k in programs}
    step_of = {k: float(np.interp(cost[k], xs, [m[1] for m in measured.values()])) for k in programs}
    structure_key = {s: k for k, members in programs.items() for s in members}
    estimated = sum(compile_of.values()) + sum(
        step_of[structure_key[s]] * width * sweep.n_seeds * parts[s].config.n_steps / max(n_devices, 1) for s, _, _ in chunks)
    first = ordered[picks[0]]
    return dataclasses.replace(plan, compile_s=sum(compile_of.values()), run_step_s=step_of[first], estimated_s=estimated)
