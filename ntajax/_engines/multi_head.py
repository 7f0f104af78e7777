"""Multi-head linear students and output constraints (shared vs separate representations).

The gated hidden layer of the NTA student read out by one head per task (after Turner & Barak
2023, "The simplicity bias in multi-task RNNs"; here with linear units and NTA gates):

    h(x) = [c_1 W_1 x; …; c_P W_P x] ∈ R^{P·H},     ŷ_m(x) = V_m h(x),   m = 0 … M − 1,

with W_p ∈ R^{H×d_in} (H = d_out, MODEL §1), gates c ∈ R^P and heads V_m ∈ R^{d_out×P·H}. The
target of head m is the teacher W*_m. What the loss asks of the heads is an **output mode**
(object), with curriculum weights w (one-hot on the current task in a blocked curriculum):

* :class:`GatedOutputs` — only the current task's head is trained:
  L = ½ Σ_m w_m ‖W*_m − V_m A‖²  (A = the hidden map [c_p W_p]_p);
* :class:`OrthogonalOutputs` — the other heads are trained to output zero:
  L = ½ Σ_m ‖w_m W*_m − V_m A‖²;
* :class:`ParallelOutputs` — every task at once, whatever the curriculum: L = ½ Σ_m ‖W*_m − V_m A‖².

These are expected losses (Σ̂ = I); sampled mode uses ½ Σ_m mask_m tr(E_m Σ̂ E_mᵀ) with the same
Σ̂ for every head. With NTA gating the gates follow the NTA dynamics (τ_c, gate regulariser);
without it they are held at 1 (``gates=FrozenGates()``), a plain two-layer multi-head network.

Use ``Simulation(student=MultiHead(...), engine=MultiHeadScan(outputs=..., gates=...))``: the student's
``effective_map`` stacks every head's map (M·d_out rows), so the plain engine cannot train it.
Records: ``loss`` is the mode's expected loss; ``similarity[m, p]`` is the row cosine between W*_m
and path p's contribution to head m, V_m[:, p] c_p W_p; ``context_alignment`` compares the current
target with the current heads' output map.
"""

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .continual import GatePolicy, LearnedGates
from .euler import EulerScan
from .frames import Frame
from .._students.multi_head import MultiHead, MultiHeadStudent
from .._recording import make_record
from ..metrics import row_cosine


# ------------------------------------------------------------------------------------- output modes
class OutputMode(eqx.Module):
    """Abstract output constraint: the target of every head and the weight of its loss."""

    name: ClassVar[str]

    @abc.abstractmethod
    def targets(
        self, weights: Float[Array, " n_targets"], teachers: Float[Array, "n_targets d_out d_in"], n_heads: int
    ) -> tuple[Float[Array, "heads d_out d_in"], Float[Array, " heads"]]:
        """(targets of the heads, weight of each head's loss) for curriculum weights ``weights``."""


class GatedOutputs(OutputMode):
    """Loss only on the current task's head: targets W*_m, weights w_m (one-hot in blocks)."""

    name: ClassVar[str] = "gated"

    def targets(self, weights, teachers, n_heads):
        return teachers[:n_heads], weights[:n_heads].astype(teachers.dtype)


class OrthogonalOutputs(OutputMode):
    """The other heads are trained to output zero: targets w_m W*_m, every head weighted 1."""

    name: ClassVar[str] = "orthogonal"

    def targets(self, weights, teachers, n_heads):
        w = weights[:n_heads].astype(teachers.dtype)
        return w[:, None, None] * teachers[:n_heads], jnp.ones((n_heads,), teachers.dtype)


class ParallelOutputs(OutputMode):
    """Every task at once (the curriculum is ignored): targets W*_m, every head weighted 1."""

    name: ClassVar[str] = "parallel"

    def targets(self, weights, teachers, n_heads):
        del weights
        return teachers[:n_heads], jnp.ones((n_heads,), teachers.dtype)


def mode_loss(mode: OutputMode, student: MultiHeadStudent, weights, teachers, input_covariance=None) -> Float[Array, ""]:
    """½ Σ_m mask_m tr(E_m Σ̂ E_mᵀ) with E_m = target_m − V_m A (Σ̂ = I when ``None``)."""
    targets, mask = mode.targets(weights, teachers, student.V.shape[0])
    E = targets - student.head_maps()
    if input_covariance is None:
        per_head = 0.5 * jnp.sum(E**2, axis=(1, 2))
    else:
        per_head = 0.5 * jnp.sum(jnp.einsum("moj,jk->mok", E, input_covariance) * E, axis=(1, 2))
    return jnp.sum(mask * per_head)


