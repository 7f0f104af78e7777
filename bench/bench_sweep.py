"""Sweep benchmarks (issue: sweep engine and main job). Prints one table per measurement.

1. Fig. 5a panel (25 points × 10 seeds, t_tot = 7, dt = 1e-3): sampled B = 200 and expected
   gradient, end to end in a cold process (interpreter start, imports, compile, run, store), with
   JAX's persistent compilation cache off, and again with a warm persistent cache.
2. A 64 × 64 × 10-seed expected-mode phase diagram (panel a axes): wall time and peak RSS.
3. Side by side in one process: the Fig. 5a panel (expected) as one compile per grid point (the
   original strategy: every point's hyperparameters baked in as constants) vs ntajax's single
   compile; the ratio.
4. diffrax (adaptive Tsit5) vs Euler at equal accuracy of the final total alignment on one
   flexible Fig. 5 point: vector-field evaluations and wall time.

Usage: ``python bench/bench_sweep.py [--skip-big] [--smoke]``. Each cold measurement runs in a
fresh subprocess; numbers on the shared 2-core CPU vary by ±20 %. ``--smoke`` runs every
measurement's code at a tiny size (2 × 2 points, 2 seeds, short runs) to check that the script
works; its numbers mean nothing.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

AUTHORS_FIG5A_S = 227.0  # the authors' code on this machine (issue text)

# Prepended to every child: --smoke (NTAJAX_BENCH_SMOKE=1) shrinks each measurement to seconds.
PRELUDE = r"""
import dataclasses as _dc, os as _os
SMOKE = bool(_os.environ.get("NTAJAX_BENCH_SMOKE"))
def shrink(sweep):
    if not SMOKE:
        return sweep
    base = sweep.base.replace(grid=sweep.base.grid.replace(t_total=0.5, n_save=11))
    return _dc.replace(sweep, base=base, axes=tuple(_dc.replace(a, values=a.values[:2]) for a in sweep.axes), n_seeds=2)
