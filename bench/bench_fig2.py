"""Fig. 2 throughput: student-steps per second, compile time and peak RSS (issue: core engine).

Each mode runs in a fresh subprocess so that compile time and peak memory are its own.
The Fig. 2 config (both variants, 10 seeds each, dt = 1e-3, t_tot = 20, B = 200) is run
as one compiled call for both variants (``run_stacked``), as ``ntajax run fig2`` does (the
adaptive diffrax engine runs one call per variant). A
student-step is one Euler step of one seed. Usage: ``python bench/bench_fig2.py``.
"""

import json
import subprocess
import sys

AUTHORS_STEPS_PER_S = 23_000  # the authors' code on this 2-core machine (issue text)
AUTHORS_PEAK_RSS_MB = 1900

CHILD = r"""
import json, resource, sys, time
import jax
import ntajax
from ntajax._presets.runs import fig2
from ntajax._run import run_stacked

mode = sys.argv[1]
variants = fig2()
key = jax.random.key(0)
configs = [v.config for v in variants.values()]
if mode.startswith(("expected", "subspace")):
    configs = [c.replace(gradient=ntajax.ExpectedGradient()) for c in configs]
if mode.startswith("subspace"):
    configs = [c.replace(engine=ntajax.SubspaceScan()) for c in configs]
if mode.endswith("-sparse"):  # same run, recorded every 20 steps instead of every 2
    configs = [c.replace(grid=c.grid.replace(n_save=1001)) for c in configs]
if mode == "diffrax":
    configs = [c.replace(gradient=ntajax.ExpectedGradient(), engine=ntajax.Diffrax()) for c in configs]
def run_both(configs):
    # as ntajax run fig2 (run_variants): one stacked call, except for the adaptive ODE engine
    if configs[0].engine.stackable:
        return run_stacked(configs, key)
    return [ntajax.run(c, key) for c in configs]
t0 = time.perf_counter()
jax.block_until_ready(run_both(configs))
first = time.perf_counter() - t0
warm = float("inf")
for repeat in range(3):  # best of 3: the first call after a compile still pays warm-up costs
    t0 = time.perf_counter()
    jax.block_until_ready(run_both([c.set({"student.tau_w": c.student.tau_w * (1.0001 + repeat * 1e-4)}) for c in configs]))
    warm = min(warm, time.perf_counter() - t0)
steps = sum(c.n_seeds * c.n_steps for c in configs)
print(json.dumps(dict(mode=mode, first_call_s=first, warm_s=warm, steps=steps,
                      rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""


def measure(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    rows = [measure(mode) for mode in ("sampled", "expected", "expected-sparse", "subspace", "subspace-sparse", "diffrax")]
    print(f"{'mode':<15} {'student-steps/s':>16} {'vs authors':>11} {'compile+1st run':>16} {'warm (both)':>14} {'peak RSS':>10}")
    for r in rows:
        rate = r["steps"] / r["warm_s"]
        print(
            f"{r['mode']:<15} {rate:>16,.0f} {rate / AUTHORS_STEPS_PER_S:>10.1f}x {r['first_call_s']:>15.2f}s"
            f" {r['warm_s']:>13.2f}s {r['rss_mb']:>8.0f} MB"
        )
    print(f"authors' code: {AUTHORS_STEPS_PER_S:,} student-steps/s, peak RSS {AUTHORS_PEAK_RSS_MB} MB (issue text)")
    print("warm = best of 3 repetitions of both variants (no recompilation between them)")
    print("records every 2 steps (Δ = 0.002) as in the paper; *-sparse record every 20 steps (Δ = 0.02)")
    print("expected = Euler scan of the expected flow in full coordinates; subspace = the same iterates in exact reduced coordinates")
    print("diffrax: adaptive Tsit5 (rtol 1e-4, atol 1e-6); 'student-steps' counts the equivalent Euler steps of dt = 1e-3")


if __name__ == "__main__":
    main()
