"""Curricula over tasks: which task each trial of a training step comes from.

Training time is t = i·dt at step i (MODEL §5.2). Two curricula (objects):

* :class:`BlockedTasks` — blocks of duration τ_B (traced): block k covers the steps with
  t ∈ [k·τ_B, (k+1)·τ_B) (the clean clock of MODEL §6.4, :func:`ntajax._curricula.clock.block_of_step`)
  and uses task ``order[k mod len(order)]`` (default A, B, A, B, …, the paper's blocked
  curriculum); every trial of a step is of the current task; no task cue by default.
* :class:`InterleavedTasks` — every trial draws its task uniformly at random; with a one-hot task
  cue (default), as the rule inputs of Yang et al. 2019.

With ``cue=True`` the M cue channels are appended after the readout's input channels, held at the
trial's one-hot task index for the whole trial.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._curricula import clock
from .._parameters import check_positive, concrete, traced
from .tasks import Trial


class TaskCurriculum(eqx.Module):
    """Abstract curriculum over M tasks (module docstring)."""

    cue: eqx.AbstractVar[bool]

    @abc.abstractmethod
    def tasks_of_step(
        self, step: Int[Array, ""], key: PRNGKeyArray, *, n_tasks: int, batch_size: int, dt: float
    ) -> Int[Array, " batch"]:
        """The task index of each of the ``batch_size`` trials of training step ``step``."""

    def block_of_step(self, step: Int[Array, "..."], dt: float) -> Int[Array, "..."]:
        """The block of each step (−1 for curricula without blocks)."""
        return jnp.full(jnp.shape(step), -1, jnp.int32)

    @property
    def is_blocked(self) -> bool:
        return False

    def with_cue(self, trial: Trial, task: Int[Array, ""], n_tasks: int) -> Trial:
        """``trial`` with the one-hot cue of ``task`` appended to its inputs (when ``cue``)."""
        if not self.cue:
            return trial
        T = trial.inputs.shape[0]
        cue = jnp.broadcast_to(jax.nn.one_hot(task, n_tasks, dtype=trial.inputs.dtype), (T, n_tasks))
        return Trial(inputs=jnp.concatenate([trial.inputs, cue], axis=1), targets=trial.targets, mask=trial.mask)

    def cue_size(self, n_tasks: int) -> int:
        return n_tasks if self.cue else 0


class BlockedTasks(TaskCurriculum):
    """Blocks of duration τ_B, tasks A, B, A, B, … (module docstring).

    Args:
        block_length: τ_B in training time (traced; τ_B/dt steps per block).
        order: the cyclic sequence of task indices (static; default ``None`` = 0, 1, …, M − 1).
        cue: append a one-hot task cue (static; default False, as the paper's blocked curriculum).
    """

    block_length: Float[Array, ""] = eqx.field(default=1.0, converter=traced)
    order: tuple[int, ...] | None = eqx.field(static=True, default=None)
    cue: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        check_positive("BlockedTasks", "block_length", concrete(self.block_length))
        if self.order is not None and (not isinstance(self.order, tuple) or not self.order
                                       or not all(isinstance(m, int) and m >= 0 for m in self.order)):
            raise ValueError(f"BlockedTasks: order={self.order!r} must be a non-empty tuple of task indices, "
                             "e.g. (0, 1).")

    @property
    def is_blocked(self):
        return True

    def block_of_step(self, step, dt):
        return clock.block_of_step(step, self.block_length, dt)

    def task_of_block(self, block: Int[Array, "..."], n_tasks: int) -> Int[Array, "..."]:
        order = jnp.arange(n_tasks) if self.order is None else jnp.asarray(self.order)
        return order[block % order.shape[0]]

    def tasks_of_step(self, step, key, *, n_tasks, batch_size, dt):
        del key
        task = self.task_of_block(self.block_of_step(step, dt), n_tasks)
        return jnp.full((batch_size,), task, jnp.int32)


class InterleavedTasks(TaskCurriculum):
    """Every trial's task drawn uniformly from the M tasks, with a task cue by default.

    Args:
        cue: append a one-hot task cue (static; default True).
    """

    cue: bool = eqx.field(static=True, default=True)

    def tasks_of_step(self, step, key, *, n_tasks, batch_size, dt):
        del step, dt
        return jax.random.randint(key, (batch_size,), 0, n_tasks).astype(jnp.int32)
