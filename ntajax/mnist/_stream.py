"""Per-task minibatch streams without replacement (MODEL §2.5, data stream).

Each task m has its own stream over the n training examples. Its batch counter n_m counts
the batches it has served and resumes when the task returns after another task's block.
Batch n_m belongs to epoch e = ⌊n_m/K⌋ at position j = n_m mod K, with K = ⌊n/B⌋ batches
per epoch (the last n − K·B examples of each epoch's order are not used). Epoch e reads
the order ``permutation(fold_in(key_m, e), n)``: the key advances every epoch, so every
epoch is reshuffled (the original never advanced it, MODEL §8.16), and within an epoch
every example is drawn at most once.

The order of the current epoch is carried in the state and recomputed only at the first
batch of an epoch (``lax.cond``). The counters depend only on the schedule, not on the
seed, so under ``vmap`` over seeds the condition stays unbatched and the shuffle really
runs once per epoch.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Int, PRNGKeyArray


class StreamState(eqx.Module):
    """Counters and current epoch orders of the task streams.

    Attributes:
        count: (n_tasks,) int32, batches served so far by each task's stream.
        order: (n_tasks, n) int32, the current epoch's order of each stream.
    """

    count: Int[Array, " tasks"]
    order: Int[Array, "tasks n"]

    @classmethod
    def initial(cls, n_tasks: int, n: int) -> "StreamState":
        """Fresh streams: no batch served yet (the first batch computes the epoch-0 order)."""
        return cls(count=jnp.zeros((n_tasks,), jnp.int32), order=jnp.zeros((n_tasks, n), jnp.int32))


def epoch_order(key: PRNGKeyArray, epoch: Int[Array, ""], n: int) -> Int[Array, " n"]:
    """The order of epoch ``epoch`` of the stream with key ``key``: a permutation of 0…n−1."""
    return jr.permutation(jr.fold_in(key, epoch), n).astype(jnp.int32)


def next_batch(
    state: StreamState, task: Int[Array, ""], keys: PRNGKeyArray, batch_size: int
) -> tuple[Int[Array, " batch"], StreamState]:
    """The next batch of task ``task``'s stream and the advanced state.

    Args:
        state: the streams.
        task: index of the active task (scalar int).
        keys: (n_tasks,) stream keys, one per task.
        batch_size: B; must be ≤ n.

    Returns:
        (indices (B,) into the training set, new state).
    """
    n = state.order.shape[1]
    if batch_size > n:
        raise ValueError(f"batch_size={batch_size} exceeds the {n} training examples of the stream; use a smaller batch.")
    per_epoch = n // batch_size
    count = state.count[task]
    epoch, position = count // per_epoch, count % per_epoch
    order = jax.lax.cond(position == 0, lambda: epoch_order(keys[task], epoch, n), lambda: state.order[task])
    indices = jax.lax.dynamic_slice_in_dim(order, position * batch_size, batch_size)
    return indices, StreamState(count=state.count.at[task].add(1), order=state.order.at[task].set(order))
