"""Gradient modes: what input statistics a step sees (MODEL §5.2).

For the linear students the minibatch loss depends on the batch X (B×d_in) only through
the input covariance Σ̂ = XᵀX/B, so a mode is just a way of producing Σ̂ for step i:

* :class:`ExpectedGradient` — Σ̂ = I, the deterministic expected-gradient flow.
* :class:`SampledGradient` — a fresh Gaussian batch per step, key ``fold_in(data_key, i)``.
  ``method="wishart"`` (default when B > d_in) draws Σ̂ directly from its exact law
  Wishart_d(I, B)/B with the Bartlett decomposition (d(d+1)/2 numbers instead of B·d);
  ``method="batch"`` draws X itself. Both give the exact minibatch-gradient distribution.

With teacher output noise σ (targets y = W* x + σ ε, ``TeacherSet.noise``) a step also needs the
noise statistics of its batch, :class:`NoisyBatch`: the cross term N = (1/B) Σ_b ε_b x_bᵀ and
the noise energy s = (1/B) Σ_b ‖ε_b‖². Given X, each row of N is N(0, Σ̂/B); with Σ̂ = F Fᵀ
(Bartlett) N = Z Fᵀ/√B for Z (d_out × d_in) standard normal, and s = (‖Z‖²_F + χ²_{d_out(B−d_in)})/B
(the part of ε in the column space of X is Z, the rest an independent χ²), so the exact joint law
is drawn without materialising the batch. The minibatch gradient is then G = E Σ̂ + σ N with
E = W* − W_eff, and the minibatch loss ½ tr(E Σ̂ Eᵀ) + σ⟨E, N⟩ + ½σ² s.
"""

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


class NoisyBatch(eqx.Module):
    """The statistics of one minibatch with teacher output noise (module docstring).

    Attributes:
        covariance: Σ̂ = XᵀX/B, (d_in, d_in).
        cross: N = (1/B) Σ_b ε_b x_bᵀ, (d_out, d_in).
        energy: s = (1/B) Σ_b ‖ε_b‖², ().
    """

    covariance: Float[Array, "d_in d_in"]
    cross: Float[Array, "d_out d_in"]
    energy: Float[Array, ""]


class GradientMode(eqx.Module):
    """Abstract gradient mode."""

    name: ClassVar[str]
    is_sampled: ClassVar[bool]

    @abc.abstractmethod
    def input_covariance(self, key: PRNGKeyArray, d_in: int) -> Float[Array, "d_in d_in"] | None:
        """Σ̂ for one step, or ``None`` for the identity (expected gradient)."""


class ExpectedGradient(GradientMode):
    """Expected gradient over x ~ N(0, I): Σ̂ = I (MODEL §5.2, mode 2)."""

    name: ClassVar[str] = "expected"
    is_sampled: ClassVar[bool] = False

    def input_covariance(self, key, d_in):
        del key, d_in
        return None


def _marsaglia_tsang_candidate(alpha, x, u):
    """One Marsaglia–Tsang candidate d·v for Gamma(α, 1) from x ~ N(0, 1), u ~ U(0, 1), and
    whether it is accepted."""
    d = alpha - 1.0 / 3.0
    c = 1.0 / jnp.sqrt(9.0 * d)
    v = (1.0 + c * x) ** 3
    positive = v > 0
    log_v = jnp.log(jnp.where(positive, v, 1.0))
    accept = positive & (jnp.log(u) < 0.5 * x * x + d - d * v + d * log_v)
    return d * v, accept


def normals_and_uniforms(key: PRNGKeyArray, n_normal: int, n_uniform: int, dtype=jnp.float32):
    """``n_normal`` N(0, 1) and ``n_uniform`` U[0, 1) variates from ONE call to the bit generator.

    The conversions are those of ``jax.random``: mantissa bits to [1, 2) minus 1 for uniforms,
    and √2·erfinv(u) with u uniform on (−1, 1) for normals. Drawing all bits at once keeps the
    compiled program small (each ``jax.random`` call inlines its own threefry rounds).
    """
    dtype = jnp.dtype(dtype)
    if dtype == jnp.float64:
        bits, shift, one = jax.random.bits(key, (n_normal + n_uniform,), jnp.uint64), 64 - 52, 0x3FF0000000000000
        uint = jnp.uint64
    else:
        bits, shift, one = jax.random.bits(key, (n_normal + n_uniform,), jnp.uint32), 32 - 23, 0x3F800000
        uint = jnp.uint32
    mantissa = jax.lax.shift_right_logical(bits, uint(shift)) | uint(one)
    unit = jax.lax.bitcast_convert_type(mantissa, dtype) - 1.0  # [0, 1)
    low = jnp.nextafter(jnp.asarray(-1.0, dtype), jnp.asarray(1.0, dtype))
    symmetric = jnp.maximum(low, unit[:n_normal] * (1.0 - low) + low)  # (−1, 1)
    return jnp.sqrt(jnp.asarray(2.0, dtype)) * jax.scipy.special.erfinv(symmetric), unit[n_normal:]