# -------------------------------------------------------------------------------------------- frame
class MultiHeadFrame(Frame):
    """Euler coordinates of the multi-head student under an output mode and a gate policy.

    Attributes:
        teachers: (M, d_out, d_in) base teachers (no composites).
        outputs: the :class:`OutputMode`.
        gates: a :class:`~ntajax.GatePolicy` (learned, frozen or oracle).
        config: the run's simulation (the gate policy prepares the initial gates from it).
    """

    teachers: Float[Array, "n_targets d_out d_in"]
    outputs: OutputMode
    gates: GatePolicy
    config: eqx.Module

    def encode(self, student):
        return self.gates.prepare(student, block=jnp.int32(0), config=self.config, n_targets=self.teachers.shape[0])

    def decode(self, state):
        return state

    def before_step(self, state, *, block, previous_block, config):
        del previous_block
        return self.gates.prepare(state, block=block, config=config, n_targets=self.teachers.shape[0])

    def velocity(self, state, weights, input_covariance, config):
        n_heads = state.V.shape[0]
        targets, mask = self.outputs.targets(weights, self.teachers, n_heads)
        E = mask[:, None, None] * (targets - state.head_maps())
        G = E if input_covariance is None else jnp.einsum("moj,jk->mok", E, input_covariance)
        task = state.task_gradient(G.reshape(-1, G.shape[-1]))
        reg = jax.grad(config.regulariser)(state)
        taus = config.student.time_constants(state)
        return self.gates.freeze(jax.tree.map(lambda g, r, tau: -(g + r) / tau, task, reg, taus))

    def record(self, state, *, t, block, weights, previous_weights, input_covariance, config):
        n_heads = state.V.shape[0]
        P, H, _ = state.W.shape
        heads = state.head_maps()
        current = jnp.tensordot(weights[:n_heads].astype(heads.dtype), heads, axes=1)
        blocks = state.V.reshape(n_heads, -1, P, H)
        contributions = jnp.einsum("mipk,p,pkj->mpij", blocks, state.c, state.W)  # head m, path p
        similarity = jax.vmap(lambda W_m, c_m: jax.vmap(lambda c_mp: row_cosine(W_m, c_mp))(c_m))(
            self.teachers[:n_heads], contributions)
        minibatch = jnp.nan if input_covariance is None else mode_loss(self.outputs, state, weights, self.teachers,
                                                                      input_covariance)
        return make_record(
            t=t, block=block, weights=weights, previous_weights=previous_weights, teachers=self.teachers,
            loss_against=lambda w: mode_loss(self.outputs, state, w, self.teachers),
            effective_map=current,
            gates=state.c,
            path_norms=jnp.sqrt(jnp.sum(state.W**2, axis=(1, 2))),
            similarity=similarity,
            minibatch_loss=minibatch,
            dtype=config.float_dtype,
        )


class MultiHeadScan(EulerScan):
    """The Euler scan of the multi-head student (module docstring).

    Args:
        outputs: :class:`GatedOutputs` (default), :class:`OrthogonalOutputs` or :class:`ParallelOutputs`.
        gates: the gate policy: ``LearnedGates()`` (NTA gating, default) or ``FrozenGates()`` (no gating).
        unroll, rng_batch: as for :class:`~ntajax.EulerScan` (speed only).
    """

    supports_state_dependent_curriculum = False  # its frame reads the block clock (anchors, heads)
    supports_teacher_noise = False
    supports_fractional_switches = False  # the output modes mask heads by the active task

    outputs: OutputMode = eqx.field(static=True, default=GatedOutputs())
    gates: GatePolicy = eqx.field(static=True, default=LearnedGates())

    def check(self, simulation):
        if not isinstance(simulation.student, MultiHead):
            raise ValueError(
                f"MultiHeadScan trains the multi-head student, not student={type(simulation.student).__name__}(...): "
                "set student=ntajax.MultiHead(n_paths=..., tau_w=..., tau_c=...)."
            )
        if simulation.n_targets != simulation.n_teachers:
            raise ValueError(
                f"MultiHeadScan has one head per base teacher and no composites; got {simulation.n_targets} targets for "
                f"n_teachers={simulation.n_teachers}."
            )
        self.gates.check(simulation, simulation.n_targets)

    @property
    def needs_task_boundaries(self) -> bool:
        return self.gates.needs_task_boundaries

    def frame(self, config, teachers, init) -> MultiHeadFrame:
        del init
        return MultiHeadFrame(teachers=teachers, outputs=self.outputs, gates=self.gates, config=config)