"""

COLD = r"""
import json, os, resource, sys, time
t_start = float(sys.argv[3])
import ntajax
from ntajax._presets.sweeps import fig5a
from ntajax._sweep.execute import run_sweep
gradient, out = sys.argv[1], sys.argv[2]
mode = {"sampled": ntajax.SampledGradient(batch_size=200), "expected": ntajax.ExpectedGradient()}[gradient]
if os.environ.get("NTAJAX_BENCH_CACHE"):
    import jax
    jax.config.update("jax_compilation_cache_dir", os.environ["NTAJAX_BENCH_CACHE"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
ds = run_sweep(shrink(fig5a(mode)), out, progress=False)
ok = bool((ds["status"] == 0).all())
print(json.dumps(dict(total_s=time.time() - t_start, ok=ok, rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      mean_alignment=float(ds["final_alignment"].mean()))))
"""

BIG = r"""
import json, resource, sys, time
import numpy as np
import ntajax
from ntajax._sweep.sweep import Sweep, make_axis
from ntajax._presets.sweeps import fig5_base
from ntajax._sweep.execute import run_sweep
t0 = time.perf_counter()
sweep = Sweep(fig5_base(ntajax.ExpectedGradient(), n_save=101), (make_axis("block_over_tau_w", np.geomspace(1, 16, 64)),
              make_axis("tau_ratio", np.geomspace(1, 40, 64))), n_seeds=10)
sweep = shrink(sweep)
ds = run_sweep(sweep, sys.argv[1], progress=False)
print(json.dumps(dict(wall_s=time.perf_counter() - t0, runs=sweep.n_points * sweep.n_seeds,
                      rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, ok=bool((ds["status"] == 0).all()))))
"""

PER_POINT = r"""
import json, time
import equinox as eqx, jax, numpy as np
import ntajax
from ntajax._run import make_teachers, seed_keys, simulate
from ntajax._presets.sweeps import fig5a
from ntajax._sweep.sweep import compute_chunk
sweep = shrink(fig5a(ntajax.ExpectedGradient()))
config = sweep.config
key = jax.random.key(sweep.seed)
teachers = make_teachers(config, key)
_, keys = seed_keys(key, config.n_seeds)

t0 = time.perf_counter()
per_point = []
for point in sweep.point_fields():
    point_config = config.set(point)
    # the original strategy: the point's hyperparameters are constants of its own program
    program = jax.jit(lambda k: jax.vmap(lambda kk: ntajax.summarise_one(point_config, simulate(point_config, kk, teachers=teachers)).final_alignment)(k))
    per_point.append(np.asarray(program(keys)))
per_point_s = time.perf_counter() - t0
t0 = time.perf_counter()
single = compute_chunk(sweep, 0, sweep.n_points)["final_alignment"]
single_s = time.perf_counter() - t0
print(json.dumps(dict(per_point_s=per_point_s, single_s=single_s, n_points=sweep.n_points,
                      max_diff=float(np.max(np.abs(np.stack(per_point) - single))))))
"""

ODE = r"""
import json, time
import diffrax, jax, jax.numpy as jnp, numpy as np
import ntajax
from ntajax._curricula.clock import switch_times
from ntajax._run import make_teachers
from ntajax._presets.sweeps import fig5_base

# float64 throughout, so that the Euler error is the discretisation error and not rounding
T_TOTAL, N_SAVE, REFERENCE_DT, REPEATS = (1.2, 7, 1e-4, 1) if SMOKE else (7.0, 101, 1e-6, 5)
base = fig5_base(ntajax.ExpectedGradient(), n_save=101).set({"curriculum.block_length": 0.6, "student.tau_c": 0.02})
base = base.replace(grid=base.grid.replace(t_total=T_TOTAL, n_save=N_SAVE), n_seeds=1, dtype="float64").with_block_count()
key = jax.random.key(0)
teachers = make_teachers(base, key)

def final_alignment(config):
    trajectory = ntajax.run(config, key, teachers=teachers)
    with jax.enable_x64(True):
        return float(ntajax.summarise(config, trajectory).final_alignment[0])

def best_time(f, repeats=REPEATS):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter(); value = f(); best = min(best, time.perf_counter() - t0)
    return value, best

reference = final_alignment(base.replace(engine=ntajax.SubspaceScan(), grid=base.grid.replace(dt=REFERENCE_DT)))
rows = []
for dt in (1e-2, 5e-3, 2e-3, 1e-3, 5e-4):
    config = base.replace(engine=ntajax.EulerScan(), grid=base.grid.replace(dt=dt))
    final_alignment(config)  # compile
    value, wall = best_time(lambda: final_alignment(config))
    rows.append(dict(engine=f"Euler dt={dt:g}", error=abs(value - reference), evaluations=config.n_steps, wall_s=wall))
for rtol in (1e-3, 1e-4, 1e-5, 1e-6):
    engine = ntajax.Diffrax(stepsize_controller=diffrax.PIDController(rtol=rtol, atol=rtol * 1e-2), max_steps=4_000_000)
    config = base.replace(engine=engine)
    final_alignment(config)
    value, wall = best_time(lambda: final_alignment(config))
    # count the solver's steps with the same problem solved directly
    with jax.enable_x64(True):
      cast = config.cast()
      switches = switch_times(cast.schedule.block_length, cast.block_count)
      init_key = jax.random.split(ntajax.seed_keys(key, 1)[1][0])[0]
      init = jax.tree.map(lambda x: x.astype(jnp.float64), cast.student.initialise(
          init_key, d_in=cast.d_in, d_out=cast.d_out, n_teachers=cast.n_teachers))
      solution = diffrax.diffeqsolve(
        diffrax.ODETerm(ntajax.ode_vector_field), diffrax.Tsit5(), t0=0.0, t1=cast.grid.t_total, dt0=cast.grid.dt, y0=init,
        args=(cast.student, cast.regulariser, cast.schedule, teachers.astype(jnp.float64), switches),
        stepsize_controller=diffrax.ClipStepSizeController(engine.stepsize_controller, jump_ts=switches.astype(jnp.float64)),
        max_steps=engine.max_steps, saveat=diffrax.SaveAt(t1=True), throw=False)
      steps = int(solution.stats["num_steps"])
    rows.append(dict(engine=f"diffrax Tsit5 rtol={rtol:g}", error=abs(value - reference), evaluations=6 * steps, wall_s=wall))
print(json.dumps(dict(reference=reference, rows=rows)))
"""


def _child(code: str, *args: str, env=None) -> dict:
    out = subprocess.run([sys.executable, "-c", PRELUDE + code, *args], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(f"benchmark child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold_fig5a() -> None:
    print("1. Fig. 5a panel, 25 points × 10 seeds, t_tot = 7, end to end in a cold process")
    print(f"{'mode':<10} {'compile cache':<22} {'total':>8} {'vs authors (227 s)':>19} {'peak RSS':>9} {'mean A_tot':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for gradient in ("sampled", "expected"):
            cache = os.path.join(tmp, f"jaxcache-{gradient}")
            labels = (("off", None), ("persistent, first", cache), ("persistent, warm", cache))
            for label, env_cache in labels[:1] if os.environ.get("NTAJAX_BENCH_SMOKE") else labels:
                env = dict(os.environ)
                if env_cache:
                    env["NTAJAX_BENCH_CACHE"] = env_cache
                out = os.path.join(tmp, f"{gradient}-{label.replace(' ', '_').replace(',', '')}.zarr")
                r = _child(COLD, gradient, out, repr(time.time()), env=env)
                print(f"{gradient:<10} {label:<22} {r['total_s']:>7.2f}s {AUTHORS_FIG5A_S / r['total_s']:>18.0f}x"
                      f" {r['rss_mb']:>7.0f}MB {r['mean_alignment']:>11.3f}")
    print("total = interpreter start to results stored (imports ≈ 1 s of it); 'persistent' = jax_compilation_cache_dir set")


def big_phase_diagram() -> None:
    print("\n2. 64 × 64 × 10-seed expected-mode phase diagram (τ_B/τ_w × τ_w/τ_c), one process")
    with tempfile.TemporaryDirectory() as tmp:
        r = _child(BIG, os.path.join(tmp, "big.zarr"))
    print(f"{r['runs']:,} runs × 7000 steps in {r['wall_s']:.1f} s ({r['runs'] * 7000 / r['wall_s']:,.0f} student-steps/s), "
          f"peak RSS {r['rss_mb']:.0f} MB, all runs ok: {r['ok']}")


def per_point_vs_single() -> None:
    print("\n3. One compile per grid point (the original strategy) vs one compile for the panel (Fig. 5a, expected)")
    r = _child(PER_POINT)
    print(f"per point: {r['per_point_s']:.1f} s for {r['n_points']} compiles;  single program: {r['single_s']:.2f} s;"
          f"  ratio {r['per_point_s'] / r['single_s']:.1f}x;  max |Δ final A_tot| {r['max_diff']:.2e}")


def ode_vs_euler() -> None:
    print("\n4. diffrax vs Euler on one Fig. 5 point (τ_B = 0.6, τ_c = 0.02), float64; error of the final A_tot vs Euler dt = 1e-6")
    r = _child(ODE)
    print(f"{'engine':<28} {'|error|':>10} {'vector-field evals':>19} {'wall':>8}")
    for row in r["rows"]:
        print(f"{row['engine']:<28} {row['error']:>10.2e} {row['evaluations']:>19,} {row['wall_s']:>7.3f}s")
    print("diffrax evaluations = 6 per accepted or rejected Tsit5 step; wall = best of 5, excluding compilation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-big", action="store_true", help="skip the 64 × 64 × 10 phase diagram")
    parser.add_argument("--smoke", action="store_true", help="run every measurement at a tiny size (checks the script)")
    args = parser.parse_args()
    if args.smoke:
        os.environ["NTAJAX_BENCH_SMOKE"] = "1"  # inherited by the children
    cold_fig5a()
    if not args.skip_big:
        big_phase_diagram()
    per_point_vs_single()
    ode_vs_euler()


if __name__ == "__main__":
    main()
