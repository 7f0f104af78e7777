"""Nonlinear students, trained by :class:`ntajax.MinibatchScan` (autodiff on explicit minibatches).

* :class:`GatedTanh` → :class:`GatedTanhStudent` — a gated two-layer tanh network

      ŷ(x) = Σ_p c_p V_p tanh(W_p x),   W_p: (H, d_in),  V_p: (d_out, H),  c: (P,),

  the nonlinear analogue of the gated linear student of MODEL §2.1: each path is a one-hidden-
  layer tanh network with its own scalar gate; the gates are plain real numbers, bounded only by
  the regulariser (§4.2).

A nonlinear student is not a :class:`~ntajax.LinearStudent`: its minibatch loss depends on the
whole batch, not only on Σ̂, so the closed-form engines reject it. Besides the
:class:`~ntajax.Student` protocol it may define ``path_outputs(x) → (P, d_out)``, the ungated
output of every path (ŷ = Σ_p c_p · path_outputs(x)[p] here); :class:`ntajax.MinibatchScan` then
records per-path linear maps (see :mod:`ntajax._engines.minibatch`).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._parameters import check_non_negative, check_size, traced
from .base import Student, StudentModel


class GatedTanhStudent(Student):
    """Gated two-layer tanh network ŷ(x) = Σ_p c_p V_p tanh(W_p x).

    Attributes:
        W: first layers, shape (P, H, d_in).
        V: second layers (read-outs), shape (P, d_out, H).
        c: gates, shape (P,).
    """

    W: Float[Array, "paths hidden d_in"]
    V: Float[Array, "paths d_out hidden"]
    c: Float[Array, " paths"]

    def path_outputs(self, x: Float[Array, " d_in"]) -> Float[Array, "paths d_out"]:
        """V_p tanh(W_p x) for every path p: the ungated output of each path."""
        return jnp.einsum("poh,ph->po", self.V, jnp.tanh(self.W @ x))

    def __call__(self, x):
        return self.c @ self.path_outputs(x)

    def gate_vector(self):
        return self.c

    def path_weights(self):
        """The first layers W (P, H, d_in): the target of the W column penalty (λ_W of MODEL §4.2
        then removes unused input columns of a path, group-lasso style). The similarity matrix
        of :class:`ntajax.MinibatchScan` uses the linearised path maps instead."""
        return self.W


class GatedTanh(StudentModel):
    """The gated two-layer tanh student (states: :class:`GatedTanhStudent`).

    Args:
        n_paths: P, student paths (static).
        hidden: H, hidden tanh units per path (static); ``None`` (default) takes H = d_out, the
            hidden width per path of every hidden-layer student of MODEL §1.
        tau_w: τ_w, time constant of both layers W and V of every path (default 1.3, the
            gated student's).
        tau_c: τ_c, time constant of the gates (default 0.03, the gated student's: fast gates).
        init_scale: σ₀ of the read-outs (default 0.01): V_p starts with std σ₀/√H, so the
            output starts near zero, as the gated student's (MODEL §5.3).
        input_scale: the first layers W_p start with std input_scale/√d_in (default 1), i.e.
            pre-activations of variance input_scale² for x ~ N(0, I): the tanh units start in
            their nonlinear range and, because the read-out is small, the output still starts
            near zero without a saddle to escape (measured at d_in = 8, d_out = 4, H = 8: with
            input_scale = 0.01 the loss falls by < 1 % in 6 τ_w, at the default by a factor
            ≈ 18). Gates start at 0.5 (§5.3).
    """

    n_paths: int = eqx.field(static=True, default=2)
    hidden: int | None = eqx.field(static=True, default=None)
    tau_w: Float[Array, ""] = eqx.field(default=1.3, converter=traced)
    tau_c: Float[Array, ""] = eqx.field(default=0.03, converter=traced)
    init_scale: Float[Array, ""] = eqx.field(default=0.01, converter=traced)
    input_scale: Float[Array, ""] = eqx.field(default=1.0, converter=traced)

    def __check_init__(self):
        # (the time constants and the other traced fields are checked by StudentModel.__check_init__)
        check_size("GatedTanh", "n_paths", self.n_paths)
        if self.hidden is not None:
            check_size("GatedTanh", "hidden", self.hidden)

    def check_values(self, values: dict[str, float | None]) -> None:
        """Check concrete values of the traced fields (a sweep point's, or this model's own):
        positive time constants τ_w, τ_c, non-negative scales."""
        super().check_values(values)
        check_non_negative("GatedTanh", "init_scale", values.get("init_scale"))
        check_non_negative("GatedTanh", "input_scale", values.get("input_scale"))

    def hidden_size(self, d_out: int) -> int:
        """H for outputs of dimension ``d_out``."""
        return d_out if self.hidden is None else self.hidden

    def time_constants(self, state):
        return GatedTanhStudent(W=self.tau_w, V=self.tau_w, c=self.tau_c)

    def path_gates(self, gates):
        return gates  # one gate per path, as the gated linear student

    def initialise(self, key, *, d_in, d_out, n_teachers):
        del n_teachers
        hidden = self.hidden_size(d_out)
        k_w, k_v = jax.random.split(key)
        W = self.input_scale / jnp.sqrt(d_in) * jax.random.normal(k_w, (self.n_paths, hidden, d_in))
        V = self.init_scale / jnp.sqrt(hidden) * jax.random.normal(k_v, (self.n_paths, d_out, hidden))
        return GatedTanhStudent(W=W, V=V, c=jnp.full((self.n_paths,), 0.5))
