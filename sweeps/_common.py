"""Shared plumbing of the sweep scripts: cached variant runs and the ``python -m sweeps.NAME`` driver."""

import argparse
from collections.abc import Callable, Mapping

import jax
import xarray as xr

from ntajax import Variant
from ntajax._presets.experiment import variants_dataset
from ntajax._cli.figure import FigureContext, add_figure_arguments, context_from_args


def variants_store(ctx: FigureContext, name: str, variants: Mapping[str, Variant]) -> xr.Dataset:
    """Run ``variants`` side by side (common random numbers) into a content-addressed store."""
    description = {"variants": dict(variants), "seed": ctx.seed}
    return ctx.cached(
        name, description, lambda: variants_dataset(variants, jax.random.key(ctx.seed), progress=ctx.progress, description=name)
    )


def sweep_main(compute: Callable[[FigureContext], Mapping[str, xr.Dataset]], description: str, argv=None) -> int:
    """``main()`` of a sweep script: compute its stores and list them."""
    parser = argparse.ArgumentParser(description=description)
    add_figure_arguments(parser)
    ctx = context_from_args(parser.parse_args(argv))
    for key, ds in compute(ctx).items():
        print(f"{key}: {dict(ds.sizes)} (content hash {ds.attrs.get('content_hash', '?')[:16]}) in {ctx.data_dir}")
    return 0
