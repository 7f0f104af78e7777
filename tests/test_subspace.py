"""The subspace engine: the same Euler iterates as the full scan, in exact reduced coordinates.

The reference is the full-coordinate :class:`ntajax.EulerScan` in float64, where rounding is
~1e-15; the reduction is exact, so the two must agree to ~1e-9 on every recorded quantity, for
every curriculum family and both students it supports.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntajax
from ntajax._engines.frames import _gate_force_explicit

RECORDED = ("loss", "closing_loss", "gates", "path_norms", "similarity", "context_alignment", "task", "block")


def _both(config, **kwargs):
    key = jax.random.key(3)
    full = ntajax.run(config.replace(engine=ntajax.EulerScan()), key, **kwargs)
    reduced = ntajax.run(config.replace(engine=ntajax.SubspaceScan()), key, **kwargs)
    return full, reduced


def _assert_same(full, reduced, atol):
    for name in RECORDED:
        np.testing.assert_allclose(np.asarray(getattr(reduced, name)), np.asarray(getattr(full, name)), atol=atol, err_msg=name)
    for a, b in zip(jax.tree.leaves(reduced.final), jax.tree.leaves(full.final)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol)


def _base(d_out=10, n_teachers=2, student=None, regulariser=None, curriculum=None, teachers=None, recording=None):
    """The reference setting (gated, A_B__, k = 1, float64) with some objects replaced."""
    return ntajax.Simulation(
        d_in=20, d_out=d_out, n_teachers=n_teachers, student=student or ntajax.Gated(tau_w=0.3, tau_c=0.03),
        regulariser=regulariser or ntajax.Regulariser(lambda_nonneg=0.5, lambda_norm=2.5),
        curriculum=(curriculum or ntajax.Blocked()).replace(block_length=0.25), gradient=ntajax.ExpectedGradient(),
        grid=ntajax.TimeGrid(dt=1e-3, t_total=1.5, n_save=31), n_seeds=2, dtype="float64",
        teachers=teachers or ntajax.OrthogonalTeachers(), recording=recording or ntajax.Recording(),
    )


CASES = {
    "gated": dict(),
    "k2": dict(regulariser=ntajax.Regulariser(norm_order=2, lambda_nonneg=0.1, lambda_norm=0.4)),
    "per_neuron": dict(student=ntajax.PerNeuron(tau_w=0.3, tau_c=0.01),
                       regulariser=ntajax.Regulariser(norm_order=2, lambda_nonneg=0.02, lambda_norm=0.02)),
    "additive": dict(d_out=6, n_teachers=3, student=ntajax.Gated(n_paths=3, tau_w=0.3, tau_c=0.03),
                     teachers=ntajax.OrthogonalTeachers(composites="additive"),
                     curriculum=ntajax.schedule("A_B_C__AB_BC_CA__", 3, switch_block=3)),
    "concatenated": dict(d_out=6, n_teachers=3, student=ntajax.PerNeuron(n_paths=3, tau_w=0.3, tau_c=0.01),
                         teachers=ntajax.OrthogonalTeachers(composites="concatenated"),
                         curriculum=ntajax.schedule("A_B_C__AB_BC_CA__", 3, switch_block=3)),
    "P4": dict(student=ntajax.Gated(n_paths=4, tau_w=0.3, tau_c=0.03)),  # more paths than tasks
    "interleaved_step": dict(curriculum=ntajax.Interleaved(tasks=(0, 1), per="step")),
    "interleaved_sample": dict(curriculum=ntajax.Interleaved(tasks=(0, 1), per="sample")),
    "smooth": dict(curriculum=ntajax.Smooth(n_contexts=2, sharpness=100.0)),
    "weights": dict(recording=ntajax.Recording(weights=True, weights_every=5)),
}


@pytest.mark.parametrize("changes", list(CASES.values()), ids=list(CASES))
def test_subspace_equals_full_scan_in_float64(changes):
    full, reduced = _both(_base(**changes))
    _assert_same(full, reduced, atol=1e-9)
    if "recording" in changes:
        np.testing.assert_allclose(np.asarray(reduced.weights.W), np.asarray(full.weights.W), atol=1e-9)


def test_subspace_on_the_toy_model_where_the_span_is_the_whole_space():
    """d_out·d_in = 2 < M + P: the basis is all of R², still exact."""
    from ntajax._presets.runs import toy

    variant = toy()["flexible"]
    config = variant.config.replace(dtype="float64", grid=ntajax.TimeGrid(t_total=0.5, n_save=51))
    full, reduced = _both(config, teachers=variant.teachers, init=variant.init)
    _assert_same(full, reduced, atol=1e-10)


def test_subspace_float32_is_close_and_continuation_is_exact(flexible_config):
    config = flexible_config.replace(grid=ntajax.TimeGrid(t_total=1.0, n_save=11))
    key = jax.random.key(0)
    full = ntajax.run(config, key)
    reduced = ntajax.run(config.replace(engine=ntajax.SubspaceScan()), key)
    np.testing.assert_allclose(np.asarray(reduced.loss), np.asarray(full.loss), atol=2e-5)
    np.testing.assert_allclose(np.asarray(reduced.gates), np.asarray(full.gates), atol=2e-4)
    # continuing from the final state gives the same records as one long run
    sub = config.replace(engine=ntajax.SubspaceScan())
    long = ntajax.run(sub.replace(grid=ntajax.TimeGrid(t_total=2.0, n_save=21)), key)
    first = ntajax.run(sub, key)
    second = ntajax.run(sub, key, init=first.final, start_step=sub.n_steps)
    np.testing.assert_allclose(np.asarray(second.loss), np.asarray(long.loss[:, 10:]), atol=1e-5)


@pytest.mark.parametrize("norm_order", [1, 2])
def test_explicit_gate_force_equals_autodiff_of_the_regulariser(norm_order):
    config = ntajax.Simulation(
        regulariser=ntajax.Regulariser(lambda_nonneg=0.3, lambda_norm=0.7, norm_order=norm_order), dtype="float64",
    )
    with jax.enable_x64(True):
        config = config.cast()
        lam_norm, lam_nonneg = config.regulariser.lambda_norm, config.regulariser.lambda_nonneg
        for c in [jnp.array([0.4, -0.2, 0.9]), jnp.array([0.0, 0.5, -1e-3]), jnp.zeros(3), jnp.array([1.0, 0.0, 0.0])]:
            c = c.astype(jnp.float64)
            reference = jax.grad(functools.partial(ntajax.gate_regulariser, lambda_norm=lam_norm, lambda_nonneg=lam_nonneg,
                                                   norm_order=norm_order))(c)
            np.testing.assert_allclose(np.asarray(_gate_force_explicit(c, config.regulariser)), np.asarray(reference), atol=1e-12)


def test_subspace_rejects_what_it_cannot_reduce():
    with pytest.raises(ValueError, match="ExpectedGradient"):
        ntajax.Simulation(gradient=ntajax.SampledGradient(), engine=ntajax.SubspaceScan())
    with pytest.raises(ValueError, match="TwoLayer"):
        ntajax.Simulation(
            student=ntajax.TwoLayer(), gradient=ntajax.ExpectedGradient(), engine=ntajax.SubspaceScan(),
        )
    with pytest.raises(ValueError, match="lambda_w = 0"):
        ntajax.Simulation(
            regulariser=ntajax.Regulariser(lambda_w=0.1), gradient=ntajax.ExpectedGradient(),
            engine=ntajax.SubspaceScan(),
        )


def test_subspace_traced_column_penalty_raises(flexible_config):
    """λ_W arrives traced inside a sweep: the engine refuses it at run time (eqx.error_if)."""
    config = flexible_config.replace(engine=ntajax.SubspaceScan(), grid=ntajax.TimeGrid(t_total=0.1, n_save=2))
    import equinox as eqx

    stacked = eqx.tree_at(lambda c: c.regulariser.lambda_w, config, jnp.float32(0.2))  # bypasses the construction check
    with pytest.raises(Exception, match="lambda_w"):
        jax.block_until_ready(ntajax.run(stacked, jax.random.key(0)))
