"""Teacher constructors (MODEL §3).

Every constructor is a pure function of an explicit, keyword-only ``key`` and returns a
float32 array of shape ``(M, d_out, d_in)``: teacher ``W*_m`` is ``teachers[m]``.

* §3.1 :func:`teacher_scale` — the scale s (the singular value of every teacher mode).
* §3.2 :func:`orthogonal_teachers` — rows ``s·r_{m·d_out+i}`` taken from a Haar-random
  rotation R, so ``⟨W*_m, W*_n⟩_F = 0`` for m ≠ n and every singular value equals s.
* §3.3 :func:`iid_teachers` — ``W*_m = s·G_m`` with ``G_m`` i.i.d. N(0, 1).
* §3.4 :func:`svd_teachers` — ``W*_m = s Σ_{α<r} u_{m,α} v_{m,α}ᵀ`` with mutually orthogonal
  singular spaces.
* §3.5 :func:`correlated_teachers` — rows with expected pairwise cosine ξ;
  :func:`mean_row_overlap` measures the realised value.
* §3.6 :func:`with_composites`, :func:`composite_pairs` — additive or row-concatenated pair
  composites appended after the base teachers.
* §3.7 :func:`per_seed_teachers` — one teacher set per seed, key folded with the seed index.
"""

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

__all__ = [
    "teacher_scale",
    "orthogonal_teachers",
    "iid_teachers",
    "svd_teachers",
    "correlated_teachers",
    "mean_row_overlap",
    "composite_pairs",
    "with_composites",
    "per_seed_teachers",
]


# --------------------------------------------------------------------------------------------
# §3.1 Scale
# --------------------------------------------------------------------------------------------


def _scale_d_in(d_in: int, d_out: int, n_teachers: int) -> float:
    return 1.0 / math.sqrt(d_in)


def _scale_unit(d_in: int, d_out: int, n_teachers: int) -> float:
    return 1.0


def _scale_num_sv(d_in: int, d_out: int, n_teachers: int) -> float:
    n_sv = min(d_in, d_out) // n_teachers
    if n_sv < 1:
        raise ValueError(
            f"teacher_scale('num_sv') needs ⌊min(d_in, d_out)/M⌋ ≥ 1, got ⌊min({d_in}, {d_out})/{n_teachers}⌋ = "
            f"{n_sv}. Use fewer teachers or larger dimensions."
        )
    return 1.0 / math.sqrt(n_sv)


_SCALES: dict[str, Callable[[int, int, int], float]] = {
    "d_in": _scale_d_in,
    "unit": _scale_unit,
    "num_sv": _scale_num_sv,
}


def teacher_scale(kind: str, d_in: int, d_out: int, n_teachers: int) -> float:
    """The teacher scale s of MODEL §3.1.

    Args:
        kind: ``"d_in"`` (s = 1/√d_in, the default of the paper), ``"unit"`` (s = 1) or
            ``"num_sv"`` (s = 1/√⌊min(d_in, d_out)/M⌋).
        d_in, d_out: input and output dimension.
        n_teachers: M, the number of base teachers.

    Returns:
        s as a Python float.
    """
    try:
        rule = _SCALES[kind]
    except (KeyError, TypeError):
        raise ValueError(f"teacher_scale kind={kind!r} is unknown; valid kinds are {sorted(_SCALES)}.") from None
    for name, value in (("d_in", d_in), ("d_out", d_out), ("n_teachers", n_teachers)):
        if int(value) != value or value < 1:
            raise ValueError(f"teacher_scale needs a positive integer {name}, got {name}={value!r}.")
    return float(rule(int(d_in), int(d_out), int(n_teachers)))


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _check_sizes(fn: str, **sizes: int) -> None:
    for name, value in sizes.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{fn} needs a positive integer {name}, got {name}={value!r}.")


def _resolve_scale(scale, d_in: int):
    # None means the paper's default s = 1/√d_in (MODEL §3.1).
    return 1.0 / math.sqrt(d_in) if scale is None else scale


