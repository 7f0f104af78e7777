"""Task-representation measures and multi-head students against direct computations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntajax
from ntajax._engines.continual import FrozenGates, LearnedGates
from ntajax._students.fisher import analytic_fisher
from ntajax._engines.multi_head import (
    GatedOutputs,
    MultiHeadFrame,
    MultiHeadScan,
    OrthogonalOutputs,
    ParallelOutputs,
    mode_loss,
)
from ntajax._students.multi_head import MultiHeadStudent
from ntajax._analysis.representations import hidden_geometry, last_block_ends, task_variances, unit_maps
from ntajax.metrics import _representations as rep


# ------------------------------------------------------------------------------------- task variance
def test_ftv_is_plus_or_minus_one_for_units_active_in_one_task_only(key):
    W = jax.random.normal(key, (2, 3, 5))
    task_a = ntajax.PerNeuronStudent(W=W, c=jnp.array([[1.0, 0.7, 0.0], [0.0, 0.0, 0.4]]))
    task_b = ntajax.PerNeuronStudent(W=W, c=jnp.array([[0.0, 0.7, 0.0], [0.9, 0.0, 0.4]]))
    tv = task_variances([task_a, task_b])  # units (p, i): (0,0) A only, (0,1) both, (0,2) none, (1,0) B only, (1,1) none, (1,2) both
    ftv = np.asarray(rep.fractional_task_variance(tv[0], tv[1]))
    assert ftv[0] == 1.0 and ftv[3] == -1.0
    np.testing.assert_allclose(ftv[[1, 5]], 0.0, atol=1e-7)
    assert np.isnan(ftv[2]) and np.isnan(ftv[4])


def test_task_variance_is_the_variance_of_the_unit_activity_over_inputs(key):
    k1, k2, k3 = jax.random.split(key, 3)
    student = ntajax.TwoLayerStudent(W1=jax.random.normal(k1, (6, 5)), W2=jax.random.normal(k2, (3, 6)))
    x = jax.random.normal(k3, (200_000, 5))
    # the hidden unit as the output sees it: the norm of its output vector W2[:, k] h_k
    contribution = (x @ student.W1.T)[:, :, None] * student.W2.T[None]  # (n, K, d_out)
    sampled = np.var(np.asarray(contribution), axis=0, ddof=1).sum(-1)
    np.testing.assert_allclose(np.asarray(rep.task_variance(unit_maps(student))), sampled, rtol=0.02)
    np.testing.assert_allclose(np.asarray(rep.sampled_task_variance(student.W1, x)), np.sum(np.asarray(student.W1) ** 2, 1),
                               rtol=0.02)


def test_ftv_histogram_matches_numpy(key):
    ftv = np.array(jax.random.uniform(key, (3, 50), minval=-1, maxval=1))
    ftv[0, :3] = [1.0, -1.0, np.nan]
    bins = np.linspace(-1, 1, 11)
    counts = np.asarray(rep.ftv_histogram(jnp.asarray(ftv), bins))
    for row, got in zip(ftv, counts):
        expected, _ = np.histogram(row[np.isfinite(row)], bins)
        np.testing.assert_array_equal(got, expected)


# ---------------------------------------------------------------------------------------- clustering
def _silhouette_loops(x, labels):
    """Rousseeuw's silhouette written out point by point (reference)."""
    scores = []
    for i in range(len(x)):
        same = [j for j in range(len(x)) if labels[j] == labels[i] and j != i]
        if not same:
            scores.append(0.0)
            continue
        a = np.mean([np.linalg.norm(x[i] - x[j]) for j in same])
        b = min(np.mean([np.linalg.norm(x[i] - x[j]) for j in range(len(x)) if labels[j] == c])
                for c in set(labels) if c != labels[i])
        scores.append((b - a) / max(a, b))
    return np.mean(scores)


def test_silhouette_matches_a_direct_computation(key):
    x = np.asarray(jax.random.normal(key, (30, 3)))
    labels = np.array(jax.random.randint(jax.random.fold_in(key, 1), (30,), 0, 4))
    labels[0] = 3
    labels[1:4] = [0, 1, 2]
    assert float(rep.silhouette_score(x, labels, 4)) == pytest.approx(_silhouette_loops(x, labels), rel=1e-5)


def test_clustering_criterion_finds_separate_groups_and_no_structure_in_one_blob(key):
    centres = np.eye(3)
    noise = 0.03 * np.asarray(jax.random.normal(key, (3, 8, 3)))
    groups = (centres[:, None, :] + noise).reshape(-1, 3)
    result = rep.choose_clusters(groups, jax.random.fold_in(key, 1))
    assert result["k"] == 3
    truth = np.repeat(np.arange(3), 8)
    labels = np.asarray(result["labels"])
    assert len(set(zip(truth, labels))) == 3  # a relabelling of the truth
    blob = 1.0 - 0.02 * np.abs(np.asarray(jax.random.normal(jax.random.fold_in(key, 2), (24, 3))))
    assert rep.choose_clusters(blob, jax.random.fold_in(key, 3))["k"] == 1


