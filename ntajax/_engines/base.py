"""The engine protocol: what integrates one seed of a simulation and fills a :class:`Trajectory`.

An engine is an Equinox module; options that change the program (unroll factors, solvers)
are static fields, and parameters a sweep may vary (e.g. a continual-learning penalty's
strength) are float array leaves, addressed as ``"engine.…"`` paths.

What an engine needs from the student is stated by the student protocol
(:mod:`ntajax._students.base`): the closed-form engines need a linear student.
"""

import abc
import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._students.base import LinearStudent, Student
from .._trajectory import Trajectory

INT_RECORDS = ("block", "task")


class Engine(eqx.Module):
    """Abstract engine: integrates one seed from ``init`` over [0, t_total].

    Capabilities the simulation checks: ``supports_sampled`` (minibatch gradients) and
    ``supports_stochastic_curriculum`` (curricula drawn at random, e.g. interleaved per step).
    ``stackable``: whether variants that differ only in traced fields gain from sharing one
    vmapped call (false for adaptive solvers, whose step counts couple across the batch).
    ``supports_state_dependent_curriculum``: whether the engine carries a curriculum state through
    its steps (curricula that react to the learner, e.g. :class:`ntajax.LossTriggered`).
    ``supports_teacher_noise``: whether it models teacher output noise (``TeacherSet.noise``).
    ``supports_fractional_switches``: whether it integrates the target over each step for a
    curriculum with ``integrates_steps`` (``Blocked(fractional_switches=True)``, whose switch
    times carry a derivative).
    """

    supports_sampled = True
    supports_stochastic_curriculum = True
    supports_state_dependent_curriculum = False
    supports_teacher_noise = False
    supports_fractional_switches = False
    stackable = True

    @abc.abstractmethod
    def solve(
        self,
        config,
        *,
        teachers: Float[Array, "n_targets d_out d_in"],
        init: Student,
        data_key: PRNGKeyArray,
        start_step=0,
    ) -> Trajectory:
        """Simulate one seed of the :class:`ntajax.Simulation` ``config`` over steps
        [start_step, start_step + n_steps) (times from start_step·dt); the block clock and the
        data keys use the absolute step index."""

    def check(self, simulation) -> None:
        """Raise for a simulation this engine cannot run (called once at construction).
        The default needs a linear student (closed-form gradients)."""
        if not isinstance(simulation.state_shape(), LinearStudent):
            raise ValueError(
                f"{type(self).__name__}() uses the closed-form gradients of linear students, and "
                f"{type(simulation.student).__name__} is not linear; use engine=ntajax.MinibatchScan() (autodiff on "
                "explicit minibatches)."
            )

    def check_values(self, simulation, values: dict[str, float | None]) -> None:
        """Raise for concrete traced values (by path) this engine cannot run; default: none."""
        del simulation, values

    def replace(self, **changes) -> "Engine":
        """A copy with some fields changed (re-validated)."""
        return dataclasses.replace(self, **changes)


def all_finite(tree) -> Array:
    """Whether every leaf of ``tree`` is finite everywhere (a traced bool)."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves))


def write_at(buffer, index, value):
    """``buffer`` (a pytree of arrays with a leading record axis) with ``value`` written at
    ``index`` of that axis: the weight records of the scan engines."""
    return jax.tree.map(lambda b, r: jax.lax.dynamic_update_index_in_dim(b, r, index, 0), buffer, value)


def to_trajectory(records: dict, final, status, weights=None) -> Trajectory:
    return Trajectory(weights=weights, final=final, status=status, **records)


