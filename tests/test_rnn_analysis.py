"""Recurrent-network analyses against independent references.

Fixed points: a hand-built 2-bit flip-flop (two saturating units in a rotated basis, whose fixed
points and Jacobian spectra follow from the scalar equation z = tanh(w z + u), solved here by
bracketing with SciPy) and a linear map h ↦ A h + b (fixed point (I − A)⁻¹ b, eigenvalues of A).
Limit cycles: the discrete Hopf normal form (a stable cycle of radius 1 at a known frequency), a
rotation, a contracting and an expanding spiral. Eigenvalue outliers: a Ginibre matrix with
planted rank-one spikes (outliers at the spike values). Task variance, FTV and clusters: hand-built
responses with planted task selectivity. Separability and the F ratio: planted Gaussian clusters
and a NumPy hand computation. PCA: a planted anisotropic Gaussian.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq

from ntajax._rnn.fixed_points import (
    detect_limit_cycle,
    dominant_frequency,
    eigenvalue_outliers,
    find_fixed_points,
    jacobian,
    sample_initial_states,
    unstable_eigenvalue_count,
)
from ntajax._rnn.geometry import (
    LogisticClassifier,
    RidgeClassifier,
    decoding_accuracy,
    fit_pca,
    stack_by_task,
    trajectory_f_ratio,
)
from ntajax._rnn.representation import (
    cluster_task_profile,
    response_task_variance,
    task_variance_matrix,
    unit_representation,
)

# ------------------------------------------------------------------------------------ fixed points
W_SELF, ALPHA, THETA = 3.0, 0.5, 0.4
Q = np.array([[np.cos(THETA), -np.sin(THETA)], [np.sin(THETA), np.cos(THETA)]])


def flip_flop(h, u):
    """h ↦ (1 − α) h + α Q tanh(w Qᵀ h + u): two bistable units in a rotated basis."""
    q = jnp.asarray(Q, h.dtype)
    return (1 - ALPHA) * h + ALPHA * q @ jnp.tanh(W_SELF * q.T @ h + u)


def scalar_roots(u):
    """All roots of z = tanh(w z + u), bracketed on a fine grid and refined by Brent's method."""
    f = lambda z: np.tanh(W_SELF * z + u) - z  # noqa: E731
    grid = np.linspace(-1.5, 1.5, 3001)
    values = f(grid)
    roots = [brentq(f, a, b, xtol=1e-14) for a, b, fa, fb in zip(grid[:-1], grid[1:], values[:-1], values[1:]) if fa * fb < 0]
    return roots + [z for z, v in zip(grid, values) if v == 0]


def analytic_flip_flop(u):
    """(fixed points in h, Jacobian eigenvalues (1 − α) + α w sech²(w z_i + u_i) of each)."""
    points, spectra = [], []
    for z in itertools.product(scalar_roots(u[0]), scalar_roots(u[1])):
        z = np.asarray(z)
        points.append(Q @ z)
        spectra.append((1 - ALPHA) + ALPHA * W_SELF / np.cosh(W_SELF * z + u) ** 2)
    return np.asarray(points), np.asarray(spectra)


def _match(found, expected, atol):
    """Index of the found point closest to every expected point, asserting a one-to-one match."""
    distance = np.linalg.norm(found[:, None] - expected[None], axis=-1)
    index = np.argmin(distance, axis=0)
    assert len(set(index.tolist())) == len(expected), distance
    assert np.all(distance[index, np.arange(len(expected))] < atol), distance
    return index


