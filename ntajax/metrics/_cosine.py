"""Cosine similarities between matrices and the teacher–student similarity matrix (MODEL.md §7.1).

* Row cosine (the figures' default): cos_row(A, B) = (1/rows) Σ_i ⟨A_i,:, B_i,:⟩ / (‖A_i,:‖ ‖B_i,:‖).
* Column cosine: the same over columns (the toy model, d_in = 1, §2.4).
* Frobenius cosine: ⟨A, B⟩_F / (‖A‖_F ‖B‖_F).
* Similarity matrix: S_mp = cos_row(W*_m, W_p), shape [M, P].

All cosines are signed, and every denominator is guarded as ``‖a‖‖b‖ + eps`` so that zero rows give
a cosine of 0 instead of NaN. They broadcast over leading axes.
"""

from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float


def _cosine_along(a: ArrayLike, b: ArrayLike, axis: int | tuple[int, ...], eps: float) -> Array:
    a = jnp.asarray(a)
    b = jnp.asarray(b)
    dot = jnp.sum(a * b, axis=axis)
    norm_a = jnp.sqrt(jnp.sum(a * a, axis=axis))
    norm_b = jnp.sqrt(jnp.sum(b * b, axis=axis))
    return dot / (norm_a * norm_b + eps)


@eqx.filter_jit
def row_cosine(
    a: Float[ArrayLike, "*batch rows cols"],
    b: Float[ArrayLike, "*batch rows cols"],
    eps: float = 1e-12,
) -> Float[Array, "*batch"]:
    """Mean of the row-wise cosines between two matrices (§7.1, "row cosine").

    Args:
        a: matrices of shape (..., rows, cols).
        b: matrices of shape (..., rows, cols); leading axes broadcast against ``a``.
        eps: added to each row's product of norms, so that a zero row contributes 0.

    Returns:
        Signed similarity of shape (...), in [−1, 1].
    """
    return jnp.mean(_cosine_along(a, b, -1, eps), axis=-1)


@eqx.filter_jit
def column_cosine(
    a: Float[ArrayLike, "*batch rows cols"],
    b: Float[ArrayLike, "*batch rows cols"],
    eps: float = 1e-12,
) -> Float[Array, "*batch"]:
    """Mean of the column-wise cosines between two matrices (§7.1; the toy model's cosine, §2.4).

    Args:
        a: matrices of shape (..., rows, cols).
        b: matrices of shape (..., rows, cols); leading axes broadcast against ``a``.
        eps: added to each column's product of norms.

    Returns:
        Signed similarity of shape (...), in [−1, 1].
    """
    return jnp.mean(_cosine_along(a, b, -2, eps), axis=-1)


@eqx.filter_jit
def frobenius_cosine(
    a: Float[ArrayLike, "*batch rows cols"],
    b: Float[ArrayLike, "*batch rows cols"],
    eps: float = 1e-12,
) -> Float[Array, "*batch"]:
    """Frobenius cosine ⟨A, B⟩_F / (‖A‖_F ‖B‖_F) (§7.1).

    Args:
        a: matrices of shape (..., rows, cols).
        b: matrices of shape (..., rows, cols); leading axes broadcast against ``a``.
        eps: added to the product of norms.

    Returns:
        Signed similarity of shape (...), in [−1, 1].
    """
    return _cosine_along(a, b, (-2, -1), eps)


@eqx.filter_jit
def similarity_matrix(
    teachers: Float[ArrayLike, "M d_out d_in"],
    paths: Float[ArrayLike, "*batch P d_out d_in"],
    cosine: Callable[[Array, Array], Array] = row_cosine,
) -> Float[Array, "*batch M P"]:
    """Teacher–student similarity matrix S_mp = cos(W*_m, W_p) (§7.1).

    Args:
        teachers: the M base teachers, shape (M, d_out, d_in).
        paths: student path weights, shape (..., P, d_out, d_in); leading axes (e.g. time) are kept.
        cosine: a matrix cosine that broadcasts over leading axes, such as ``row_cosine`` (default,
            as in the figures), ``column_cosine`` (toy model) or ``frobenius_cosine``. Use
            ``functools.partial`` to change its ``eps``.

    Returns:
        S of shape (..., M, P): teacher m against path p.
    """
    teachers = jnp.asarray(teachers)
    paths = jnp.asarray(paths)
    if teachers.ndim != 3 or paths.ndim < 3 or teachers.shape[-2:] != paths.shape[-2:]:
        raise ValueError(
            "similarity_matrix needs teachers of shape (M, d_out, d_in) and paths of shape "
            f"(..., P, d_out, d_in) with the same matrix shape; got teachers {teachers.shape} "
            f"and paths {paths.shape}."
        )
    # Teachers along axis -2 of the result, paths along axis -1.
    return cosine(teachers[:, None], paths[..., None, :, :, :])
