"""Task loss and regularisers (MODEL §4).

Task loss (§4.1), with E = W*(t) − W_eff and Σ̂ = (1/B) Σ_b x_b x_bᵀ:

    L̂_task = ½ tr(E Σ̂ Eᵀ)          (minibatch; summed over outputs, averaged over the batch)
    L_task = ½ ‖E‖²_F               (expectation for x ~ N(0, I), i.e. Σ̂ = I)

Regulariser (clean form, §4.2), on the flattened gate vector c:

    R = λ_norm·½(‖c‖_k − 1)² + λ_nonneg·Σ_j max(0, −c_j) + λ_W·(1/(P·d_in)) Σ_{p,j} ‖W_p[:, j]‖₂

The norms are given custom derivatives so that autodiff returns exactly the spec's
subgradients, including the zero subgradient at the kinks (c_j = 0, zero vectors).
"""

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

if TYPE_CHECKING:
    from ._config import Config
    from ._students.linear import Student


def task_loss(
    w_eff: Float[Array, "d_out d_in"],
    target: Float[Array, "d_out d_in"],
    input_covariance: Float[Array, "d_in d_in"] | None = None,
) -> Float[Array, ""]:
    """½ tr(E Σ̂ Eᵀ) with E = target − w_eff; ``None`` means Σ̂ = I (expected loss, §4.1)."""
    residual = target - w_eff
    if input_covariance is None:
        return 0.5 * jnp.sum(residual**2)
    return 0.5 * jnp.sum((residual @ input_covariance) * residual)


@jax.custom_jvp
def l1_norm(c: Float[Array, " n"]) -> Float[Array, ""]:
    """‖c‖₁ with derivative sign(c) (zero at c_j = 0)."""
    return jnp.sum(jnp.abs(c))


@l1_norm.defjvp
def _l1_norm_jvp(primals, tangents):
    (c,), (dc,) = primals, tangents
    return l1_norm(c), jnp.sum(jnp.sign(c) * dc)


@jax.custom_jvp
def l2_norm(v: Float[Array, "..."]) -> Float[Array, ""]:
    """‖v‖₂ over all entries, with derivative v/‖v‖₂ (zero at v = 0)."""
    return jnp.sqrt(jnp.sum(v**2))


@l2_norm.defjvp
def _l2_norm_jvp(primals, tangents):
    (v,), (dv,) = primals, tangents
    norm = l2_norm(v)
    safe = jnp.where(norm > 0, norm, 1.0)
    return norm, jnp.where(norm > 0, jnp.sum(v * dv) / safe, 0.0)


def gate_norm(c: Float[Array, " n"], norm_order: int) -> Float[Array, ""]:
    """‖c‖_k for k ∈ {1, 2}."""
    return l1_norm(c) if norm_order == 1 else l2_norm(c)


def gate_regulariser(
    c: Float[Array, " n"], *, lambda_norm, lambda_nonneg, norm_order: int
) -> Float[Array, ""]:
    """λ_norm·½(‖c‖_k − 1)² + λ_nonneg·Σ_j max(0, −c_j) (MODEL §4.2).

    The non-negativity term is linear (a constant restoring force λ_nonneg on every
    negative gate); ``jax.nn.relu`` has derivative 0 at 0, the spec's kink convention.
    """
    norm_term = 0.5 * (gate_norm(c, norm_order) - 1.0) ** 2
    nonneg_term = jnp.sum(jax.nn.relu(-c))
    return lambda_norm * norm_term + lambda_nonneg * nonneg_term


def column_norm_penalty(paths: Float[Array, "paths rows d_in"], *, lambda_w) -> Float[Array, ""]:
    """λ_W · mean over paths p and input columns j of ‖W_p[:, j]‖₂, not squared (MODEL §4.2)."""
    column_norms = jax.vmap(jax.vmap(l2_norm, in_axes=1))(paths)
    return lambda_w * jnp.mean(column_norms)


def regulariser(student: "Student", config: "Config") -> Float[Array, ""]:
    """The full clean regulariser R(θ) of MODEL §4.2 for any student."""
    r = gate_regulariser(
        student.gate_vector(),
        lambda_norm=config.lambda_norm,
        lambda_nonneg=config.lambda_nonneg,
        norm_order=config.norm_order,
    )
    return r + column_norm_penalty(student.path_weights(), lambda_w=config.lambda_w)


def total_loss(
    student: "Student",
    target: Float[Array, "d_out d_in"],
    input_covariance: Float[Array, "d_in d_in"] | None,
    config: "Config",
) -> Float[Array, ""]:
    """L = L_task + R, the objective whose negative gradient drives the dynamics (MODEL §5.1)."""
    return task_loss(student.effective_map(), target, input_covariance) + regulariser(student, config)
