"""Compile time vs run time at XLA's default LLVM optimisation level and at level 1.

For the Fig. 2 flexible config (10 seeds, t_tot = 20, Δ = 0.002) in three engines, each
measurement runs in a fresh subprocess: compile time of the whole run, then the run time of the
compiled program (best of 3, process CPU time and wall time). ntajax passes level 1
(``ntajax._compile.COMPILER_OPTIONS``); this script justifies that choice.
Usage: ``python bench/bench_compile.py``.
"""

import json
import subprocess
import sys

CHILD = r"""
import json, sys, time
import jax, equinox as eqx, ntajax
from ntajax._presets import fig2
from ntajax._run import simulate, seed_keys, make_teachers
engine, level = sys.argv[1], int(sys.argv[2])
v = fig2()["flexible"]
gradient = "sampled" if engine == "scan-sampled" else "expected"
c = v.config.replace(gradient=gradient, engine=engine.split("-")[0]).with_block_count()
key = jax.random.key(0)
teachers = make_teachers(c, key)
_, keys = seed_keys(key, c.n_seeds)
dyn, static = eqx.partition(c, eqx.is_array)
def program(dyn, keys, teachers):
    cfg = eqx.combine(dyn, static)
    return jax.vmap(lambda k: simulate(cfg, k, teachers=teachers))(keys)
options = None if level < 0 else {"xla_backend_optimization_level": level}
start = time.perf_counter()
compiled = jax.jit(program, compiler_options=options).lower(dyn, keys, teachers).compile()
compile_s = time.perf_counter() - start
wall, cpu = [], []
for _ in range(3):
    w, p = time.perf_counter(), time.process_time()
    jax.block_until_ready(compiled(dyn, keys, teachers))
    wall.append(time.perf_counter() - w); cpu.append(time.process_time() - p)
print(json.dumps(dict(compile_s=compile_s, run_wall_s=min(wall), run_cpu_s=min(cpu), steps=c.n_steps * c.n_seeds)))
"""


def measure(engine: str, level: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, engine, str(level)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    print(f"{'engine':<14} {'LLVM level':>10} {'compile':>9} {'run (wall)':>11} {'run (cpu)':>10} {'steps/s (wall)':>15}")
    for engine in ("scan-sampled", "scan-expected", "subspace"):
        rows = {level: measure(engine, level) for level in (-1, 1)}
        for level, r in rows.items():
            label = "default" if level < 0 else str(level)
            print(f"{engine:<14} {label:>10} {r['compile_s']:>8.2f}s {r['run_wall_s']:>10.3f}s {r['run_cpu_s']:>9.3f}s"
                  f" {r['steps'] / r['run_wall_s']:>15,.0f}")
        ratio = rows[-1]["compile_s"] / rows[1]["compile_s"]
        print(f"{'':<14} compile time default/level 1 = {ratio:.2f}; run time level 1/default = "
              f"{rows[1]['run_cpu_s'] / rows[-1]['run_cpu_s']:.2f} (cpu)")


if __name__ == "__main__":
    main()
