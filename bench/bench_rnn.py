"""Gated-RNN sweep throughput: one compiled, vmapped sweep chunk vs one compile per run.

The same runs two ways, in one process:

1. **ntajax**: one program for the whole chunk — ``jit(vmap_points(vmap_seeds(train)))`` with τ_c,
   τ_w, λ_norm and τ_B as traced leaves (what :func:`ntajax.rnn_sweep` runs);
2. **one compile per run** (the usual strategy in the field, e.g. one joblib process per run):
   every (point, seed) run jitted on its own, its hyperparameters baked into the program as
   constants, compiled and run one after the other.

Both train the Go/Anti pair of ``rnn-switching`` (gated tanh RNN, N = 32, P = 2; 20-step trials,
16 trials per step) for ``--steps`` steps at 2⁴ = 16 points (τ_c, τ_w, λ_norm, τ_B each at two
values) × ``--seeds`` seeds. Reported: compile time, run time, and trial-steps per second
(runs × steps × trials per step × trial length / time), with and without compilation, and the
largest difference of the final minibatch loss between the two (same keys, same runs).

Usage: ``python bench/bench_rnn.py [--steps 500] [--seeds 1] [--smoke]``; ``--smoke`` runs 2
points × 1 seed × 20 steps (checks the script; its numbers mean nothing).
"""

import argparse
import platform
import time

import jax
import numpy as np

import ntajax
from ntajax._rnn.sweep import _sweep_chunk
from ntajax._rnn.training import seed_keys, train_one


def base_experiment(n_steps: int) -> ntajax.RNNExperiment:
    return ntajax.RNNExperiment(
        student=ntajax.GatedRNN(n_hidden=32, n_modules=2, alpha=0.3, tau_w=0.5, tau_c=0.05),
        tasks=(ntajax.Go(), ntajax.Go(anti=True)), readout=ntajax.SharedReadout(),
        curriculum=ntajax.BlockedTasks(block_length=1.0),
        regulariser=ntajax.Regulariser(lambda_norm=10 / 11, lambda_nonneg=1 / 11),
        dt=0.02, n_steps=n_steps, batch_size=16, record_every=n_steps // 10 if n_steps >= 10 else n_steps,
        eval_size=16, max_blocks=64,
    )


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    n_steps, n_seeds = (20, 1) if args.smoke else (args.steps, args.seeds)
    ex = base_experiment(n_steps)
    axes = {"student.tau_c": [0.05, 0.2], "student.tau_w": [0.5, 1.0], "regulariser.lambda_norm": [0.0, 10 / 11],
            "curriculum.block_length": [1.0, 2.0]}
    points = ntajax.rnn_grid(axes)
    if args.smoke:
        points = {k: v[:2] for k, v in points.items()}
    n_points = len(next(iter(points.values())))
    keys = seed_keys(0, n_seeds)
    trial_steps = n_points * n_seeds * n_steps * ex.batch_size * ex.n_trial_steps
    print(f"device {jax.devices()[0].platform} ({cpu_model()}), jax {jax.__version__}; {n_points} points × {n_seeds} "
          f"seeds × {n_steps} steps × {ex.batch_size} trials × {ex.n_trial_steps} trial steps = "
          f"{trial_steps:,} trial-steps")

    # 1. one program for the chunk
    values = {p: jax.numpy.asarray(v, dtype=jax.numpy.float32) for p, v in points.items()}
    start = time.perf_counter()
    compiled = _sweep_chunk.lower(ex, values, keys).compile()
    compile_vmapped = time.perf_counter() - start
    start = time.perf_counter()
    out = compiled(ex, values, keys)
    jax.block_until_ready(out.step_loss)
    run_vmapped = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(compiled(ex, values, keys).step_loss)
    rerun_vmapped = time.perf_counter() - start

    # 2. one compile per run, hyperparameters as constants
    compile_each = run_each = 0.0
    final_each = np.zeros((n_points, n_seeds))
    for j in range(n_points):
        point = ex.set({p: float(v[j]) for p, v in points.items()})
        for s in range(n_seeds):
            fn = jax.jit(lambda key, point=point: train_one(point, key))  # the point's numbers are constants
            start = time.perf_counter()
            program = fn.lower(keys[s]).compile()
            compile_each += time.perf_counter() - start
            start = time.perf_counter()
            run = program(keys[s])
            final_each[j, s] = float(run.step_loss[-1])
            run_each += time.perf_counter() - start
    difference = float(np.max(np.abs(final_each - np.asarray(out.step_loss[..., -1]))))

    print(f"{'strategy':<34}{'compile s':>10}{'run s':>9}{'total s':>9}{'trial-steps/s':>16}{'(run only)':>14}")
    for name, c, r in (("ntajax: one vmapped chunk", compile_vmapped, run_vmapped),
                       (f"one compile per run ({n_points * n_seeds} runs)", compile_each, run_each)):
        print(f"{name:<34}{c:>10.2f}{r:>9.2f}{c + r:>9.2f}{trial_steps / (c + r):>16,.0f}{trial_steps / r:>14,.0f}")
    print(f"speed-up, total: {(compile_each + run_each) / (compile_vmapped + run_vmapped):.1f}x; run only: "
          f"{run_each / run_vmapped:.1f}x (second call of the chunk: {rerun_vmapped:.2f} s); "
          f"max |Δ final loss| {difference:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
