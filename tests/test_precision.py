"""Full float32 precision of the matrix products in ntajax's programs (ntajax._precision).

On GPUs float32 products default to TF32; ntajax pins ``"highest"`` at trace time inside its
compiled entry points. Checked here: (1) the pin is in the lowered program — every
``dot_general`` of the run, stacked-run, sweep and summary programs carries
``precision = [HIGHEST, HIGHEST]``, also when the caller's default is TF32; (2) it reaches no
further — a product of the caller's own code next to :func:`ntajax.simulate` keeps the
caller's default; (3) on the CPU it changes nothing — the pinned and the unpinned program give
bit-identical float32 and float64 results; (4) with an accelerator present, its results agree
with the CPU's (skipped without one).
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntajax
from ntajax._compile import COMPILER_OPTIONS
from ntajax._run import _run, _run_stacked, make_teachers, precision
from ntajax._summary import _summarise
from ntajax._sweep import reducers
from ntajax._sweep.sweep import run_points, stack_points

DOT = re.compile(r"stablehlo\.dot_general.*?precision = \[(\w+), (\w+)\].*?: \((tensor<[^>]*>), (tensor<[^>]*>)\)")
ENGINES = {
    "sampled": dict(gradient=ntajax.SampledGradient(batch_size=50)),
    "expected": dict(gradient=ntajax.ExpectedGradient()),
    "subspace": dict(gradient=ntajax.ExpectedGradient(), engine=ntajax.SubspaceScan()),
}


def _config(engine="sampled", dtype="float32", n_seeds=2):
    """The Fig. 2 flexible setting, 0.4 time units (400 Euler steps)."""
    return ntajax.Simulation(
        d_in=20, d_out=10, n_teachers=2, student=ntajax.Gated(n_paths=2, tau_w=1.3, tau_c=0.03),
        regulariser=ntajax.Regulariser(lambda_nonneg=1 / 11, lambda_norm=10 / 11, norm_order=1),
        curriculum=ntajax.Blocked(block_length=0.1), grid=ntajax.TimeGrid(dt=1e-3, t_total=0.4, n_save=21),
        n_seeds=n_seeds, dtype=dtype, **ENGINES[engine],
    )


def _dots(text: str) -> list[tuple[str, str, str, str]]:
    """(lhs precision, rhs precision, lhs type, rhs type) of every dot_general of a StableHLO text."""
    n_dots = text.count("stablehlo.dot_general")
    found = DOT.findall(text)
    assert len(found) == n_dots, "a dot_general without a precision attribute"
    return found


def _run_text(config, key):
    config = config.with_block_count()
    return _run.lower(config, key, make_teachers(config, key), None, None, None, jnp.int32(0)).as_text()


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_every_product_of_a_run_is_pinned_even_under_a_tf32_default(engine):
    config, key = _config(engine), jax.random.key(0)
    for caller_default in (None, "tensorfloat32"):  # "tensorfloat32" is what a GPU does by default
        with jax.default_matmul_precision(caller_default):
            dots = _dots(_run_text(config, key))
        assert dots, "the program has no matrix products to check"
        assert {(a, b) for a, b, _, _ in dots} == {("HIGHEST", "HIGHEST")}


def test_stacked_sweep_and_summary_programs_are_pinned():
    key = jax.random.key(0)
    configs = [_config("sampled").with_block_count(), _config("sampled").set({"student.tau_c": 1.3}).with_block_count()]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs) if isinstance(xs[0], jax.Array) else xs[0], *configs)
    teachers = make_teachers(configs[0], key)
    texts = {"run_stacked": _run_stacked.lower(stacked, key, teachers, None, False, jnp.int32(0)).as_text()}
    expected = _config("expected")
    points = stack_points(expected.with_block_count(), [{"student.tau_c": 0.03}, {"student.tau_c": 0.3}])
    texts["run_points"] = run_points.lower(points, key, teachers, reducers.Summaries(), None).as_text()
    trajectory = ntajax.run(expected, key)
    texts["summarise"] = _summarise.lower(expected.with_block_count(), trajectory, 0.1).as_text()
    for name, text in texts.items():
        with jax.default_matmul_precision("tensorfloat32"):
            dots = _dots(text)
        assert {(a, b) for a, b, _, _ in dots} == {("HIGHEST", "HIGHEST")}, name


def test_the_pin_does_not_reach_the_callers_own_products():
    config, key = _config("expected").with_block_count(), jax.random.key(0)
    teachers = make_teachers(config, key)
    a, b = jnp.ones((7, 13)), jnp.ones((13, 5))

    def user_program(k, a, b):  # the caller's jit: ntajax.simulate next to a product of its own
        return ntajax.simulate(config, k, teachers=teachers).loss, a @ b

    dots = _dots(jax.jit(user_program).lower(key, a, b).as_text())
    own = [d for d in dots if d[2:] == ("tensor<7x13xf32>", "tensor<13x5xf32>")]
    assert [d[:2] for d in own] == [("DEFAULT", "DEFAULT")]
    assert len(dots) > 1 and all(d[:2] == ("HIGHEST", "HIGHEST") for d in dots if d not in own)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_on_the_cpu_pinned_and_unpinned_programs_are_bit_identical(dtype):
    config, key = _config("sampled", dtype).with_block_count(), jax.random.key(1)
    with precision(config):
        teachers = make_teachers(config, key)
        unpinned = jax.jit(jax.vmap(lambda k: ntajax.simulate.__wrapped__(config, k, teachers=teachers)),
                           compiler_options=COMPILER_OPTIONS)
        pinned = jax.jit(jax.vmap(lambda k: ntajax.simulate(config, k, teachers=teachers)), compiler_options=COMPILER_OPTIONS)
        keys = jax.random.split(key, config.n_seeds)
        a, b = unpinned(keys), pinned(keys)
        assert a.loss.dtype == jnp.dtype(dtype)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            assert np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)


def _accelerator():
    devices = [d for d in jax.devices() if d.platform != "cpu"]
    return devices[0] if devices else None


@pytest.mark.skipif(_accelerator() is None, reason="no GPU or TPU visible to JAX (jax.devices() holds only CPUs); "
                    "this test compares a run on the accelerator with the CPU's and runs where one is present")
@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_accelerator_agrees_with_the_cpu(engine):
    """Float32, 400 steps: with full-precision products the two backends differ only by
    float32 rounding order (≲ 1e-5 relative); TF32 products (10-bit mantissas) would be ~1e-3."""
    config, key = _config(engine, n_seeds=4), jax.random.key(2)
    results = {}
    for device in (jax.devices("cpu")[0], _accelerator()):
        with jax.default_device(device):
            results[device.platform] = jax.device_get(ntajax.run(config, key))
    cpu, accelerator = results["cpu"], results[_accelerator().platform]
    for name in ("loss", "gates", "similarity"):
        np.testing.assert_allclose(getattr(accelerator, name), getattr(cpu, name), rtol=1e-4, atol=1e-5, err_msg=name)
