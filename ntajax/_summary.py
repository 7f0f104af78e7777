"""Per-seed summary of a trajectory (MODEL §7.4–§7.7): the ONE summary type of ntajax.

:class:`Summary` serves ``ntajax.summarise``, the sweep stores (:mod:`ntajax._sweep.reducers`
picks the per-run variables a store keeps) and the continual-learning comparison (which fills
the retention fields, see :func:`ntajax._sweep.baselines.summarise_continual`).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from ._curricula.clock import block_bounds
from ._compile import COMPILER_OPTIONS
from ._precision import pin_matmul_precision
from ._simulation import Simulation
from ._trajectory import Trajectory
from .metrics import adaptation_times, assign_paths, classify_regime, gate_separation
from .metrics._blocks import recorded_block_bounds
from .metrics._continual import any_total_alignment
from .metrics._regime import DIVERGED


class Summary(eqx.Module):
    """Summary of one seed (a leading seed axis when produced by :func:`summarise`).

    Every metric of a diverged run (``status`` ≠ 0) is NaN and its regime −1.

    Attributes:
        assignment: (M,) path assigned to each teacher, π (§7.4); −1 when P < M (no
            time-mean assignment exists); raw data are untouched.
        total_alignment: (T,) A_tot(t) (§7.5; for P < M paths each path is assigned at each
            time and teachers without a path count 0, see ``metrics.any_total_alignment``).
        final_alignment: () A_tot at the read-out time.
        mean_alignment: () time mean of A_tot up to the read-out time.
        adaptation_time: (K,) time to expected loss < threshold after each block start (§7.6);
            NaN for blocks that do not exist (K = simulation.block_count) and for curricula
            without blocks. For a curriculum whose blocks follow the learner
            (:class:`ntajax.LossTriggered`) the block starts are the first recorded time of each
            block (``metrics._blocks.recorded_block_bounds``: exact to the recording spacing).
        censored: (K,) True where the loss never fell below the threshold in the block.
        final_loss: () expected loss at the read-out time (of the block that it closes).
        gate_separation: () ntajax's gate one-hotness measure (see ``metrics.gate_separation``),
            by the student's own arrangement of its gates (``StudentModel.path_gates``); NaN for
            students without per-path gates.
        gate_contrast: () C̄ = c_{π(current)} − mean of the other path gates at the read-out
            time (high-dimensional analogue of §7.7); NaN without per-path gates.
        specialisation: () W̄ analogue: mean matched minus mean |mismatched| similarity at the
            read-out time.
        regime: () 1 flexible / 0 forgetful / −1 diverged / −2 undefined (no gate criterion) by
            ntajax's own classifier (not the paper's).
        status: () 0 ok, 1 diverged, 2 solver failed.
        retention, regated_retention: (K,) expected loss on the task of block k − 1 at the end
            of block k, as the student is / after re-setting only its gates (MODEL §9); None
            unless measured (the continual-learning comparison measures them).
        end_task_loss: (M,) expected loss on every base task at the end; None unless measured.
    """

    assignment: Int[Array, " M"]
    total_alignment: Float[Array, " T"]
    final_alignment: Float[Array, ""]
    mean_alignment: Float[Array, ""]
    adaptation_time: Float[Array, " K"]
    censored: Bool[Array, " K"]
    final_loss: Float[Array, ""]
    gate_separation: Float[Array, ""]
    gate_contrast: Float[Array, ""]
    specialisation: Float[Array, ""]
    regime: Int[Array, ""]
    status: Int[Array, ""]
    retention: Float[Array, " K"] | None = None
    regated_retention: Float[Array, " K"] | None = None
    end_task_loss: Float[Array, " M"] | None = None


def _specialisation(similarity: Float[Array, "M P"], pi: Int[Array, " M"]) -> Float[Array, ""]:
    n_teachers, n_paths = similarity.shape
    matched_mask = jnp.zeros((n_teachers, n_paths), bool).at[jnp.arange(n_teachers), pi].set(True)
    matched = jnp.sum(jnp.where(matched_mask, similarity, 0.0)) / n_teachers
    n_mismatched = max(n_teachers * n_paths - n_teachers, 1)
    mismatched = jnp.sum(jnp.where(matched_mask, 0.0, jnp.abs(similarity))) / n_mismatched
    return matched - mismatched


def summarise_one(config: Simulation, trajectory: Trajectory, threshold: float = 0.1, t_end=None) -> Summary:
    """Summary of ONE seed's trajectory (no seed axis); traceable and vmappable.

    Args:
        config: the run's simulation (``block_count`` must be static: see
            :meth:`Simulation.with_block_count`).
        trajectory: one seed's trajectory.
        threshold: loss threshold of the adaptation time (§7.6).
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
    n_teachers, n_paths = trajectory.similarity.shape[-2:]
    assigned = n_paths >= n_teachers
    nan = jnp.asarray(jnp.nan, trajectory.loss.dtype)
    if assigned:
        pi = assign_paths(jnp.tensordot(weights, trajectory.similarity, axes=1))
        alignment = jnp.sum(trajectory.similarity[:, jnp.arange(n_teachers), pi], axis=-1) / n_teachers
    else:
        pi = jnp.full((n_teachers,), -1, jnp.int32)
        alignment = any_total_alignment(trajectory.similarity, weights)
    if config.schedule.is_state_dependent:  # blocks that follow the learner: read them from the record
        starts, ends = recorded_block_bounds(t, trajectory.block, config.block_count, t_end, valid)
    else:
        starts, ends = block_bounds(config.curriculum.block_length, config.block_count, t_end, config.grid.dt)
    loss = jnp.where(valid, trajectory.loss, jnp.nan)
    times, censored = adaptation_times(t, loss, starts, ends, threshold)
    if not config.schedule.is_blocked:
        times, censored = jnp.full_like(times, jnp.nan), jnp.zeros_like(censored)

    gates = config.student.path_gates(trajectory.gates)  # (T, P), or None: no gate criterion for this student
    if assigned and gates is not None and gates.shape[1] >= 2:
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
        separation = nan
    if assigned and gates is not None:
        at_end = gates[last]
        # the task of the block that the read-out record closes
        closing_task = jnp.clip(trajectory.task[-1 if not read_early else jnp.maximum(last - 1, 0)], 0, n_teachers - 1)
        on = at_end[pi[closing_task]]
        contrast = on - (jnp.sum(at_end) - on) / max(n_paths - 1, 1)
    else:
        contrast = nan
    specialisation = _specialisation(trajectory.similarity[last], pi) if assigned else nan
    final = alignment[last]
    diverged = trajectory.status != 0

    def guard(x):
        return jnp.where(diverged, jnp.nan, x)

    return Summary(
        assignment=pi,
        total_alignment=guard(alignment),
        final_alignment=guard(final),
        mean_alignment=guard(jnp.sum(weights * alignment)),
        adaptation_time=guard(times),
        censored=censored,
        final_loss=guard(trajectory.closing_loss[last] if read_early else trajectory.loss[last]),
        gate_separation=guard(separation),
        gate_contrast=guard(contrast),
        specialisation=guard(specialisation),
        regime=jnp.where(diverged, DIVERGED, classify_regime(final, separation)).astype(jnp.int32),
        status=trajectory.status,
    )


def summarise(config: Simulation, trajectory: Trajectory, threshold: float = 0.1) -> Summary:
    """Summaries of every seed of a :func:`ntajax.run` trajectory (leading seed axis)."""
    return _summarise(config.with_block_count(), trajectory, threshold)


@eqx.filter_jit(compiler_options=COMPILER_OPTIONS)
@pin_matmul_precision
def _summarise(config, trajectory, threshold):
    return jax.vmap(lambda tr: summarise_one(config, tr, threshold))(trajectory)