@pytest.mark.parametrize("u", [(0.0, 0.0), (2.0, 0.0)], ids=["no input", "input removes a branch"])
def test_flip_flop_fixed_points_and_stability(u):
    u = np.asarray(u)
    expected, spectra = analytic_flip_flop(u)
    assert len(expected) == (9 if u[0] == 0 else 3)  # the reference itself: 3 × 3 roots, or 1 × 3
    h0 = jax.random.uniform(jax.random.key(0), (96, 2), minval=-1.4, maxval=1.4)
    found = find_fixed_points(flip_flop, h0, jnp.asarray(u, jnp.float32))
    assert found.n_points == len(expected)
    index = _match(found.points, expected, 1e-4)
    expected_unstable = np.sum(spectra > 1, axis=1)
    np.testing.assert_array_equal(found.n_unstable[index], expected_unstable)
    np.testing.assert_allclose(np.sort(np.abs(found.eigenvalues[index]), axis=1), np.sort(spectra, axis=1), rtol=1e-4)
    assert found.n_stable == (4 if u[0] == 0 else 2)  # the 2-bit flip-flop's four memories
    assert np.all(found.speed <= 1e-9) and found.basin_count.sum() <= h0.shape[0]


def affine(A, b, h):
    return A @ h + b


def test_relaxation_finds_only_the_attractors():
    expected, spectra = analytic_flip_flop(np.zeros(2))
    attractors = expected[np.all(spectra < 1, axis=1)]
    h0 = jax.random.uniform(jax.random.key(4), (96, 2), minval=-1.4, maxval=1.4)
    found = find_fixed_points(flip_flop, h0, jnp.zeros(2), relax_steps=60)
    assert found.n_points == 4 and found.n_stable == 4
    _match(found.points, attractors, 1e-4)