def test_normalised_profiles_scale_by_the_largest_task_variance_and_drop_silent_units():
    tv = jnp.array([[2.0, 0.0, 1e-6], [1.0, 3.0, 0.0]])
    profiles, active = rep.normalised_profiles(tv)
    np.testing.assert_allclose(np.asarray(profiles[:2]), [[1.0, 0.5], [0.0, 1.0]])
    assert list(np.asarray(active)) == [True, True, False]


# ------------------------------------------------------------------------------------------ geometry
def test_exact_f_ratio_is_the_large_sample_limit_of_the_sampled_one(key):
    k1, k2 = jax.random.split(key)
    A = jax.random.normal(k1, (2, 4, 6)) * jnp.array([1.0, 0.5])[:, None, None]
    x = jax.random.normal(k2, (2, 100_000, 6))
    h = jnp.einsum("muj,mnj->mnu", A, x).reshape(-1, 4)
    labels = jnp.repeat(jnp.arange(2), 100_000)
    sampled = float(rep.f_ratio(rep.second_order_features(h), labels, 2))
    exact = float(rep.covariance_f_ratio(jnp.einsum("muj,mvj->muv", A, A)))
    assert sampled == pytest.approx(exact, rel=0.03)
    z = rep.second_order_features(h[:5])
    np.testing.assert_allclose(np.linalg.norm(np.asarray(z), axis=1),
                               np.linalg.norm(np.einsum("ni,nj->nij", h[:5], h[:5]), axis=(1, 2)), rtol=1e-5)


def test_separability_is_chance_for_shared_and_high_for_separate_hidden_states(key):
    A = jax.random.normal(key, (4, 8)) / np.sqrt(8)
    shared = hidden_geometry(jnp.stack([A, A]), jax.random.fold_in(key, 1), 1000)
    top = jnp.zeros_like(A).at[:2].set(A[:2])
    bottom = jnp.zeros_like(A).at[2:].set(A[2:])
    separate = hidden_geometry(jnp.stack([top, bottom]), jax.random.fold_in(key, 2), 1000)
    assert abs(float(shared["separability"]) - 0.5) < 0.05
    assert float(shared["f_ratio"]) == 0.0 and float(shared["overlap"]) == pytest.approx(1.0, rel=1e-5)
    assert float(separate["separability"]) > 0.95 and float(separate["overlap"]) == 0.0
    assert float(separate["separability_first_order"]) < 0.8  # centred states: a hyperplane cannot do better than ¾


# ---------------------------------------------------------------------------------------- multi-head
def _multihead(key, P=2, H=3, d_in=5, M=2):
    k = jax.random.split(key, 3)
    return MultiHeadStudent(W=jax.random.normal(k[0], (P, H, d_in)), c=jax.random.uniform(k[1], (P,), minval=0.2, maxval=1.2),
                            V=jax.random.normal(k[2], (M, H, P * H)))


def _direct_loss(mode, student, teachers, current, x):
    """The modes' minibatch losses from explicit forward passes h = [c_p W_p x], y_m = V_m h."""
    h = jnp.concatenate([student.c[p] * (x @ student.W[p].T) for p in range(student.W.shape[0])], axis=1)
    y = [h @ student.V[m].T for m in range(student.V.shape[0])]
    err = [0.5 * jnp.mean(jnp.sum((y[m] - x @ teachers[m].T) ** 2, 1)) for m in range(len(y))]
    silent = [0.5 * jnp.mean(jnp.sum(y[m] ** 2, 1)) for m in range(len(y))]
    if isinstance(mode, GatedOutputs):
        return err[current]
    if isinstance(mode, OrthogonalOutputs):
        return err[current] + sum(silent[m] for m in range(len(y)) if m != current)
    return sum(err)


@pytest.mark.parametrize("mode", [GatedOutputs(), OrthogonalOutputs(), ParallelOutputs()], ids=lambda m: m.name)
def test_output_modes_give_the_losses_and_gradients_their_definitions_say(mode, key):
    k1, k2, k3 = jax.random.split(key, 3)
    student = _multihead(k1)
    teachers = jax.random.normal(k2, (2, 3, 5))
    x = jax.random.normal(k3, (64, 5))
    covariance = x.T @ x / 64
    config = ntajax.Simulation(d_in=5, d_out=3, student=ntajax.MultiHead(tau_w=0.7, tau_c=0.2),
                               gradient=ntajax.SampledGradient(), grid=ntajax.TimeGrid(t_total=0.1, n_save=2),
                               teachers=ntajax.IIDTeachers(), n_seeds=1, engine=MultiHeadScan(outputs=mode))
    frame = MultiHeadFrame(teachers=teachers, outputs=mode, gates=LearnedGates(), config=config)
    for current in (0, 1):
        weights = jax.nn.one_hot(current, 2)
        direct = _direct_loss(mode, student, teachers, current, x)
        assert float(mode_loss(mode, student, weights, teachers, covariance)) == pytest.approx(float(direct), rel=1e-5)
        record = frame.record(student, t=0.0, block=current, weights=weights, previous_weights=weights,
                              input_covariance=covariance, config=config)
        assert float(record["minibatch_loss"]) == pytest.approx(float(direct), rel=1e-5)
        grad = jax.grad(lambda s: _direct_loss(mode, s, teachers, current, x))(student)
        velocity = frame.velocity(student, weights, covariance, config)
        for v, g, tau in zip(jax.tree.leaves(velocity), jax.tree.leaves(grad), (0.7, 0.2, 0.7)):
            np.testing.assert_allclose(np.asarray(v), -np.asarray(g) / tau, rtol=2e-4, atol=1e-5)


