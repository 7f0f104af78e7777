"""Teacher constructors against the properties stated in MODEL §3."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntajax._teachers.matrices import (
    composite_pairs,
    correlated_teachers,
    iid_teachers,
    mean_row_overlap,
    orthogonal_teachers,
    per_seed_teachers,
    svd_teachers,
    teacher_scale,
    with_composites,
)

KEY = jax.random.key(1234)
# float32 QR / matmul: orthogonality holds to ~1e-6 relative; 1e-5 leaves headroom.
F32_TOL = 1e-5


def _np(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


# ------------------------------------------------------------------------------------------ §3.1


@pytest.mark.parametrize(
    "kind, d_in, d_out, M, expected",
    [
        ("d_in", 20, 10, 2, 1 / math.sqrt(20)),
        ("d_in", 64, 10, 3, 1 / 8),
        ("unit", 20, 10, 2, 1.0),
        ("num_sv", 20, 10, 2, 1 / math.sqrt(5)),  # ⌊min(20, 10)/2⌋ = 5
        ("num_sv", 30, 7, 2, 1 / math.sqrt(3)),  # ⌊7/2⌋ = 3
        ("num_sv", 9, 30, 4, 1 / math.sqrt(2)),  # ⌊9/4⌋ = 2
    ],
)
def test_teacher_scale_table(kind, d_in, d_out, M, expected):
    assert teacher_scale(kind, d_in, d_out, M) == pytest.approx(expected, rel=1e-15)


def test_teacher_scale_unknown_kind_lists_valid_ones():
    with pytest.raises(ValueError) as err:
        teacher_scale("dout", 20, 10, 2)
    for name in ("d_in", "unit", "num_sv"):
        assert name in str(err.value)


# ------------------------------------------------------------------------------------------ §3.2


ORTHO_SIZES = [(2, 10, 20), (3, 4, 15), (1, 5, 5)]


@pytest.mark.parametrize("rotated", [True, False])
@pytest.mark.parametrize("M, d_out, d_in", ORTHO_SIZES)
def test_orthogonal_teachers_properties(M, d_out, d_in, rotated):
    s = 0.7
    W = orthogonal_teachers(key=KEY, n_teachers=M, d_out=d_out, d_in=d_in, scale=s, rotated=rotated)
    assert W.shape == (M, d_out, d_in)
    assert W.dtype == jnp.float32
    W = _np(W)
    # All M·d_out rows are orthonormal × s: the row Gram matrix is s² I.
    rows = W.reshape(M * d_out, d_in)
    np.testing.assert_allclose(rows @ rows.T, s**2 * np.eye(M * d_out), atol=F32_TOL)
    for m in range(M):
        # Every singular value equals s, and ‖W*_m‖²_F = d_out s².
        np.testing.assert_allclose(np.linalg.svd(W[m], compute_uv=False), s, rtol=F32_TOL)
        assert np.sum(W[m] ** 2) == pytest.approx(d_out * s**2, rel=F32_TOL)
        for n in range(M):
            if n != m:
                # ⟨W*_m, W*_n⟩_F = tr(W*_mᵀ W*_n) = 0.
                assert abs(np.trace(W[m].T @ W[n])) < F32_TOL


def test_orthogonal_teachers_default_scale_is_one_over_sqrt_d_in():
    W = _np(orthogonal_teachers(key=KEY, n_teachers=2, d_out=10, d_in=20))
    np.testing.assert_allclose(np.linalg.svd(W[0], compute_uv=False), 1 / math.sqrt(20), rtol=F32_TOL)
    # Expected loss at small init is ½‖W*‖²_F = ½ d_out/d_in (MODEL §3.2).
    assert 0.5 * np.sum(W[0] ** 2) == pytest.approx(0.5 * 10 / 20, rel=F32_TOL)


def test_axis_aligned_teachers_are_identity_blocks():
    M, d_out, d_in, s = 3, 4, 14, 0.5
    W = _np(orthogonal_teachers(key=KEY, n_teachers=M, d_out=d_out, d_in=d_in, scale=s, rotated=False))
    for m in range(M):
        expected = np.zeros((d_out, d_in))
        expected[:, m * d_out : (m + 1) * d_out] = s * np.eye(d_out)
        np.testing.assert_array_equal(W[m], expected)
    # The axis-aligned construction does not depend on the key.
    other = orthogonal_teachers(key=jax.random.key(7), n_teachers=M, d_out=d_out, d_in=d_in, scale=s, rotated=False)
    np.testing.assert_array_equal(W, _np(other))


def test_rotated_teachers_are_dense_and_differ_from_axis_aligned():
    # A Haar rotation mixes every input direction: no entry is exactly zero (probability 0),
    # while the axis-aligned teachers are zero outside their identity block.
    kwargs = dict(key=KEY, n_teachers=2, d_out=3, d_in=8, scale=1.0)
    rot = _np(orthogonal_teachers(**kwargs))
    aligned = _np(orthogonal_teachers(**kwargs, rotated=False))
    assert np.all(np.abs(rot) > 0)
    assert np.max(np.abs(rot - aligned)) > 0.1


def test_haar_rotation_is_unbiased():
    # For Haar-random R ∈ O(n), E[R] = 0 and E[R_ij²] = 1/n. A QR without the sign correction
    # gives a first column of fixed sign (mean ≈ ∓0.6 for n = 4) and fails this test.
    n, n_keys = 4, 4000
    keys = jax.random.split(jax.random.key(99), n_keys)
    make = functools.partial(orthogonal_teachers, n_teachers=1, d_out=n, d_in=n, scale=1.0)
    R = _np(jax.vmap(lambda k: make(key=k)[0])(keys))  # (n_keys, n, n)
    # Entry std is 1/√n = 0.5, so the standard error of each mean is 0.5/√4000 ≈ 0.008.
    np.testing.assert_allclose(R.mean(axis=0), 0.0, atol=0.04)
    np.testing.assert_allclose((R**2).mean(axis=0), 1 / n, atol=0.03)


@pytest.mark.parametrize("M, d_out, d_in", [(2, 10, 19), (3, 4, 11), (2, 1, 1)])
def test_orthogonal_teachers_reject_too_many_rows(M, d_out, d_in):
    with pytest.raises(ValueError) as err:
        orthogonal_teachers(key=KEY, n_teachers=M, d_out=d_out, d_in=d_in)
    message = str(err.value)
    assert str(M * d_out) in message and str(d_in) in message
    assert "d_in" in message


def test_orthogonal_teachers_jit_matches_eager():
    make = functools.partial(orthogonal_teachers, n_teachers=2, d_out=10, d_in=20)
    np.testing.assert_array_equal(_np(jax.jit(lambda k: make(key=k))(KEY)), _np(make(key=KEY)))


# ------------------------------------------------------------------------------------------ §3.3


@pytest.mark.parametrize("scale", [0.3, None])
def test_iid_teachers_entry_statistics(scale):
    M, d_out, d_in = 2, 50, 200
    s = 1 / math.sqrt(d_in) if scale is None else scale  # None means s = 1/√d_in
    W = iid_teachers(key=KEY, n_teachers=M, d_out=d_out, d_in=d_in, scale=scale)
    assert W.shape == (M, d_out, d_in) and W.dtype == jnp.float32
    x = _np(W).ravel()
    N = x.size  # 20 000 entries
    # Sample std of N Gaussians has relative standard error ≈ 1/√(2N) ≈ 0.005; allow 4 %.
    assert np.std(x) == pytest.approx(s, rel=0.04)
    # Mean has standard error s/√N; allow 5 standard errors.
    assert abs(np.mean(x)) < 5 * s / math.sqrt(N)
    # Different teachers are independent: their normalised Frobenius overlap is O(1/√(d_out d_in)).
    W = _np(W)
    cos = np.sum(W[0] * W[1]) / np.sqrt(np.sum(W[0] ** 2) * np.sum(W[1] ** 2))
    assert abs(cos) < 5 / math.sqrt(d_out * d_in)


# ------------------------------------------------------------------------------------------ §3.4


@pytest.mark.parametrize("rotated", [True, False])
@pytest.mark.parametrize(
    "M, d_out, d_in, rank, s",
    [(2, 30, 30, 1, 1.0), (2, 30, 30, 7, 1.0), (2, 30, 30, 15, 1.0), (3, 6, 12, 2, 0.5), (2, 10, 20, 3, 2.0)],
)
def test_svd_teachers_rank_and_orthogonal_spaces(M, d_out, d_in, rank, s, rotated):
    W = svd_teachers(key=KEY, n_teachers=M, d_out=d_out, d_in=d_in, rank=rank, scale=s, rotated=rotated)
    assert W.shape == (M, d_out, d_in) and W.dtype == jnp.float32
    W = _np(W)
    for m in range(M):
        sv = np.linalg.svd(W[m], compute_uv=False)
        # Exactly r singular values equal to s, the rest zero.
        np.testing.assert_allclose(sv[:rank], s, rtol=F32_TOL)
        np.testing.assert_allclose(sv[rank:], 0.0, atol=F32_TOL * s)
        assert np.linalg.matrix_rank(W[m], tol=1e-3 * s) == rank
        # Σ_α s_α² = r s² (the x-axis of Fig. A2).
        assert np.sum(W[m] ** 2) == pytest.approx(rank * s**2, rel=F32_TOL)
        for n in range(M):
            if n != m:
                # Orthogonal right singular spaces ⇔ W_m W_nᵀ = 0; left ones ⇔ W_mᵀ W_n = 0.
                np.testing.assert_allclose(W[m] @ W[n].T, 0.0, atol=F32_TOL * s**2)
                np.testing.assert_allclose(W[m].T @ W[n], 0.0, atol=F32_TOL * s**2)


def test_svd_teachers_axis_aligned_structure():
    M, d_out, d_in, rank, s = 2, 6, 10, 2, 1.0
    W = _np(svd_teachers(key=KEY, n_teachers=M, d_out=d_out, d_in=d_in, rank=rank, scale=s, rotated=False))
    for m in range(M):
        expected = np.zeros((d_out, d_in))
        for alpha in range(rank):
            expected[m * (d_out // M) + alpha, m * (d_in // M) + alpha] = s
        np.testing.assert_array_equal(W[m], expected)


@pytest.mark.parametrize(
    "M, d_out, d_in, rank",
    [(2, 30, 30, 16), (2, 30, 30, 0), (2, 4, 10, 3), (2, 5, 10, 1), (3, 6, 10, 1)],
)
def test_svd_teachers_validation(M, d_out, d_in, rank):
    with pytest.raises(ValueError):
        svd_teachers(key=KEY, n_teachers=M, d_out=d_out, d_in=d_in, rank=rank)


# ------------------------------------------------------------------------------------------ §3.5


def test_correlated_teachers_overlap_zero_is_orthogonal():
    kwargs = dict(n_teachers=2, d_out=10, d_in=20, scale=0.2)
    np.testing.assert_array_equal(
        _np(correlated_teachers(key=KEY, overlap=0.0, **kwargs)), _np(orthogonal_teachers(key=KEY, **kwargs))
    )


@pytest.mark.parametrize("rotated", [True, False])
def test_correlated_teachers_overlap_one_identical_rank_one(rotated):
    s = 1 / math.sqrt(20)
    W = correlated_teachers(key=KEY, n_teachers=2, d_out=10, d_in=20, overlap=1.0, scale=s, rotated=rotated)
    assert W.shape == (2, 10, 20) and W.dtype == jnp.float32
    W = _np(W)
    np.testing.assert_allclose(W[0], W[1], atol=F32_TOL * s)
    rows = W.reshape(-1, 20)
    np.testing.assert_allclose(rows, np.broadcast_to(rows[0], rows.shape), atol=F32_TOL * s)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), s, rtol=F32_TOL)
    for m in range(2):
        sv = np.linalg.svd(W[m], compute_uv=False)
        assert sv[0] == pytest.approx(math.sqrt(10) * s, rel=F32_TOL)  # one mode, ‖W‖_F = √d_out s
        np.testing.assert_allclose(sv[1:], 0.0, atol=F32_TOL * s)
    assert mean_row_overlap(W) == pytest.approx(1.0, abs=F32_TOL)


@pytest.mark.parametrize("xi", [0.2, 0.5, 0.8])
def test_correlated_teachers_mean_overlap_matches_target(xi):
    # M·d_out = d_in = 200 rows: 19 900 pairs. Over 20 keys the realised mean overlap deviated
    # from ξ by std ≈ 0.0025 (max 0.007) for each ξ here, so ±0.02 is ≈ 8 standard deviations.
    M, d_out, d_in, s = 2, 100, 200, 0.05
    W = correlated_teachers(key=KEY, n_teachers=M, d_out=d_out, d_in=d_in, overlap=xi, scale=s)
    W = _np(W)
    np.testing.assert_allclose(np.linalg.norm(W, axis=-1), s, rtol=F32_TOL)  # normalised rows × s
    assert mean_row_overlap(W) == pytest.approx(xi, abs=0.02)
    # The overlap holds within and across teachers alike (MODEL §3.5).
    unit = W / np.linalg.norm(W, axis=-1, keepdims=True)
    across = unit[0] @ unit[1].T
    within = unit[0] @ unit[0].T
    within_mean = (within.sum() - np.trace(within)) / (d_out * (d_out - 1))
    assert across.mean() == pytest.approx(xi, abs=0.02)
    assert within_mean == pytest.approx(xi, abs=0.02)


def test_correlated_teachers_traced_overlap_matches_concrete():
    kwargs = dict(n_teachers=2, d_out=10, d_in=20, scale=0.3)
    xis = jnp.asarray([0.0, 0.5, 1.0])
    batched = jax.vmap(lambda x: correlated_teachers(key=KEY, overlap=x, **kwargs))(xis)
    for i, xi in enumerate([0.0, 0.5, 1.0]):
        np.testing.assert_allclose(_np(batched[i]), _np(correlated_teachers(key=KEY, overlap=xi, **kwargs)), atol=1e-6)


@pytest.mark.parametrize("xi", [-0.1, 1.5])
def test_correlated_teachers_reject_bad_overlap(xi):
    with pytest.raises(ValueError):
        correlated_teachers(key=KEY, n_teachers=2, d_out=5, d_in=12, overlap=xi)


def test_correlated_teachers_reject_too_many_rows():
    with pytest.raises(ValueError):
        correlated_teachers(key=KEY, n_teachers=2, d_out=10, d_in=19, overlap=0.5)


def test_mean_row_overlap_hand_example():
    # Rows (1, 0), (1, 1), (0, 2): cosines 1/√2, 0, 1/√2 → mean 2/(3√2) = √2/3.
    rows = jnp.asarray([[[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]]])  # (M=1, d_out=3, d_in=2)
    assert mean_row_overlap(rows) == pytest.approx(math.sqrt(2) / 3, rel=1e-6)
    ortho = orthogonal_teachers(key=KEY, n_teachers=2, d_out=10, d_in=20)
    assert mean_row_overlap(ortho) == pytest.approx(0.0, abs=F32_TOL)


# ------------------------------------------------------------------------------------------ keys


CONSTRUCTORS = {
    "orthogonal": functools.partial(orthogonal_teachers, n_teachers=2, d_out=10, d_in=20),
    "iid": functools.partial(iid_teachers, n_teachers=2, d_out=10, d_in=20),
    "svd": functools.partial(svd_teachers, n_teachers=2, d_out=10, d_in=20, rank=2),
    "correlated": functools.partial(correlated_teachers, n_teachers=2, d_out=10, d_in=20, overlap=0.5),
}


@pytest.mark.parametrize("name", list(CONSTRUCTORS))
def test_same_key_same_teachers_different_key_different(name):
    make = CONSTRUCTORS[name]
    a = _np(make(key=jax.random.key(3)))
    b = _np(make(key=jax.random.key(3)))
    c = _np(make(key=jax.random.key(4)))
    np.testing.assert_array_equal(a, b)
    assert np.max(np.abs(a - c)) > 1e-3


def test_per_seed_teachers_fold_in():
    make = CONSTRUCTORS["orthogonal"]
    out = per_seed_teachers(make, key=KEY, n_seeds=3)
    assert out.shape == (3, 2, 10, 20)
    for s in range(3):
        np.testing.assert_allclose(_np(out[s]), _np(make(key=jax.random.fold_in(KEY, s))), atol=1e-6)
    assert np.max(np.abs(_np(out[0]) - _np(out[1]))) > 1e-3


# ------------------------------------------------------------------------------------------ §3.6


@pytest.mark.parametrize(
    "M, diagonals, expected",
    [
        (2, False, ((0, 1),)),
        (3, False, ((0, 1), (1, 2), (2, 0))),
        (4, False, ((0, 1), (1, 2), (2, 3), (3, 0))),
        (4, True, ((0, 1), (1, 2), (2, 3), (3, 0), (0, 2), (1, 3))),
    ],
)
def test_composite_pairs_order(M, diagonals, expected):
    assert composite_pairs(M, diagonals=diagonals) == expected


def _base(M, d_out=6, d_in=15):
    # Distinct arbitrary matrices from numpy's generator (independent of the code under test).
    return jnp.asarray(np.random.default_rng(M).standard_normal((M, d_out, d_in)), dtype=jnp.float32)


def _additive(a, b):
    return 0.5 * (a + b)


def _concatenated(a, b):
    out = np.empty_like(a)
    out[0::2] = a[0::2]
    out[1::2] = b[1::2]
    return out


# Expected stacks written with letters, straight from MODEL §3.6.
EXPECTED_ORDER = {
    (2, False): ["A", "B", "AB"],
    (3, False): ["A", "B", "C", "AB", "BC", "CA"],
    (4, False): ["A", "B", "C", "D", "AB", "BC", "CD", "DA"],
    (4, True): ["A", "B", "C", "D", "AB", "BC", "CD", "DA", "AC", "BD"],
}


@pytest.mark.parametrize("kind", ["additive", "concatenated"])
@pytest.mark.parametrize("M, diagonals", list(EXPECTED_ORDER))
def test_with_composites_order_and_values(M, diagonals, kind):
    base = _base(M)
    out = with_composites(base, kind=kind, diagonals=diagonals)
    names = EXPECTED_ORDER[(M, diagonals)]
    assert out.shape == (len(names), 6, 15) and out.dtype == jnp.float32
    letters = {chr(ord("A") + m): _np(base[m]) for m in range(M)}
    combine = _additive if kind == "additive" else _concatenated
    for i, name in enumerate(names):
        expected = letters[name] if len(name) == 1 else combine(letters[name[0]], letters[name[1]])
        np.testing.assert_allclose(_np(out[i]), expected, atol=1e-6, err_msg=f"slot {i} should be {name}")


def test_concatenated_rows_alternate_and_additive_mix():
    A = jnp.ones((5, 3))
    B = 2 * jnp.ones((5, 3))
    cat = _np(with_composites(jnp.stack([A, B]), kind="concatenated"))[2]
    np.testing.assert_array_equal(cat[:, 0], [1, 2, 1, 2, 1])
    add = _np(with_composites(jnp.stack([A, B]), kind="additive", mix=0.3))[2]
    np.testing.assert_allclose(add, 0.3 * 1 + 0.7 * 2, rtol=1e-6)


def test_with_composites_keeps_leading_seed_axis():
    base = jnp.stack([_base(2, 4, 10), 2 * _base(2, 4, 10)])  # (n_seeds=2, M=2, 4, 10)
    out = with_composites(base, kind="additive")
    assert out.shape == (2, 3, 4, 10)
    for s in range(2):
        np.testing.assert_allclose(_np(out[s]), _np(with_composites(base[s], kind="additive")), atol=1e-7)


def test_with_composites_validation():
    with pytest.raises(ValueError) as err:
        with_composites(_base(2), kind="sum")
    assert "additive" in str(err.value) and "concatenated" in str(err.value)
    with pytest.raises(ValueError):
        with_composites(_base(3), kind="additive", diagonals=True)
    with pytest.raises(ValueError):
        with_composites(_base(1), kind="additive")
