"""The gated recurrent student: P recurrent modules mixed by fast, bounded gates.

One network (:class:`GatedRNNState`, the trained parameters) and its model (:class:`GatedRNN`:
sizes, activation and the hyperparameters a sweep varies, as traced leaves). The update of the
hidden state h ∈ R^N for an input u ∈ R^{d_in} (the recurrent analogue of the gated student of
MODEL §2.1, each module p a recurrent layer (W_rec^p, W_in^p) with a scalar gate c_p):

    h_{k+1} = F(h_k, u_k) = (1 − α) h_k + α φ( Σ_p c_p (W_rec^p h_k + W_in^p u_k) + b ),
    y_k     = W_out h_{k+1},

with φ an :class:`Activation` object (:class:`Tanh`, :class:`ReLU`, :class:`Identity`, the last
the linear RNN) and α ∈ (0, 1] the leak (α = Δt/τ_h of a continuous-time rate network). As in
MODEL §2.1 the gates are plain real numbers, bounded only by the gate regulariser
(:class:`ntajax.Regulariser`, MODEL §4.2, on :meth:`GatedRNNState.gate_vector`).
``GatedRNN(n_modules=1, gated=False)`` is the plain RNN baseline: its gate is held at 1.

Learning (:mod:`ntajax._rnn.training`) follows MODEL §5.2 with one time constant per parameter
group: θ ← θ − (dt/τ_θ) ∇_θ [L + R], τ_w for W_rec, W_in, b, W_out and τ_c for the gates.

How to get what an analysis needs, for a trained state ``state`` of a model ``model``
(e.g. ``run.final`` of :func:`ntajax.train_rnn`, or ``run.task_final`` indexed by task):

* the step function F(h, u) → h': ``F = model.step_function(state)`` (a pure function of one
  hidden vector (N,) and one input vector (d_in,); jit/vmap/jacfwd it freely); ``model.step(state,
  h, u)`` is the same;
* the recurrent weights: ``state.W_rec`` (P, N, N) per module, ``state.effective_recurrent()``
  Σ_p c_p W_rec^p (N, N), likewise ``state.effective_input()`` (N, d_in), ``state.b`` (N,),
  ``state.W_out`` (d_out, N), gates ``state.c`` (P,);
* hidden-state responses to a trial: ``model.hidden(state, inputs)`` (T, N) for inputs (T, d_in)
  from h_0 = 0 (or ``h0=``), ``model.outputs(state, hidden)`` (T, d_out); for every task's trials
  at once, :func:`ntajax.rnn_responses`.
"""

import abc
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._parameters import check_non_negative, check_positive, check_size, concrete, traced


# --------------------------------------------------------------------------------------- activations
class Activation(eqx.Module):
    """Abstract elementwise nonlinearity φ of :class:`GatedRNN` (an object, not a string)."""

    @abc.abstractmethod
    def __call__(self, x: Float[Array, "..."]) -> Float[Array, "..."]:
        """φ(x), elementwise."""


class Tanh(Activation):
    """φ = tanh (the rate networks of Yang et al. 2019 and Turner & Barak 2023)."""

    def __call__(self, x):
        return jnp.tanh(x)


class ReLU(Activation):
    """φ = max(0, x) (zero derivative at 0)."""

    def __call__(self, x):
        return jax.nn.relu(x)


class Identity(Activation):
    """φ = identity: the linear RNN (Proca et al. 2025), whose fixed point for a constant input is
    h* = (I − W)⁻¹ (W_in u + b) with W = Σ_p c_p W_rec^p, W_in = Σ_p c_p W_in^p."""

    def __call__(self, x):
        return x


