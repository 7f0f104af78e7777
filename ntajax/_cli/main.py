"""Command line.

* ``ntajax phase-diagram`` — the main job: the flexible/forgetful phase diagram.
* ``ntajax run PRESET`` — every variant of a preset (e.g. ``fig2``) → results.zarr, summary.png.
* ``ntajax sweep SPEC`` — any sweep (preset or TOML) into a resumable zarr store.
* ``ntajax figure NAME|all`` — regenerate a paper figure (compute, store, plot).
"""

import argparse
import dataclasses
import os
import sys
import time

from .._provenance import VERSION
from .._presets.runs import PRESETS
from .._simulation import Simulation
from .options import add_compile_cache_option, start_compile_cache
from .names import ENGINES, GRADIENTS, STATIC_OPTIONS, apply_flat, parse_assignment_strings, toml_base

_SET_HELP = (
    "override a field for every variant (repeatable): a traced hyperparameter by its name or path "
    "(tau_w, tau_c, init_scale, block_length, lambda_norm, lambda_nonneg, lambda_w, … or student.tau_c) or one of "
    f"{', '.join(STATIC_OPTIONS)} (gradient: {'/'.join(GRADIENTS)}; engine: {'/'.join(ENGINES)})"
)


def parse_assignments(items: list[str], base: Simulation | None = None) -> dict:
    """Parse ``name=value`` strings into typed changes of ``base`` (default: ``Simulation()``),
    rejecting unknown names and static fields the command line does not set.

    Traced hyperparameters are named by path or by their unique last component (``tau_c`` is
    ``student.tau_c``, :meth:`ntajax.Simulation.resolve_path`); :data:`~ntajax._cli.names.STATIC_OPTIONS`
    lists the static ones. Apply the result with :func:`ntajax._cli.names.apply_flat`.
    """
    return parse_assignment_strings(items, Simulation() if base is None else base)