def test_multihead_fisher_is_the_monte_carlo_expectation_of_the_score_outer_product(key):
    student = _multihead(key)
    k1, k2 = jax.random.split(jax.random.fold_in(key, 9))
    n = 200_000
    x = jax.random.normal(k1, (n, 5))
    eps = jax.random.normal(k2, (n, 6))

    def score(x, e):
        y = jax.lax.stop_gradient(student(x)) + e
        return jax.grad(lambda s: -0.5 * jnp.sum((y - s(x)) ** 2))(student)

    mc = jax.tree.map(lambda g: jnp.mean(g**2, 0), jax.vmap(score)(x, eps))
    for a, m in zip(jax.tree.leaves(analytic_fisher(student)), jax.tree.leaves(mc)):
        np.testing.assert_allclose(np.asarray(m), np.asarray(a), rtol=0.04, atol=1e-3)


def test_multihead_scan_checks_its_student(key):
    with pytest.raises(ValueError, match=r"student=ntajax\.MultiHead"):
        ntajax.run(ntajax.Simulation(gradient=ntajax.ExpectedGradient(), grid=ntajax.TimeGrid(t_total=0.1, n_save=2),
                                     n_seeds=1, engine=MultiHeadScan()), key)


def test_last_block_ends_finds_the_last_block_of_every_task():
    times = np.arange(0, 7.5, 0.5)
    np.testing.assert_array_equal(last_block_ends(times, 1.0, 7.0, lambda k: k % 3, 3), [14, 10, 12])  # blocks 6, 4, 5
    with pytest.raises(ValueError, match="no complete block"):
        last_block_ends(times, 1.0, 2.0, lambda k: k % 3, 3)
    with pytest.raises(ValueError, match="not all recorded"):
        last_block_ends(np.arange(0, 7.5, 0.75), 1.0, 7.0, lambda k: k % 3, 3)


def test_orthogonal_outputs_with_nta_gates_separate_and_gated_outputs_without_gates_share(key):
    """Turner & Barak's contrast in the linear NTA setting: trained to silence the other head,
    NTA gates give each task its own path; with only the current head trained and no gates, the
    hidden layer is shared."""
    base = dict(student=ntajax.MultiHead(tau_w=0.3, tau_c=0.03),
                regulariser=ntajax.Regulariser(lambda_nonneg=1 / 11, lambda_norm=10 / 11),
                gradient=ntajax.ExpectedGradient(), grid=ntajax.TimeGrid(t_total=24.0, n_save=61), n_seeds=2,
                curriculum=ntajax.Blocked(block_length=2.0), recording=ntajax.Recording(weights=True, weights_every=5))
    out = {}
    for name, engine in {"orthogonal": MultiHeadScan(outputs=OrthogonalOutputs()),
                         "gated": MultiHeadScan(outputs=GatedOutputs(), gates=FrozenGates())}.items():
        config = ntajax.Simulation(**base, engine=engine)
        tr = ntajax.run(config, key)
        idx = last_block_ends(config.weight_save_times, 2.0, 24.0, lambda k: k % 2, 2)
        geometry = [hidden_geometry(jnp.stack([jax.tree.map(lambda x: x[s, i], tr.weights).hidden_map() for i in idx]),
                                    jax.random.fold_in(key, s)) for s in range(2)]
        out[name] = {k: np.mean([float(g[k]) for g in geometry]) for k in ("separability", "overlap")}
        out[name]["gates"] = np.asarray(tr.gates[:, -1])
    assert out["orthogonal"]["separability"] > 0.95 and out["orthogonal"]["overlap"] < 0.1
    assert out["gated"]["separability"] < 0.6 and out["gated"]["overlap"] > 0.95
    gates = np.sort(out["orthogonal"]["gates"], -1)
    assert np.all(gates[:, 0] < 0.15) and np.all(gates[:, 1] > 0.9)  # one path on, the other off: a path per task
    np.testing.assert_array_equal(out["gated"]["gates"], 1.0)


@pytest.mark.slow
def test_representations_figure_runs_at_tiny_size(tmp_path):
    from ntajax._cli.figure import FigureContext, make_figure

    result = make_figure("representations", FigureContext(out=tmp_path, size="tiny", progress=False))
    assert [p.suffix for p in result.files] == [".png", ".pdf"]
    assert all(p.stat().st_size > 10_000 for p in result.files)
    assert "separability" in result.headline