def gamma_marsaglia_tsang(
    key: PRNGKeyArray, alpha: Float[Array, "..."], first_normal=None, first_uniform=None
) -> Float[Array, "..."]:
    """Gamma(α, 1) variates for α ≥ 1 by Marsaglia & Tsang's (2000) squeeze method.

    Exact in law: a rejected candidate is redrawn (keys ``fold_in(key, attempt)``). For the
    large α of a Wishart diagonal (α ≈ B/2) acceptance exceeds 99.9 %, so the redraw loop
    almost never runs; this is several times faster than ``jax.random.gamma``'s per-element
    loop on CPU.

    Args:
        key: key of the draws (of the redraws only, when the first draws are given).
        alpha: shape parameters α ≥ 1.
        first_normal, first_uniform: optional N(0, 1) and U(0, 1) draws (shape of ``alpha``)
            for the first attempt, so a caller can draw them together with other numbers.
    """

    def attempt(k):
        x, u = normals_and_uniforms(k, alpha.size, alpha.size, alpha.dtype)
        return _marsaglia_tsang_candidate(alpha, x.reshape(alpha.shape), u.reshape(alpha.shape))

    if first_normal is None:
        value, accepted = attempt(jax.random.fold_in(key, 0))
    else:
        value, accepted = _marsaglia_tsang_candidate(alpha, first_normal, first_uniform)

    def redraw(state):
        value, accepted, n = state
        new, new_accepted = attempt(jax.random.fold_in(key, n))
        return jnp.where(accepted, value, new), accepted | new_accepted, n + 1

    value, _, _ = jax.lax.while_loop(lambda s: ~jnp.all(s[1]), redraw, (value, accepted, jnp.int32(1)))
    return value


def _fill_lower(x: Float[Array, " m"], n: int) -> Float[Array, "n n"]:
    """Place the m = n(n+1)/2 entries of ``x`` in the lower triangle of an n×n matrix, each once.

    A reshape of [x[n:], reverse(x)] keeps every entry of x exactly once on or below the
    diagonal; it is a fixed bijection built from a concatenation, a reshape and a select,
    which XLA fuses into one loop (a scatter or gather is several times slower on CPU).
    """
    return jnp.tril(jnp.concatenate([x[n:], x[::-1]]).reshape(n, n))


