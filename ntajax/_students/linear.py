"""Student networks (MODEL §2). Each module holds its parameters and acts on ONE example.

* :class:`GatedStudent` — ŷ = Σ_p c_p W_p x (§2.1); the 2-D toy model (§2.4) is this
  student with d_in = 1, x = 1 and explicit 2×1 targets.
* :class:`PerNeuronStudent` — ŷ_i = Σ_p c_{p,i} (W_p)_{i,:}·x (§2.2).
* :class:`TwoLayerStudent` — ŷ = W2 W1 x, hidden width P·H; W2 plays the gate role (§2.3).

Every student exposes the same small interface used by the losses, the dynamics and the
recorder: ``effective_map`` (W_eff, d_out×d_in), ``gate_vector`` (all gate entries, the
regulariser's c), ``path_weights`` ((P, rows, d_in), compared with the teachers) and
``time_constants`` (a pytree of the same structure holding each group's τ).
"""

import abc
from typing import TYPE_CHECKING, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

if TYPE_CHECKING:
    from .._config import Config


class Student(eqx.Module):
    """Abstract student: parameters plus the maps the dynamics and metrics need."""

    name: ClassVar[str]

    @abc.abstractmethod
    def effective_map(self) -> Float[Array, "d_out d_in"]:
        """The input–output map W_eff of the student."""

    @abc.abstractmethod
    def gate_vector(self) -> Float[Array, " n_gates"]:
        """All gate entries flattened: the c of the regulariser (MODEL §4.2)."""

    @abc.abstractmethod
    def path_weights(self) -> Float[Array, "paths rows d_in"]:
        """Per-path weight blocks, compared with the teachers by the similarity matrix."""

    @abc.abstractmethod
    def task_gradient(self, residual_covariance: Float[Array, "d_out d_in"]) -> "Student":
        """∇_θ L̂_task given G = E Σ̂ (MODEL §4.1), in closed form.

        The minibatch loss depends on the batch only through Σ̂, and every gradient of
        §4.1 is linear in G = (W* − W_eff) Σ̂, so one d_out×d_in product serves them all.
        """

    @abc.abstractmethod
    def time_constants(self, config: "Config") -> "Student":
        """A student-shaped pytree whose leaves are the time constants of each group."""

    @classmethod
    @abc.abstractmethod
    def initialise(cls, config: "Config", *, key: PRNGKeyArray) -> "Student":
        """Default initial state (MODEL §5.3): small Gaussian weights, gates at 0.5."""

    def __call__(self, x: Float[Array, " d_in"]) -> Float[Array, " d_out"]:
        """Prediction ŷ(x) for one input vector."""
        return self.effective_map() @ x


def _weight_std(config: "Config"):
    return config.init_scale / jnp.sqrt(config.d_in)


class GatedStudent(Student):
    """Gated linear student ŷ = Σ_p c_p W_p x (MODEL §2.1).

    Attributes:
        W: path weights, shape (P, d_out, d_in).
        c: gates, shape (P,). Plain real numbers: bounded only by the regulariser.
    """

    W: Float[Array, "paths d_out d_in"]
    c: Float[Array, " paths"]
    name: ClassVar[str] = "gated"

    def effective_map(self):
        return jnp.einsum("p,pij->ij", self.c, self.W)

    def gate_vector(self):
        return self.c

    def path_weights(self):
        return self.W

    def task_gradient(self, residual_covariance):
        G = residual_covariance
        return GatedStudent(W=-self.c[:, None, None] * G[None], c=-jnp.einsum("pij,ij->p", self.W, G))

    def time_constants(self, config):
        return GatedStudent(W=config.tau_w, c=config.tau_c)

    @classmethod
    def initialise(cls, config, *, key):
        shape = (config.n_paths, config.d_out, config.d_in)
        W = _weight_std(config) * jax.random.normal(key, shape)
        return cls(W=W, c=jnp.full((config.n_paths,), 0.5))


class PerNeuronStudent(Student):
    """Per-neuron gating ŷ_i = Σ_p c_{p,i} (W_p)_{i,:}·x (MODEL §2.2).

    Attributes:
        W: path weights, shape (P, d_out, d_in).
        c: gates, shape (P, d_out): one gate per path and output row.
    """

    W: Float[Array, "paths d_out d_in"]
    c: Float[Array, "paths d_out"]
    name: ClassVar[str] = "per_neuron"

    def effective_map(self):
        return jnp.einsum("pi,pij->ij", self.c, self.W)

    def gate_vector(self):
        return self.c.reshape(-1)

    def path_weights(self):
        return self.W

    def task_gradient(self, residual_covariance):
        G = residual_covariance
        return PerNeuronStudent(W=-self.c[:, :, None] * G[None], c=-jnp.einsum("pij,ij->pi", self.W, G))

    def time_constants(self, config):
        return PerNeuronStudent(W=config.tau_w, c=config.tau_c)

    @classmethod
    def initialise(cls, config, *, key):
        shape = (config.n_paths, config.d_out, config.d_in)
        W = _weight_std(config) * jax.random.normal(key, shape)
        return cls(W=W, c=jnp.full((config.n_paths, config.d_out), 0.5))


class TwoLayerStudent(Student):
    """Two-layer linear network ŷ = W2 W1 x with hidden width P·H (MODEL §2.3).

    Attributes:
        W1: first layer, shape (P·H, d_in); path p owns rows p·H … (p+1)·H − 1.
        W2: second layer, shape (d_out, P·H); the gate regulariser acts on all its entries.
    """

    W1: Float[Array, "hidden d_in"]
    W2: Float[Array, "d_out hidden"]
    name: ClassVar[str] = "two_layer"

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

    def time_constants(self, config):
        return TwoLayerStudent(W1=config.tau_w1, W2=config.tau_w2)

    @classmethod
    def initialise(cls, config, *, key):
        k1, k2 = jax.random.split(key)
        hidden = config.n_paths * config.d_out
        std = _weight_std(config)
        return cls(
            W1=std * jax.random.normal(k1, (hidden, config.d_in)),
            W2=std * jax.random.normal(k2, (config.d_out, hidden)),
        )
