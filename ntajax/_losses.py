"""Task loss and regularisers (MODEL §4).

Task loss (§4.1), with E = W*(t) − W_eff and Σ̂ = (1/B) Σ_b x_b x_bᵀ:

    L̂_task = ½ tr(E Σ̂ Eᵀ)          (minibatch; summed over outputs, averaged over the batch)
    L_task = ½ ‖E‖²_F               (expectation for x ~ N(0, I), i.e. Σ̂ = I)

Regulariser (clean form, §4.2), on the flattened gate vector c:

    R = λ_norm·½(‖c‖_k − 1)² + λ_nonneg·Σ_j max(0, −c_j) + λ_W·(1/(P·d_in)) Σ_{p,j} ‖W_p[:, j]‖₂

The norms are given custom derivatives so that autodiff returns exactly the spec's
subgradients, including the zero subgradient at the kinks (c_j = 0, zero vectors).
"""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._parameters import check_non_negative, scalar_fields, traced
from ._students.base import Student


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


class Regulariser(eqx.Module):
    """The clean regulariser R(θ) of MODEL §4.2, with its coefficients as traced leaves.

    R = λ_norm·½(‖c‖_k − 1)² + λ_nonneg·Σ_j max(0, −c_j) + λ_W·(1/(P·d_in)) Σ_{p,j} ‖W_p[:, j]‖₂,

    on the student's gate vector c and path weights W_p. The original's single λ with term
    weights converts to these coefficients as the sweep axis :class:`ntajax.OriginalLambda` does (§4.3).

    Args:
        lambda_norm: λ_norm, strength of the gate-norm term.
        lambda_nonneg: λ_nonneg, strength of the linear non-negativity term.
        lambda_w: λ_W, strength of the W column penalty (not squared).
        norm_order: k of ‖c‖_k, 1 or 2 (static).
    """

    lambda_norm: Float[Array, ""] = eqx.field(default=0.0, converter=traced)
    lambda_nonneg: Float[Array, ""] = eqx.field(default=0.0, converter=traced)
    lambda_w: Float[Array, ""] = eqx.field(default=0.0, converter=traced)
    norm_order: int = eqx.field(static=True, default=1)

    def __check_init__(self):
        if self.norm_order not in (1, 2):
            raise ValueError(f"Regulariser: norm_order={self.norm_order!r} must be 1 or 2 (the k of ‖c‖_k, MODEL §4.2).")
        self.check_values(scalar_fields(self))

    def check_values(self, values: dict[str, float | None]) -> None:
        """Check concrete coefficient values (a sweep point's, or this regulariser's own)."""
        for name in ("lambda_norm", "lambda_nonneg", "lambda_w"):
            check_non_negative("Regulariser", name, values.get(name))

    def replace(self, **changes) -> "Regulariser":
        """A copy with some fields changed (re-validated)."""
        return dataclasses.replace(self, **changes)

    def gates(self, c: Float[Array, " n"]) -> Float[Array, ""]:
        """The gate terms λ_norm·½(‖c‖_k − 1)² + λ_nonneg·Σ_j max(0, −c_j)."""
        return gate_regulariser(c, lambda_norm=self.lambda_norm, lambda_nonneg=self.lambda_nonneg, norm_order=self.norm_order)

    def __call__(self, student: Student) -> Float[Array, ""]:
        """R(θ) for any student (students without gates or paths get only the terms that apply)."""
        r = self.gates(student.gate_vector())
        paths = student.path_weights()
        if paths is None:
            return r
        return r + column_norm_penalty(paths, lambda_w=self.lambda_w)


def total_loss(
    student: Student,
    target: Float[Array, "d_out d_in"],
    input_covariance: Float[Array, "d_in d_in"] | None,
    regulariser: Regulariser,
) -> Float[Array, ""]:
    """L = L_task + R, the objective whose negative gradient drives the dynamics (MODEL §5.1)."""
    return task_loss(student.effective_map(), target, input_covariance) + regulariser(student)
