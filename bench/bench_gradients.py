"""Value-and-gradient of a run's outcome against the forward run alone (issue 11).

For a Fig. 5 point (FIGURES.md; sampled dynamics B = 200 on EulerScan, and the expected flow on
SubspaceScan) and for a 16-point chunk of it (τ_c varied under one vmap), prints compile time,
run time and the peak memory XLA plans for the compiled program (``memory_analysis()``:
temporaries + arguments + outputs; on CPU the buffers the program allocates) of

* ``forward``: the seed-mean final total alignment against a fixed assignment,
* ``grad, checkpoint``: its value and gradient with respect to τ_w, τ_c, τ_B, λ_norm, λ_nonneg,
  with ``EulerScan(checkpoint=True)`` (what ``ntajax.outcome_gradient`` runs),
* ``grad, no checkpoint``: the same without rematerialisation (reverse mode keeps every step).

Measured (2-core CPU, float32, t_tot = 7: 7000 steps, 1001 save points; run s of a second call):

    case                       program              points  compile s   run s  peak MiB
    sampled B=200 (EulerScan)  forward                   1       3.16   0.265       2.8
    sampled B=200 (EulerScan)  grad, checkpoint          1       7.14   1.101       6.2
    sampled B=200 (EulerScan)  grad, no checkpoint       1       6.55   1.001     604.3
    sampled B=200 (EulerScan)  forward                  16       3.24   0.913       3.0
    sampled B=200 (EulerScan)  grad, checkpoint         16      10.87  10.084      46.0
    sampled B=200 (EulerScan)  grad, no checkpoint      16       8.00   (not run)  7995.7
    expected (SubspaceScan)    forward                   1       2.14   0.014       1.8
    expected (SubspaceScan)    grad, checkpoint          1       4.76   0.091      16.5
    expected (SubspaceScan)    grad, no checkpoint       1       5.08   0.050      25.7
    expected (SubspaceScan)    forward                  16       2.99   1.055      62.1
    expected (SubspaceScan)    grad, checkpoint         16       8.90   4.261     248.4
    expected (SubspaceScan)    grad, no checkpoint      16       5.93   1.900     391.1

A program whose planned peak exceeds 3 GiB is compiled but not run (run time ``nan``).

Usage: ``python bench/bench_gradients.py [--smoke]`` (``--smoke``: the sampled point alone at
t_tot = 0.7, no chunk, to check the script; its numbers mean nothing).
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import ntajax
from ntajax._presets.sweeps import fig5_base
from ntajax._run import _check_teachers, _seeds, make_teachers

PATHS = ("student.tau_w", "student.tau_c", "curriculum.block_length", "regulariser.lambda_norm",
         "regulariser.lambda_nonneg")


def programs(sim, key, checkpoint):
    sim = sim.replace(engine=sim.engine.replace(checkpoint=checkpoint))
    teachers = make_teachers(sim, key)
    axis = _check_teachers(sim, teachers)
    outcome = ntajax.FinalAlignment(assignment=(0, 1))

    def mean_outcome(leaves, tau_c):
        c = sim.set(dict(zip(PATHS, leaves)), check=False).set({"student.tau_c": tau_c}, check=False)
        trajectories = _seeds(c, key, teachers, None, axis, None, jnp.int32(0))
        return jnp.mean(jax.vmap(lambda tr: outcome(c, tr))(trajectories))

    return mean_outcome, tuple(sim.get(p) for p in PATHS)


RUN_LIMIT_MIB = 3072  # programs planning more than this are compiled and measured, not run


def measure(fn, *args):
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - start
    m = compiled.memory_analysis()
    peak = (m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes) / 2**20
    if peak > RUN_LIMIT_MIB:
        return compile_s, float("nan"), peak
    jax.block_until_ready(compiled(*args))
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    run_s = time.perf_counter() - start
    return compile_s, run_s, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    t_total, n_points = (0.7, 4) if args.smoke else (7.0, 16)
    key = jax.random.key(0)
    cases = {
        "Fig. 5 point, sampled B=200 (EulerScan)": fig5_base(n_save=101 if args.smoke else 1001),
        "Fig. 5 point, expected (SubspaceScan)": fig5_base(ntajax.ExpectedGradient(), n_save=101 if args.smoke else 1001),
    }
    print(f"{'case':<42} {'program':<22} {'points':>6} {'compile s':>10} {'run s':>8} {'peak MiB':>9}")
    for name, sim in list(cases.items())[: 1 if args.smoke else None]:
        grid = ntajax.TimeGrid(dt=sim.grid.dt, t_total=t_total, n_save=sim.grid.n_save)
        sim = sim.replace(grid=grid, curriculum=ntajax.Blocked(block_length=0.4, fractional_switches=True))
        tau_c = jnp.float32(0.02)
        chunk = jnp.linspace(0.01, 0.05, n_points, dtype=jnp.float32)
        rows = []
        for label, checkpoint, grad in (("forward", False, False), ("grad, checkpoint", True, True),
                                        ("grad, no checkpoint", False, True)):
            f, leaves = programs(sim, key, checkpoint)
            g = jax.value_and_grad(f) if grad else f
            rows.append((label, 1, *measure(g, leaves, tau_c)))
            if not args.smoke:
                rows.append((label, n_points, *measure(jax.vmap(g, in_axes=(None, 0)), leaves, chunk)))
        for label, points, compile_s, run_s, peak in sorted(rows, key=lambda r: (r[1], r[0] != "forward")):
            print(f"{name:<42} {label:<22} {points:>6} {compile_s:>10.2f} {run_s:>8.3f} {peak:>9.1f}")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
