"""The persistent compilation cache the command line turns on by default (issue 13).

Runs ``ntajax run fig2`` and ``ntajax sweep fig5a`` as a user would, each three times in fresh
processes, side by side on one machine: with the cache off, then twice with a new, empty cache
folder (first: the cache is filled; second: every program comes from it). Prints wall times
(interpreter start to exit) and the ratio first/second.

Usage: ``python bench/bench_cache.py [--smoke]`` (``--smoke``: Fig. 2 at t_tot = 1 and the
Fig. 5a panel at t_tot = 0.7, to check the script; its numbers mean nothing).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time


def timed(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ntajax._cli.main", *argv], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    shrink = {"fig2": ["--set", "t_total=1", "--set", "n_save=501"], "fig5a": ["--set", "t_total=0.7", "--set", "n_save=101"]}
    commands = {
        "ntajax run fig2": lambda out: ["run", "fig2", "--out", out, "--no-progress", *(shrink["fig2"] if args.smoke else [])],
        "ntajax sweep fig5a": lambda out: ["sweep", "fig5a", "--out", out, "--no-progress",
                                           *(shrink["fig5a"] if args.smoke else [])],
    }
    print(f"{'command':<20} {'cache off':>10} {'first':>10} {'second':>10} {'first/second':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, argv in commands.items():
            base = {k: v for k, v in os.environ.items() if k != "NTAJAX_COMPILE_CACHE"}
            cache = os.path.join(tmp, name.replace(" ", "_"), "cache")
            off = timed(argv(os.path.join(tmp, f"{name}-off")), base | {"NTAJAX_COMPILE_CACHE": "off"})
            first = timed(argv(os.path.join(tmp, f"{name}-1")), base | {"NTAJAX_COMPILE_CACHE": cache})
            second = timed(argv(os.path.join(tmp, f"{name}-2")), base | {"NTAJAX_COMPILE_CACHE": cache})
            print(f"{name:<20} {off:>9.1f}s {first:>9.1f}s {second:>9.1f}s {first / second:>12.2f}x", flush=True)
    print("wall time of a fresh process, interpreter start to exit (imports ≈ 3 s of it); each run writes a new --out")


if __name__ == "__main__":
    main()
