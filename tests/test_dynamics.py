"""The vector field and the losses against the spec's closed forms (MODEL §4, §5)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import random_gated

import ntajax
from ntajax._gradient import batch_covariance, wishart_covariance


def _model_and_regulariser(student="gated", norm_order=1, lambda_nonneg=0.2, lambda_norm=0.7):
    """(student model, regulariser): τ_w = 1.3, τ_c = 0.03 (gated, per-neuron) or τ_W1 = 0.06,
    τ_W2 = 0.01 (two-layer), and the given regulariser coefficients."""
    model = {
        "gated": ntajax.Gated(tau_w=1.3, tau_c=0.03),
        "per_neuron": ntajax.PerNeuron(tau_w=1.3, tau_c=0.03),
        "two_layer": ntajax.TwoLayer(tau_w1=0.06, tau_w2=0.01),
    }[student]
    return model, ntajax.Regulariser(lambda_nonneg=lambda_nonneg, lambda_norm=lambda_norm, norm_order=norm_order)


def _target(key, d_out=10, d_in=20):
    return jax.random.normal(key, (d_out, d_in)) / np.sqrt(d_in)


def test_gated_field_matches_spec_formula(key):
    """τ_w dW_p/dt = c_p E, τ_c dc_p/dt = ⟨W_p, E⟩ − λ_norm(‖c‖₁−1)sign(c_p) + λ_nonneg·1[c_p<0] (§5.1)."""
    parts = _model_and_regulariser(norm_order=1)
    student = random_gated(key)
    target = _target(jax.random.key(1))
    v = ntajax.velocity(student, target, None, *parts)
    E = target - jnp.einsum("p,pij->ij", student.c, student.W)
    c = student.c
    dW = c[:, None, None] * E[None] / 1.3
    norm = jnp.sum(jnp.abs(c))
    dc = (jnp.sum(student.W * E[None], axis=(1, 2)) - 0.7 * (norm - 1) * jnp.sign(c) + 0.2 * (c < 0)) / 0.03
    np.testing.assert_allclose(v.W, dW, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v.c, dc, rtol=1e-5, atol=1e-5)


def test_l2_norm_field(key):
    parts = _model_and_regulariser(norm_order=2, lambda_nonneg=0.0)
    student = random_gated(key)
    target = _target(jax.random.key(1))
    v = ntajax.velocity(student, target, None, *parts)
    E = target - jnp.einsum("p,pij->ij", student.c, student.W)
    norm = jnp.linalg.norm(student.c)
    dc = (jnp.sum(student.W * E[None], axis=(1, 2)) - 0.7 * (norm - 1) * student.c / norm) / 0.03
    np.testing.assert_allclose(v.c, dc, rtol=1e-5, atol=1e-5)


def test_per_neuron_field_matches_spec(key):
    parts = _model_and_regulariser(student="per_neuron", lambda_norm=0.0, lambda_nonneg=0.0)
    k1, k2 = jax.random.split(key)
    student = ntajax.PerNeuronStudent(W=0.3 * jax.random.normal(k1, (2, 10, 20)), c=jax.random.uniform(k2, (2, 10)))
    target = _target(jax.random.key(1))
    v = ntajax.velocity(student, target, None, *parts)
    E = target - jnp.einsum("pi,pij->ij", student.c, student.W)
    np.testing.assert_allclose(v.W, student.c[:, :, None] * E[None] / 1.3, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v.c, jnp.sum(student.W * E[None], axis=2) / 0.03, rtol=1e-5, atol=1e-5)


def test_two_layer_field_matches_spec(key):
    """τ_W1 dW1/dt = W2ᵀE; τ_W2 dW2/dt = E W1ᵀ − λ_norm(‖W2‖−1)W2/‖W2‖ + λ_nonneg 1[W2<0] (§5.1)."""
    parts = _model_and_regulariser(student="two_layer", norm_order=2)
    k1, k2 = jax.random.split(key)
    student = ntajax.TwoLayerStudent(W1=0.3 * jax.random.normal(k1, (20, 20)), W2=0.3 * jax.random.normal(k2, (10, 20)))
    target = _target(jax.random.key(1))
    v = ntajax.velocity(student, target, None, *parts)
    E = target - student.W2 @ student.W1
    n2 = jnp.linalg.norm(student.W2)
    np.testing.assert_allclose(v.W1, student.W2.T @ E / 0.06, rtol=1e-4, atol=1e-5)
    expected_w2 = (E @ student.W1.T - 0.7 * (n2 - 1) * student.W2 / n2 + 0.2 * (student.W2 < 0)) / 0.01
    np.testing.assert_allclose(v.W2, expected_w2, rtol=1e-4, atol=1e-4)


def test_sampled_gradient_is_minibatch_gradient(key):
    """With Σ̂ from a batch X, the field equals the gradient of ½(1/B)Σ_b‖ŷ(x_b) − W*x_b‖² (§4.1)."""
    parts = _model_and_regulariser(lambda_norm=0.0, lambda_nonneg=0.0)
    student = random_gated(key)
    target = _target(jax.random.key(1))
    x = jax.random.normal(jax.random.key(2), (200, 20))
    cov = x.T @ x / 200

    def minibatch_loss(s):
        pred = jax.vmap(s)(x)
        return 0.5 * jnp.mean(jnp.sum((pred - x @ target.T) ** 2, axis=1))

    grads = jax.grad(minibatch_loss)(student)
    v = ntajax.velocity(student, target, cov, *parts)
    np.testing.assert_allclose(v.W, -grads.W / 1.3, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(v.c, -grads.c / 0.03, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("draw", [wishart_covariance, batch_covariance])
def test_expected_loss_is_mean_of_sampled_loss(draw, key):
    """E[½ tr(E Σ̂ Eᵀ)] = ½‖E‖²_F (§4.1), checked by Monte Carlo with a 5-SEM tolerance."""
    E = _target(key)
    keys = jax.random.split(jax.random.key(3), 4000)
    losses = jax.vmap(lambda k: ntajax.task_loss(jnp.zeros_like(E), E, draw(k, 20, 200)))(keys)
    expected = ntajax.task_loss(jnp.zeros_like(E), E)
    sem = np.std(losses, ddof=1) / np.sqrt(len(losses))
    assert abs(np.mean(losses) - expected) < 5 * sem


def test_wishart_has_the_law_of_the_batch_covariance():
    """Σ̂ = XᵀX/B: mean I and Var(Σ̂_ij) = (1 + δ_ij)/B (Gaussian X); Bartlett matches both."""
    B, d = 50, 6
    keys = jax.random.split(jax.random.key(4), 20000)
    samples = np.asarray(jax.vmap(lambda k: wishart_covariance(k, d, B))(keys))
    mean = samples.mean(axis=0)
    var = samples.var(axis=0, ddof=1)
    expected_var = (1 + np.eye(d)) / B
    np.testing.assert_allclose(mean, np.eye(d), atol=5 * np.sqrt(2 / B / len(keys)))
    np.testing.assert_allclose(var, expected_var, rtol=0.05)
    assert np.all(np.linalg.eigvalsh(samples[:100]) > 0)


def _fd_grad(f, x, h=1e-6):
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


@pytest.mark.parametrize("order", [1, 2])
def test_regulariser_gradient_vs_finite_differences_float64(order):
    """Gate regulariser and W column penalty: autodiff vs central differences in float64 (§4.2)."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        c = rng.uniform(-0.5, 1.0, size=6)
        c[np.abs(c) < 0.05] = 0.3  # stay away from the kinks for finite differences

        def reg(v):
            return float(ntajax.gate_regulariser(jnp.asarray(v), lambda_norm=0.8, lambda_nonneg=0.3, norm_order=order))

        auto = jax.grad(lambda v: ntajax.gate_regulariser(v, lambda_norm=0.8, lambda_nonneg=0.3, norm_order=order))(jnp.asarray(c))
        np.testing.assert_allclose(np.asarray(auto), _fd_grad(reg, c), rtol=1e-7, atol=1e-8)

        W = rng.normal(size=(3, 4, 5))

        def pen(v):
            return float(ntajax.column_norm_penalty(jnp.asarray(v), lambda_w=0.4))

        auto_w = jax.grad(lambda v: ntajax.column_norm_penalty(v, lambda_w=0.4))(jnp.asarray(W))
        np.testing.assert_allclose(np.asarray(auto_w), _fd_grad(pen, W), rtol=1e-7, atol=1e-8)