def wishart_factor(key: PRNGKeyArray, d_in: int, batch_size: int, dtype=jnp.float32) -> Float[Array, "d_in d_in"]:
    """A lower-triangular F with F Fᵀ distributed as Σ̂ = XᵀX/B (Bartlett's decomposition).

    XᵀX ~ Wishart_d(I, B) equals A Aᵀ in law, where A is lower triangular with
    A_ii = √χ²_{B−i} (i = 0 … d−1) and A_ij ~ N(0, 1) below the diagonal; F = A/√B. Exactly
    d(d+1)/2 normals and d uniforms are drawn in one call: the d normals that land on the diagonal are the
    normal draws of the χ² candidates (Marsaglia–Tsang; a rejected candidate, probability
    < 10⁻³ at B = 200, is redrawn). Requires B > d (χ²_ν = 2·Gamma(ν/2) with ν/2 ≥ 1).
    """
    k_draw, k_redraw = jax.random.split(key)
    normals, uniforms = normals_and_uniforms(k_draw, d_in * (d_in + 1) // 2, d_in, dtype)
    lower = _fill_lower(normals, d_in)
    on_diagonal = lower.reshape(-1)[:: d_in + 1]
    dof = batch_size - jnp.arange(d_in, dtype=dtype)
    chi2 = 2.0 * gamma_marsaglia_tsang(k_redraw, dof / 2, on_diagonal, uniforms)
    a = jnp.where(jnp.eye(d_in, dtype=bool), jnp.sqrt(chi2)[:, None], lower)
    return a / jnp.sqrt(jnp.asarray(batch_size, dtype))


def _chi2(key: PRNGKeyArray, dof: int, dtype) -> Float[Array, ""]:
    """One χ²_dof variate (dof ≥ 1, static) as 2·Gamma(dof/2): Marsaglia–Tsang for dof/2 ≥ 1, and
    Gamma(α) = Gamma(α + 1)·U^{1/α} for α = ½."""
    alpha = dof / 2
    k_gamma, k_boost = jax.random.split(key)
    if alpha >= 1:
        return 2.0 * gamma_marsaglia_tsang(k_gamma, jnp.asarray(alpha, dtype))
    u = jax.random.uniform(k_boost, (), dtype)
    return 2.0 * gamma_marsaglia_tsang(k_gamma, jnp.asarray(alpha + 1, dtype)) * u ** (1 / alpha)


def wishart_covariance(key: PRNGKeyArray, d_in: int, batch_size: int) -> Float[Array, "d_in d_in"]:
    """Σ̂ = XᵀX/B for X with i.i.d. N(0, 1) entries, drawn via Bartlett's decomposition
    (:func:`wishart_factor`): Σ̂ = F Fᵀ. Requires B > d."""
    f = wishart_factor(key, d_in, batch_size)
    return f @ f.T


def batch_covariance(key: PRNGKeyArray, d_in: int, batch_size: int) -> Float[Array, "d_in d_in"]:
    """Σ̂ = XᵀX/B from an explicitly drawn batch X (B, d_in) of N(0, 1) entries."""
    x = jax.random.normal(key, (batch_size, d_in))
    return (x.T @ x) / batch_size


class SampledGradient(GradientMode):
    """Fresh Gaussian minibatch of size B at every step (MODEL §5.2, mode 1).

    Args:
        batch_size: B, samples per step (static).
        method: ``"wishart"`` (draw Σ̂ from its exact law; needs B > d_in, otherwise the
            batch is drawn) or ``"batch"`` (draw X explicitly).
    """

    batch_size: int = eqx.field(static=True, default=200)
    method: str = eqx.field(static=True, default="wishart")
    name: ClassVar[str] = "sampled"
    is_sampled: ClassVar[bool] = True

    def __check_init__(self):
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"SampledGradient(batch_size={self.batch_size!r}) must be a positive integer.")
        if self.method not in ("wishart", "batch"):
            raise ValueError(f"SampledGradient(method={self.method!r}) must be 'wishart' or 'batch'.")

    def input_covariance(self, key, d_in):
        if self.method == "wishart" and self.batch_size >= d_in + 1:
            return wishart_covariance(key, d_in, self.batch_size)
        return batch_covariance(key, d_in, self.batch_size)

    def noisy_batch(self, key: PRNGKeyArray, d_in: int, d_out: int) -> NoisyBatch:
        """Σ̂ and the noise statistics N, s of one step's batch, from their exact joint law.

        Σ̂ is drawn from ``key`` exactly as :meth:`input_covariance` draws it (the same numbers,
        so a run with σ = 0 takes the noiseless run's steps bit for bit); the noise comes from
        ``fold_in(key, 1)``. Wishart method: N = Z Fᵀ/√B and s = (‖Z‖² + χ²_{d_out(B−d_in)})/B
        (module docstring); batch method: ε (B, d_out) is drawn and N = εᵀX/B, s = ‖ε‖²/B.
        """
        noise_key = jax.random.fold_in(key, 1)
        B = self.batch_size
        if self.method == "wishart" and B >= d_in + 1:
            f = wishart_factor(key, d_in, B)  # float32, as input_covariance draws it
            dtype = jax.dtypes.canonicalize_dtype(jnp.float64)  # the noise in the run's precision
            z_key, chi_key = jax.random.split(noise_key)
            z = jax.random.normal(z_key, (d_out, d_in), dtype)
            rest = _chi2(chi_key, d_out * (B - d_in), dtype)
            return NoisyBatch(covariance=f @ f.T, cross=(z @ f.T) / jnp.sqrt(jnp.asarray(B, dtype)),
                              energy=(jnp.sum(z**2) + rest) / B)
        x = jax.random.normal(key, (B, d_in))
        eps = jax.random.normal(noise_key, (B, d_out), x.dtype)
        return NoisyBatch(covariance=(x.T @ x) / B, cross=(eps.T @ x) / B, energy=jnp.sum(eps**2) / B)

    def inputs(self, key: PRNGKeyArray, d_in: int) -> Float[Array, "batch d_in"]:
        """An explicit minibatch X, (B, d_in), of N(0, 1) entries (for nonlinear students)."""
        return jax.random.normal(key, (self.batch_size, d_in))
