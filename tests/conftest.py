"""Shared test helpers."""

import os

# The command line turns JAX's persistent compilation cache on by default (ntajax._compile_cache);
# tests call it in-process, so keep them from writing to the user's cache and changing JAX's
# configuration for the tests that follow (tests/test_cli.py checks the cache in a subprocess).
os.environ.setdefault("NTAJAX_COMPILE_CACHE", "off")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import ntajax  # noqa: E402


def tree_allclose(a, b, *, rtol=1e-6, atol=1e-6) -> bool:
    """All leaves of two pytrees have equal structure and are elementwise close (NaNs equal)."""
    la, ta = jax.tree.flatten(a)
    lb, tb = jax.tree.flatten(b)
    if ta != tb:
        return False
    return all(np.allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol, equal_nan=True) for x, y in zip(la, lb))


@pytest.fixture
def flexible_config():
    """A small, fast flexible-regime config (Fig. 2 hyperparameters, shorter run)."""
    return ntajax.Simulation(
        d_in=20, d_out=10, student=ntajax.Gated(tau_w=1.3, tau_c=0.03),
        regulariser=ntajax.Regulariser(lambda_nonneg=1 / 11, lambda_norm=10 / 11),
        gradient=ntajax.ExpectedGradient(), grid=ntajax.TimeGrid(t_total=2.0, n_save=21), n_seeds=2,
        curriculum=ntajax.Blocked(block_length=0.5),
    )


@pytest.fixture
def key():
    return jax.random.key(0)


def random_gated(key, P=2, d_out=10, d_in=20, scale=0.3):
    k1, k2 = jax.random.split(key)
    return ntajax.GatedStudent(W=scale * jax.random.normal(k1, (P, d_out, d_in)), c=jax.random.uniform(k2, (P,), minval=-0.2, maxval=1.0))


def tiny_figures(out_dir):
    """``get(name)`` → (plotting module, context, data): each figure's stores computed once at tiny
    size in ``out_dir`` through its registry entry (shared by the figures of a test module, as in
    ``ntajax figure all``); the module gives the tests its helpers and ``plot``/``headline``."""
    from ntajax._cli.figure import FigureContext, load_figure

    cache = {}

    def get(name):
        if name not in cache:
            entry = load_figure(name)
            ctx = FigureContext(out=out_dir, size="tiny", progress=False)
            cache[name] = (entry.module, ctx, entry.compute(ctx))
        return cache[name]

    return get


def check_figure_files(result, names, png_min_bytes: int = 10_000) -> None:
    """A :class:`ntajax._figure.FigureResult` wrote exactly ``names`` as non-trivial PNG and PDF files
    and printed a headline."""
    assert {p.stem for p in result.files} == set(names)
    for path in result.files:
        assert path.exists()
        if path.suffix == ".png":
            assert path.stat().st_size >= png_min_bytes
        else:
            assert path.suffix == ".pdf" and path.stat().st_size > 0
    assert result.headline


__all__ = ["tree_allclose", "random_gated", "jnp", "tiny_figures", "check_figure_files"]


@pytest.fixture(autouse=True, scope="module")
def _fresh_compilation_caches():
    """Drop every compiled program after each test module: a full run compiles thousands of
    programs in one process, and XLA's CPU compiler was seen to segfault late in such a run."""
    yield
    jax.clear_caches()
