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
        name, description, lambda: variants_dataset(variants, jax.random.key(ctx.seed), progress=ctx.progress, description=name),
        work=variants_work(variants),
    )


def variants_work(variants: Mapping[str, Variant]) -> str:
    """``"2 variants × 10 seeds × 20,000 steps (sampled)"``: what running ``variants`` simulates."""
    configs = [v.config for v in variants.values()]
    seeds = sorted({c.n_seeds for c in configs})
    steps = sorted({c.n_steps for c in configs})
    modes = sorted({"sampled" if c.gradient.is_sampled else "expected" for c in configs})
    runs = sum(c.n_seeds for c in configs)
    return (f"{len(configs)} variant(s) × {'/'.join(map(str, seeds))} seeds × {'/'.join(f'{s:,}' for s in steps)} steps "
            f"({', '.join(modes)}): {runs} runs, {sum(c.n_seeds * c.n_steps for c in configs):,} student-steps")
