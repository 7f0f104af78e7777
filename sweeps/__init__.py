"""Sweep and simulation scripts behind the figures: each writes a labelled store and never plots.

Every module has ``compute(ctx)`` returning xarray Datasets (stored under ``ctx.out/data``,
keyed by a content hash of the full configuration); the figure registry (``figures.FIGURES``)
names which one each figure uses. ``python -m sweeps NAME [--quick] [--out DIR]`` computes the
stores of figure NAME without drawing it.
"""