# --------------------------------------------------------------------------------------- state
class GatedRNNState(eqx.Module):
    """The trained parameters of one gated RNN (shapes for one network; sweeps add leading axes).

    Attributes:
        W_rec: recurrent weights per module, (P, N, N).
        W_in: input weights per module, (P, N, d_in).
        b: bias, (N,).
        W_out: read-out, (d_out, N).
        c: gates, (P,).
    """

    W_rec: Float[Array, "modules hidden hidden"]
    W_in: Float[Array, "modules hidden d_in"]
    b: Float[Array, " hidden"]
    W_out: Float[Array, "d_out hidden"]
    c: Float[Array, " modules"]

    def effective_recurrent(self) -> Float[Array, "hidden hidden"]:
        """W = Σ_p c_p W_rec^p, (N, N)."""
        return jnp.einsum("p,pij->ij", self.c, self.W_rec)

    def effective_input(self) -> Float[Array, "hidden d_in"]:
        """Σ_p c_p W_in^p, (N, d_in)."""
        return jnp.einsum("p,pij->ij", self.c, self.W_in)

    def gate_vector(self) -> Float[Array, " modules"]:
        """The gates c (P,): what the gate terms of :class:`ntajax.Regulariser` act on."""
        return self.c

    def path_weights(self) -> Float[Array, "modules hidden columns"]:
        """[W_rec^p, W_in^p] per module, (P, N, N + d_in): the target of the λ_W column penalty
        of :class:`ntajax.Regulariser` (a group lasso on each module's input columns)."""
        return jnp.concatenate([self.W_rec, self.W_in], axis=2)

    def with_gates(self, c: Float[Array, " modules"]) -> "GatedRNNState":
        """A copy with the gates replaced by ``c`` (P,)."""
        return eqx.tree_at(lambda s: s.c, self, jnp.asarray(c, self.c.dtype))


