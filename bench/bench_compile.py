"""Compile time, run time and memory under XLA's default CPU settings and under ntajax's.

For the Fig. 2 flexible config (10 seeds, t_tot = 20, Δ = 0.002) in three engines, each
measurement runs in a fresh subprocess: compile time of the whole run, then the run time of the
compiled program (best of 3, process CPU time and wall time), and the process's peak RSS. Settings: XLA's
defaults; LLVM level 1; LLVM level 1 with XLA's classic loop emitter instead of the MLIR fusion
emitters (``ntajax._compile.COMPILER_OPTIONS``, which this script justifies). The "wide" rows
run 1000 seeds (250 in sampled mode) at once, as a sweep chunk does.
Usage: ``python bench/bench_compile.py [--smoke]``; ``--smoke`` runs every program and setting
on a short run (t_tot = 0.5) to check that the script works; its numbers mean nothing.
"""

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import jax, equinox as eqx, ntajax
from ntajax._presets.runs import fig2
from ntajax._run import simulate, seed_keys, make_teachers
engine, setting, smoke = sys.argv[1], sys.argv[2], sys.argv[3] == "smoke"
v = fig2()["flexible"]
sampled = engine.startswith("scan-sampled")
c = v.config.replace(gradient=ntajax.SampledGradient(batch_size=200) if sampled else ntajax.ExpectedGradient(),
                     engine={"scan": ntajax.EulerScan(), "subspace": ntajax.SubspaceScan()}[engine.split("-")[0]])
if engine.endswith("wide"):
    c = (c.replace(n_seeds=250, grid=c.grid.replace(t_total=1.0, n_save=101)) if sampled
         else c.replace(n_seeds=1000, grid=c.grid.replace(t_total=2.0, n_save=101)))
if smoke:
    c = c.replace(grid=c.grid.replace(t_total=0.5, n_save=11))
c = c.with_block_count()
key = jax.random.key(0)
teachers = make_teachers(c, key)
_, keys = seed_keys(key, c.n_seeds)
dyn, static = eqx.partition(c, eqx.is_array)
def program(dyn, keys, teachers):
    cfg = eqx.combine(dyn, static)
    return jax.vmap(lambda k: simulate(cfg, k, teachers=teachers))(keys)
options = {"default": None, "level1": {"xla_backend_optimization_level": 1},
           "ntajax": {"xla_backend_optimization_level": 1, "xla_cpu_use_fusion_emitters": False}}[setting]
start = time.perf_counter()
compiled = jax.jit(program, compiler_options=options).lower(dyn, keys, teachers).compile()
compile_s = time.perf_counter() - start
wall, cpu = [], []
for _ in range(3):
    w, p = time.perf_counter(), time.process_time()
    jax.block_until_ready(compiled(dyn, keys, teachers))
    wall.append(time.perf_counter() - w); cpu.append(time.process_time() - p)
print(json.dumps(dict(compile_s=compile_s, run_wall_s=min(wall), run_cpu_s=min(cpu), steps=c.n_steps * c.n_seeds,
                      rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""


def measure(engine: str, setting: str, smoke: bool = False) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, engine, setting, "smoke" if smoke else "full"],
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"benchmark child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="short runs only (checks the script)")
    args = parser.parse_args()
    print(f"{'program':<20} {'setting':>8} {'compile':>9} {'run (wall)':>11} {'run (cpu)':>10} {'steps/s (wall)':>15} {'peak RSS':>9}")
    for engine in ("scan-sampled", "scan-expected", "subspace", "scan-sampled-wide", "subspace-wide"):
        rows = {setting: measure(engine, setting, args.smoke) for setting in ("default", "level1", "ntajax")}
        for setting, r in rows.items():
            print(f"{engine:<20} {setting:>8} {r['compile_s']:>8.2f}s {r['run_wall_s']:>10.3f}s {r['run_cpu_s']:>9.3f}s"
                  f" {r['steps'] / r['run_wall_s']:>15,.0f} {r['rss_mb']:>7.0f}MB")
        print(f"{'':<20} ntajax vs default: compile ×{rows['default']['compile_s'] / rows['ntajax']['compile_s']:.2f} faster, "
              f"run ×{rows['default']['run_wall_s'] / rows['ntajax']['run_wall_s']:.2f} faster")


if __name__ == "__main__":
    main()
