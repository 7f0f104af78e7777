"""Toy-model metrics, NTK split, SVD metrics, ntajax's regime classifier (MODEL.md §7.2, §7.7, §7.10, §7.11)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntajax.metrics import (
    FLEXIBLE,
    FORGETFUL,
    analytic_wbar,
    classify_regime,
    cycle_convergence,
    gate_separation,
    limit_cycle_coordinates,
    ntk_split,
    order_parameters,
    singular_value_magnitudes,
    svd_projections,
    svd_similarity,
)

E1 = np.array([1.0, 0.0])
E2 = np.array([0.0, 1.0])


# ----------------------------------------------------------------------------- order parameters (§7.7)


def test_order_parameters_specialised_states():
    # Path 0 holds e_new = e₂, path 1 holds e_old = e₁.
    w = np.array([[E2, E1]])
    wrong_gate = order_parameters(w, np.array([[0.0, 1.0]]), E2, E1, new_path=0)
    assert float(wrong_gate["Cbar"][0]) == pytest.approx(-1.0)
    assert float(wrong_gate["Wbar"][0]) == pytest.approx(1.0)
    assert float(wrong_gate["wbar1"][0]) == pytest.approx(1.0)
    assert float(wrong_gate["wbar2"][0]) == pytest.approx(1.0)
    assert float(wrong_gate["Wbarbar"][0]) == pytest.approx(0.0)
    switched = order_parameters(w, np.array([[1.0, 0.0]]), E2, E1, new_path=0)
    assert float(switched["Cbar"][0]) == pytest.approx(1.0)
    # Unspecialised, both paths on e₁: W̄ = 0, W̿ = −1 (common mode against the switch).
    same = order_parameters(np.array([[E1, E1]]), np.array([[0.5, 0.5]]), E2, E1, new_path=0)
    assert float(same["Wbar"][0]) == pytest.approx(0.0)
    assert float(same["Wbarbar"][0]) == pytest.approx(-1.0)


def test_order_parameters_match_original_convention_and_relabelling():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(50, 2, 2))
    c = rng.normal(size=(50, 2))
    params = order_parameters(w, c, E2, E1, new_path=0)
    # The original: C̄ = c₁ − c₂, W̄ = −[(W₁₁ − W₁₂) + (W₂₂ − W₂₁)]/2, W_pq = component q of path p.
    np.testing.assert_allclose(np.asarray(params["Cbar"]), c[:, 0] - c[:, 1], atol=1e-6)
    original_wbar = -((w[:, 0, 0] - w[:, 0, 1]) + (w[:, 1, 1] - w[:, 1, 0])) / 2
    np.testing.assert_allclose(np.asarray(params["Wbar"]), original_wbar, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(params["Wbar"]), 0.5 * np.asarray(params["wbar1"] + params["wbar2"]), atol=1e-6
    )
    # Swapping the path labels and naming the other path "new" changes nothing; new_path may be traced.
    swapped = jax.jit(order_parameters)(w[:, ::-1], c[:, ::-1], E2, E1, jnp.asarray(1))
    for key in params:
        np.testing.assert_allclose(np.asarray(swapped[key]), np.asarray(params[key]), atol=1e-6)


def test_limit_cycle_coordinates():
    w = np.array([[[1.0, 2.0], [3.0, 5.0]]])  # w¹ = (1, 2), w² = (3, 5)
    c = np.array([[0.25, 0.75]])
    cbar, wbar = limit_cycle_coordinates(w, c)
    assert float(cbar[0]) == pytest.approx(0.5)
    assert float(wbar[0]) == pytest.approx(0.5 * ((2.0 - 1.0) - (5.0 - 3.0)))
    # Same quantities as the order parameters with e_new = e₂, e_old = e₁, path 0 new, up to C̄'s sign.
    rng = np.random.default_rng(1)
    w = rng.normal(size=(20, 2, 2))
    c = rng.normal(size=(20, 2))
    cbar, wbar = limit_cycle_coordinates(w, c)
    params = order_parameters(w, c, E2, E1, new_path=0)
    np.testing.assert_allclose(np.asarray(wbar), np.asarray(params["Wbar"]), atol=1e-6)
    np.testing.assert_allclose(np.asarray(cbar), -np.asarray(params["Cbar"]), atol=1e-6)


def test_analytic_wbar():
    for tau_c, tau_w in [(1.0, 1.0), (0.05, 1.0), (0.3, 0.2)]:
        at_ends = np.asarray(analytic_wbar(np.array([-1.0, 1.0]), tau_c, tau_w))
        np.testing.assert_allclose(at_ends, 1.0, rtol=1e-6)
        minimum = float(analytic_wbar(0.0, tau_c, tau_w))
        assert minimum == pytest.approx(np.sqrt(1 - tau_c / (2 * tau_w)), rel=1e-6)
    assert float(analytic_wbar(0.0, 1.0, 1.0)) == pytest.approx(0.7071, abs=1e-4)
    # The original's half-scale form.
    rng = np.random.default_rng(2)
    cbar = rng.uniform(-1, 1, size=100)
    tau_c = rng.uniform(0.01, 1.0, size=100)
    tau_w = rng.uniform(0.5, 2.0, size=100)
    c_half, tau_half = cbar / 2, tau_c / 2
    w_half = np.sqrt((-0.25 * tau_half + c_half**2 * tau_half + 0.25 * tau_w) / tau_w)
    np.testing.assert_allclose(np.asarray(analytic_wbar(cbar, tau_c, tau_w)) / 2, w_half, rtol=1e-5)


# ----------------------------------------------------------------------------- cycle convergence (Fig. 4G)


def test_cycle_convergence():
    samples_per_block, n_blocks = 40, 10
    phase = np.arange(samples_per_block) * 2 * np.pi / samples_per_block
    one_block = np.stack([np.sin(phase + k) for k in range(6)], axis=1)  # one period per block
    theta = np.tile(one_block, (n_blocks, 1))
    theta = np.concatenate([theta, theta[:1]])  # the final point at t_tot is ignored
    d = np.asarray(cycle_convergence(theta, samples_per_block))
    assert d.shape == (n_blocks - 5,)
    np.testing.assert_allclose(d, 0.0, atol=1e-7)
    # A geometric approach to the cycle: θ_k(t) = p(t) + ρ^k v gives d_k = ρ^k (1 − ρ) ‖v‖.
    rho, v = 0.5, np.array([1.0, 2.0, 0.0, -2.0, 0.0, 0.0])
    block = np.repeat(np.arange(n_blocks), samples_per_block)
    theta = np.tile(one_block, (n_blocks, 1)) + rho ** block[:, None] * v
    d = np.asarray(cycle_convergence(theta, samples_per_block, drop=2))
    expected = rho ** np.arange(2, n_blocks - 3) * (1 - rho) * np.linalg.norm(v)
    np.testing.assert_allclose(d, expected, rtol=1e-5)
    with pytest.raises(ValueError, match="at least 2 blocks"):
        cycle_convergence(theta[: 5 * samples_per_block], samples_per_block)


# ----------------------------------------------------------------------------- NTK split (§7.11)


def test_ntk_split_against_direct_kernel():
    rng = np.random.default_rng(3)
    for _ in range(5):
        w = rng.normal(size=(2, 2))
        c = rng.normal(size=2)
        eps = rng.normal(size=2)
        kernel = sum(np.outer(w[p], w[p]) + c[p] ** 2 * np.eye(2) for p in range(2))
        total, gate_part, weight_part = (float(x) for x in ntk_split(w, c, eps))
        assert total == pytest.approx(eps @ kernel @ eps, rel=1e-5)
        assert gate_part + weight_part == pytest.approx(total, rel=1e-5)
        assert gate_part == pytest.approx(sum((w[p] @ eps) ** 2 for p in range(2)), rel=1e-5)
        assert weight_part == pytest.approx(np.sum(c**2) * eps @ eps, rel=1e-5)
    # Over a time axis, as a batch.
    w = rng.normal(size=(7, 2, 2))
    c = rng.normal(size=(7, 2))
    eps = rng.normal(size=(7, 2))
    total, gate_part, weight_part = ntk_split(w, c, eps)
    assert total.shape == (7,)
    np.testing.assert_allclose(np.asarray(gate_part + weight_part), np.asarray(total), rtol=1e-5)


# ----------------------------------------------------------------------------- SVD metrics (§7.2, §7.10)


def _orthogonal_teachers(rng, n_teachers, d_out, d_in, scale):
    r = np.linalg.qr(rng.normal(size=(d_in, d_in)))[0]
    return np.stack([scale * r[:, m * d_out : (m + 1) * d_out].T for m in range(n_teachers)])


def test_svd_projections_recover_toy_coordinates():
    rng = np.random.default_rng(4)
    d_out, d_in, scale = 3, 8, 1 / np.sqrt(8)
    teachers = _orthogonal_teachers(rng, 2, d_out, d_in, scale)
    coords = rng.normal(size=(5, 3, 2))  # (time, path p, teacher m): W_p = Σ_m w^p_m W*_m
    paths = np.einsum("tpm,moi->tpoi", coords, teachers)
    proj = np.asarray(svd_projections(paths, teachers, n_modes=d_out))
    assert proj.shape == (5, 2, 3, d_out)
    for alpha in range(d_out):
        np.testing.assert_allclose(proj[..., alpha] / scale, coords.transpose(0, 2, 1), atol=1e-5)
    with pytest.raises(ValueError, match="n_modes"):
        svd_projections(paths, teachers, n_modes=4)


def test_singular_value_magnitudes():
    rng = np.random.default_rng(5)
    sigma = np.array([[3.0, 2.0, 0.5], [1.0, 0.25, 0.1]])
    paths = []
    for s in sigma:
        u = np.linalg.qr(rng.normal(size=(3, 3)))[0]
        v = np.linalg.qr(rng.normal(size=(6, 3)))[0]
        paths.append(u @ np.diag(s) @ v.T)
    mags = np.asarray(singular_value_magnitudes(np.stack(paths), scale=0.5))
    np.testing.assert_allclose(mags, sigma[:, :2] / 0.5, rtol=1e-5)
    # The toy (d_in = 1, s = 1): the norm of each path's weight vector.
    w = rng.normal(size=(4, 2, 2, 1))
    mags = np.asarray(singular_value_magnitudes(w, 1.0, n_modes=1))
    np.testing.assert_allclose(mags[..., 0], np.linalg.norm(w[..., 0], axis=-1), rtol=1e-5)


def test_svd_similarity():
    rng = np.random.default_rng(6)
    # SVD-structured teachers (§3.4): disjoint singular spaces, distinct singular values.
    d_out, d_in = 4, 6
    u = np.linalg.qr(rng.normal(size=(d_out, d_out)))[0]
    v = np.linalg.qr(rng.normal(size=(d_in, d_in)))[0]
    s = [2.0, 1.0]
    teachers = np.stack(
        [sum(s[a] * np.outer(u[:, 2 * m + a], v[:, 3 * m + a]) for a in range(2)) for m in range(2)]
    )
    paths = np.stack([teachers[1], teachers[0] + 0.5 * teachers[1]])
    sim = np.asarray(svd_similarity(teachers, paths))
    assert sim.shape == (2, 2)
    assert sim[1, 0] == pytest.approx(1.0, abs=1e-5)
    assert sim[0, 0] == pytest.approx(0.0, abs=1e-5)
    assert sim[0, 1] == pytest.approx(1.0, abs=1e-5)  # u*_{0,1} is among path 1's top two
    # Random matrices against NumPy's SVD, with a time axis.
    teachers = rng.normal(size=(3, 5, 7))
    paths = rng.normal(size=(2, 4, 5, 7))
    sim = np.asarray(svd_similarity(teachers, paths))
    for t in range(2):
        for m in range(3):
            u_t = np.linalg.svd(teachers[m])[0][:, 0]
            for p in range(4):
                u_p = np.linalg.svd(paths[t, p])[0][:, :2]
                assert sim[t, m, p] == pytest.approx(np.max(np.abs(u_t @ u_p)), abs=1e-5)


# ----------------------------------------------------------------------------- regime (ntajax's own)


def _alternating(n_blocks, samples, n_paths, on_value, off_value, pi):
    task = np.repeat(np.arange(n_blocks) % 2, samples)
    gates = np.full((task.size, n_paths), off_value)
    gates[np.arange(task.size), np.asarray(pi)[task]] = on_value
    return gates, task


def test_gate_separation_extremes():
    pi = np.array([2, 0])
    gates, task = _alternating(6, 5, 3, 1.0, 0.0, pi)
    assert float(gate_separation(gates, task, pi)) == pytest.approx(1.0)
    assert float(gate_separation(np.full_like(gates, 0.5), task, pi)) == pytest.approx(0.0)
    wrong, _ = _alternating(6, 5, 3, 1.0, 0.0, np.array([0, 2]))
    assert float(gate_separation(wrong, task, pi)) == pytest.approx(-1.0)


def test_gate_separation_uses_last_block_ends():
    pi = np.array([1, 0])
    task = np.array([0, 0, 1, 1, 0, 0, 2, 2])  # the final block is a composite: ignored
    gates = np.array(
        [[0, 0], [0, 0], [0, 0], [0.8, 0.2], [0, 0], [0.1, 0.9], [0.5, 0.5], [0.5, 0.5]], dtype=float
    )
    expected = np.mean([(0.8 - 0.2) / 0.8, (0.9 - 0.1) / 0.9])
    assert float(gate_separation(gates, task, pi)) == pytest.approx(expected, rel=1e-6)
    # With explicit block indices, consecutive blocks of the same task are separate blocks.
    task = np.array([0, 0, 0, 0])
    block = np.array([0, 0, 1, 1])
    gates = np.array([[0, 0], [0.3, 0.6], [0, 0], [0.0, 1.0]])
    assert float(gate_separation(gates, task, pi, block_index=block)) == pytest.approx(np.mean([0.5, 1.0]))
    assert float(gate_separation(gates, task, pi)) == pytest.approx(1.0)  # one run: only the final record


def test_classify_regime():
    alignment = jnp.array([0.95, 0.95, 0.5, 0.99, jnp.nan])
    separation = jnp.array([0.9, 0.1, 0.9, 0.5, 0.9])
    labels = np.asarray(classify_regime(alignment, separation))
    np.testing.assert_array_equal(labels, [FLEXIBLE, FORGETFUL, FORGETFUL, FLEXIBLE, FORGETFUL])
    strict = np.asarray(classify_regime(alignment, separation, separation_threshold=0.95))
    np.testing.assert_array_equal(strict, [0, 0, 0, 0, 0])
    assert labels.dtype == np.int32
