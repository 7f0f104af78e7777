"""Teacher output noise (TeacherSet.noise): targets y = W* x + σ ε.

The sampled gradient G = E Σ̂ + σ N and the minibatch loss have the closed-form mean and
covariance (Monte Carlo, float64, 5 standard errors); one Euler step equals a step down the
autodiff gradient of the explicit noisy batch loss; in the expected flow the iterates are
unchanged and every recorded loss gains exactly ½σ²·d_out; σ = 0 reproduces the noiseless run bit
for bit; σ is a traced leaf (no recompilation); engines without noise refuse it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntajax
from ntajax._run import compile_count, initial_students, seed_keys

RECORDS = ("t", "block", "task", "loss", "closing_loss", "minibatch_loss", "gates", "path_norms", "similarity",
           "context_alignment")


def _config(noise=None, gradient=None, **changes):
    base = dict(
        d_in=6, d_out=3, n_teachers=2, student=ntajax.Gated(tau_w=0.5, tau_c=0.05),
        regulariser=ntajax.Regulariser(lambda_norm=0.5, lambda_nonneg=0.1),
        gradient=gradient or ntajax.SampledGradient(batch_size=16),
        grid=ntajax.TimeGrid(dt=1e-2, t_total=1.0, n_save=11), curriculum=ntajax.Blocked(block_length=0.5),
        teachers=ntajax.OrthogonalTeachers(noise=noise), n_seeds=2, dtype="float64",
    )
    return ntajax.Simulation(**(base | changes))


@pytest.mark.parametrize("method", ["wishart", "batch"])
def test_sampled_gradient_and_loss_have_the_closed_form_mean_and_covariance(method):
    """Over batches, with E fixed: E[G] = E and
    Cov(G_ij, G_kl) = [(EEᵀ)_ik δ_jl + E_il E_kj + σ² δ_ik δ_jl]/B (Wishart moments of Σ̂ plus the
    noise cross term, uncorrelated with Σ̂); E[minibatch loss] = ½‖E‖² + ½σ²·d_out."""
    d_in, d_out, B, sigma, n = 3, 2, 8, 0.7, 10_000
    mode = ntajax.SampledGradient(batch_size=B, method=method)
    with jax.enable_x64(True):
        E = jnp.asarray([[0.3, -0.5, 0.8], [1.1, 0.2, -0.4]], jnp.float64)
        batches = jax.vmap(lambda k: mode.noisy_batch(k, d_in, d_out))(jax.random.split(jax.random.key(3), n))
        G = np.asarray(jnp.einsum("ia,naj->nij", E, batches.covariance) + sigma * batches.cross).reshape(n, -1)
        loss = np.asarray(0.5 * jnp.einsum("ia,nab,ib->n", E, batches.covariance, E)
                          + sigma * jnp.einsum("ij,nij->n", E, batches.cross) + 0.5 * sigma**2 * batches.energy)
    E = np.asarray(E)
    mean = G.mean(0)
    assert np.all(np.abs(mean - E.reshape(-1)) <= 5 * G.std(0) / np.sqrt(n))
    eye_o, eye_i = np.eye(d_out), np.eye(d_in)
    closed = (np.einsum("ik,jl->ijkl", E @ E.T, eye_i) + np.einsum("il,kj->ijkl", E, E)
              + sigma**2 * np.einsum("ik,jl->ijkl", eye_o, eye_i)) / B
    centred = G - E.reshape(-1)
    products = centred[:, :, None] * centred[:, None, :]
    se = products.std(0) / np.sqrt(n)
    assert np.all(np.abs(products.mean(0) - closed.reshape(d_out * d_in, -1)) <= 5 * se)
    expected_loss = 0.5 * np.sum(E**2) + 0.5 * sigma**2 * d_out
    assert abs(loss.mean() - expected_loss) <= 5 * loss.std() / np.sqrt(n)
    # the noise energy s = (1/B)Σ‖ε_b‖² has mean d_out and variance 2·d_out/B (χ²_{B·d_out}/B)
    energy = np.asarray(batches.energy)
    assert abs(energy.mean() - d_out) <= 5 * energy.std() / np.sqrt(n)
    assert energy.var() == pytest.approx(2 * d_out / B, rel=0.1)  # ≈ 5 standard errors at n = 10 000


def test_one_step_follows_the_autodiff_gradient_of_the_noisy_batch_loss():
    sigma = float(np.float32(0.8))  # traced leaves are stored in float32, then cast to the run's float64
    config = _config(noise=0.8, regulariser=ntajax.Regulariser(), grid=ntajax.TimeGrid(dt=1e-2, t_total=1e-2, n_save=2))
    key = jax.random.key(5)
    trajectory = ntajax.run(config, key)
    teachers = ntajax.make_teachers(config, key)
    init = initial_students(config, key)
    _, keys = seed_keys(key, config.n_seeds)

    @jax.jit
    def reference(seed_key, student, target):
        """One Euler step down the autodiff gradient of (1/2B) Σ_b ‖E x_b + σ ε_b‖², written in
        terms of the step's Σ̂, N and s (the same key as the engine's first step)."""
        batch_key = jax.random.split(jax.random.split(seed_key)[1])[1]
        batch = config.gradient.noisy_batch(jax.random.fold_in(batch_key, 0), config.d_in, config.d_out)

        def batch_loss(s):
            residual = target - s.effective_map()
            return (0.5 * jnp.sum((residual @ batch.covariance) * residual)
                    + sigma * jnp.sum(residual * batch.cross) + 0.5 * sigma**2 * batch.energy)

        grad = jax.grad(batch_loss)(student)
        expected_loss = 0.5 * jnp.sum((target - student.effective_map()) ** 2) + 0.5 * sigma**2 * config.d_out
        return student.W - 1e-2 * grad.W / 0.5, student.c - 1e-2 * grad.c / 0.05, batch_loss(student), expected_loss

    with jax.enable_x64(True):
        for seed in range(config.n_seeds):
            student = jax.tree.map(lambda x: jnp.asarray(x[seed], jnp.float64), init)
            W, c, minibatch, loss = reference(keys[seed], student, jnp.asarray(teachers[0], jnp.float64))
            # Σ̂ and N are drawn in float32 (as the engine draws them); the engine's batched draw may
            # round them differently by an ulp, hence rtol 1e-9 rather than float64 rounding
            np.testing.assert_allclose(trajectory.final.W[seed], W, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(trajectory.final.c[seed], c, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(trajectory.minibatch_loss[seed, 0], minibatch, rtol=1e-9)
            np.testing.assert_allclose(trajectory.loss[seed, 0], loss, rtol=1e-12)


@pytest.mark.parametrize("engine", [ntajax.EulerScan(), ntajax.SubspaceScan(), ntajax.Diffrax()],
                         ids=["euler", "subspace", "diffrax"])
def test_expected_flow_is_unchanged_and_losses_gain_the_noise_floor(engine):
    sigma = 0.4
    # σ = 0 is the noiseless run (next test), and the same compiled program serves both values
    clean = _config(noise=0.0, gradient=ntajax.ExpectedGradient(), engine=engine)
    a, b = ntajax.run(clean, jax.random.key(0)), ntajax.run(clean.set({"teachers.noise": sigma}), jax.random.key(0))
    for x, y in zip(jax.tree.leaves(a.final), jax.tree.leaves(b.final)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    floor = 0.5 * float(np.float32(sigma)) ** 2 * clean.d_out  # σ is stored as a float32 leaf
    for name in ("loss", "closing_loss"):
        np.testing.assert_allclose(np.asarray(getattr(b, name)) - np.asarray(getattr(a, name)), floor, rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(a.gates), np.asarray(b.gates))


@pytest.mark.parametrize("gradient", [ntajax.SampledGradient(batch_size=16), ntajax.SampledGradient(batch_size=4),
                                      ntajax.ExpectedGradient()], ids=["wishart", "batch", "expected"])
def test_zero_noise_reproduces_the_noiseless_run_bit_for_bit(gradient):
    clean = _config(gradient=gradient, teachers=ntajax.OrthogonalTeachers())
    zero = clean.replace(teachers=ntajax.OrthogonalTeachers(noise=0.0))
    a, b = ntajax.run(clean, jax.random.key(2)), ntajax.run(zero, jax.random.key(2))
    for name in RECORDS:
        np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)), err_msg=name)
    for x, y in zip(jax.tree.leaves(a.final), jax.tree.leaves(b.final)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_noise_is_a_traced_leaf_and_bad_noise_is_refused():
    config = _config(noise=0.0, n_seeds=1)
    assert "teachers.noise" in config.traced_paths()
    ntajax.run(config, jax.random.key(0))
    before = compile_count()
    noisy = ntajax.run(config.set({"noise": 0.5}), jax.random.key(0))
    assert compile_count() == before
    assert np.all(np.asarray(noisy.minibatch_loss) > 0)
    with pytest.raises(ValueError, match="noise=-1"):
        ntajax.OrthogonalTeachers(noise=-1.0)
    with pytest.raises(ValueError, match="noise"):
        config.set({"teachers.noise": -0.5})
    with pytest.raises(ValueError, match="MinibatchScan.*noise.*EulerScan"):
        _config(noise=0.1, engine=ntajax.MinibatchScan(eval_size=64))
    with pytest.raises(ValueError, match="ContinualScan.*noise"):
        _config(noise=0.1, engine=ntajax.ContinualScan(penalty=ntajax.OnlineEWC(lambda_ewc=1.0)))
