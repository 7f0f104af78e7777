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

Second section, "simulated runs needed by the gradient boundary vs bisection": per panel of
``ntajax phase-diagram`` (expected flow, t_tot = 7, every row of a RES × RES grid × SEEDS seeds), the
boundary refined from the grid's brackets by bisection (``refine_boundary``, 6 rounds) and by the
gradient-located Newton iteration (``gradient_boundary`` from the PCHIP start), both to
bisection's tolerance (half its final bracket in log x): simulated runs (a value with its slope
counts as one run per seed; every round simulates every row), rounds, wall time (compilation
included, a fresh program for each), and how far apart the two boundaries are in units of that
tolerance. Panels: ``a`` and ``b`` as the command runs them (Fig. 5 regulariser: hinge + ℓ1 gate
norm), and ``a, smooth`` — panel a with λ_nonneg = 0 and an ℓ2 gate norm, whose map has no kinks.
Then the check of the differentiable outcome on panel a's grid: ``AssignedFinalAlignment`` (each
seed's own assignment held fixed) against the stored summary ``final_alignment``, and a single
``FinalAlignment((0, 1))``.

Usage: ``python bench/bench_gradients.py [--smoke] [--section memory|boundary|all] [--resolution N]
[--seeds N]`` (``--smoke``: the sampled point alone at t_tot = 0.7, no chunk, and the boundary
section on a 4 × 4 smooth panel at t_tot = 2 with 2 seeds, to check the script; its numbers mean
nothing).
"""

import argparse
import dataclasses
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


class CountedMean:
    """refine_boundary's evaluation (the seed-mean final alignment of a probe sweep), counting runs."""

    def __init__(self):
        self.runs = 0

    def __call__(self, probe):
        from ntajax._sweep.phase import seed_mean_final_alignment

        self.runs += probe.n_points * probe.n_seeds
        return seed_mean_final_alignment(probe)


def boundary_panels(resolution, n_seeds, smoke):
    from ntajax._presets.sweeps import phase_a, phase_b

    smooth = ntajax.Regulariser(lambda_nonneg=0.0, lambda_norm=2.5, norm_order=2)
    a = phase_a(resolution, n_seeds)
    panels = {"a": a, "a, smooth": dataclasses.replace(a, base=a.base.replace(regulariser=smooth)),
              "b": phase_b(resolution, n_seeds)}
    if smoke:
        s = panels["a, smooth"]
        return {"a, smooth": dataclasses.replace(s, base=s.base.replace(grid=s.base.grid.replace(t_total=2.0, n_save=21)))}
    return panels


