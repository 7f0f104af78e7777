"""What is recorded at each save point (MODEL §5.5): the options and the record itself."""

import dataclasses
from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._dynamics import target_from_weights
from ._gradient import NoisyBatch
from ._losses import task_loss
from ._students.base import LinearStudent
from .metrics import row_cosine, similarity_matrix


class Recording(eqx.Module):
    """What a run records besides the per-save-point records of :func:`record` (static).

    Args:
        weights: also record the full weights (the whole student state) ...
        weights_every: ... at every ``weights_every``-th save point (t = 0 and t_total always
            included); must divide n_save − 1. Coarser than the other records, to bound memory.
        n_blocks: length of the per-block outputs of the summaries; default ⌈t_total/τ_B⌉. A
            sweep over block lengths sets it to the largest count.
    """

    weights: bool = eqx.field(static=True, default=False)
    weights_every: int = eqx.field(static=True, default=1)
    n_blocks: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if not isinstance(self.weights, bool):
            raise TypeError(f"Recording: weights={self.weights!r} must be True or False.")
        if isinstance(self.weights_every, bool) or not isinstance(self.weights_every, int) or self.weights_every < 1:
            raise ValueError(f"Recording: weights_every={self.weights_every!r} must be a positive integer.")
        if self.n_blocks is not None and (isinstance(self.n_blocks, bool) or not isinstance(self.n_blocks, int)
                                          or self.n_blocks < 1):
            raise ValueError(f"Recording: n_blocks={self.n_blocks!r} must be a positive integer or None.")

    def replace(self, **changes) -> "Recording":
        """A copy with some fields changed (re-validated)."""
        return dataclasses.replace(self, **changes)


def noisy_loss(loss: Float[Array, ""], noise: Float[Array, ""] | None, d_out: int) -> Float[Array, ""]:
    """An expected loss with the teacher-noise floor ½σ²·d_out added (``loss`` itself without noise):
    the one place where recorded losses gain the floor (``TeacherSet.noise``)."""
    return loss if noise is None else loss + 0.5 * noise**2 * d_out


def make_record(
    *,
    t: Float[Array, ""],
    block,
    weights: Float[Array, " n_targets"],
    previous_weights: Float[Array, " n_targets"],
    teachers: Float[Array, "n_targets d_out d_in"],
    loss_against: Callable[[Float[Array, " n_targets"]], Float[Array, ""]],
    effective_map: Float[Array, "d_out d_in"],
    gates: Float[Array, " G"],
    path_norms: Float[Array, " P"],
    similarity: Float[Array, "M P"],
    minibatch_loss,
    dtype,
) -> dict:
    """The ONE layout of a save point's record (the fields of :class:`ntajax.Trajectory`, MODEL §5.5),
    from what an engine knows about its student.

    Args:
        t, block: time and active block of the save point.
        weights, previous_weights: curriculum weights of this step and of the step before.
        teachers: (n_targets, d_out, d_in).
        loss_against: expected loss of the student against the target of given curriculum
            weights (``loss`` uses ``weights``, ``closing_loss`` ``previous_weights``: the loss of
            the block that ends at this time, which differs from ``loss`` only at a switch).
        effective_map: the map whose row cosine with the current target is the context alignment.
        gates, path_norms, similarity: the student's gate vector, ‖W_p‖_F per path and S_mp (§7.1).
        minibatch_loss: the minibatch loss of the step (NaN where there is none).
        dtype: dtype of times and the minibatch loss.
    """
    target = target_from_weights(weights, teachers)
    return dict(
        t=jnp.asarray(t, dtype),
        block=jnp.asarray(block, jnp.int32),
        task=jnp.argmax(weights).astype(jnp.int32),
        loss=loss_against(weights),
        closing_loss=loss_against(previous_weights),
        minibatch_loss=jnp.asarray(minibatch_loss, dtype),
        gates=gates,
        path_norms=path_norms,
        similarity=similarity,
        context_alignment=row_cosine(target, effective_map),
    )


def record(
    student: LinearStudent,
    *,
    t: Float[Array, ""],
    block,
    weights: Float[Array, " n_targets"],
    previous_weights: Float[Array, " n_targets"],
    teachers: Float[Array, "n_targets d_out d_in"],
    input_covariance,
    n_teachers: int,
    dtype,
    noise: Float[Array, ""] | None = None,
) -> dict:
    """One save point of a linear student: the state before the update of that step (MODEL §5.5),
    laid out by :func:`make_record`.

    The similarity matrix compares the paths with the ``n_teachers`` base teachers; the
    minibatch loss is the loss under ``input_covariance`` (NaN without one).

    With teacher output noise σ (``noise``; ``input_covariance`` is then a
    :class:`ntajax._gradient.NoisyBatch` in sampled mode) every loss includes the noise: ``loss``
    and ``closing_loss`` are ½‖W* − W_eff‖²_F + ½σ²·d_out (:func:`noisy_loss`), the minibatch loss
    is ½ tr(E Σ̂ Eᵀ) + σ⟨E, N⟩ + ½σ² s of the step's batch.
    """
    w_eff = student.effective_map()
    paths = student.path_weights()
    target = target_from_weights(weights, teachers)
    if input_covariance is None:
        minibatch = jnp.nan
    elif isinstance(input_covariance, NoisyBatch):
        batch = input_covariance
        minibatch = (task_loss(w_eff, target, batch.covariance) + noise * jnp.sum((target - w_eff) * batch.cross)
                     + 0.5 * noise**2 * batch.energy)
    else:
        minibatch = task_loss(w_eff, target, input_covariance)
    return make_record(
        t=t, block=block, weights=weights, previous_weights=previous_weights, teachers=teachers,
        loss_against=lambda w: noisy_loss(task_loss(w_eff, target_from_weights(w, teachers)), noise, w_eff.shape[0]),
        effective_map=w_eff,
        gates=student.gate_vector(),
        path_norms=jnp.sqrt(jnp.sum(paths**2, axis=(1, 2))),
        similarity=similarity_matrix(teachers[:n_teachers], paths),
        minibatch_loss=minibatch,
        dtype=dtype,
    )