def _headless() -> None:
    """Commands write image files: draw with the non-interactive Agg backend (set here, at the
    command-line edge, never when a module is imported)."""
    import matplotlib

    matplotlib.use("Agg")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ntajax",
        description="Simulate the Neural Task Abstraction model (gated linear networks learning blocked tasks).",
    )
    parser.add_argument("--version", action="version", version=f"ntajax {VERSION}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="run a preset and write results.zarr and summary.png",
        description=(
            "Run every variant of a preset with the spec's hyperparameters, write DIR/results.zarr "
            "(xarray Dataset: loss, gates, alignment, adaptation_time, context, ... over variant, seed, t, "
            "block, teacher, path) and DIR/summary.png, and print a summary. "
            f"Presets: {', '.join(sorted(PRESETS))}."
        ),
    )
    run.add_argument("preset", help=f"one of: {', '.join(sorted(PRESETS))}")
    run.add_argument(
        "--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE",
        help=_SET_HELP,
    )
    run.add_argument("--out", default="results", help="output directory (default: ./results)")
    run.add_argument("--seed", type=int, default=0, help="root random seed (default 0)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_compile_cache_option(run)
    sub.add_parser("presets", help="list the presets and sweep presets")

    sweep = sub.add_parser(
        "sweep",
        help="run a sweep (a preset name or a TOML file) into a resumable zarr store",
        description=(
            "Run a sweep: every point of a grid over traced config fields (or derived axes tau_ratio, "
            "block_over_tau_w, lambda) × seeds, as chunks of one compiled program. Results go to "
            "DIR/sweep.zarr chunk by chunk; re-running the same command resumes where it stopped, and a store "
            "made by a different spec is refused. SPEC is a sweep preset (fig5a, fig5b, phase_a, phase_b) or a "
            "TOML file with [base], [axes] and [sweep] sections, and optionally [static_axes] (static fields such "
            "as d_in or n_paths: one compiled program per structure, all in the same store)."
        ),
    )
    sweep.add_argument("spec", help="sweep preset name or path to a TOML file")
    sweep.add_argument("--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE",
                       help="override a field of the base simulation (repeatable; names as for ntajax run --set)")
    sweep.add_argument("--out", required=True, help="output directory (the store is DIR/sweep.zarr)")
    sweep.add_argument("--explain", action="store_true",
                       help="do not run: print points, runs, compiled programs, chunks, devices, memory, store size "
                            "and an estimated time (from a short calibration run); nothing is written")
    _cluster_options(sweep)

    phase = sub.add_parser(
        "phase-diagram",
        help="the main job: the flexible/forgetful phase diagram (two dense panels)",
        description=(
            "Map the flexible/forgetful phase diagram like the paper's Fig. 5: (a) block length τ_B/τ_w × gate "
            "speed τ_w/τ_c and (b) τ_B/τ_w × regularisation λ, each RES × RES cells × SEEDS seeds, expected-"
            "gradient flow by default. Writes DIR/phase_diagram.zarr (one group per panel, with the boundary), "
            "DIR/phase_diagram.png, and prints a summary. Resumable."
        ),
    )
    phase.add_argument("--out", default="results", help="output directory (default: ./results)")
    phase.add_argument("--resolution", type=int, default=16, help="cells per axis (default 16)")
    phase.add_argument("--seeds", type=int, default=10, help="seeds per cell (default 10)")
    phase.add_argument("--sampled", action="store_true", help="sampled minibatch dynamics (B = 200) instead of the expected flow")
    phase.add_argument("--no-refine", action="store_true", help="skip the refinement of the boundary")
    phase.add_argument("--boundary", choices=("bisection", "gradient"), default="bisection",
                       help="how the boundary is refined: bisection (6 rounds; default) or gradient (Newton steps on "
                            "exact slopes, bisection where the map is flat or jumps); either way a bootstrap interval "
                            "over seeds is drawn as a band")
    phase.add_argument("--explain", action="store_true",
                       help="do not run: print each panel's points, runs, compiled programs, chunks, memory, store size "
                            "and estimated time (from a short calibration run); nothing is written")
    _cluster_options(phase)

    from .figure import add_figure_command_arguments

    figure = sub.add_parser(
        "figure",
        help="regenerate paper figures (ntajax figure NAME ... | all)",
        description=(
            "Regenerate figures of the paper from scratch with its hyperparameters: simulate (results stored in "
            "DIR/data, keyed by a hash of the full configuration, and reused when unchanged), then plot PNG and PDF "
            "into DIR and print each figure's headline number. NAME is one of the registered figures "
            "(ntajax figure --list) or 'all'."
        ),
    )
    add_figure_command_arguments(figure)
    return parser


def _cluster_options(parser) -> None:
    parser.add_argument("--scheduler", default=None,
                        help="dask scheduler address, or local:N for a LocalCluster with N workers (default: this process)")
    parser.add_argument("--chunk-size", type=int, default=None, help="points per compiled call (default: from --memory-mb)")
    parser.add_argument("--memory-mb", type=float, default=512.0, help="memory budget of one chunk in MB (default 512)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_compile_cache_option(parser)


def _variants(preset: str, assignments: list[str]):
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of: {', '.join(sorted(PRESETS))}.")
    variants = PRESETS[preset]()
    changes = parse_assignments(assignments, next(iter(variants.values())).config)
    return {name: v._replace(config=apply_flat(v.config, changes)) for name, v in variants.items()}


def command_run(args) -> int:
    import jax

    from .._presets.experiment import run_variants
    from .._plotting import summary_figure
    from .._store.dataset import to_dataset, write_zarr

    variants = _variants(args.preset, args.assignments)  # validates before any work
    os.makedirs(args.out, exist_ok=True)  # a path that cannot be written fails before the simulation
    start = time.perf_counter()
    results = run_variants(variants, jax.random.key(args.seed), progress=not args.no_progress,
                           description=f"ntajax run {args.preset}")
    elapsed = time.perf_counter() - start
    ds = to_dataset(results, seed=args.seed)
    ds.attrs["seed"] = args.seed  # the root key is jax.random.key(seed): what reproduces these runs
    ds.attrs["preset"] = args.preset
    ds.attrs["assignments"] = list(args.assignments)
    write_zarr(ds, os.path.join(args.out, "results.zarr"))
    _headless()
    fig = summary_figure(ds)
    fig.savefig(os.path.join(args.out, "summary.png"), dpi=120)
    print(f"simulated {args.preset} (seed {args.seed}) in {elapsed:.1f} s; "
          f"wrote {args.out}/results.zarr and {args.out}/summary.png")
    print(_summary_table(ds))
    return 0


def _summary_table(ds) -> str:
    """One line per variant: final A_tot as mean ± SEM [95 % Student-t interval] (seeds that
    entered/ran; ``!`` where seeds diverged), adaptation time of the first and last block, labels."""
    import numpy as np

    from .._plotting import nan_mean_std
    from ..metrics import format_statistic, seed_statistics

    lines = [f"{'variant':<10} {'final A_tot: mean ± SEM [95% t-interval] (seeds)':>48} {'first/last adapt. time':>24} "
             f"{'flexible seeds':>15} {'diverged':>9}"]
    for name in ds["variant"].values:
        v = ds.sel(variant=name)
        adapt = nan_mean_std(v["adaptation_time"].values, axis=0)[0]
        valid = adapt[np.isfinite(adapt)]
        first, last = (valid[0], valid[-1]) if valid.size else (np.nan, np.nan)
        final = format_statistic(seed_statistics(v["final_alignment"].values))
        lines.append(
            f"{str(name):<10} {final:>48} {first:>11.3f} / {last:<10.3f}"
            f" {int((v['regime'] == 1).sum()):>9d}/{v.sizes['seed']:<5d} {int((v['status'] != 0).sum()):>9d}"
        )
    lines.append("intervals: Student-t over the seeds that entered; diverged seeds are left out and counted ('!').")
    return "\n".join(lines)


def _load_sweep(spec: str, assignments: list[str]):
    from .._presets.sweeps import SWEEP_PRESETS, load_sweep_toml

    if spec in SWEEP_PRESETS:
        sweep = SWEEP_PRESETS[spec]()
    elif spec.endswith(".toml"):
        if not os.path.exists(spec):
            raise ValueError(f"sweep spec file {spec!r} does not exist.")
        sweep = load_sweep_toml(spec, build_base=toml_base)
    else:
        raise ValueError(f"unknown sweep spec {spec!r}: use a TOML file or one of {', '.join(sorted(SWEEP_PRESETS))}.")
    if assignments:
        changes = parse_assignments(assignments, sweep.base)
        sweep = dataclasses.replace(sweep, base=apply_flat(sweep.base, changes))
    return sweep


def command_sweep(args) -> int:
    from .._sweep.execute import run_sweep

    sweep = _load_sweep(args.spec, args.assignments)  # validated before anything runs
    if args.explain:
        plan = run_sweep(sweep, os.path.join(args.out, "sweep.zarr"), chunk_size=args.chunk_size,
                         memory_budget_mb=args.memory_mb, scheduler=args.scheduler, explain=True)
        print(f"sweep {args.spec} → {args.out}/sweep.zarr (not run)\n{plan}")
        return 0
    start = time.perf_counter()
    ds = run_sweep(sweep, os.path.join(args.out, "sweep.zarr"), chunk_size=args.chunk_size,
                   memory_budget_mb=args.memory_mb, scheduler=args.scheduler, progress=not args.no_progress)
    mean = ds["final_alignment"].mean("seed")
    print(f"swept {sweep.n_points} points × {sweep.n_seeds} seeds in {time.perf_counter() - start:.1f} s → {args.out}/sweep.zarr")
    print(f"final total alignment (seed mean): {float(mean.min()):.3f} … {float(mean.max()):.3f}; "
          f"flexible runs {float((ds['regime'] == 1).mean()):.0%}; diverged runs {int((ds['status'] == 1).sum())}")
    return 0


def command_phase_diagram(args) -> int:
    from .phase_diagram import phase_figure, phase_summary, run_phase_diagram
    from .._presets.sweeps import phase_a, phase_b

    if args.resolution < 2 or args.seeds < 1:
        raise ValueError(f"--resolution {args.resolution} must be ≥ 2 and --seeds {args.seeds} ≥ 1.")
    gradient = GRADIENTS["sampled" if args.sampled else "expected"]()
    panels = {"a": phase_a(args.resolution, args.seeds, gradient), "b": phase_b(args.resolution, args.seeds, gradient)}
    if args.explain:
        from .phase_diagram import explain_phase_diagram

        print(explain_phase_diagram(panels, args.out, refine=not args.no_refine, scheduler=args.scheduler,
                                    boundary=args.boundary))
        return 0
    start = time.perf_counter()
    results = run_phase_diagram(panels, args.out, scheduler=args.scheduler, refine=not args.no_refine,
                                progress=not args.no_progress, boundary=args.boundary)
    _headless()
    fig = phase_figure(results)
    fig.savefig(os.path.join(args.out, "phase_diagram.png"), dpi=120)
    print(f"phase diagram in {time.perf_counter() - start:.1f} s → {args.out}/phase_diagram.zarr, {args.out}/phase_diagram.png")
    print(phase_summary(results))
    return 0


def command_figure(args) -> int:
    from .figure import run_figure_command

    return run_figure_command(args)  # sets the Agg backend before drawing


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    start_compile_cache(args)
    try:
        if args.command == "presets":
            from .._presets.sweeps import SWEEP_PRESETS

            for name in sorted(PRESETS):
                doc = (PRESETS[name].__doc__ or "").strip().splitlines()[0]
                print(f"run   {name:<8} {doc}")
            for name in sorted(SWEEP_PRESETS):
                doc = (SWEEP_PRESETS[name].__doc__ or "").strip().splitlines()[0]
                print(f"sweep {name:<8} {doc}")
            return 0
        if args.command == "sweep":
            return command_sweep(args)
        if args.command == "phase-diagram":
            return command_phase_diagram(args)
        if args.command == "figure":
            return command_figure(args)
        return command_run(args)
    except Exception as error:  # noqa: BLE001 - the command line reports, it never shows a traceback for a user error
        return _report(error, args.command)
    except KeyboardInterrupt:
        resumable = args.command in ("sweep", "phase-diagram", "figure")
        hint = " Completed chunks are stored: run the same command again to resume." if resumable else ""
        print(f"ntajax: interrupted.{hint}", file=sys.stderr)
        return 130


TRACEBACK_VARIABLE = "NTAJAX_TRACEBACK"


def _report(error: Exception, command: str) -> int:
    """Print a user error as one message without a traceback and return the exit status (2).

    User errors are the checks at construction (``ValueError``/``TypeError``, which name the
    field, the value and the fix), files that cannot be read or written (``OSError``) and the
    traced checks of a running program (``eqx.EquinoxRuntimeError``). Anything else is a bug:
    it is re-raised with its traceback. Setting ``NTAJAX_TRACEBACK=1`` re-raises every error.
    """
    import equinox as eqx

    if os.environ.get(TRACEBACK_VARIABLE, "") not in ("", "0"):
        raise error
    if isinstance(error, (ValueError, TypeError)):
        message = str(error)
    elif isinstance(error, OSError):
        where = f" {error.filename!r}" if error.filename else ""
        message = f"cannot access{where}: {error.strerror or error}. Check the path (e.g. --out) and its permissions."
    elif isinstance(error, eqx.EquinoxRuntimeError):
        message = f"a check inside the compiled program failed: {str(error).strip().splitlines()[0]}"
    else:
        raise error
    print(f"ntajax {command}: error: {message}", file=sys.stderr)
    if not isinstance(error, (ValueError, TypeError)):
        print(f"(set {TRACEBACK_VARIABLE}=1 to see where it was raised)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
