"""Membership of recorded times in curriculum blocks (MODEL.md §6.1, §7.6).

Block k covers the half-open interval [t_k, t_{k+1}). Recorded times and block starts are both
computed in floating point (i·Δ against k·τ_B), so a record that is nominally at a block start can
land a rounding error below it. Comparisons therefore use a tolerance of 1 % of the smallest
recording spacing, far below one spacing, so that no record changes block for any other reason.
"""

import jax
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


def recorded_block_bounds(
    t: Float[Array, " T"], block: Array, n_blocks: int, t_end, valid: Bool[Array, " T"] | None = None,
) -> tuple[Float[Array, " K"], Float[Array, " K"]]:
    """Start and end time of each block read from the recorded block index, (K,) each: for
    curricula whose blocks follow the learner (:class:`ntajax.LossTriggered`), where no clock
    knows them.

    Block k starts at the first recorded time labelled k and ends where block k + 1 starts (at
    ``t_end`` for the last block); blocks never recorded get NaN bounds. The start is known to
    the resolution of the recording: the switch itself happened at a step after the previous
    record (exact when every step is recorded, ``save_every = 1``).

    Args:
        t: recorded times (T,). block: recorded block index (T,).
        n_blocks: K, the number of blocks to report (static).
        t_end: end of the last block (the read-out time).
        valid: optional mask of the records to read (records after a read-out time excluded).
    """
    t = jnp.asarray(t)
    inside = jnp.asarray(block)[None, :] == jnp.arange(n_blocks)[:, None]  # (K, T)
    if valid is not None:
        inside = inside & valid[None, :]
    present = jnp.any(inside, axis=1)
    first = jnp.min(jnp.where(inside, t[None, :], jnp.inf), axis=1)  # inf for blocks never recorded
    # a block ends where the next *recorded* block starts (one shorter than a save interval may be missing)
    later = jax.lax.cummin(first[::-1])[::-1]
    following = jnp.concatenate([later[1:], jnp.full((1,), jnp.inf, t.dtype)])
    ends = jnp.where(jnp.isfinite(following), following, jnp.asarray(t_end, t.dtype))
    return jnp.where(present, first, jnp.nan), jnp.where(present, ends, jnp.nan)