def test_regulariser_subgradient_at_kinks_is_zero():
    """At c_j = 0 the nonneg and L1 terms contribute the zero subgradient; at c = 0 the L2 norm too (§4.2)."""
    c = jnp.asarray([0.0, 0.5])
    g1 = jax.grad(lambda v: ntajax.gate_regulariser(v, lambda_norm=1.0, lambda_nonneg=1.0, norm_order=1))(c)
    assert g1[0] == 0.0
    g2 = jax.grad(lambda v: ntajax.gate_regulariser(v, lambda_norm=1.0, lambda_nonneg=1.0, norm_order=2))(jnp.zeros(3))
    np.testing.assert_array_equal(np.asarray(g2), 0.0)
    gw = jax.grad(lambda v: ntajax.column_norm_penalty(v, lambda_w=1.0))(jnp.zeros((2, 3, 4)))
    np.testing.assert_array_equal(np.asarray(gw), 0.0)


def test_wishart_factor_has_the_full_law_of_the_batch_covariance():
    """Beyond entry moments: the full covariance Cov(Σ̂_ij, Σ̂_kl) = (δ_ik δ_jl + δ_il δ_jk)/B of
    the Fig. 2 size (d = 20, B = 200), and the law of the top eigenvalue against explicit batches."""
    import scipy.stats

    d, B, n = 20, 200, 12000
    wishart = np.asarray(jax.vmap(lambda k: wishart_covariance(k, d, B))(jax.random.split(jax.random.key(11), n)))
    batch = np.asarray(jax.vmap(lambda k: batch_covariance(k, d, B))(jax.random.split(jax.random.key(12), n)))
    eye = np.eye(d)
    theory = (np.einsum("ik,jl->ijkl", eye, eye) + np.einsum("il,jk->ijkl", eye, eye)).reshape(d * d, d * d) / B
    covariance = np.cov(wishart.reshape(n, -1).T)
    # sampling error of a covariance entry ≈ √2·(1/B)/√n ≈ 6.5e-5; allow 6 of them
    assert np.abs(covariance - theory).max() < 6 * np.sqrt(2) / B / np.sqrt(n) * 1.5
    top_w = np.linalg.eigvalsh(wishart[:4000])[:, -1]
    top_b = np.linalg.eigvalsh(batch[:4000])[:, -1]
    assert scipy.stats.ks_2samp(top_w, top_b).pvalue > 1e-3