# --------------------------------------------------------------------------------------- model
class GatedRNN(eqx.Module):
    """The gated recurrent student (states: :class:`GatedRNNState`; module docstring for the update).

    Args:
        n_hidden: N, hidden units (static).
        n_modules: P, recurrent modules (static; default 2).
        activation: φ, an :class:`Activation` (default :class:`Tanh`).
        gated: whether the gates learn (static; default True). ``False`` holds every gate at 1:
            with ``n_modules=1`` the plain RNN baseline.
        alpha: α ∈ (0, 1], the leak of the hidden state (default 0.2).
        tau_w: τ_w, time constant of W_rec, W_in, b and W_out (default 1.0).
        tau_c: τ_c, time constant of the gates (default 0.05: fast gates).
        recurrent_gain: g, W_rec^p starts with i.i.d. N(0, g²/N) entries (default 0.9).
        input_scale: W_in^p starts with std input_scale/√d_in (default 1).
        output_scale: W_out starts with std output_scale/√N (default 0.1: small outputs at the
            start, as the small initialisation of MODEL §5.3, without a saddle to escape).
        gate_init: every gate starts at this value (default 0.5, MODEL §5.3); ungated: 1.
    """

    n_hidden: int = eqx.field(static=True, default=32)
    n_modules: int = eqx.field(static=True, default=2)
    activation: Activation = Tanh()
    gated: bool = eqx.field(static=True, default=True)
    alpha: Float[Array, ""] = eqx.field(default=0.2, converter=traced)
    tau_w: Float[Array, ""] = eqx.field(default=1.0, converter=traced)
    tau_c: Float[Array, ""] = eqx.field(default=0.05, converter=traced)
    recurrent_gain: Float[Array, ""] = eqx.field(default=0.9, converter=traced)
    input_scale: Float[Array, ""] = eqx.field(default=1.0, converter=traced)
    output_scale: Float[Array, ""] = eqx.field(default=0.1, converter=traced)
    gate_init: Float[Array, ""] = eqx.field(default=0.5, converter=traced)

    def __check_init__(self):
        check_size("GatedRNN", "n_hidden", self.n_hidden)
        check_size("GatedRNN", "n_modules", self.n_modules)
        if not isinstance(self.activation, Activation):
            raise TypeError(
                f"GatedRNN: activation={self.activation!r} must be an ntajax Activation object, e.g. "
                "ntajax.Tanh(), ntajax.ReLU() or ntajax.Identity() (the linear RNN)."
            )
        if not isinstance(self.gated, bool):
            raise TypeError(f"GatedRNN: gated={self.gated!r} must be True or False.")
        self.check_values({name: concrete(getattr(self, name)) for name in self.traced_names})

    traced_names = ("alpha", "tau_w", "tau_c", "recurrent_gain", "input_scale", "output_scale", "gate_init")

    def check_values(self, values: dict[str, float | None]) -> None:
        """Check concrete values of the traced fields (a sweep point's, or this model's own)."""
        for name in ("tau_w", "tau_c"):
            check_positive("GatedRNN", name, values.get(name))
        alpha = values.get("alpha")
        check_positive("GatedRNN", "alpha", alpha)
        if alpha is not None and alpha > 1:
            raise ValueError(f"GatedRNN: alpha={alpha:.7g} must lie in (0, 1] (the leak α = Δt/τ_h); give e.g. 0.2.")
        for name in ("recurrent_gain", "input_scale", "output_scale"):
            check_non_negative("GatedRNN", name, values.get(name))

    def replace(self, **changes) -> "GatedRNN":
        """A copy with some fields changed (re-validated)."""
        import dataclasses

        return dataclasses.replace(self, **changes)

    # ----------------------------------------------------------------------------- parameters
    def initialise(self, key: PRNGKeyArray, *, d_in: int, d_out: int) -> GatedRNNState:
        """The initial state for inputs of size ``d_in`` and outputs of size ``d_out``."""
        check_size("GatedRNN.initialise", "d_in", d_in)
        check_size("GatedRNN.initialise", "d_out", d_out)
        n, p = self.n_hidden, self.n_modules
        k_rec, k_in, k_out = jax.random.split(key, 3)
        dtype = jnp.result_type(self.tau_w)
        W_rec = self.recurrent_gain / jnp.sqrt(n) * jax.random.normal(k_rec, (p, n, n), dtype)
        W_in = self.input_scale / jnp.sqrt(d_in) * jax.random.normal(k_in, (p, n, d_in), dtype)
        W_out = self.output_scale / jnp.sqrt(n) * jax.random.normal(k_out, (d_out, n), dtype)
        c = jnp.full((p,), self.gate_init if self.gated else 1.0, dtype)
        return GatedRNNState(W_rec=W_rec, W_in=W_in, b=jnp.zeros((n,), dtype), W_out=W_out, c=c)

    def time_constants(self, state: GatedRNNState) -> GatedRNNState:
        """A state-shaped pytree of the time constant τ of each leaf: τ_w for the weights, τ_c for
        the gates (ungated models never move their gates: see :meth:`learning_mask`)."""
        return GatedRNNState(W_rec=self.tau_w, W_in=self.tau_w, b=self.tau_w, W_out=self.tau_w, c=self.tau_c)

    def learning_mask(self, state: GatedRNNState) -> GatedRNNState:
        """1 for the leaves that learn, 0 for held ones (the gates of an ungated model)."""
        one = jnp.ones((), jnp.result_type(state.c))
        return GatedRNNState(W_rec=one, W_in=one, b=one, W_out=one, c=one if self.gated else 0.0 * one)

    # ----------------------------------------------------------------------------- dynamics
    def step(
        self, state: GatedRNNState, h: Float[Array, " hidden"], u: Float[Array, " d_in"]
    ) -> Float[Array, " hidden"]:
        """h' = F(h, u) = (1 − α) h + α φ(Σ_p c_p (W_rec^p h + W_in^p u) + b), for one hidden
        vector (N,) and one input (d_in,)."""
        drive = state.effective_recurrent() @ h + state.effective_input() @ u + state.b
        return (1 - self.alpha) * h + self.alpha * self.activation(drive)

    def step_function(self, state: GatedRNNState) -> Callable[[Array, Array], Array]:
        """F(h, u) → h' of this trained network (the two effective matrices computed once)."""
        W, W_in, b = state.effective_recurrent(), state.effective_input(), state.b
        alpha, phi = self.alpha, self.activation

        def F(h, u):
            return (1 - alpha) * h + alpha * phi(W @ h + W_in @ u + b)

        return F

    def hidden(
        self, state: GatedRNNState, inputs: Float[Array, "T d_in"], h0: Float[Array, " hidden"] | None = None
    ) -> Float[Array, "T hidden"]:
        """Hidden states h_1 … h_T for inputs u_0 … u_{T−1} (T, d_in), from h_0 (default 0)."""
        F = self.step_function(state)
        if h0 is None:
            h0 = jnp.zeros((self.n_hidden,), inputs.dtype)

        def body(h, u):
            h = F(h, u)
            return h, h

        _, hs = jax.lax.scan(body, h0, inputs)
        return hs

    def outputs(self, state: GatedRNNState, hidden: Float[Array, "T hidden"]) -> Float[Array, "T d_out"]:
        """Read-out y_k = W_out h_{k+1} for hidden states (T, N)."""
        return hidden @ state.W_out.T

    def predict(self, state: GatedRNNState, inputs: Float[Array, "T d_in"]) -> Float[Array, "T d_out"]:
        """Outputs (T, d_out) for one trial's inputs (T, d_in), from h_0 = 0."""
        return self.outputs(state, self.hidden(state, inputs))
