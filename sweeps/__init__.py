"""Sweep and simulation scripts behind the figures: each writes a labelled store and never plots.

Every module has ``compute(ctx)`` returning xarray Datasets (stored under ``ctx.out/data``,
keyed by a content hash of the full configuration) and ``main()`` so that it can be run on
its own: ``python -m sweeps.NAME [--quick] [--out DIR]``.
"""
