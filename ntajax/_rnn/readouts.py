"""Output constraints: how the trials of several tasks share (or split) the network's channels.

A :class:`Readout` object turns the M tasks of an experiment into one channel layout and builds
the trial of task m on it (Turner & Barak 2023, "The simplicity bias in multi-task RNNs"):

* :class:`SharedReadout` — every task on the same input and output channels (the NTA setting:
  tasks conflict on one input–output map, e.g. Go vs Anti, and a blocked curriculum without a
  cue leaves the network to infer the task); tasks with fewer channels are zero-padded (their
  extra outputs masked).
* :class:`GatedReadout` — separate input and output channels per task, one task at a time, and
  the loss only on the current task's outputs (the other outputs are unconstrained: T&B's gated).
* :class:`OrthogonalReadout` — separate channels, one task at a time, and the other tasks'
  outputs trained to 0 (T&B's orthogonal).
* :class:`ParallelReadout` — separate channels, every task in every trial at once, each from
  its own draw (T&B's parallel); the curriculum's task index is ignored.

Layout of the separate readouts: task m's inputs occupy columns [Σ_{n<m} d_in_n, Σ_{n≤m} d_in_n)
and its outputs likewise. The curriculum may append a one-hot task cue after them
(:class:`ntajax.InterleavedTasks`).
"""

import abc
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Int, PRNGKeyArray

from .tasks import Task, Trial


def check_tasks(tasks: Sequence[Task]) -> tuple[Task, ...]:
    """The tasks as a tuple, checked: at least one :class:`Task`, all with the same ``n_steps``."""
    tasks = tuple(tasks)
    if not tasks or not all(isinstance(t, Task) for t in tasks):
        raise TypeError(f"tasks={tasks!r} must be a non-empty sequence of ntajax Task objects (e.g. ntajax.Go()).")
    lengths = {t.n_steps for t in tasks}
    if len(lengths) > 1:
        raise ValueError(f"tasks have different trial lengths n_steps={[t.n_steps for t in tasks]}; give every task "
                         "the same n_steps (one trial of T steps per training example).")
    return tasks


def task_keys(key: PRNGKeyArray, n_tasks: int) -> PRNGKeyArray:
    """One independent key per task for the trial drawn with ``key``: fold_in(key, m)."""
    return jax.vmap(lambda m: jax.random.fold_in(key, m))(jnp.arange(n_tasks))


def _offsets(sizes):
    out, total = [], 0
    for s in sizes:
        out.append(total)
        total += s
    return out, total


class Readout(eqx.Module):
    """Abstract output constraint (module docstring)."""

    @abc.abstractmethod
    def layout(self, tasks: Sequence[Task]) -> tuple[int, int]:
        """(d_in, d_out) of the combined channels, without a task cue."""

    @abc.abstractmethod
    def trial(self, tasks: Sequence[Task], key: PRNGKeyArray, task: Int[Array, ""]) -> Trial:
        """The trial of task ``task`` (traced index) on the combined channels."""

    @property
    def name(self) -> str:
        return type(self).__name__.removesuffix("Readout").lower()

    @property
    def uses_task_index(self) -> bool:
        """False when every trial holds every task (parallel)."""
        return True


def _select(trials: Sequence[Trial], task):
    return jax.tree.map(lambda *xs: jnp.stack(xs)[task], *trials)


class SharedReadout(Readout):
    """Every task on the same channels, zero-padded to the largest task (module docstring)."""

    def layout(self, tasks):
        return max(t.d_in for t in tasks), max(t.d_out for t in tasks)

    def trial(self, tasks, key, task):
        d_in, d_out = self.layout(tasks)
        keys = task_keys(key, len(tasks))
        padded = []
        for m, t in enumerate(tasks):
            tr = t.sample(keys[m])
            pad_in, pad_out = ((0, 0), (0, d_in - t.d_in)), ((0, 0), (0, d_out - t.d_out))
            padded.append(Trial(inputs=jnp.pad(tr.inputs, pad_in), targets=jnp.pad(tr.targets, pad_out),
                                mask=jnp.pad(tr.mask, pad_out)))
        return _select(padded, task)


class _Separate(Readout):
    def layout(self, tasks):
        return sum(t.d_in for t in tasks), sum(t.d_out for t in tasks)

    def placed(self, tasks, key) -> list[Trial]:
        """Every task's own draw, placed in its channel block (zeros elsewhere, mask only its block)."""
        in_off, d_in = _offsets([t.d_in for t in tasks])
        out_off, d_out = _offsets([t.d_out for t in tasks])
        keys = task_keys(key, len(tasks))
        out = []
        for m, t in enumerate(tasks):
            tr = t.sample(keys[m])
            T = t.n_steps
            inputs = jnp.zeros((T, d_in), tr.inputs.dtype).at[:, in_off[m]:in_off[m] + t.d_in].set(tr.inputs)
            targets = jnp.zeros((T, d_out), tr.targets.dtype).at[:, out_off[m]:out_off[m] + t.d_out].set(tr.targets)
            mask = jnp.zeros((T, d_out), tr.mask.dtype).at[:, out_off[m]:out_off[m] + t.d_out].set(tr.mask)
            out.append(Trial(inputs=inputs, targets=targets, mask=mask))
        return out

    def output_blocks(self, tasks) -> list[slice]:
        """The output columns of each task."""
        out_off, _ = _offsets([t.d_out for t in tasks])
        return [slice(o, o + t.d_out) for o, t in zip(out_off, tasks)]


class GatedReadout(_Separate):
    """Separate channels; loss only on the current task's outputs (module docstring)."""

    def trial(self, tasks, key, task):
        return _select(self.placed(tasks, key), task)


class OrthogonalReadout(_Separate):
    """Separate channels; the other tasks' outputs are trained to 0 (module docstring)."""

    def trial(self, tasks, key, task):
        tr = _select(self.placed(tasks, key), task)
        _, d_out = self.layout(tasks)
        blocks = jnp.stack([jnp.zeros((d_out,)).at[b].set(1.0) for b in self.output_blocks(tasks)])
        own = blocks[task].astype(tr.mask.dtype)  # 1 on the current task's outputs: keep its own mask there
        return Trial(inputs=tr.inputs, targets=tr.targets, mask=tr.mask + (1 - own))


class ParallelReadout(_Separate):
    """Separate channels; every task in every trial (module docstring)."""

    @property
    def uses_task_index(self):
        return False

    def trial(self, tasks, key, task):
        del task
        return jax.tree.map(lambda *xs: sum(xs), *self.placed(tasks, key))
