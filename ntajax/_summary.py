"""Per-seed summary metrics of a trajectory (MODEL §7.4–§7.6), as used by the CLI and sweeps."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from ._clock import block_bounds
from ._config import Config
from ._trajectory import Trajectory
from .metrics import adaptation_times, assign_paths, classify_regime, gate_separation, total_alignment


class Summary(eqx.Module):
    """Summary of one seed (a leading seed axis when produced by :func:`summarise`).

    Attributes:
        assignment: (M,) path assigned to each teacher, π (§7.4); raw data are untouched.
        total_alignment: (T,) A_tot(t) on the assigned paths (§7.5).
        final_alignment: () A_tot(t_total).
        mean_alignment: () time mean of A_tot.
        adaptation_time: (K,) time to expected loss < threshold after each block start (§7.6);
            NaN for blocks that do not exist (K = config.block_count).
        censored: (K,) True where the loss never fell below the threshold in the block.
        final_loss: () expected loss at t_total.
        gate_separation: () ntajax's gate one-hotness measure (see ``metrics.gate_separation``).
        regime: () 1 flexible / 0 forgetful by ntajax's own classifier (not the paper's).
    """

    assignment: Int[Array, " M"]
    total_alignment: Float[Array, " T"]
    final_alignment: Float[Array, ""]
    mean_alignment: Float[Array, ""]
    adaptation_time: Float[Array, " K"]
    censored: Bool[Array, " K"]
    final_loss: Float[Array, ""]
    gate_separation: Float[Array, ""]
    regime: Int[Array, ""]


def summarise_one(config: Config, trajectory: Trajectory, threshold: float = 0.1) -> Summary:
    """Summary of ONE seed's trajectory (no seed axis)."""
    pi = assign_paths(jnp.mean(trajectory.similarity, axis=0))
    alignment = total_alignment(trajectory.similarity, pi)
    starts, ends = block_bounds(config.block_length, config.block_count, config.t_total)
    times, censored = adaptation_times(trajectory.t, trajectory.loss, starts, ends, threshold)
    if config.student == "gated" and config.n_paths >= 2:
        separation = gate_separation(trajectory.gates, trajectory.task, pi, block_index=trajectory.block)
    else:
        separation = jnp.float32(jnp.nan)
    return Summary(
        assignment=pi,
        total_alignment=alignment,
        final_alignment=alignment[-1],
        mean_alignment=jnp.mean(alignment),
        adaptation_time=times,
        censored=censored,
        final_loss=trajectory.loss[-1],
        gate_separation=separation,
        regime=classify_regime(alignment[-1], separation),
    )


def summarise(config: Config, trajectory: Trajectory, threshold: float = 0.1) -> Summary:
    """Summaries of every seed of a :func:`ntajax.run` trajectory (leading seed axis)."""
    if config.n_paths < config.n_teachers:
        raise ValueError(
            f"summarise assigns paths to teachers and needs n_paths ≥ n_teachers, got {config.n_paths} < {config.n_teachers}."
        )
    return _summarise(config.with_block_count(), trajectory, threshold)


@eqx.filter_jit
def _summarise(config, trajectory, threshold):
    return jax.vmap(lambda tr: summarise_one(config, tr, threshold))(trajectory)
