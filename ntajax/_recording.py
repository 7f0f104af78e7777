"""What is recorded at each save point (MODEL §5.5)."""

from typing import TYPE_CHECKING

import jax.numpy as jnp
from jaxtyping import Array, Float

from ._dynamics import target_from_weights
from ._losses import task_loss
from .metrics import row_cosine, similarity_matrix

if TYPE_CHECKING:
    from ._config import Config
    from ._students.linear import Student


def record(
    student: "Student",
    *,
    t: Float[Array, ""],
    block,
    weights: Float[Array, " n_targets"],
    previous_weights: Float[Array, " n_targets"],
    teachers: Float[Array, "n_targets d_out d_in"],
    input_covariance: Float[Array, "d_in d_in"] | None,
    config: "Config",
) -> dict:
    """One save point: the state before the update of that step (MODEL §5.5).

    ``previous_weights`` are the curriculum weights of the step before; the loss against
    them (``closing_loss``) is the loss of the block that ends at this time, which differs
    from ``loss`` only at a switch. A run read out early (a sweep point of N blocks) uses it.
    """
    target = target_from_weights(weights, teachers)
    w_eff = student.effective_map()
    paths = student.path_weights()
    minibatch = jnp.nan if input_covariance is None else task_loss(w_eff, target, input_covariance)
    out = dict(
        t=jnp.asarray(t, config.float_dtype),
        block=jnp.asarray(block, jnp.int32),
        task=jnp.argmax(weights).astype(jnp.int32),
        loss=task_loss(w_eff, target),
        closing_loss=task_loss(w_eff, target_from_weights(previous_weights, teachers)),
        minibatch_loss=jnp.asarray(minibatch, config.float_dtype),
        gates=student.gate_vector(),
        path_norms=jnp.sqrt(jnp.sum(paths**2, axis=(1, 2))),
        similarity=similarity_matrix(teachers[: config.n_teachers], paths),
        context_alignment=row_cosine(target, w_eff),
    )
    return out