def _haar_columns(key: PRNGKeyArray, n: int, n_cols: int) -> Float[Array, "n n_cols"]:
    """The first ``n_cols`` columns of a Haar-random orthogonal n×n matrix R.

    R = Q·diag(sign(diag(R_qr))) for the QR decomposition of an n×n standard Gaussian G.
    Without the sign correction Q is not Haar distributed (the QR routine fixes the signs of
    diag(R_qr), which biases Q). Column j of Q depends only on the first j+1 columns of G, so
    the thin QR of ``G[:, :n_cols]`` gives exactly the leading columns of the full R, at lower
    cost; the same key therefore gives the same leading columns for every ``n_cols``.
    """
    gauss = jax.random.normal(key, (n, n), dtype=jnp.float32)[:, :n_cols]
    q, r = jnp.linalg.qr(gauss, mode="reduced")
    d = jnp.diagonal(r)
    # sign(0) would zero a column; a zero pivot has probability 0, but guard anyway.
    signs = jnp.where(d < 0, -1.0, 1.0).astype(q.dtype)
    return q * signs[None, :]


# --------------------------------------------------------------------------------------------
# §3.2 Orthogonal teachers
# --------------------------------------------------------------------------------------------


def orthogonal_teachers(
    *,
    key: PRNGKeyArray,
    n_teachers: int,
    d_out: int,
    d_in: int,
    scale: float | None = None,
    rotated: bool = True,
) -> Float[Array, "M d_out d_in"]:
    """Mutually orthogonal teachers with orthonormal rows times s (MODEL §3.2).

    With R ∈ R^{d_in×d_in} Haar-random (or R = I if not ``rotated``) and r_j its j-th column,
    teacher m has rows ``W*_m[i, :] = s·r_{m·d_out+i}`` for i = 0…d_out−1. Hence every singular
    value of every teacher is s, ``⟨W*_m, W*_n⟩_F = 0`` for m ≠ n and ``‖W*_m‖²_F = d_out·s²``.
    Axis-aligned teachers are ``W*_m = s·[0 … I_{d_out} … 0]`` with the identity in columns
    m·d_out … (m+1)·d_out − 1.

    Args:
        key: teacher key.
        n_teachers: M.
        d_out, d_in: output and input dimension; needs M·d_out ≤ d_in.
        scale: s; ``None`` means 1/√d_in.
        rotated: draw R Haar-random (True) or use R = I (False).

    Returns:
        float32 array (M, d_out, d_in).
    """
    _check_sizes("orthogonal_teachers", n_teachers=n_teachers, d_out=d_out, d_in=d_in)
    n_rows = n_teachers * d_out
    if n_rows > d_in:
        raise ValueError(
            f"orthogonal_teachers needs n_teachers·d_out ≤ d_in for mutually orthogonal rows, got "
            f"n_teachers={n_teachers}, d_out={d_out}: {n_teachers}·{d_out} = {n_rows} > d_in={d_in}. "
            f"Increase d_in to at least {n_rows}, reduce n_teachers or d_out, or use iid_teachers."
        )
    return _orthogonal(key, _resolve_scale(scale, d_in), n_teachers=n_teachers, d_out=d_out, d_in=d_in, rotated=rotated)


# The constructors validate in Python, then call one jitted kernel per construction: one XLA
# compilation per size instead of one per eager primitive (random draws and QR compile slowly).
@functools.partial(jax.jit, static_argnames=("n_teachers", "d_out", "d_in", "rotated"))
def _orthogonal(key, s, *, n_teachers: int, d_out: int, d_in: int, rotated: bool):
    n_rows = n_teachers * d_out
    if rotated:
        cols = _haar_columns(key, d_in, n_rows)  # (d_in, M·d_out): r_0 … r_{M·d_out−1}
    else:
        cols = jnp.eye(d_in, n_rows, dtype=jnp.float32)
    return (s * cols.T.reshape(n_teachers, d_out, d_in)).astype(jnp.float32)


# --------------------------------------------------------------------------------------------
# §3.3 i.i.d. teachers
# --------------------------------------------------------------------------------------------


