"""SVD-based metrics (MODEL.md §7.2, §7.10).

* Projections w^p_{m,α} = u*_{m,α}ᵀ W_p v*_{m,α}: the strength of teacher m's α-th singular mode in
  path p, indexed [m, p, α] (§7.10). For orthogonal equal-s teachers, w^p_{m,α}/s are the toy
  coordinates of §2.4. A simultaneous sign flip of u and v leaves them unchanged.
* Singular-value magnitudes: the student singular values of each path divided by the teacher
  scale s (§7.10, "SV magnitudes").
* SVD similarity SVD_sim[m, p] = max_{b∈{1,2}} |u*_{m,1}·u^p_b| (§7.2), which replaces S_mp in the
  assignment for svd and i.i.d. teachers.

Where a teacher has repeated singular values its singular vectors are not unique; the projections
stay well defined for the teachers of §3.2 and §3.4 because every teacher maps its own right
singular space onto its left one with the same s and the teachers' spaces are mutually orthogonal.
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float


@eqx.filter_jit
def svd_projections(
    paths: Float[ArrayLike, "*time P d_out d_in"],
    teachers: Float[ArrayLike, "M d_out d_in"],
    n_modes: int,
) -> Float[Array, "*time M P n_modes"]:
    """Projections w^p_{m,α} = u*_{m,α}ᵀ W_p v*_{m,α} of the paths onto the teachers' modes (§7.10).

    Args:
        paths: path weights of shape (..., P, d_out, d_in) (e.g. a leading time axis).
        teachers: teachers of shape (M, d_out, d_in).
        n_modes: number of leading teacher modes α = 0…n_modes−1 (static, ≤ min(d_out, d_in)).

    Returns:
        Shape (..., M, P, n_modes), indexed [m, p, α].
    """
    paths = jnp.asarray(paths)
    teachers = jnp.asarray(teachers)
    rank = min(teachers.shape[-2:])
    if not 1 <= n_modes <= rank:
        raise ValueError(f"svd_projections needs 1 <= n_modes <= min(d_out, d_in) = {rank}, got {n_modes}.")
    u, _, vh = jnp.linalg.svd(teachers, full_matrices=False)  # (M, d_out, r), (M, r, d_in)
    u = u[..., :n_modes]
    vh = vh[..., :n_modes, :]
    return jnp.einsum("moa,...poi,mai->...mpa", u, paths, vh)


@eqx.filter_jit
def singular_value_magnitudes(
    paths: Float[ArrayLike, "*time P d_out d_in"],
    scale: float | Float[ArrayLike, ""],
    n_modes: int = 2,
) -> Float[Array, "*time P n_modes"]:
    """Leading singular values of every path divided by the teacher scale s (§7.10, A1/A16).

    For s = 1/√d_in this is √d_in·s^p_α; for the toy (d_in = 1, s = 1) it is ‖w^p‖.

    Args:
        paths: path weights of shape (..., P, d_out, d_in).
        scale: the teacher scale s.
        n_modes: number of leading singular values kept (static, ≤ min(d_out, d_in)).

    Returns:
        Shape (..., P, n_modes), in decreasing order along the last axis.
    """
    paths = jnp.asarray(paths)
    rank = min(paths.shape[-2:])
    if not 1 <= n_modes <= rank:
        raise ValueError(
            f"singular_value_magnitudes needs 1 <= n_modes <= min(d_out, d_in) = {rank}, got {n_modes}."
        )
    return jnp.linalg.svd(paths, compute_uv=False)[..., :n_modes] / scale


@eqx.filter_jit
def svd_similarity(
    teachers: Float[ArrayLike, "M d_out d_in"],
    paths: Float[ArrayLike, "*time P d_out d_in"],
) -> Float[Array, "*time M P"]:
    """SVD similarity max_{b∈{1,2}} |u*_{m,1}·u^p_b| (§7.2).

    The leading left singular vector of teacher m against the top two left singular vectors of
    path p (only the top one when min(d_out, d_in) = 1). Sign-free, in [0, 1]. Meant for svd and
    i.i.d. teachers: the orthogonal teachers of §3.2 have d_out equal singular values, so their
    leading singular vector is arbitrary within the span; use the row-cosine similarity there.

    Args:
        teachers: teachers of shape (M, d_out, d_in).
        paths: path weights of shape (..., P, d_out, d_in).

    Returns:
        Shape (..., M, P).
    """
    teachers = jnp.asarray(teachers)
    paths = jnp.asarray(paths)
    u_teacher = jnp.linalg.svd(teachers, full_matrices=False)[0][..., 0]  # (M, d_out)
    n_student = min(2, *paths.shape[-2:])
    u_path = jnp.linalg.svd(paths, full_matrices=False)[0][..., :n_student]  # (..., P, d_out, b)
    overlap = jnp.abs(jnp.einsum("mo,...pob->...mpb", u_teacher, u_path))
    return jnp.max(overlap, axis=-1)
