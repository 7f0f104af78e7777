"""Gradient modes: what input statistics a step sees (MODEL §5.2).

For the linear students the minibatch loss depends on the batch X (B×d_in) only through
the input covariance Σ̂ = XᵀX/B, so a mode is just a way of producing Σ̂ for step i:

* :class:`ExpectedGradient` — Σ̂ = I, the deterministic expected-gradient flow.
* :class:`SampledGradient` — a fresh Gaussian batch per step, key ``fold_in(data_key, i)``.
  ``method="wishart"`` (default when B > d_in) draws Σ̂ directly from its exact law
  Wishart_d(I, B)/B with the Bartlett decomposition (d(d+1)/2 numbers instead of B·d);
  ``method="batch"`` draws X itself. Both give the exact minibatch-gradient distribution.
"""

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


class GradientMode(eqx.Module):
    """Abstract gradient mode."""

    name: ClassVar[str]
    is_sampled: ClassVar[bool]

    @abc.abstractmethod
    def input_covariance(self, key: PRNGKeyArray, d_in: int, batch_size: int) -> Float[Array, "d_in d_in"] | None:
        """Σ̂ for one step, or ``None`` for the identity (expected gradient)."""


class ExpectedGradient(GradientMode):
    """Expected gradient over x ~ N(0, I): Σ̂ = I (MODEL §5.2, mode 2)."""

    name: ClassVar[str] = "expected"
    is_sampled: ClassVar[bool] = False

    def input_covariance(self, key, d_in, batch_size):
        del key, d_in, batch_size
        return None


def gamma_marsaglia_tsang(key: PRNGKeyArray, alpha: Float[Array, "..."]) -> Float[Array, "..."]:
    """Gamma(α, 1) variates for α ≥ 1 by Marsaglia & Tsang's (2000) squeeze method.

    Exact in law: a rejected candidate is redrawn (keys ``fold_in(key, attempt)``). For the
    large α of a Wishart diagonal (α ≈ B/2) acceptance exceeds 99.9 %, so the redraw loop
    almost never runs; this is several times faster than ``jax.random.gamma``'s per-element
    loop on CPU.
    """
    d = alpha - 1.0 / 3.0
    c = 1.0 / jnp.sqrt(9.0 * d)

    def attempt(k):
        k_normal, k_uniform = jax.random.split(k)
        x = jax.random.normal(k_normal, alpha.shape)
        u = jax.random.uniform(k_uniform, alpha.shape)
        v = (1.0 + c * x) ** 3
        positive = v > 0
        log_v = jnp.log(jnp.where(positive, v, 1.0))
        accept = positive & (jnp.log(u) < 0.5 * x * x + d - d * v + d * log_v)
        return d * v, accept

    value, accepted = attempt(jax.random.fold_in(key, 0))

    def redraw(state):
        value, accepted, n = state
        new, new_accepted = attempt(jax.random.fold_in(key, n))
        return jnp.where(accepted, value, new), accepted | new_accepted, n + 1

    value, _, _ = jax.lax.while_loop(lambda s: ~jnp.all(s[1]), redraw, (value, accepted, jnp.int32(1)))
    return value


def wishart_covariance(key: PRNGKeyArray, d_in: int, batch_size: int) -> Float[Array, "d_in d_in"]:
    """Σ̂ = XᵀX/B for X with i.i.d. N(0, 1) entries, drawn via Bartlett's decomposition.

    XᵀX ~ Wishart_d(I, B) equals A Aᵀ in law, where A is lower triangular with
    A_ii = √χ²_{B−i} (i = 0 … d−1) and A_ij ~ N(0, 1) below the diagonal. Requires B > d
    (χ²_ν = 2·Gamma(ν/2) with ν/2 ≥ 1).
    """
    k_diag, k_low = jax.random.split(key)
    dof = batch_size - jnp.arange(d_in, dtype=jnp.float32)
    diag = jnp.sqrt(2.0 * gamma_marsaglia_tsang(k_diag, dof / 2))
    lower = jnp.tril(jax.random.normal(k_low, (d_in, d_in)), k=-1)
    a = lower + jnp.diag(diag)
    return (a @ a.T) / batch_size


def batch_covariance(key: PRNGKeyArray, d_in: int, batch_size: int) -> Float[Array, "d_in d_in"]:
    """Σ̂ = XᵀX/B from an explicitly drawn batch X (B, d_in) of N(0, 1) entries."""
    x = jax.random.normal(key, (batch_size, d_in))
    return (x.T @ x) / batch_size


class SampledGradient(GradientMode):
    """Fresh Gaussian minibatch of size B at every step (MODEL §5.2, mode 1).

    Args:
        method: ``"wishart"`` (draw Σ̂ from its exact law; needs B > d_in, otherwise the
            batch is drawn) or ``"batch"`` (draw X explicitly).
    """

    method: str = "wishart"
    name: ClassVar[str] = "sampled"
    is_sampled: ClassVar[bool] = True

    def __check_init__(self):
        if self.method not in ("wishart", "batch"):
            raise ValueError(f"SampledGradient(method={self.method!r}) must be 'wishart' or 'batch'.")

    def input_covariance(self, key, d_in, batch_size):
        if self.method == "wishart" and batch_size >= d_in + 1:
            return wishart_covariance(key, d_in, batch_size)
        return batch_covariance(key, d_in, batch_size)


GRADIENT_MODES: dict[str, GradientMode] = {"expected": ExpectedGradient(), "sampled": SampledGradient()}
