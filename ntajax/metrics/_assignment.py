"""Assignment of student paths to teachers, and row matching (MODEL.md §7.4, §7.9).

* ``assign_paths``: the injective map π from teachers to paths that maximises Σ_m S̄_{m,π(m)},
  found in pure JAX by scoring every injective map. Sizes are static, so it jits and vmaps (over
  seeds, sweep cells); it is meant for the small P of the figures (P ≤ 6).
* ``row_matching``: linear assignment of teacher rows to student rows on the time-mean of the
  signed row cosines (§7.9). It runs on the host with SciPy, because the matrices there are larger.

The assignment is stored alongside the raw results and applied only to views; nothing here
modifies a trajectory (§7.4, §8.5).
"""

import itertools
import math

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

# Above this many injective maps the enumeration becomes wasteful; P ≤ 6 gives at most 720.
_MAX_INJECTIVE_MAPS = 40_320


def _injective_maps(n_teachers: int, n_paths: int) -> np.ndarray:
    return np.asarray(list(itertools.permutations(range(n_paths), n_teachers)), dtype=np.int32)


@eqx.filter_jit
def assign_paths(mean_similarity: Float[ArrayLike, "M P"]) -> Int[Array, " M"]:
    """Optimal injective assignment of teachers to paths (§7.4).

    Every injective map m ↦ π(m) is enumerated (P!/(P−M)! of them, fixed by the static shape) and
    the one with the largest Σ_m S̄_{m,π(m)} is returned. Ties go to the lexicographically first
    map, so the identity wins among equally good maps. Pure JAX: jit- and vmap-compatible.

    Args:
        mean_similarity: S̄ of shape (M, P), with P ≥ M; usually the time mean of the similarity
            matrix (§7.1) or of the SVD similarity (§7.2) over the assignment window.

    Returns:
        π of shape (M,), int32: π[m] is the path assigned to teacher m. Paths not in π are the
        unassigned ones (see ``unassigned_paths``).

    Raises:
        ValueError: if the input is not 2-D, if P < M, or if there are more than 40 320 injective
            maps (use ``scipy.optimize.linear_sum_assignment`` on the host for such sizes).
    """
    mean_similarity = jnp.asarray(mean_similarity)
    if mean_similarity.ndim != 2:
        raise ValueError(
            f"assign_paths expects a (M, P) matrix for one seed, got shape {mean_similarity.shape};"
            " use jax.vmap for a batch."
        )
    n_teachers, n_paths = mean_similarity.shape
    if n_paths < n_teachers:
        raise ValueError(
            f"assign_paths needs at least as many paths as teachers (P >= M), got M={n_teachers}, "
            f"P={n_paths}."
        )
    n_maps = math.perm(n_paths, n_teachers)
    if n_maps > _MAX_INJECTIVE_MAPS:
        raise ValueError(
            f"assign_paths enumerates all {n_maps} injective maps for M={n_teachers}, P={n_paths}, "
            f"more than the limit of {_MAX_INJECTIVE_MAPS}; solve this size on the host with "
            "scipy.optimize.linear_sum_assignment(S, maximize=True)."
        )
    maps = jnp.asarray(_injective_maps(n_teachers, n_paths))  # (n_maps, M)
    scores = jnp.sum(mean_similarity[jnp.arange(n_teachers), maps], axis=-1)  # (n_maps,)
    return maps[jnp.argmax(scores)]


@eqx.filter_jit
def unassigned_paths(pi: Int[ArrayLike, " M"], n_paths: int) -> Int[Array, " P_minus_M"]:
    """Paths that the assignment π leaves without a teacher, in increasing order (§7.4).

    Args:
        pi: assignment of shape (M,), as returned by ``assign_paths``.
        n_paths: the number of paths P (static).

    Returns:
        Array of shape (P − M,), int32. Jit- and vmap-compatible.
    """
    pi = jnp.asarray(pi)
    n_unassigned = n_paths - pi.shape[0]
    if n_unassigned < 0:
        raise ValueError(f"n_paths={n_paths} is smaller than the number of assigned teachers {pi.shape[0]}.")
    free = jnp.ones(n_paths, dtype=bool).at[pi].set(False)
    (indices,) = jnp.nonzero(free, size=n_unassigned)
    return indices.astype(jnp.int32)


@eqx.filter_jit
def path_order(pi: Int[ArrayLike, " M"], n_paths: int) -> Int[Array, " P"]:
    """Full path order for views: the assigned paths π(0), …, π(M−1), then the unassigned ones (§7.4).

    Indexing a path axis with this order (``weights[..., order, :, :]``, ``gates[..., order]``)
    puts path π(m) in slot m, so that matched similarities lie on the diagonal. It gives a view;
    the raw data are never modified.

    Args:
        pi: assignment of shape (M,).
        n_paths: the number of paths P (static).

    Returns:
        A permutation of range(P), shape (P,), int32.
    """
    pi = jnp.asarray(pi).astype(jnp.int32)
    return jnp.concatenate([pi, unassigned_paths(pi, n_paths)])


def row_matching(mean_rowcos: Float[ArrayLike, "n_teacher_rows n_student_rows"]) -> np.ndarray:
    """Match every teacher row to a distinct student row by linear assignment (§7.9).

    Maximises the sum of the **signed** time-mean row cosines, so a row anti-aligned with its
    teacher row is not matched for its |cos|. Runs on the host (NumPy/SciPy); not jittable.

    Args:
        mean_rowcos: time mean of rowcos[(m, r), i], shape (n_teacher_rows, n_student_rows), with
            teacher rows flattened as m·d_out + r and n_student_rows ≥ n_teacher_rows.

    Returns:
        i* of shape (n_teacher_rows,), int: the student row matched to each teacher row, all distinct.

    Raises:
        ValueError: if the input is not 2-D, has fewer student than teacher rows, or is not finite.
    """
    s = np.asarray(mean_rowcos, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(
            f"row_matching expects a 2-D (teacher rows, student rows) matrix, got shape {s.shape}."
        )
    if s.shape[1] < s.shape[0]:
        raise ValueError(
            f"row_matching needs at least as many student rows as teacher rows, got {s.shape[0]} "
            f"teacher rows and {s.shape[1]} student rows."
        )
    if not np.all(np.isfinite(s)):
        raise ValueError("row_matching got non-finite similarities (NaN or inf); check the run's status.")
    import scipy.optimize  # imported on first use (heavy)

    rows, cols = scipy.optimize.linear_sum_assignment(s, maximize=True)
    matching = np.empty(s.shape[0], dtype=np.int64)
    matching[rows] = cols
    return matching


@eqx.filter_jit
def same_output_fraction(matching: Int[ArrayLike, " n_teacher_rows"], d_out: int) -> Array:
    """Fraction of teacher rows (m, r) matched to a per-neuron student row with the same output r (§7.9).

    Per-neuron student rows are flattened as i = p·d_out + r', teacher rows as m·d_out + r; a match
    is "on the same output index" when r' = r.

    Args:
        matching: i* of shape (M·d_out,), from ``row_matching``.
        d_out: output dimension.

    Returns:
        Scalar in [0, 1]; 1 when every match falls on its own output index.
    """
    matching = jnp.asarray(matching)
    teacher_output = jnp.arange(matching.shape[0]) % d_out
    return jnp.mean((matching % d_out) == teacher_output)
