"""Shared plumbing of the sweep scripts: cached variant runs."""

from collections.abc import Mapping

import jax
import xarray as xr

from ntajax import Variant
from ntajax._presets.experiment import variants_dataset
from ntajax._cli.figure import FigureContext


def variants_store(ctx: FigureContext, name: str, variants: Mapping[str, Variant]) -> xr.Dataset:
    """Run ``variants`` side by side (common random numbers) into a content-addressed store."""
    description = {"variants": dict(variants), "seed": ctx.seed}
    return ctx.cached(
        name, description, lambda: variants_dataset(variants, jax.random.key(ctx.seed), progress=ctx.progress, description=name)
    )
