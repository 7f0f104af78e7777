"""Per-seed summary metrics of a trajectory (MODEL §7.4–§7.6), as used by the CLI and sweeps."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from ._curricula.clock import block_bounds
from ._compile import COMPILER_OPTIONS
from ._simulation import Simulation
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
            NaN for blocks that do not exist (K = simulation.block_count).
        censored: (K,) True where the loss never fell below the threshold in the block.
        final_loss: () expected loss at t_total.
        gate_separation: () ntajax's gate one-hotness measure (see ``metrics.gate_separation``),
            by the student's own arrangement of its gates (``StudentModel.path_gates``); NaN for
            students without per-path gates.
        regime: () 1 flexible / 0 forgetful / −2 undefined (no gate criterion) by ntajax's own
            classifier (not the paper's).
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


def summarise_one(config: Simulation, trajectory: Trajectory, threshold: float = 0.1, t_end=None) -> Summary:
    """Summary of ONE seed's trajectory (no seed axis).

    Args:
        t_end: optional (traced) end time ≤ t_total at which the run is read, for sweeps
            whose points last different times (a fixed number of blocks): records after
            it are ignored and "final" means the record at t_end (which must lie on the
            recording grid). Default: t_total.
    """
    t = trajectory.t
    read_early = t_end is not None
    if t_end is None:
        t_end = config.grid.t_total
        valid = jnp.ones(t.shape, bool)
        last = t.shape[0] - 1
    else:
        spacing = t[1] - t[0]
        last = jnp.clip(jnp.round(t_end / spacing).astype(jnp.int32), 0, t.shape[0] - 1)
        valid = jnp.arange(t.shape[0]) <= last
    weights = valid / jnp.sum(valid)
    pi = assign_paths(jnp.tensordot(weights, trajectory.similarity, axes=1))
    alignment = total_alignment(trajectory.similarity, pi)
    starts, ends = block_bounds(config.curriculum.block_length, config.block_count, t_end, config.grid.dt)
    loss = jnp.where(valid, trajectory.loss, jnp.nan)
    times, censored = adaptation_times(t, loss, starts, ends, threshold)
    gates = config.student.path_gates(trajectory.gates)  # (T, P), or None: no gate criterion for this student
    if gates is not None and gates.shape[1] >= 2:
        task = jnp.where(valid, trajectory.task, -1)
        block = jnp.where(valid, trajectory.block, -1)
        if read_early:
            # the record at t_end closes the last block (the engine labels only the record at
            # t_total so); records after it belong to no block
            previous = jnp.maximum(last - 1, 0)
            task = task.at[last].set(task[previous])
            block = block.at[last].set(block[previous])
        separation = gate_separation(gates, task, pi, block_index=block)
    else:
        separation = jnp.asarray(jnp.nan, trajectory.loss.dtype)
    final = alignment[last]
    return Summary(
        assignment=pi,
        total_alignment=alignment,
        final_alignment=final,
        mean_alignment=jnp.sum(weights * alignment),
        adaptation_time=times,
        censored=censored,
        final_loss=trajectory.closing_loss[last] if read_early else trajectory.loss[last],
        gate_separation=separation,
        regime=classify_regime(final, separation),
    )


def summarise(config: Simulation, trajectory: Trajectory, threshold: float = 0.1) -> Summary:
    """Summaries of every seed of a :func:`ntajax.run` trajectory (leading seed axis)."""
    n_paths = getattr(config.student, "n_paths", None)
    if n_paths is None or n_paths < config.n_teachers:
        raise ValueError(
            f"summarise assigns paths to teachers and needs student.n_paths ≥ n_teachers, got {n_paths} < {config.n_teachers}."
        )
    return _summarise(config.with_block_count(), trajectory, threshold)


@eqx.filter_jit(compiler_options=COMPILER_OPTIONS)
def _summarise(config, trajectory, threshold):
    return jax.vmap(lambda tr: summarise_one(config, tr, threshold))(trajectory)
