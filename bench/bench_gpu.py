"""Throughput per engine at batch sizes 10², 10³, …, 10⁶ students, on whatever device JAX has.

One batch is a sweep chunk of the Fig. 5 setting (``fig5_base``: d_in 20, d_out 10, M = P = 2,
dt = 1e-3): ``students / 10`` points (τ_c spread over 0.01–0.1) × 10 seeds, run by the sweep
executor ``run_points`` with the phase-diagram summaries, for a short run (``--steps`` Euler
steps, 10 records). A student-step is one Euler step of one student. Engines: EulerScan with
the sampled gradient (B = 200), EulerScan with the expected gradient, SubspaceScan (expected,
reduced coordinates).

Memory-aware: before compiling a size the script predicts its memory from the previous size's
compiled ``memory_analysis()`` (linear in students) and stops that engine when the prediction,
or the compiled program's own figure, exceeds 80 % of the device's free memory (GPU:
``memory_stats()``; CPU: MemAvailable); it also stops an engine when the next size would
run longer than ``--max-seconds``. Either is printed.

Usage: ``python bench/bench_gpu.py [--smoke] [--max-students N] [--steps S] [--max-seconds T]``
(``--smoke``: 10² and 10³ students, 20 steps, seconds). On a GPU install jax with CUDA first
(``pip install -U "jax[cuda12]"``).
"""

import argparse
import time

import jax
import numpy as np

import ntajax
from ntajax._compile import COMPILER_OPTIONS
from ntajax._presets.sweeps import fig5_base
from ntajax._run import make_teachers
from ntajax._sweep.reducers import Summaries
from ntajax._sweep.sweep import run_points, stack_points

SEEDS = 10
ENGINES = {
    "EulerScan sampled": lambda: fig5_base(ntajax.SampledGradient(batch_size=200)).replace(engine=ntajax.EulerScan()),
    "EulerScan expected": lambda: fig5_base(ntajax.ExpectedGradient()).replace(engine=ntajax.EulerScan()),
    "SubspaceScan": lambda: fig5_base(ntajax.ExpectedGradient()).replace(engine=ntajax.SubspaceScan()),
}


def device_name() -> str:
    device = jax.devices()[0]
    return f"{device.platform}: {device.device_kind} ({len(jax.devices())} device(s), jax {jax.__version__})"


def free_bytes() -> float:
    """Free memory of the first device (GPU/TPU: its allocator's limit minus what is in use;
    CPU: MemAvailable)."""
    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return float(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    return float("inf")


def chunk(engine: str, students: int, steps: int, unroll: int | None = None):
    """(compiled-program inputs, engine config) of one chunk of ``students`` = points × 10 seeds."""
    base = ENGINES[engine]()
    if unroll is not None:
        base = base.replace(engine=base.engine.replace(unroll=unroll))
    n_save = 11 if steps % 10 == 0 else 2
    base = base.replace(n_seeds=SEEDS, grid=ntajax.TimeGrid(dt=1e-3, t_total=steps * 1e-3, n_save=n_save)).with_block_count()
    points = max(students // SEEDS, 1)
    tau_c = np.geomspace(0.01, 0.1, points)
    key = jax.random.key(0)
    stacked = stack_points(base, [{"student.tau_c": float(t)} for t in tau_c])
    return (stacked, key, make_teachers(base, key), Summaries(), None), base


def compile_chunk(args):
    return run_points.lower(*args).compile(compiler_options=COMPILER_OPTIONS)


def program_bytes(compiled) -> float:
    m = compiled.compiled.memory_analysis()
    return float(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes)


def time_call(compiled, args, repeats: int = 3) -> float:
    """Best of ``repeats`` warm calls of ``compiled(*args)`` (the first, warm-up call is not
    counted); bench_roofline.py times its peaks with it too."""
    jax.block_until_ready(compiled(*args))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="10² and 10³ students, 20 steps")
    parser.add_argument("--max-students", type=int, default=10**6)
    parser.add_argument("--steps", type=int, default=100, help="Euler steps per run (a multiple of 10)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="skip a size predicted to run longer")
    args = parser.parse_args()
    max_students, steps = (1000, 20) if args.smoke else (args.max_students, args.steps)
    sizes = [10**k for k in range(2, 7) if 10**k <= max_students]
    print(f"device: {device_name()}")
    print(f"Fig. 5 chunk: points × {SEEDS} seeds, {steps} Euler steps, dt = 1e-3; best of 3 warm calls")
    print(f"{'engine':<20} {'students':>9} {'student-steps/s':>16} {'warm call':>10} {'compile':>8} {'memory':>10}")
    for engine in ENGINES:
        previous = None  # (students, bytes, seconds)
        for students in sizes:
            if previous is not None:
                scale = students / previous[0]
                if previous[1] * scale > 0.8 * free_bytes():
                    print(f"{engine:<20} {students:>9,} stopped: needs ≈ {previous[1] * scale / 2**20:,.0f} MB, "
                          f"{free_bytes() / 2**20:,.0f} MB free")
                    break
                if previous[2] * scale * 4 > args.max_seconds:  # warm-up + 3 repetitions
                    print(f"{engine:<20} {students:>9,} skipped: ≈ {previous[2] * scale:,.1f} s per call "
                          f"(> --max-seconds {args.max_seconds:g} for 4 calls)")
                    break
            inputs, base = chunk(engine, students, steps)
            t0 = time.perf_counter()
            compiled = compile_chunk(inputs)
            compile_s = time.perf_counter() - t0
            needed = program_bytes(compiled)
            if needed > 0.8 * free_bytes():
                print(f"{engine:<20} {students:>9,} stopped: the program needs {needed / 2**20:,.0f} MB, "
                      f"{free_bytes() / 2**20:,.0f} MB free")
                break
            seconds = time_call(compiled, inputs)
            n = max(students // SEEDS, 1) * SEEDS
            print(f"{engine:<20} {n:>9,} {n * base.n_steps / seconds:>16,.0f} {seconds:>9.3f}s {compile_s:>7.1f}s "
                  f"{needed / 2**20:>7,.0f} MB")
            previous = (students, needed, seconds)
    print("memory: arguments + outputs + temporaries of the compiled program (XLA memory_analysis)")


if __name__ == "__main__":
    main()
