"""Alignment metrics built on the similarity matrix and the assignment (MODEL.md §7.3, §7.5, §7.13).

* Context alignment a_ctx(t) = cos_row(W*(t), W_eff(t)) (§7.3).
* Total alignment A_tot(t) = (1/M) Σ_m S_{m,π(m)}(t), which equals the row cosine of the stacked
  teachers against the stacked assigned paths because every teacher has d_out rows (§7.5).
* Matched entries S_{m,π(m)} and the mask of mismatched entries (§7.4).
* Specialisation max_t |mean matched − mean mismatched| of the box-smoothed similarities over the
  last 1/8 of the record (§7.13).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from ._cosine import row_cosine


@eqx.filter_jit
def total_alignment(
    similarity: Float[ArrayLike, "*time M P"], pi: Int[ArrayLike, " M"]
) -> Float[Array, "*time"]:
    """Total (concatenated) alignment A_tot = (1/M) Σ_m S_{m,π(m)} (§7.5).

    Args:
        similarity: S of shape (T, M, P) (any leading axes, or none).
        pi: assignment of shape (M,), from ``assign_paths``.

    Returns:
        A_tot of shape (T,) (the leading axes of ``similarity``).
    """
    matched, _ = matched_mismatched(similarity, pi)
    return jnp.mean(matched, axis=-1)


@eqx.filter_jit
def matched_mismatched(
    similarity: Float[ArrayLike, "*time M P"], pi: Int[ArrayLike, " M"]
) -> tuple[Float[Array, "*time M"], Bool[Array, "M P"]]:
    """Split the similarity matrix into matched values and a mismatched mask (§7.4).

    Mismatched entries are returned as a boolean mask, not as values, because their number
    (M·P − M) does not line up with teachers; reduce them with the mask, e.g.
    ``jnp.sum(S * mask, (-2, -1)) / mask.sum()`` for their mean.

    Args:
        similarity: S of shape (T, M, P) (any leading axes, or none).
        pi: assignment of shape (M,).

    Returns:
        matched: S_{m,π(m)}, shape (T, M).
        mismatched: bool mask of shape (M, P), True at every (m, p) with p ≠ π(m).
    """
    similarity = jnp.asarray(similarity)
    pi = jnp.asarray(pi)
    n_teachers, n_paths = similarity.shape[-2:]
    matched = similarity[..., jnp.arange(n_teachers), pi]
    mismatched = jnp.arange(n_paths)[None, :] != pi[:, None]
    return matched, mismatched


@eqx.filter_jit
def context_alignment(
    target: Float[ArrayLike, "*time d_out d_in"], w_eff: Float[ArrayLike, "*time d_out d_in"]
) -> Float[Array, "*time"]:
    """Context alignment a_ctx = cos_row(W*(t), W_eff(t)) (§7.3).

    Args:
        target: the current target map W*(t), shape (T, d_out, d_in) or (d_out, d_in).
        w_eff: the student's effective map (Σ_p c_p W_p, Σ_p diag(c_p) W_p or W2 W1), same shape
            (leading axes broadcast).

    Returns:
        a_ctx of shape (T,) (the broadcast leading axes).
    """
    return row_cosine(target, w_eff)


@eqx.filter_jit
def specialisation(
    similarity: Float[ArrayLike, "time M P"],
    pi: Int[ArrayLike, " M"],
    window_fraction: float = 1 / 8,
    smooth_fraction: float = 1 / 10,
) -> Float[Array, ""]:
    """Specialisation score of the teacher-correlation figure (§7.13).

    1. Keep the last ``window_fraction`` of the records (at least one record).
    2. Smooth every S_mp(t) with a centred box filter of ``smooth_fraction`` of that window (at
       least one sample), in 'same' mode (zero padding at the ends, as in the original).
    3. spec(t) = |mean of matched entries − mean of mismatched entries|; return max_t spec(t).

    Args:
        similarity: S of shape (T, M, P); needs P ≥ 2 so that mismatched entries exist.
        pi: assignment of shape (M,).
        window_fraction: fraction of the record to use (static).
        smooth_fraction: box length as a fraction of the window (static).

    Returns:
        Scalar max_t spec(t).
    """
    similarity = jnp.asarray(similarity)
    n_time = similarity.shape[0]
    n_window = max(1, int(n_time * window_fraction))
    n_box = max(1, int(round(n_window * smooth_fraction)))
    window = similarity[n_time - n_window :]
    box = jnp.ones(n_box, dtype=window.dtype) / n_box
    flat = window.reshape(n_window, -1)
    smooth_one = lambda x: jnp.convolve(x, box, mode="same")  # noqa: E731
    smooth = jax.vmap(smooth_one, in_axes=1, out_axes=1)(flat).reshape(window.shape)
    matched, mismatched = matched_mismatched(smooth, pi)
    mismatched_mean = jnp.sum(jnp.where(mismatched, smooth, 0.0), axis=(-2, -1)) / jnp.sum(mismatched)
    spec = jnp.abs(jnp.mean(matched, axis=-1) - mismatched_mean)
    return jnp.max(spec)
