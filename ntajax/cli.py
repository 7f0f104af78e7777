"""Command line: ``ntajax run PRESET [--set name=value ...] [--out DIR]``.

Runs every variant of a preset (e.g. ``fig2``: flexible and forgetful), writes
``DIR/results.zarr`` (an xarray Dataset) and ``DIR/summary.png``, and prints a summary.
"""

import argparse
import os
import sys
import time

from ._config import TRACED_FIELDS, Config
from ._presets import PRESETS

# Fields a user may change from the command line, with the type their value is parsed as.
_SETTABLE = {name: float for name in TRACED_FIELDS} | {
    "d_in": int, "d_out": int, "n_teachers": int, "n_paths": int, "dt": float, "t_total": float,
    "n_save": int, "batch_size": int, "n_seeds": int, "norm_order": int, "gradient": str,
    "engine": str, "n_blocks": int,
}


def parse_assignments(items: list[str]) -> dict:
    """Parse ``name=value`` strings into typed config changes, rejecting unknown names."""
    changes = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set {item!r} must look like name=value, e.g. --set tau_c=0.05.")
        name, raw = item.split("=", 1)
        name = name.strip()
        if name not in _SETTABLE:
            raise ValueError(f"--set {name}: unknown field. Settable fields: {', '.join(sorted(_SETTABLE))}.")
        kind = _SETTABLE[name]
        try:
            changes[name] = kind(raw)
        except ValueError:
            raise ValueError(f"--set {name}={raw!r}: expected a value of type {kind.__name__}.") from None
    return changes


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ntajax",
        description="Simulate the Neural Task Abstraction model (gated linear networks learning blocked tasks).",
    )
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
        help=f"override a config field for every variant (repeatable). Fields: {', '.join(sorted(_SETTABLE))}",
    )
    run.add_argument("--out", default="results", help="output directory (default: ./results)")
    run.add_argument("--seed", type=int, default=0, help="root random seed (default 0)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sub.add_parser("presets", help="list the presets")
    return parser


def _variants(preset: str, changes: dict):
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of: {', '.join(sorted(PRESETS))}.")
    variants = PRESETS[preset]()
    return {name: v._replace(config=v.config.replace(**changes)) for name, v in variants.items()}


def _chunks_for(config: Config, target: int = 10) -> int:
    intervals = config.n_save - 1
    return max(d for d in range(1, target + 1) if intervals % d == 0)


def command_run(args) -> int:
    import jax
    from tqdm.auto import tqdm

    from ._plotting import summary_figure
    from ._run import run_chunked
    from ._store import to_dataset, write_zarr
    from ._summary import summarise

    variants = _variants(args.preset, parse_assignments(args.assignments))  # validates before any work
    key = jax.random.key(args.seed)
    results = {}
    start = time.perf_counter()
    total = sum(_chunks_for(v.config) for v in variants.values())
    with tqdm(total=total, desc=f"ntajax run {args.preset}", unit="chunk", disable=args.no_progress) as bar:
        for name, variant in variants.items():
            bar.set_postfix_str(name)
            config = variant.config
            trajectory = run_chunked(
                config, key, n_chunks=_chunks_for(config), teachers=variant.teachers, init=variant.init,
                progress=lambda i: bar.update(1),
            )
            results[name] = (config, trajectory, summarise(config, trajectory))
    elapsed = time.perf_counter() - start
    ds = to_dataset(results)
    os.makedirs(args.out, exist_ok=True)
    write_zarr(ds, os.path.join(args.out, "results.zarr"))
    fig = summary_figure(ds)
    fig.savefig(os.path.join(args.out, "summary.png"), dpi=120)
    print(f"simulated {args.preset} in {elapsed:.1f} s; wrote {args.out}/results.zarr and {args.out}/summary.png")
    print(_summary_table(ds))
    return 0


def _summary_table(ds) -> str:
    import numpy as np

    lines = [f"{'variant':<10} {'final A_tot':>12} {'first/last adapt. time':>24} {'flexible seeds':>15} {'diverged':>9}"]
    for name in ds["variant"].values:
        v = ds.sel(variant=name)
        adapt = np.nanmean(v["adaptation_time"].values, axis=0)
        valid = adapt[np.isfinite(adapt)]
        first, last = (valid[0], valid[-1]) if valid.size else (np.nan, np.nan)
        lines.append(
            f"{str(name):<10} {float(v['final_alignment'].mean()):>12.3f} {first:>11.3f} / {last:<10.3f}"
            f" {int(v['regime'].sum()):>9d}/{v.sizes['seed']:<5d} {int((v['status'] != 0).sum()):>9d}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "presets":
            for name in sorted(PRESETS):
                doc = (PRESETS[name].__doc__ or "").strip().splitlines()[0]
                print(f"{name:<8} {doc}")
            return 0
        return command_run(args)
    except (ValueError, TypeError) as error:
        print(f"ntajax: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
