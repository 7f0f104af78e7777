"""Membership of recorded times in curriculum blocks (MODEL.md §6.1, §7.6).

Block k covers the half-open interval [t_k, t_{k+1}). Recorded times and block starts are both
computed in floating point (i·Δ against k·τ_B), so a record that is nominally at a block start can
land a rounding error below it. Comparisons therefore use a tolerance of 1 % of the smallest
recording spacing, far below one spacing, so that no record changes block for any other reason.
"""

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float


def time_tolerance(t: Float[Array, " T"]) -> Float[Array, ""]:
    """1 % of the smallest spacing of the recorded times (0 for a single record; NaN padding ignored)."""
    if t.shape[0] < 2:
        return jnp.zeros((), dtype=t.dtype)
    return 0.01 * jnp.nanmin(jnp.diff(t))


def block_membership(
    t: Float[ArrayLike, " T"],
    block_starts: Float[ArrayLike, " K"],
    block_ends: Float[ArrayLike, " K"],
) -> Bool[Array, "T K"]:
    """Mask of which recorded time lies in which block, ``start ≤ t < end`` up to rounding.

    A NaN start or end gives an empty block, and so does a block that starts at or after the last
    recorded time: a block that would hold only the final record (e.g. the block starting at
    t_tot when the block count comes from the original's ⌊t_tot/τ_B⌋ + 1) covers no stretch of
    the record and counts as beyond it. NaN recorded times (padding) belong to no block.

    Args:
        t: recorded times, shape (T,), increasing.
        block_starts: block start times t_k, shape (K,).
        block_ends: block end times, shape (K,) (t_{k+1}, or t_tot for a block cut short).

    Returns:
        Bool mask of shape (T, K).
    """
    t = jnp.asarray(t)
    starts = jnp.asarray(block_starts, dtype=t.dtype)
    ends = jnp.asarray(block_ends, dtype=t.dtype)
    tol = time_tolerance(t)
    inside = (t[:, None] >= starts[None, :] - tol) & (t[:, None] < ends[None, :] - tol)
    return inside & (starts < jnp.nanmax(t) - tol)[None, :]


def last_valid(valid: Bool[Array, " K"], n_last: Array | int) -> Bool[Array, " K"]:
    """Mask of the last ``n_last`` True entries of ``valid`` (vectorised; ``n_last`` may be traced)."""
    rank_from_end = jnp.cumsum(valid[::-1])[::-1]  # 1 for the last valid entry, 2 for the one before…
    return valid & (rank_from_end <= n_last)