def test_linear_map_fixed_point_closed_form():
    rng = np.random.default_rng(1)
    V = rng.normal(size=(4, 4))
    for eigenvalues, n_unstable in (((0.5, -0.3, 0.8, 0.1), 0), ((0.5, -0.3, 1.5, 0.1), 1), ((-1.6, -0.3, 1.5, 0.1), 2)):
        A = V @ np.diag(eigenvalues) @ np.linalg.inv(V)
        b = rng.normal(size=4)
        expected = np.linalg.solve(np.eye(4) - A, b)
        step = jax.tree_util.Partial(affine, jnp.asarray(A, jnp.float32), jnp.asarray(b, jnp.float32))  # one compile
        found = find_fixed_points(step, 3 * jax.random.normal(jax.random.key(2), (16, 4)), q_tolerance=1e-8,
                                  unique_tolerance=1e-2)
        assert found.n_points == 1
        np.testing.assert_allclose(found.points[0], expected, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(np.sort(found.eigenvalues[0].real), np.sort(eigenvalues), atol=1e-4)
        assert found.n_unstable[0] == n_unstable and bool(found.stable[0]) == (n_unstable == 0)
        np.testing.assert_allclose(np.asarray(jacobian(step, found.points[0])), A, atol=1e-5)


def test_one_compile_serves_every_context():
    traces = []

    def counted(h, u):
        traces.append(1)
        return flip_flop(h, u)

    h0 = jax.random.uniform(jax.random.key(3), (32, 2), minval=-1.4, maxval=1.4)
    find_fixed_points(counted, h0, jnp.zeros(2))
    first = len(traces)
    counts = [find_fixed_points(counted, h0, jnp.asarray(u), relax_steps=r).n_points
              for u, r in (((0.3, 0.0), 0), ((0.0, -0.2), 0), ((2.0, 0.0), 0), ((0.0, 0.0), 50))]
    assert counts == [9, 9, 3, 4] and len(traces) == first  # any number of points, any relaxation: one program


def test_linearisation_of_many_states_in_a_second_program(monkeypatch):
    # above the size limit the Jacobians are taken at the merged points only, with the same result
    import ntajax._rnn.fixed_points as module

    h0 = jax.random.uniform(jax.random.key(0), (96, 2), minval=-1.4, maxval=1.4)
    inline = find_fixed_points(flip_flop, h0, jnp.zeros(2))
    monkeypatch.setattr(module, "JACOBIAN_ELEMENTS", 0)
    separate = find_fixed_points(flip_flop, h0, jnp.zeros(2))
    np.testing.assert_allclose(separate.jacobians, inline.jacobians, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(separate.n_unstable, inline.n_unstable)


def test_sample_initial_states_draws_visited_states_plus_noise():
    trajectories = jnp.arange(60.0).reshape(3, 10, 2)
    states = sample_initial_states(trajectories, 12, key=jax.random.key(0))
    visited = {tuple(x) for x in np.asarray(trajectories).reshape(-1, 2)}
    assert states.shape == (12, 2) and all(tuple(s) in visited for s in np.asarray(states))
    assert len({tuple(s) for s in np.asarray(states)}) == 12  # without replacement
    noisy = np.asarray(sample_initial_states(jnp.full((1, 1, 3), 5.0), 4000, key=jax.random.key(1), noise=0.5))
    assert noisy.shape == (4000, 3) and abs(noisy.mean() - 5.0) < 0.03 and abs(noisy.std() - 0.5) < 0.02


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="initial_states"):
        find_fixed_points(flip_flop, jnp.zeros(2), jnp.zeros(2))
    with pytest.raises(ValueError, match="square"):
        eigenvalue_outliers(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="alpha"):
        unstable_eigenvalue_count(np.eye(2), alpha=1.5)


# ------------------------------------------------------------------------------------ limit cycles
def rotation(h, f):
    a = 2 * jnp.pi * f
    return jnp.stack([jnp.cos(a) * h[0] - jnp.sin(a) * h[1], jnp.sin(a) * h[0] + jnp.cos(a) * h[1]])


def hopf(h, f):
    """Discrete Hopf normal form: r ↦ r + 0.1 r (1 − r²), angle ↦ angle + 2π f (a stable cycle r = 1)."""
    return (1 + 0.1 * (1 - h @ h)) * rotation(h, f)


@pytest.mark.parametrize("frequency", [0.0371, 0.125, 0.2113])
def test_limit_cycle_at_the_known_frequency(frequency):
    f = jnp.float32(frequency)
    orbit = detect_limit_cycle(hopf, jnp.array([0.05, 0.0]), f)
    assert bool(orbit.periodic) and not bool(orbit.fixed_point) and not bool(orbit.diverged)
    assert abs(float(orbit.frequency) - frequency) < 2e-3 * frequency + 1e-4
    assert abs(float(orbit.period) - 1 / frequency) < 0.01 / frequency
    assert abs(float(orbit.amplitude) - 1.0) < 1e-3  # RMS of a unit circle in two coordinates
    # an integer period returns exactly when 1/f is an integer (f = 1/8), approximately otherwise
    expected_return = 2 * abs(np.sin(np.pi * frequency * round(1 / frequency)))
    assert abs(float(orbit.return_distance) - expected_return) < 1e-3


def spiral(h, u):
    """h ↦ ρ R(2π f) h with u = (f, ρ): a rotation (ρ = 1), contracting (ρ < 1) or expanding (ρ > 1)."""
    return u[1] * rotation(h, u[0])


def test_rotation_contraction_and_expansion():
    h0 = jnp.array([0.3, 0.1])
    rotating = detect_limit_cycle(spiral, h0, jnp.array([0.0537, 1.0]))
    assert bool(rotating.periodic) and abs(float(rotating.frequency) - 0.0537) < 1e-4
    contracting = detect_limit_cycle(spiral, h0, jnp.array([0.0537, 0.9]))
    assert bool(contracting.fixed_point) and not bool(contracting.periodic)
    expanding = detect_limit_cycle(spiral, h0, jnp.array([0.0537, 1.01]))
    assert bool(expanding.diverged) and not bool(expanding.periodic)


def test_limit_cycle_detection_vmaps_over_inputs():
    frequencies = jnp.array([0.05, 0.11, 0.17])
    orbits = jax.vmap(lambda f: detect_limit_cycle(hopf, jnp.array([0.05, 0.0]), f, readout=lambda h: h[0]))(frequencies)
    np.testing.assert_allclose(np.asarray(orbits.frequency), np.asarray(frequencies), rtol=2e-3)
    assert np.all(np.asarray(orbits.periodic))


def test_dominant_frequency_of_a_sampled_sine():
    t = np.arange(2048)
    signal = np.sin(2 * np.pi * 0.0813 * t + 0.3) + 0.05 * np.random.default_rng(0).normal(size=t.size)
    frequency, fraction = dominant_frequency(jnp.asarray(signal))
    assert abs(float(frequency) - 0.0813) < 1e-4 and float(fraction) > 0.9
    noise_frequency, noise_fraction = dominant_frequency(jnp.asarray(np.random.default_rng(1).normal(size=2048)))
    assert float(noise_fraction) < 0.05  # white noise has no dominant line


# ---------------------------------------------------------------------------------- eigenvalue outliers
def test_outliers_of_a_random_matrix_with_planted_spikes():
    n = 200
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.normal(size=(n, 2)))
    for seed in range(2):
        bulk = np.random.default_rng(10 + seed).normal(size=(n, n)) / np.sqrt(n)  # circular law: radius 1
        assert eigenvalue_outliers(bulk).count == 0
        spiked = bulk + 3.0 * np.outer(basis[:, 0], basis[:, 0]) - 2.5 * np.outer(basis[:, 1], basis[:, 1])
        result = eigenvalue_outliers(spiked)
        assert result.count == 2 and 1.0 < result.radius < 1.2
        outliers = np.sort(result.eigenvalues[result.outliers].real)
        np.testing.assert_allclose(outliers, [-2.5, 3.0], atol=0.25)  # i.i.d. bulk: outliers stay at the spikes (Tao 2013)
        assert eigenvalue_outliers(spiked, sigma=1 / np.sqrt(n)).count == 2


