"""ntajax's own flexible/forgetful classifier (not from the paper).

The paper defines no threshold between the flexible and the forgetful regime; its phase diagram
(FIGURES.md Fig. 5, "No threshold") shows the continuous total alignment. ntajax adds a classifier
for convenience, and any figure or table that uses it must label it as ntajax's:

* **Gate separation** (defined here). At the last record of each block, with m the current
  teacher and π(m) its assigned path,

      sep = (c_{π(m)} − max_{p≠π(m)} c_p) / max_p |c_p|,

  averaged over the last ``n_last_blocks`` (default 2) blocks whose task is a base teacher. It is 1
  for one-hot gates on the assigned path, 0 for equal gates, negative when another path's gate
  is larger; it lies in [−1, 1] for non-negative gates (in [−2, 2] in general).
* **Regime.** flexible (1) when the final total alignment (§7.5) is ≥ 0.9 and the gate separation
  is ≥ 0.5, forgetful (0) otherwise; **undefined (−2)** where the gate separation is NaN — a
  student without one gate per path (the two-layer network, whose W2 has no per-path gate; the
  per-neuron student, see below), or a run
  with no block of a base teacher — rather than a silent "forgetful". A NaN alignment (a
  diverged run) counts as forgetful; sweeps label diverged runs −1 from their status. Both
  thresholds are parameters; the defaults are ntajax's choice, not the paper's.

Per-neuron gating (one gate per path and output row) specialises row by row, with a path-to-teacher
assignment of its own in every row (MODEL §7.9), which the whole-path assignment of the total
alignment does not see; its regime is "undefined" here rather than a wrong "forgetful".
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from ._blocks import last_valid

FLEXIBLE = 1
FORGETFUL = 0
DIVERGED = -1
"""The regime label of a run that diverged (set by the summaries, not by :func:`classify_regime`)."""
UNDEFINED = -2


@eqx.filter_jit
def gate_separation(
    gates: Float[ArrayLike, "T P"],
    task_index: Int[ArrayLike, " T"],
    pi: Int[ArrayLike, " M"],
    *,
    block_index: Int[ArrayLike, " T"] | None = None,
    n_last_blocks: int = 2,
    eps: float = 1e-12,
) -> Float[Array, ""]:
    """How one-hot and task-specific the gates are at the end of the last blocks (ntajax's own).

    Args:
        gates: scalar gates of shape (T, P), P ≥ 2.
        task_index: the recorded task (teacher index) at each time, shape (T,). Records whose task
            is not a base teacher (index ≥ M, i.e. a composite, or < 0) are ignored.
        pi: assignment teachers → paths, shape (M,).
        block_index: block number at each record, shape (T,). If None, blocks are the runs of
            constant ``task_index``; pass it when consecutive blocks can share a task.
        n_last_blocks: number of final blocks averaged (static or traced int).
        eps: added to max_p |c_p| before dividing.

    Returns:
        Scalar separation; NaN if no block qualifies.
    """
    gates = jnp.asarray(gates)
    task_index = jnp.asarray(task_index)
    pi = jnp.asarray(pi)
    n_paths = gates.shape[-1]
    if gates.ndim != 2 or n_paths < 2:
        raise ValueError(
            f"gate_separation needs scalar gates of shape (T, P) with P >= 2, got {gates.shape}."
        )
    block = task_index if block_index is None else jnp.asarray(block_index)
    is_last_of_block = jnp.concatenate([block[1:] != block[:-1], jnp.ones(1, dtype=bool)])
    is_base = (task_index >= 0) & (task_index < pi.shape[0])
    on_path = pi[jnp.clip(task_index, 0, pi.shape[0] - 1)]  # (T,)
    is_on = jnp.arange(n_paths)[None, :] == on_path[:, None]  # (T, P)
    on = jnp.sum(jnp.where(is_on, gates, 0.0), axis=-1)
    off = jnp.max(jnp.where(is_on, -jnp.inf, gates), axis=-1)
    separation = (on - off) / (jnp.max(jnp.abs(gates), axis=-1) + eps)
    selected = last_valid(is_last_of_block & is_base, n_last_blocks)
    return jnp.sum(jnp.where(selected, separation, 0.0)) / jnp.sum(selected)


@eqx.filter_jit
def classify_regime(
    final_alignment: Float[ArrayLike, "*batch"],
    gate_separation: Float[ArrayLike, "*batch"],
    *,
    alignment_threshold: float = 0.9,
    separation_threshold: float = 0.5,
) -> Int[Array, "*batch"]:
    """ntajax's flexible/forgetful classifier: 1 (flexible), 0 (forgetful) or −2 (undefined); not the paper's.

    Args:
        final_alignment: total alignment A_tot(t_tot) (§7.5), any shape (e.g. seeds × grid cells).
        gate_separation: the output of ``gate_separation``, broadcasting with ``final_alignment``.
        alignment_threshold: minimum final alignment of a flexible run.
        separation_threshold: minimum gate separation of a flexible run.

    Returns:
        int32 array of the broadcast shape: ``FLEXIBLE`` (1) where both values reach their
        thresholds, ``UNDEFINED`` (−2) where the gate separation is NaN (no gate criterion
        applies), ``FORGETFUL`` (0) elsewhere (a NaN alignment included).
    """
    separation = jnp.asarray(gate_separation)
    flexible = (jnp.asarray(final_alignment) >= alignment_threshold) & (separation >= separation_threshold)
    label = jnp.where(flexible, FLEXIBLE, FORGETFUL)
    return jnp.where(jnp.isnan(separation), UNDEFINED, label).astype(jnp.int32)

