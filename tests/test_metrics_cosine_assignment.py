"""Cosines, similarity matrix, assignment and alignment (MODEL.md §7.1, §7.3–§7.5, §7.9, §7.13)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from ntajax.metrics import (
    assign_paths,
    column_cosine,
    context_alignment,
    frobenius_cosine,
    matched_mismatched,
    path_order,
    row_cosine,
    row_matching,
    same_output_fraction,
    similarity_matrix,
    specialisation,
    total_alignment,
    unassigned_paths,
)


def _np_row_cosine(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    cosines = [a[i] @ b[i] / (np.linalg.norm(a[i]) * np.linalg.norm(b[i])) for i in range(a.shape[0])]
    return float(np.mean(cosines))


# ----------------------------------------------------------------------------- cosines (§7.1)


def test_row_cosine_hand_computed():
    a = np.array([[1.0, 0.0], [1.0, 1.0]])
    b = np.array([[1.0, 1.0], [0.0, 1.0]])
    # Both rows are at 45 degrees.
    assert float(row_cosine(a, b)) == pytest.approx(1 / np.sqrt(2), rel=1e-6)
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    b = np.array([[-1.0, 0.0, 2.0], [3.0, -2.0, 1.0]])
    expected = 0.5 * (5 / (np.sqrt(14) * np.sqrt(5)) + 8 / (np.sqrt(77) * np.sqrt(14)))
    assert float(row_cosine(a, b)) == pytest.approx(expected, rel=1e-6)


def test_row_cosine_invariances():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 7))
    b = rng.normal(size=(5, 7))
    base = float(row_cosine(a, b))
    assert base == pytest.approx(_np_row_cosine(a, b), abs=1e-6)
    # Positive rescaling of each row leaves it unchanged; a sign flip negates it.
    row_scale = rng.uniform(0.1, 10.0, size=(5, 1))
    assert float(row_cosine(a * row_scale, 3.0 * b)) == pytest.approx(base, abs=1e-6)
    assert float(row_cosine(a, -b)) == pytest.approx(-base, abs=1e-6)
    assert float(row_cosine(a, a)) == pytest.approx(1.0, abs=1e-6)
    assert float(row_cosine(a, -a)) == pytest.approx(-1.0, abs=1e-6)
    # Orthogonal rows give 0.
    q = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    assert float(row_cosine(q[:3], q[3:])) == pytest.approx(0.0, abs=1e-6)


def test_row_cosine_zero_row_is_guarded():
    a = np.array([[0.0, 0.0], [1.0, 0.0]])
    b = np.array([[1.0, 0.0], [1.0, 0.0]])
    value = float(row_cosine(a, b))
    assert np.isfinite(value)
    assert value == pytest.approx(0.5, abs=1e-6)


def test_column_and_frobenius_cosine():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 6))
    b = rng.normal(size=(4, 6))
    assert float(column_cosine(a, b)) == pytest.approx(_np_row_cosine(a.T, b.T), abs=1e-6)
    expected_f = np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b))
    assert float(frobenius_cosine(a, b)) == pytest.approx(expected_f, abs=1e-6)
    # The toy (d_in = 1): the column cosine is the ordinary cosine of the 2-vectors, while the
    # row cosine of 2x1 matrices only sees signs (§2.4).
    y = np.array([[1.0], [0.0]])
    w = np.array([[1.0], [1.0]])
    assert float(column_cosine(y, w)) == pytest.approx(1 / np.sqrt(2), rel=1e-6)
    assert float(row_cosine(y, w)) == pytest.approx(0.5, rel=1e-6)


def test_similarity_matrix_against_loop():
    rng = np.random.default_rng(2)
    teachers = rng.normal(size=(3, 4, 5))
    paths = rng.normal(size=(6, 2, 4, 5))  # leading time axis
    sim = np.asarray(similarity_matrix(teachers, paths))
    assert sim.shape == (6, 3, 2)
    for t, m, p in itertools.product(range(6), range(3), range(2)):
        assert sim[t, m, p] == pytest.approx(_np_row_cosine(teachers[m], paths[t, p]), abs=1e-5)
    sim_f = np.asarray(similarity_matrix(teachers, paths[0], cosine=frobenius_cosine))
    for m, p in itertools.product(range(3), range(2)):
        norms = np.linalg.norm(teachers[m]) * np.linalg.norm(paths[0, p])
        expected = np.sum(teachers[m] * paths[0, p]) / norms
        assert sim_f[m, p] == pytest.approx(expected, abs=1e-5)
    with pytest.raises(ValueError, match="similarity_matrix"):
        similarity_matrix(teachers, rng.normal(size=(2, 4, 6)))


# ----------------------------------------------------------------------------- assignment (§7.4)


def _brute_force_assignment(s):
    n_teachers, n_paths = s.shape
    best = max(
        itertools.permutations(range(n_paths), n_teachers),
        key=lambda pi: sum(s[m, pi[m]] for m in range(n_teachers)),
    )
    return np.array(best)


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (2, 4), (3, 3), (3, 5), (4, 6), (2, 6)])
def test_assign_paths_matches_brute_force(shape):
    rng = np.random.default_rng(sum(shape))
    for _ in range(5):
        s = rng.uniform(-1, 1, size=shape)
        pi = np.asarray(assign_paths(s))
        np.testing.assert_array_equal(pi, _brute_force_assignment(s))
        rows, cols = scipy.optimize.linear_sum_assignment(s, maximize=True)
        assert s[np.arange(shape[0]), pi].sum() == pytest.approx(s[rows, cols].sum(), abs=1e-6)


def test_assign_paths_vmap_and_jit():
    rng = np.random.default_rng(3)
    batch = rng.uniform(-1, 1, size=(16, 2, 4)).astype(np.float32)
    batched = np.asarray(jax.jit(jax.vmap(assign_paths))(batch))
    looped = np.stack([np.asarray(assign_paths(s)) for s in batch])
    np.testing.assert_array_equal(batched, looped)
    for s, pi in zip(batch, batched):
        np.testing.assert_array_equal(pi, _brute_force_assignment(s))


def test_assign_paths_rejects_fewer_paths():
    with pytest.raises(ValueError, match="P >= M"):
        assign_paths(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="vmap"):
        assign_paths(np.zeros((2, 2, 2)))


def test_unassigned_paths_and_path_order():
    pi = jnp.array([3, 1])
    np.testing.assert_array_equal(np.asarray(unassigned_paths(pi, 5)), [0, 2, 4])
    np.testing.assert_array_equal(np.asarray(path_order(pi, 5)), [3, 1, 0, 2, 4])
    assert unassigned_paths(jnp.array([1, 0]), 2).shape == (0,)
    # vmappable over seeds.
    batch = jnp.array([[0, 1], [2, 0], [1, 3]])
    orders = np.asarray(jax.vmap(path_order, in_axes=(0, None))(batch, 4))
    for order, pi in zip(orders, np.asarray(batch)):
        assert sorted(order) == [0, 1, 2, 3]
        np.testing.assert_array_equal(order[:2], pi)
        assert list(order[2:]) == sorted(order[2:])


# ----------------------------------------------------------------------------- row matching (§7.9)


def test_row_matching_is_optimal_permutation():
    rng = np.random.default_rng(4)
    s = rng.uniform(-1, 1, size=(6, 9))
    match = row_matching(s)
    assert match.shape == (6,)
    assert len(set(match.tolist())) == 6
    score = s[np.arange(6), match].sum()
    for _ in range(200):
        other = rng.permutation(9)[:6]
        assert score >= s[np.arange(6), other].sum() - 1e-12
    small = rng.uniform(-1, 1, size=(3, 4))
    np.testing.assert_array_equal(row_matching(small), _brute_force_assignment(small))


def test_row_matching_is_signed():
    # Row 0 is anti-aligned with student row 0 (|cos| = 0.9) and aligned with row 1 (0.5).
    s = np.array([[-0.9, 0.5], [0.1, 0.0]])
    np.testing.assert_array_equal(row_matching(s), [1, 0])
    with pytest.raises(ValueError, match="student rows"):
        row_matching(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        row_matching(np.array([[np.nan, 0.0]]))


def test_same_output_fraction():
    d_out = 3
    # Teacher rows (m, r) for m = 0, 1; matches on student rows p·3 + r' with r' = r except one.
    matching = np.array([0, 1, 2, 3, 4, 6])
    assert float(same_output_fraction(matching, d_out)) == pytest.approx(5 / 6)


# ----------------------------------------------------------------------------- alignment (§7.3, §7.5)


def test_total_alignment_is_row_cosine_of_stacks():
    rng = np.random.default_rng(5)
    teachers = rng.normal(size=(2, 3, 8))
    paths = rng.normal(size=(7, 4, 3, 8))
    pi = np.array([2, 0])
    sim = similarity_matrix(teachers, paths)
    a_tot = np.asarray(total_alignment(sim, pi))
    assert a_tot.shape == (7,)
    stacked_teachers = teachers.reshape(-1, 8)
    for t in range(7):
        stacked_paths = paths[t, pi].reshape(-1, 8)
        assert a_tot[t] == pytest.approx(_np_row_cosine(stacked_teachers, stacked_paths), abs=1e-5)


def test_matched_mismatched():
    sim = np.arange(2 * 2 * 3, dtype=np.float32).reshape(2, 2, 3)
    pi = np.array([2, 0])
    matched, mismatched = matched_mismatched(sim, pi)
    np.testing.assert_array_equal(np.asarray(matched), sim[:, [0, 1], [2, 0]])
    expected_mask = np.array([[True, True, False], [False, True, True]])
    np.testing.assert_array_equal(np.asarray(mismatched), expected_mask)


def test_context_alignment():
    rng = np.random.default_rng(6)
    target = rng.normal(size=(4, 5))
    w_eff = rng.normal(size=(3, 4, 5))
    values = np.asarray(context_alignment(target, w_eff))
    np.testing.assert_allclose(values, [_np_row_cosine(target, w) for w in w_eff], atol=1e-5)


def test_specialisation_against_numpy():
    rng = np.random.default_rng(7)
    n_time = 160
    sim = rng.uniform(-1, 1, size=(n_time, 2, 3))
    pi = np.array([1, 2])
    window = sim[n_time - 20 :]  # last 1/8
    box = np.ones(2) / 2  # 1/10 of the window
    smooth = np.stack(
        [[np.convolve(window[:, m, p], box, mode="same") for p in range(3)] for m in range(2)], axis=-1
    ).transpose(1, 2, 0)
    matched = np.mean([smooth[:, 0, 1], smooth[:, 1, 2]], axis=0)
    mismatched = np.mean([smooth[:, 0, 0], smooth[:, 0, 2], smooth[:, 1, 0], smooth[:, 1, 1]], axis=0)
    expected = np.max(np.abs(matched - mismatched))
    assert float(specialisation(sim, pi)) == pytest.approx(expected, abs=1e-5)