def test_unstable_eigenvalue_count_of_a_leaky_map():
    W = np.diag([1.5, 0.5, -3.0, 1.2])
    assert unstable_eigenvalue_count(W) == 2           # Re λ > 1: 1.5, 1.2
    assert unstable_eigenvalue_count(W, alpha=0.5) == 2  # |0.5 + 0.5 λ| > 1: 1.25, 1.1 (−3 gives exactly 1)
    assert unstable_eigenvalue_count(W, alpha=1.0) == 3  # |λ| > 1


# ------------------------------------------------------------------------- task variance, FTV, clusters
def test_task_variance_and_ftv_of_planted_units():
    rng = np.random.default_rng(0)
    trials, time = 40, 25
    signal = rng.normal(size=(trials, time))
    shared = np.sin(np.linspace(0, 3, time))  # the same in every trial: no task variance
    a = np.stack([signal, np.broadcast_to(shared, (trials, time)), signal, 0.1 * signal], -1)
    b = np.stack([np.broadcast_to(shared, (trials, time)), signal, -signal[::-1], 0.1 * signal], -1)
    tv = task_variance_matrix([a, b])
    by_hand = np.stack([np.mean(np.var(x, axis=0), axis=0) for x in (a, b)])
    np.testing.assert_allclose(np.asarray(tv), by_hand, rtol=1e-5, atol=1e-6)
    out = unit_representation(tv, key=jax.random.key(0))
    np.testing.assert_allclose(out["ftv"][0], [1.0, -1.0, 0.0, 0.0], atol=1e-6)
    assert out["pairs"] == [(0, 1)]
    assert out["histogram"].sum() == 4 and out["histogram"][0, -1] == 1 and out["histogram"][0, 0] == 1


def test_task_variance_mask_selects_the_epoch():
    rng = np.random.default_rng(1)
    r = np.zeros((30, 10, 1))
    r[:, 6:, 0] = rng.normal(size=(30, 4))
    mask = np.arange(10) >= 6
    np.testing.assert_allclose(float(response_task_variance(r, mask)[0]), np.var(r[:, 6:, 0], axis=0).mean(), rtol=1e-5)
    np.testing.assert_allclose(float(response_task_variance(r)[0]), np.var(r[:, 6:, 0], axis=0).mean() * 0.4, rtol=1e-5)
    with pytest.raises(ValueError, match="mask"):
        response_task_variance(r, np.ones(3, bool))
    with pytest.raises(ValueError, match="trials, time, units"):
        response_task_variance(r[0])