def boundary_section(resolution, n_seeds, smoke) -> None:
    from ntajax._gradients.boundary import AssignedFinalAlignment, SeedSlopes, gradient_boundary
    from ntajax._sweep.execute import run_sweep
    from ntajax._sweep.phase import bisection_tolerance, boundary_by_interpolation, interpolated_start, refine_boundary

    print(f"\nsimulated runs needed by the gradient boundary vs bisection ({resolution} x {resolution} cells x "
          f"{n_seeds} seeds per panel; runs: value(-and-slope) runs per seed)")
    header = (f"{'panel':<10} {'rows':>4} {'bisect runs':>11} {'grad runs':>9} {'ratio':>6} {'rounds b/g':>10} "
              f"{'Newton/bis steps':>16} {'max |d|/tol':>11} {'rows <= tol':>11} {'bisect s':>8} {'grad s':>7}")
    print(header)
    checked = None
    for name, sweep in boundary_panels(resolution, n_seeds, smoke).items():
        x_axis, y_axis = sweep.axes[1].name, sweep.axes[0].name
        ds = run_sweep(sweep, None, progress=False)
        mean = ds["final_alignment"].mean("seed").transpose(y_axis, x_axis).values
        x = ds[x_axis].values
        _, bracket = boundary_by_interpolation(mean, x)
        rows = int(np.isfinite(bracket).all(axis=1).sum())
        bisection = CountedMean()
        start = time.perf_counter()
        bisected = refine_boundary(sweep, x_axis, bracket, evaluate=bisection)
        bisect_s = time.perf_counter() - start
        start = time.perf_counter()
        result = gradient_boundary(sweep, x_axis, bracket, start=interpolated_start(mean, x, bracket))
        grad_s = time.perf_counter() - start
        tol = bisection_tolerance(bracket, log_x=True)
        distance = np.abs(np.log(result.boundary) - np.log(bisected)) / tol
        finite = np.isfinite(distance)
        print(f"{name:<10} {rows:>4} {bisection.runs:>11} {result.runs:>9} {bisection.runs / result.runs:>6.2f} "
              f"{bisection.runs // (len(bracket) * sweep.n_seeds):>4}/{result.iterations:<5} "
              f"{int(result.newton_steps.sum()):>8}/{int(result.bisection_steps.sum()):<7} "
              f"{np.max(distance[finite]):>11.2f} {int((distance[finite] <= 1.0 + 1e-6).sum()):>7}/{int(finite.sum()):<3} "
              f"{bisect_s:>8.1f} {grad_s:>7.1f}")
        if checked is None:
            checked = (sweep, x_axis, y_axis, ds)
    sweep, x_axis, y_axis, ds = checked
    stored = ds["final_alignment"].transpose(y_axis, x_axis, "seed").values  # the summary's A_tot
    x = ds[x_axis].values
    own, fixed = [], []
    for column in range(len(x)):  # every grid column, all rows at once
        probe = np.full(stored.shape[0], x[column])
        own.append(SeedSlopes(sweep, x_axis, AssignedFinalAlignment())(probe)[0])
        fixed.append(SeedSlopes(sweep, x_axis, ntajax.FinalAlignment((0, 1)))(probe)[0])
    own, fixed = np.stack(own, axis=1), np.stack(fixed, axis=1)
    differ = np.abs(fixed - stored) > 1e-3
    print(f"differentiable outcome on panel {next(iter(boundary_panels(resolution, n_seeds, smoke)))!r}'s grid "
          f"({stored.size} runs): max |AssignedFinalAlignment - summary final_alignment| = "
          f"{np.nanmax(np.abs(own - stored)):.1e}; FinalAlignment((0, 1)) differs by > 1e-3 in {int(differ.sum())} runs "
          f"({differ.mean():.0%}; max {np.nanmax(np.abs(fixed - stored)):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--section", choices=("memory", "boundary", "all"), default="all")
    parser.add_argument("--resolution", type=int, default=16, help="cells per axis of the boundary section's panels")
    parser.add_argument("--seeds", type=int, default=10, help="seeds per cell of the boundary section's panels")
    args = parser.parse_args()
    if args.section in ("memory", "all"):
        memory_section(args.smoke)
    if args.section in ("boundary", "all"):
        boundary_section(4 if args.smoke else args.resolution, 2 if args.smoke else args.seeds, args.smoke)


def memory_section(smoke) -> None:
    t_total, n_points = (0.7, 4) if smoke else (7.0, 16)
    key = jax.random.key(0)
    cases = {
        "Fig. 5 point, sampled B=200 (EulerScan)": fig5_base(n_save=101 if smoke else 1001),
        "Fig. 5 point, expected (SubspaceScan)": fig5_base(ntajax.ExpectedGradient(), n_save=101 if smoke else 1001),
    }
    print(f"{'case':<42} {'program':<22} {'points':>6} {'compile s':>10} {'run s':>8} {'peak MiB':>9}")
    for name, sim in list(cases.items())[: 1 if smoke else None]:
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
            if not smoke:
                rows.append((label, n_points, *measure(jax.vmap(g, in_axes=(None, 0)), leaves, chunk)))
        for label, points, compile_s, run_s, peak in sorted(rows, key=lambda r: (r[1], r[0] != "forward")):
            print(f"{name:<42} {label:<22} {points:>6} {compile_s:>10.2f} {run_s:>8.3f} {peak:>9.1f}")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
