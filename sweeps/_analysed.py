"""Cached variant runs followed by a named analysis step (shared by the composition and FC sweeps).

:func:`sweeps._common.variants_store` stores what :func:`ntajax._experiment.variants_dataset`
returns. The per-neuron and FC figures need row-matched views (MODEL §7.9) of the recorded
weights, and the FC store drops or thins large raw arrays, so those stores are produced by
``analysis(variants_dataset(...))``. The analysis is named in the cache description, so a
changed analysis can never be read from an older store.
"""

from collections.abc import Callable, Mapping

import jax
import xarray as xr

from ntajax import Variant
from ntajax._presets.experiment import variants_dataset
from ntajax._cli.figure import FigureContext


def analysed_store(
    ctx: FigureContext,
    name: str,
    variants: Mapping[str, Variant],
    analysis: Callable[[xr.Dataset], xr.Dataset],
    analysis_name: str,
) -> xr.Dataset:
    """Run ``variants`` side by side (common random numbers), apply ``analysis`` and store the
    result under a content hash of the variants, the seed and ``analysis_name``."""
    description = {"variants": dict(variants), "seed": ctx.seed, "analysis": analysis_name}

    def compute():
        return analysis(variants_dataset(variants, jax.random.key(ctx.seed), progress=ctx.progress, description=name))

    return ctx.cached(name, description, compute)
