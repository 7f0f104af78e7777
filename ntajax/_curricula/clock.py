"""The block clock: which block of a blocked curriculum is active (MODEL §6.4).

Clean mode: block k starts at step round(k·τ_B/dt), i.e. at time k·τ_B up to dt/2.
Every quantity here is traced, so a sweep over τ_B compiles once.

[compat] The original's float-floor clock (n_B = ⌊τ_B/dt⌋ in IEEE float64, block k
starting at step k·n_B) is available by passing ``compat_block_steps``.
"""

import math

import jax.numpy as jnp
from jaxtyping import Array, Float, Int


def block_of_step(
    step: Int[Array, ""] | int,
    block_length: Float[Array, ""],
    dt: float,
    compat_block_steps: Int[Array, ""] | None = None,
) -> Int[Array, ""]:
    """Index of the block that contains Euler step ``step``.

    Clean mode: block k covers steps [round(k·r), round((k+1)·r)) with r = τ_B/dt, so the
    step belongs to block ⌈(step + ½)/r⌉ − 1. The half-step offset keeps the result exact
    when r is an integer even though r itself is computed in floating point.
    """
    step = jnp.asarray(step)
    if compat_block_steps is not None:
        return (step // compat_block_steps).astype(jnp.int32)
    steps_per_block = block_length / dt
    return (jnp.ceil((step + 0.5) / steps_per_block) - 1).astype(jnp.int32)


def block_of_time(t: Float[Array, ""], switch_times: Float[Array, " n"]) -> Int[Array, ""]:
    """Index of the block active at continuous time ``t``: the number of switches ≤ t.

    Used by the ODE engine. Comparing against the very same floats that are handed to the
    step-size controller as jump times keeps the right-hand side piecewise constant on
    exactly the intervals the solver integrates over.
    """
    return jnp.sum(t >= switch_times).astype(jnp.int32)


def switch_times(block_length: Float[Array, ""], n_blocks: int) -> Float[Array, " n_blocks-1"]:
    """Times k·τ_B of the switches k = 1 … n_blocks − 1."""
    return jnp.arange(1, max(n_blocks, 2), dtype=jnp.result_type(block_length)) * block_length


def block_starts(block_length: Float[Array, ""], n_blocks: int, dt: float) -> Float[Array, " n_blocks"]:
    """Start time of each block where the engine starts it, the ONE definition of a block start
    (MODEL §6.4): block k starts at step round(k·τ_B/dt), i.e. at round(k·τ_B/dt)·dt — equal to
    k·τ_B when τ_B/dt is an integer (A16's τ_B = 1, dt = 0.03 gives 0, 0.99, 2.01, …)."""
    k = jnp.arange(n_blocks, dtype=jnp.result_type(block_length, jnp.float32))
    return jnp.round(k * block_length / dt) * dt


def block_bounds(
    block_length: Float[Array, ""], n_blocks: int, t_total: float, dt: float
) -> tuple[Float[Array, " n_blocks"], Float[Array, " n_blocks"]]:
    """Start and end time of each block, (n_blocks,) each (MODEL §6.4).

    Starts are :func:`block_starts`; block k ends where block k + 1 starts. The last block is cut
    short at ``t_total``; blocks that start at or after ``t_total`` (possible when ``n_blocks``
    is an upper bound shared by a sweep) get NaN bounds.
    """
    edges = block_starts(block_length, n_blocks + 1, dt)
    starts = edges[:-1]
    ends = jnp.minimum(edges[1:], t_total)
    exists = starts < t_total - 1e-9
    return jnp.where(exists, starts, jnp.nan), jnp.where(exists, ends, jnp.nan)


def count_blocks(t_total: float, block_length: float) -> int:
    """Number of blocks ⌈t_tot/τ_B⌉ needed to cover [0, t_tot] (MODEL §6.4)."""
    return max(1, math.ceil(t_total / block_length - 1e-9))


def original_block_steps(block_length: float, dt: float) -> int:
    """[compat] The original's steps per block, ⌊τ_B/dt⌋ in IEEE float64 (MODEL §6.4)."""
    return int(float(block_length) // float(dt))


def original_switch_block(t_total: float, block_length: float) -> int:
    """The original's switch block S = ⌊0.75·N_ref⌋ with N_ref = ⌊t_tot/τ_B⌋ + 1 (MODEL §6.1)."""
    n_ref = int(float(t_total) // float(block_length)) + 1
    return int(math.floor(0.75 * n_ref))