def test_clusters_recovered_from_planted_task_selectivity():
    rng = np.random.default_rng(2)
    planted = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.05]])  # A only, B only, A and B
    group = np.repeat(np.arange(3), 12)
    trials, time = 60, 20
    responses = []
    for m in range(3):
        scale = np.sqrt(planted[group, m])
        responses.append(scale * rng.normal(size=(trials, time, group.size)))
    out = unit_representation(task_variance_matrix(responses), key=jax.random.key(0))
    assert out["k"] == 3
    labels = out["labels"]
    assert all(len(set(labels[group == g])) == 1 for g in range(3)) and len(set(labels)) == 3
    profile = cluster_task_profile(out["profiles"], labels, out["active"])
    for g in range(3):
        np.testing.assert_allclose(profile[labels[group == g][0]], planted[g], atol=0.15)


# ------------------------------------------------------------------------------------------- geometry
def _clusters(key, n, shift, dim=5, n_classes=2):
    keys = jax.random.split(key, n_classes)
    return [jax.random.normal(k, (n, dim)) + shift * m * jnp.eye(dim)[0] for m, k in enumerate(keys)]


@pytest.mark.parametrize("classifier", [RidgeClassifier(), LogisticClassifier()], ids=["ridge", "logistic"])
def test_separability_of_planted_clusters(classifier):
    # 600 samples everywhere (one compile per number of classes)
    separated, labels = stack_by_task(_clusters(jax.random.key(0), 300, 12.0))
    assert float(decoding_accuracy(separated, labels, 2, key=jax.random.key(1), classifier=classifier)) == 1.0
    identical, labels = stack_by_task(_clusters(jax.random.key(2), 300, 0.0))
    assert abs(float(decoding_accuracy(identical, labels, 2, key=jax.random.key(3), classifier=classifier)) - 0.5) < 0.06
    three, labels = stack_by_task(_clusters(jax.random.key(4), 200, 0.0, n_classes=3))
    assert abs(float(decoding_accuracy(three, labels, 3, key=jax.random.key(5), classifier=classifier)) - 1 / 3) < 0.06
    # overlapping clusters: the Bayes accuracy Φ(shift/2) = 0.841 bounds what a linear classifier reaches
    overlapping, labels = stack_by_task(_clusters(jax.random.key(6), 300, 2.0))
    accuracy = float(decoding_accuracy(overlapping, labels, 2, key=jax.random.key(7), classifier=classifier))
    assert abs(accuracy - 0.8413) < 0.045


def test_f_ratio_against_a_hand_computation():
    rng = np.random.default_rng(3)
    tasks = [rng.normal(size=(7, 11, 4)) * s + mu for s, mu in ((1.0, 0.0), (0.5, 2.0), (2.0, -1.0))]
    flat = [t.reshape(-1, 4) for t in tasks]
    means = np.stack([f.mean(0) for f in flat])
    between = np.mean(np.sum((means - means.mean(0)) ** 2, axis=1))
    within = np.mean([np.sum((f - f.mean(0)) ** 2) / (len(f) - 1) for f in flat])
    np.testing.assert_allclose(float(trajectory_f_ratio([jnp.asarray(t, jnp.float32) for t in tasks])), between / within,
                               rtol=1e-4)
    assert float(trajectory_f_ratio([tasks[0], tasks[0]])) < 1e-12


def test_pca_recovers_planted_axes():
    rng = np.random.default_rng(4)
    axes, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    scales = np.array([5.0, 2.0, 1.0, 0.3, 0.2, 0.1])
    x = (rng.normal(size=(20000, 6)) * scales) @ axes.T + 3.0
    pca = fit_pca(jnp.asarray(x, jnp.float32), n_components=3)
    cosines = np.abs(np.sum(np.asarray(pca.components) * axes[:, :3].T, axis=1))
    assert np.all(cosines > 0.995)
    np.testing.assert_allclose(np.asarray(pca.explained), scales[:3] ** 2 / np.sum(scales**2), rtol=0.05)
    projected = np.asarray(pca.project(jnp.asarray(x[:5], jnp.float32)))
    np.testing.assert_allclose(projected, (x[:5] - x.mean(0)) @ np.asarray(pca.components).T, atol=1e-2)
