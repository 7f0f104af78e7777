"""Block-wise loss metrics after task switches (MODEL.md §7.6, §7.12, §7.13).

* Adaptation time a_k = min{t − t_k : t_k ≤ t < t_{k+1}, L(t) < θ}, censored at the block length
  (§7.6). Block starts come from the schedule (exact k·τ_B), not from the data.
* Post-switch losses L(t_j + n·Δ), n = 1…n_after (§7.12).
* Adaptation speed: per block max_t |dL/dt| (§7.13).

All three are vectorised over blocks with (T, K) masks; none uses Python control flow on values.

**Convention for blocks without records.** A block that holds no recorded time (its start lies at
or beyond the last record t_tot, or its start or end is NaN, which callers may use to pad a fixed
number of blocks) gives NaN, and for adaptation times ``censored=False``. Block k holds the
records with t_k ≤ t < end_k, compared with a tolerance of 1 % of the recording spacing.
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float

from ._blocks import block_membership, time_tolerance
from ._speeds import central_difference


@eqx.filter_jit
def adaptation_times(
    t: Float[ArrayLike, " T"],
    loss: Float[ArrayLike, " T"],
    block_starts: Float[ArrayLike, " K"],
    block_ends: Float[ArrayLike, " K"],
    threshold: float | Float[ArrayLike, ""] = 0.1,
) -> tuple[Float[Array, " K"], Bool[Array, " K"]]:
    """Adaptation time after each switch (§7.6).

    a_k = min{t − t_k : t_k ≤ t < end_k, L(t) < θ}. If the loss never drops below θ within the
    block's records, a_k = end_k − t_k (the block length; pass end_k = t_tot for a block cut short)
    and the block is flagged as censored. Block 0 is included (initial learning). Plot a_k/τ_w
    against t_k + τ_B/2.

    Args:
        t: recorded times, shape (T,), increasing.
        loss: loss at those times, shape (T,) (the expected loss by default; NaN never counts as
            below the threshold).
        block_starts: exact block starts t_k, shape (K,).
        block_ends: block ends t_{k+1} (or t_tot), shape (K,).
        threshold: θ.

    Returns:
        times: a_k, shape (K,); NaN for blocks without records.
        censored: shape (K,), True where the loss never went below θ in a block with records.
    """
    t = jnp.asarray(t)
    loss = jnp.asarray(loss)
    starts = jnp.asarray(block_starts, dtype=t.dtype)
    ends = jnp.asarray(block_ends, dtype=t.dtype)
    member = block_membership(t, starts, ends)  # (T, K)
    below = member & (loss < threshold)[:, None]
    # A record within rounding below t_k still counts as t_k, so clip the elapsed time at 0.
    elapsed = jnp.maximum(t[:, None] - starts[None, :], 0.0)
    first = jnp.min(jnp.where(below, elapsed, jnp.inf), axis=0)
    has_records = jnp.any(member, axis=0)
    crossed = jnp.any(below, axis=0)
    times = jnp.where(crossed, first, jnp.where(has_records, ends - starts, jnp.nan))
    return times, has_records & ~crossed


@eqx.filter_jit
def post_switch_losses(
    t: Float[ArrayLike, " T"],
    loss: Float[ArrayLike, " T"],
    switch_times: Float[ArrayLike, " J"],
    n_after: int = 5,
    spacing: float | Float[ArrayLike, ""] | None = None,
) -> Float[Array, "J n_after"]:
    """Losses just after each switch, L(t_j + n·Δ) for n = 1…n_after (§7.12, Fig. 8).

    Each value is read at the recorded time nearest to t_j + n·Δ (the earlier one on a tie). Times
    outside [t_0, t_{T−1}] (beyond half a recording spacing) and NaN switch times give NaN.

    Args:
        t: recorded times, shape (T,), increasing, T ≥ 2.
        loss: loss at those times, shape (T,).
        switch_times: exact switch times t_j, shape (J,).
        n_after: number of post-switch samples (static).
        spacing: Δ; defaults to the first recording spacing t_1 − t_0 (Fig. 8: Δ = dt = 0.01).

    Returns:
        Shape (J, n_after).
    """
    t = jnp.asarray(t)
    loss = jnp.asarray(loss)
    switch_times = jnp.asarray(switch_times, dtype=t.dtype)
    if spacing is None:
        spacing = t[1] - t[0]
    targets = switch_times[:, None] + spacing * jnp.arange(1, n_after + 1, dtype=t.dtype)[None, :]
    right = jnp.clip(jnp.searchsorted(t, targets), 1, t.shape[0] - 1)
    left = right - 1
    nearest = jnp.where(jnp.abs(t[left] - targets) <= jnp.abs(t[right] - targets), left, right)
    half = 0.5 * jnp.nanmin(jnp.diff(t)) + time_tolerance(t)
    inside = (targets >= t[0] - half) & (targets <= jnp.nanmax(t) + half)
    return jnp.where(inside, loss[nearest], jnp.nan)


@eqx.filter_jit
def adaptation_speed(
    t: Float[ArrayLike, " T"],
    loss: Float[ArrayLike, " T"],
    block_starts: Float[ArrayLike, " K"],
    block_ends: Float[ArrayLike, " K"],
) -> tuple[Float[Array, " K"], Float[Array, ""]]:
    """Adaptation speed of the teacher-correlation figure (§7.13): max_t |dL/dt| per block.

    Args:
        t: recorded times, shape (T,), increasing, T ≥ 2.
        loss: loss at those times, shape (T,).
        block_starts: t_k, shape (K,).
        block_ends: block ends, shape (K,).

    Returns:
        per_block: max over the block's records of |dL/dt| (central differences), shape (K,); NaN for
            blocks without records.
        mean: the mean of ``per_block`` over blocks with records.
    """
    t = jnp.asarray(t)
    rate = jnp.abs(central_difference(loss, t))
    member = block_membership(t, block_starts, block_ends)
    has_records = jnp.any(member, axis=0)
    per_block = jnp.where(has_records, jnp.max(jnp.where(member, rate[:, None], -jnp.inf), axis=0), jnp.nan)
    mean = jnp.sum(jnp.where(has_records, per_block, 0.0)) / jnp.sum(has_records)
    return per_block, mean