def iid_teachers(
    *,
    key: PRNGKeyArray,
    n_teachers: int,
    d_out: int,
    d_in: int,
    scale: float | None = None,
) -> Float[Array, "M d_out d_in"]:
    """Teachers with i.i.d. Gaussian entries, ``W*_m = s·G_m``, ``(G_m)_{ij} ~ N(0, 1)`` (MODEL §3.3).

    Args:
        key: teacher key.
        n_teachers: M.
        d_out, d_in: output and input dimension (no constraint between them).
        scale: s, the entry standard deviation; ``None`` means 1/√d_in.

    Returns:
        float32 array (M, d_out, d_in).
    """
    _check_sizes("iid_teachers", n_teachers=n_teachers, d_out=d_out, d_in=d_in)
    return _iid(key, _resolve_scale(scale, d_in), shape=(n_teachers, d_out, d_in))


@functools.partial(jax.jit, static_argnames=("shape",))
def _iid(key, s, *, shape: tuple[int, int, int]):
    return (s * jax.random.normal(key, shape, dtype=jnp.float32)).astype(jnp.float32)


# --------------------------------------------------------------------------------------------
# §3.4 SVD-structured teachers
# --------------------------------------------------------------------------------------------


def svd_teachers(
    *,
    key: PRNGKeyArray,
    n_teachers: int,
    d_out: int,
    d_in: int,
    rank: int,
    scale: float | None = 1.0,
    rotated: bool = True,
) -> Float[Array, "M d_out d_in"]:
    """Rank-r teachers with mutually orthogonal singular spaces (MODEL §3.4, Fig. A2).

    Let u_0 … u_{d_out−1} be the rows of a Haar-random rotation of R^{d_out} (the identity if not
    ``rotated``) and v_0 … v_{d_in−1} those of an independent one of R^{d_in}. Split them into M
    consecutive groups, ``u_{m,α} = u_{m·d_out/M+α}`` and ``v_{m,α} = v_{m·d_in/M+α}``. Then

        W*_m = s · Σ_{α<r} u_{m,α} v_{m,α}ᵀ,

    so every teacher has rank r with r singular values equal to s, and different teachers
    have orthogonal left and right singular spaces.

    Args:
        key: teacher key (split into a left and a right rotation key).
        n_teachers: M; must divide both d_out and d_in.
        d_out, d_in: output and input dimension.
        rank: r, with 1 ≤ r ≤ n = min(d_out/M, d_in/M).
        scale: s, the value of every non-zero singular value (A2 uses s = 1, the default);
            ``None`` means 1/√d_in.
        rotated: Haar-random bases (True) or the standard bases (False).

    Returns:
        float32 array (M, d_out, d_in).
    """
    _check_sizes("svd_teachers", n_teachers=n_teachers, d_out=d_out, d_in=d_in)
    bad = [f"{name}={value}" for name, value in (("d_out", d_out), ("d_in", d_in)) if value % n_teachers]
    if bad:
        raise ValueError(
            f"svd_teachers splits the singular bases into n_teachers={n_teachers} equal groups, so "
            f"n_teachers must divide d_out and d_in; not divisible: {', '.join(bad)}. "
            f"Choose dimensions that are multiples of {n_teachers}."
        )
    n_max = min(d_out // n_teachers, d_in // n_teachers)
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 1 <= rank <= n_max:
        raise ValueError(
            f"svd_teachers rank={rank!r} must be an integer with 1 ≤ rank ≤ min(d_out/M, d_in/M) = "
            f"min({d_out}/{n_teachers}, {d_in}/{n_teachers}) = {n_max}."
        )
    return _svd(key, _resolve_scale(scale, d_in), rank, n_teachers=n_teachers, d_out=d_out, d_in=d_in, rotated=rotated)


# The rank is a traced argument (a mask over the n modes), so a rank sweep compiles once.
@functools.partial(jax.jit, static_argnames=("n_teachers", "d_out", "d_in", "rotated"))
def _svd(key, s, rank, *, n_teachers: int, d_out: int, d_in: int, rotated: bool):
    if rotated:
        left_key, right_key = jax.random.split(key)
        u_basis = _haar_columns(left_key, d_out, d_out).T  # rows u_0 … u_{d_out−1}
        v_basis = _haar_columns(right_key, d_in, d_in).T
    else:
        u_basis = jnp.eye(d_out, dtype=jnp.float32)
        v_basis = jnp.eye(d_in, dtype=jnp.float32)
    n = min(d_out, d_in) // n_teachers
    u = u_basis.reshape(n_teachers, d_out // n_teachers, d_out)[:, :n]  # (M, n, d_out): u_{m,α}
    v = v_basis.reshape(n_teachers, d_in // n_teachers, d_in)[:, :n]  # (M, n, d_in): v_{m,α}
    s_alpha = jnp.where(jnp.arange(n) < rank, s, 0.0).astype(jnp.float32)  # s_α = s for α < r, else 0
    return jnp.einsum("mao,a,mai->moi", u, s_alpha, v).astype(jnp.float32)


# --------------------------------------------------------------------------------------------
# §3.5 Correlated teachers
# --------------------------------------------------------------------------------------------


def correlated_teachers(
    *,
    key: PRNGKeyArray,
    n_teachers: int,
    d_out: int,
    d_in: int,
    overlap: float,
    scale: float | None = None,
    rotated: bool = True,
) -> Float[Array, "M d_out d_in"]:
    """Teachers whose rows have expected pairwise cosine ξ = ``overlap`` (MODEL §3.5, Fig. A13).

    For ξ = 0 this is exactly :func:`orthogonal_teachers` with the same key. For 0 < ξ ≤ 1:

    1. x₀ is a random unit vector in R^{d_in};
    2. x_k = x₀ + √((1 − ξ)/ξ) · g_k/√d_in, g_k ~ N(0, I_{d_in}), for k = 0…d_in − 1;
    3. x_k ← x_k/‖x_k‖;
    4. x_k ← R x_k with R Haar-random (R = I if not ``rotated``);
    5. teacher m has rows ``W*_m[i, :] = s·x_{m·d_out+i}``.

    Since ‖g_k/√d_in‖² ≈ 1 and g_k·g_l/d_in ≈ 0, the cosine of two different rows (within or
    across teachers) is ≈ 1/(1 + (1 − ξ)/ξ) = ξ. At ξ = 1 all rows equal s·R x₀: the teachers
    are identical and of rank 1. ``overlap`` may be a traced scalar (e.g. under ``vmap``).

    Args:
        key: teacher key.
        n_teachers: M.
        d_out, d_in: output and input dimension; needs M·d_out ≤ d_in (the construction
            draws d_in rows, as the original does).
        overlap: ξ ∈ [0, 1].
        scale: s; ``None`` means 1/√d_in.
        rotated: apply a Haar-random rotation R (True) or R = I (False).

    Returns:
        float32 array (M, d_out, d_in).
    """
    _check_sizes("correlated_teachers", n_teachers=n_teachers, d_out=d_out, d_in=d_in)
    n_rows = n_teachers * d_out
    if n_rows > d_in:
        raise ValueError(
            f"correlated_teachers draws d_in rows and needs n_teachers·d_out ≤ d_in, got "
            f"n_teachers={n_teachers}, d_out={d_out}: {n_rows} > d_in={d_in}. Increase d_in to at least {n_rows}."
        )
    if isinstance(overlap, (int, float)):
        if not 0.0 <= overlap <= 1.0:
            raise ValueError(f"correlated_teachers overlap={overlap!r} must lie in [0, 1].")
        if overlap == 0.0:
            return orthogonal_teachers(
                key=key, n_teachers=n_teachers, d_out=d_out, d_in=d_in, scale=scale, rotated=rotated
            )
    s = _resolve_scale(scale, d_in)
    correlated = _correlated(key, overlap, s, n_teachers=n_teachers, d_out=d_out, d_in=d_in, rotated=rotated)
    if isinstance(overlap, (int, float)):
        return correlated
    # Traced ξ: select the orthogonal construction where ξ = 0.
    orthogonal = _orthogonal(key, s, n_teachers=n_teachers, d_out=d_out, d_in=d_in, rotated=rotated)
    return jnp.where(jnp.asarray(overlap) > 0, correlated, orthogonal)


@functools.partial(jax.jit, static_argnames=("n_teachers", "d_out", "d_in", "rotated"))
def _correlated(key, overlap, s, *, n_teachers: int, d_out: int, d_in: int, rotated: bool):
    rot_key, x0_key, g_key = jax.random.split(key, 3)
    xi = jnp.asarray(overlap, dtype=jnp.float32)
    # Clamp ξ away from 0 so that a traced ξ = 0 (whose result is discarded) stays finite.
    xi = jnp.maximum(xi, jnp.finfo(jnp.float32).tiny)
    spread = jnp.sqrt((1.0 - xi) / xi)
    x0 = jax.random.normal(x0_key, (d_in,), dtype=jnp.float32)
    x0 = x0 / jnp.linalg.norm(x0)
    g = jax.random.normal(g_key, (d_in, d_in), dtype=jnp.float32)  # row k is g_k
    x = x0[None, :] + spread * g / math.sqrt(d_in)
    x = x / jnp.linalg.norm(x, axis=1, keepdims=True)
    if rotated:
        x = x @ _haar_columns(rot_key, d_in, d_in).T  # row k becomes (R x_k)ᵀ
    return (s * x[: n_teachers * d_out]).reshape(n_teachers, d_out, d_in).astype(jnp.float32)


def mean_row_overlap(teachers: Float[Array, "M d_out d_in"]) -> float:
    """Mean signed cosine between all pairs of distinct rows of all teachers (MODEL §3.5 metadata).

    The rows of all M teachers are pooled into N = M·d_out vectors x_a; the result is
    ``(1/(N(N−1))) Σ_{a≠b} cos(x_a, x_b)``. A zero row counts as cosine 0 with every other row.

    Args:
        teachers: (M, d_out, d_in).

    Returns:
        the realised mean overlap as a Python float (0 for orthogonal teachers, 1 at ξ = 1).
    """
    teachers = jnp.asarray(teachers)
    if teachers.ndim != 3:
        raise ValueError(f"mean_row_overlap expects teachers of shape (M, d_out, d_in), got shape {teachers.shape}.")
    rows = teachers.reshape(-1, teachers.shape[-1]).astype(jnp.float32)
    n = rows.shape[0]
    if n < 2:
        raise ValueError(f"mean_row_overlap needs at least two rows in total, got shape {teachers.shape}.")
    norms = jnp.linalg.norm(rows, axis=1, keepdims=True)
    unit = rows / jnp.where(norms > 0, norms, 1.0)
    gram = unit @ unit.T
    off_diagonal = jnp.sum(gram) - jnp.sum(jnp.diagonal(gram))
    return float(off_diagonal / (n * (n - 1)))


# --------------------------------------------------------------------------------------------
# §3.6 Composite teachers
# --------------------------------------------------------------------------------------------


def composite_pairs(n_teachers: int, diagonals: bool = False) -> tuple[tuple[int, int], ...]:
    """The (t, u) base-teacher pairs of the composites, in the order they are appended (MODEL §3.6).

    (t, t+1) for t = 0…M−2, then the cyclic pair (M−1, 0) for M > 2 only, then — with
    ``diagonals`` (M = 4 only, schedule 'AB_BC_CD_DA__AC_BD__') — the pairs (0, 2) and (1, 3).

    Examples: M = 2 → ((0, 1),); M = 3 → ((0, 1), (1, 2), (2, 0));
    M = 4, diagonals → ((0, 1), (1, 2), (2, 3), (3, 0), (0, 2), (1, 3)).
    """
    if isinstance(n_teachers, bool) or not isinstance(n_teachers, (int, np.integer)) or n_teachers < 2:
        raise ValueError(f"Composite teachers need n_teachers ≥ 2 base teachers, got n_teachers={n_teachers!r}.")
    if diagonals and n_teachers != 4:
        raise ValueError(
            f"diagonals=True appends the AC and BD composites and is defined for n_teachers=4 only, "
            f"got n_teachers={n_teachers}. Use diagonals=False."
        )
    pairs = [(t, t + 1) for t in range(n_teachers - 1)]
    if n_teachers > 2:
        pairs.append((n_teachers - 1, 0))
    if diagonals:
        pairs += [(0, 2), (1, 3)]
    return tuple(pairs)


def _additive(first: Array, second: Array, mix) -> Array:
    return mix * first + (1.0 - mix) * second


def _concatenated(first: Array, second: Array, mix) -> Array:
    # Even rows (0-based) from the first teacher of the pair, odd rows from the second.
    even = (jnp.arange(first.shape[-2]) % 2 == 0)[:, None]
    return jnp.where(even, first, second)


_COMPOSITIONS: dict[str, Callable[[Array, Array, object], Array]] = {
    "additive": _additive,
    "concatenated": _concatenated,
}


def with_composites(
    teachers: Float[Array, "*batch M d_out d_in"],
    *,
    kind: str = "additive",
    mix: float = 0.5,
    diagonals: bool = False,
) -> Float[Array, "*batch M+M_c d_out d_in"]:
    """Append the pair composites of MODEL §3.6 after the M base teachers.

    For each pair (t, u) of :func:`composite_pairs`:

    * ``"additive"``: W*_{(t,u)} = μ W*_t + (1 − μ) W*_u with μ = ``mix`` (0.5 in the paper);
    * ``"concatenated"``: row i of W*_{(t,u)} is row i of W*_t for even i and of W*_u for odd i
      (``mix`` is ignored).

    So M = 2 gives [A, B, AB], M = 3 gives [A, B, C, AB, BC, CA] and M = 4 gives
    [A, B, C, D, AB, BC, CD, DA] (+ [AC, BD] with ``diagonals``, for both kinds).

    Args:
        teachers: (..., M, d_out, d_in) base teachers; leading axes (e.g. seeds) are kept.
        kind: ``"additive"`` or ``"concatenated"``.
        mix: μ of the additive composites.
        diagonals: also append AC and BD (M = 4 only).

    Returns:
        (..., M + M_c, d_out, d_in), base teachers first.
    """
    if not isinstance(kind, str) or kind not in _COMPOSITIONS:
        raise ValueError(f"with_composites kind={kind!r} is unknown; valid kinds are {sorted(_COMPOSITIONS)}.")
    teachers = jnp.asarray(teachers)
    if teachers.ndim < 3:
        raise ValueError(f"with_composites expects teachers of shape (..., M, d_out, d_in), got shape {teachers.shape}.")
    pairs = composite_pairs(teachers.shape[-3], diagonals=diagonals)
    return _append_composites(teachers, mix, kind=kind, pairs=pairs)


@functools.partial(jax.jit, static_argnames=("kind", "pairs"))
def _append_composites(teachers, mix, *, kind: str, pairs: tuple[tuple[int, int], ...]):
    first = jnp.asarray([t for t, _ in pairs])
    second = jnp.asarray([u for _, u in pairs])
    composites = _COMPOSITIONS[kind](teachers[..., first, :, :], teachers[..., second, :, :], mix)
    return jnp.concatenate([teachers, composites.astype(teachers.dtype)], axis=-3)


# --------------------------------------------------------------------------------------------
# §3.7 Per-seed teachers
# --------------------------------------------------------------------------------------------


def per_seed_teachers(
    make: Callable[..., Float[Array, "M_total d_out d_in"]],
    *,
    key: PRNGKeyArray,
    n_seeds: int,
) -> Float[Array, "n_seeds M_total d_out d_in"]:
    """One teacher set per seed (MODEL §3.7, per-seed mode).

    Seed s gets ``make(key=jax.random.fold_in(key, s))``; the seeds are mapped with ``vmap``.

    Args:
        make: a function of a keyword-only ``key`` returning (M_total, d_out, d_in), e.g.
            ``functools.partial(orthogonal_teachers, n_teachers=2, d_out=10, d_in=20)``.
        key: teacher key.
        n_seeds: number of seeds.

    Returns:
        (n_seeds, M_total, d_out, d_in); element s equals ``make(key=fold_in(key, s))``.
    """
    _check_sizes("per_seed_teachers", n_seeds=n_seeds)
    keys = jax.vmap(lambda s: jax.random.fold_in(key, s))(jnp.arange(n_seeds))
    return jax.vmap(lambda k: make(key=k))(keys)
