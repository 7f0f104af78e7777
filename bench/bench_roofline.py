"""Roofline per engine: FLOPs and bytes per student-step (XLA's cost analysis of the compiled
program), achieved student-steps/s, and the fraction of this machine's measured peak.

The setting is that of ``bench/bench_gpu.py`` (Fig. 5 sweep chunks, 10 seeds per point, 100
Euler steps, 10 records), at 20 students (2 points) and at a chunk of 10⁴ students (1000 points).

* FLOPs and bytes per student-step: XLA's ``cost_analysis()`` counts a loop body once, whatever
  its trip count, so the per-step cost is the difference between the program with the engine's
  step loop unrolled twice and once (``unroll=2`` minus ``unroll=1``: one more copy of an Euler
  step), divided by the students. It is the marginal cost of a step; the per-record work
  (random blocks, records, summaries) is not in it.
* Achieved: best of 3 warm calls of the engine's default program (what a sweep runs).
* Peak: a float32 matmul (n × n, 2n³ FLOPs) for FLOP/s and an elementwise ``x * a`` over a large
  float32 array (read + write) for bytes/s, both jitted, best of 5.

Usage: ``python bench/bench_roofline.py [--smoke]`` (``--smoke``: 20 and 100 students, small
peaks, seconds).
"""

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gpu import ENGINES, chunk, compile_chunk, device_name, time_call  # noqa: E402

STEPS = 100


def peak_flops(n: int) -> float:
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    matmul = jax.jit(lambda x, y: jnp.matmul(x, y, precision=jax.lax.Precision.HIGHEST))
    return 2 * n**3 / time_call(matmul, (a, a), repeats=5)


def peak_bytes(n: int) -> float:
    x = jnp.ones((n,), jnp.float32)
    scale = jax.jit(lambda x: x * 1.0001)
    return 2 * 4 * n / time_call(scale, (x,), repeats=5)


def per_step_cost(engine: str, students: int) -> tuple[float, float]:
    costs = []
    for unroll in (1, 2):
        inputs, _ = chunk(engine, students, STEPS, unroll=unroll)
        analysis = compile_chunk(inputs).compiled.cost_analysis()
        costs.append((analysis["flops"], analysis["bytes accessed"]))
    n = max(students // 10, 1) * 10
    return (costs[1][0] - costs[0][0]) / n, (costs[1][1] - costs[0][1]) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    sizes = (20, 100) if args.smoke else (20, 10_000)
    on_cpu = jax.devices()[0].platform == "cpu"
    n_matmul = 512 if args.smoke else (2048 if on_cpu else 8192)
    n_copy = 2**20 if args.smoke else 2**26
    flops_peak, bytes_peak = peak_flops(n_matmul), peak_bytes(n_copy)
    print(f"device: {device_name()}")
    print(f"peak: {flops_peak / 1e9:,.1f} GFLOP/s (float32 matmul {n_matmul}²), "
          f"{bytes_peak / 1e9:,.1f} GB/s (x * a over {n_copy * 4 / 2**20:,.0f} MB, read + write)")
    print(f"{'engine':<20} {'students':>8} {'FLOP/step':>10} {'bytes/step':>11} {'FLOP/byte':>9} "
          f"{'student-steps/s':>16} {'GFLOP/s':>8} {'% peak FLOP':>11} {'GB/s':>7} {'% peak B/s':>10}")
    for engine in ENGINES:
        for students in sizes:
            flops, bytes_ = per_step_cost(engine, students)
            inputs, base = chunk(engine, students, STEPS)
            seconds = time_call(compile_chunk(inputs), inputs)
            n = max(students // 10, 1) * 10
            rate = n * base.n_steps / seconds
            print(f"{engine:<20} {n:>8,} {flops:>10,.0f} {bytes_:>11,.0f} {flops / max(bytes_, 1):>9.2f} "
                  f"{rate:>16,.0f} {rate * flops / 1e9:>8.2f} {100 * rate * flops / flops_peak:>10.2f}% "
                  f"{rate * bytes_ / 1e9:>7.2f} {100 * rate * bytes_ / bytes_peak:>9.2f}%")
    print(f"FLOP/step, bytes/step: XLA cost_analysis, program with the step loop unrolled 2× minus 1× (one Euler "
          f"step), per student; student-steps/s: best of 3 warm calls of the default program, {STEPS} steps, 10 records")


if __name__ == "__main__":
    main()
