"""The linear students of MODEL §2: states and the models that own their hyperparameters.

* :class:`Gated` → :class:`GatedStudent` — ŷ = Σ_p c_p W_p x (§2.1); the 2-D toy model (§2.4)
  is this student with d_in = 1, x = 1 and explicit 2×1 targets.
* :class:`PerNeuron` → :class:`PerNeuronStudent` — ŷ_i = Σ_p c_{p,i} (W_p)_{i,:}·x (§2.2).
* :class:`TwoLayer` → :class:`TwoLayerStudent` — ŷ = W2 W1 x, hidden width P·H; W2 plays the
  gate role (§2.3).

Each state exposes what the closed-form engines use (:class:`~ntajax.LinearStudent`):
``effective_map`` (W_eff, d_out×d_in), ``gate_vector`` (all gate entries, the regulariser's c),
``path_weights`` ((P, rows, d_in), compared with the teachers) and ``task_gradient``.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._parameters import check_non_negative, check_size, traced
from .base import LinearStudent, StudentModel


class GatedStudent(LinearStudent):
    """Gated linear student ŷ = Σ_p c_p W_p x (MODEL §2.1).

    Attributes:
        W: path weights, shape (P, d_out, d_in).
        c: gates, shape (P,). Plain real numbers: bounded only by the regulariser.
    """

    W: Float[Array, "paths d_out d_in"]
    c: Float[Array, " paths"]

    def effective_map(self):
        return jnp.einsum("p,pij->ij", self.c, self.W)

    def gate_vector(self):
        return self.c

    def path_weights(self):
        return self.W

    def task_gradient(self, residual_covariance):
        G = residual_covariance
        return GatedStudent(W=-self.c[:, None, None] * G[None], c=-jnp.einsum("pij,ij->p", self.W, G))


class PerNeuronStudent(LinearStudent):
    """Per-neuron gating ŷ_i = Σ_p c_{p,i} (W_p)_{i,:}·x (MODEL §2.2).

    Attributes:
        W: path weights, shape (P, d_out, d_in).
        c: gates, shape (P, d_out): one gate per path and output row.
    """

    W: Float[Array, "paths d_out d_in"]
    c: Float[Array, "paths d_out"]

    def effective_map(self):
        return jnp.einsum("pi,pij->ij", self.c, self.W)

    def gate_vector(self):
        return self.c.reshape(-1)

    def path_weights(self):
        return self.W

    def task_gradient(self, residual_covariance):
        G = residual_covariance
        return PerNeuronStudent(W=-self.c[:, :, None] * G[None], c=-jnp.einsum("pij,ij->pi", self.W, G))


class TwoLayerStudent(LinearStudent):
    """Two-layer linear network ŷ = W2 W1 x with hidden width P·H (MODEL §2.3).

    Attributes:
        W1: first layer, shape (P·H, d_in); path p owns rows p·H … (p+1)·H − 1.
        W2: second layer, shape (d_out, P·H); the gate regulariser acts on all its entries.
    """

    W1: Float[Array, "hidden d_in"]
    W2: Float[Array, "d_out hidden"]

    def effective_map(self):
        return self.W2 @ self.W1

    def gate_vector(self):
        return self.W2.reshape(-1)

    def path_weights(self):
        hidden, d_in = self.W1.shape
        n_paths = hidden // self.hidden_per_path
        return self.W1.reshape(n_paths, self.hidden_per_path, d_in)

    @property
    def hidden_per_path(self) -> int:
        # H = d_out in every figure (MODEL §1); the first layer is split into P such blocks.
        return self.W2.shape[0]

    def task_gradient(self, residual_covariance):
        G = residual_covariance
        return TwoLayerStudent(W1=-self.W2.T @ G, W2=-G @ self.W1.T)


def weight_std(init_scale, d_in: int):
    """σ₀/√d_in, the standard deviation of initial weights (MODEL §5.3)."""
    return init_scale / jnp.sqrt(d_in)


class _PathModel(StudentModel):
    """Shared checks of the models with P paths, weights W and gates c."""

    def __check_init__(self):
        check_size(type(self).__name__, "n_paths", self.n_paths)

    def check_values(self, values: dict[str, float | None]) -> None:
        """Check concrete values of the traced fields (a sweep point's, or this model's own)."""
        super().check_values(values)
        check_non_negative(type(self).__name__, "init_scale", values.get("init_scale"))


class Gated(_PathModel):
    """The gated linear student of MODEL §2.1 (states: :class:`GatedStudent`).

    Args:
        n_paths: P, student paths (static).
        tau_w: τ_w, time constant of the weights W (§5.1).
        tau_c: τ_c, time constant of the gates c; fast gates (τ_c ≪ τ_w) make flexible
            learning possible.
        init_scale: σ₀; weights start with std σ₀/√d_in, gates at 0.5 (§5.3).
    """

    n_paths: int = eqx.field(static=True, default=2)
    tau_w: Float[Array, ""] = eqx.field(default=1.3, converter=traced)
    tau_c: Float[Array, ""] = eqx.field(default=0.03, converter=traced)
    init_scale: Float[Array, ""] = eqx.field(default=0.01, converter=traced)

    def time_constants(self, state):
        return GatedStudent(W=self.tau_w, c=self.tau_c)

    def path_gates(self, gates):
        return gates  # one gate per path

    def initialise(self, key, *, d_in, d_out, n_teachers):
        del n_teachers
        W = weight_std(self.init_scale, d_in) * jax.random.normal(key, (self.n_paths, d_out, d_in))
        return GatedStudent(W=W, c=jnp.full((self.n_paths,), 0.5))


class PerNeuron(_PathModel):
    """Per-neuron gating, MODEL §2.2 (states: :class:`PerNeuronStudent`); arguments as
    :class:`Gated`, with one gate per path and output row."""

    n_paths: int = eqx.field(static=True, default=2)
    tau_w: Float[Array, ""] = eqx.field(default=1.3, converter=traced)
    tau_c: Float[Array, ""] = eqx.field(default=0.03, converter=traced)
    init_scale: Float[Array, ""] = eqx.field(default=0.01, converter=traced)

    def time_constants(self, state):
        return PerNeuronStudent(W=self.tau_w, c=self.tau_c)

    def initialise(self, key, *, d_in, d_out, n_teachers):
        del n_teachers
        W = weight_std(self.init_scale, d_in) * jax.random.normal(key, (self.n_paths, d_out, d_in))
        return PerNeuronStudent(W=W, c=jnp.full((self.n_paths, d_out), 0.5))


class TwoLayer(_PathModel):
    """The fully connected two-layer linear network of MODEL §2.3 (states:
    :class:`TwoLayerStudent`), hidden width P·d_out.

    Args:
        n_paths: P; the hidden layer has P·d_out units.
        tau_w1, tau_w2: time constants of the first and second layer.
        init_scale: σ₀; both layers start with std σ₀/√d_in (§5.3).
    """

    n_paths: int = eqx.field(static=True, default=2)
    tau_w1: Float[Array, ""] = eqx.field(default=0.06, converter=traced)
    tau_w2: Float[Array, ""] = eqx.field(default=0.01, converter=traced)
    init_scale: Float[Array, ""] = eqx.field(default=0.01, converter=traced)

    def time_constants(self, state):
        return TwoLayerStudent(W1=self.tau_w1, W2=self.tau_w2)

    def initialise(self, key, *, d_in, d_out, n_teachers):
        del n_teachers
        k1, k2 = jax.random.split(key)
        hidden = self.n_paths * d_out
        std = weight_std(self.init_scale, d_in)
        return TwoLayerStudent(
            W1=std * jax.random.normal(k1, (hidden, d_in)),
            W2=std * jax.random.normal(k2, (d_out, hidden)),
        )
