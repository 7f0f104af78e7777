"""Continual-learning baselines as an Euler engine: penalties and gate policies (MODEL §9).

:class:`ContinualScan` is the Euler ``lax.scan`` of :class:`~ntajax.EulerScan` integrating in a
:class:`ContinualFrame`, which wraps the plain student frame with two objects:

* a **penalty** — :class:`OnlineEWC` (Kirkpatrick et al. 2017 in the online form of Schwarz et
  al. 2018, with the analytic Gaussian Fisher of :func:`ntajax.analytic_fisher`) or
  :class:`L2Pull` (the same with F ≡ 1) — or ``None``;
* a **gate policy** — :class:`LearnedGates` (the NTA dynamics, default), :class:`FrozenGates`
  (gates held at a value: with one path and value 1 this is the ungated single-path student
  ŷ = Wx) or :class:`OracleGates` (gates set to the current task, one-hot: an upper bound).

Penalty dynamics (MODEL §9). The scan state is the student θ, an anchor θ* and an importance F
(student-shaped). F starts at 0, so there is no penalty before the first switch. At every block
switch t_j, j ≥ 1 (the hook :meth:`ContinualFrame.before_step` sees the block of the step and of
the previous step differ),

    θ* ← θ(t_j),        F ← γ F + F(θ(t_j)),        γ = ``penalty.ewc_decay`` ∈ [0, 1],

and every parameter group θ (time constant τ_θ) follows

    τ_θ dθ/dt = −∇_θ (L_task + R) − λ_EWC F ⊙ (θ − θ*),     λ_EWC = ``penalty.lambda_ewc``,

i.e. gradient flow on L_task + R + (λ_EWC/2) Σ_i F_i (θ_i − θ*_i)². λ_EWC and γ are traced leaves
of the penalty (paths ``engine.penalty.lambda_ewc`` and ``engine.penalty.ewc_decay``): a sweep over
them compiles once. With λ_EWC = 0 the run equals the plain Euler scan bit
for bit.

**Task boundaries.** EWC, the L2 pull and oracle gating are told when a task ends (the block
clock of the curriculum) — oracle knowledge the NTA model does not get; the NTA, forgetful and
frozen-gate students run without it. ``ContinualScan.needs_task_boundaries`` says which.

Limitation: the anchor and F are not part of the student, so a run cannot be resumed from
``trajectory.final`` (``start_step > 0``) while λ_EWC > 0; such a call stops with an error
(run in one piece with :func:`ntajax.run`, not :func:`ntajax._run.run_chunked`).
"""

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._curricula.curriculum import Blocked
from .._parameters import check_non_negative, scalar_fields, traced
from .._students.base import Student
from .._students.fisher import analytic_fisher
from .euler import EulerScan
from .frames import Frame, FullFrame


# ---------------------------------------------------------------------------------------- penalties
class Penalty(eqx.Module):
    """Abstract quadratic pull (λ_EWC/2) Σ_i F_i (θ_i − θ*_i)² towards the anchor θ*, refreshed at
    every block switch (needs the task boundaries).

    Args:
        lambda_ewc: λ_EWC ≥ 0, the strength (traced).
        ewc_decay: γ ∈ [0, 1], the online decay of the accumulated importance (traced).
    """

    lambda_ewc: Float[Array, ""] = eqx.field(default=0.0, converter=traced)
    ewc_decay: Float[Array, ""] = eqx.field(default=1.0, converter=traced)
    needs_task_boundaries: ClassVar[bool] = True

    def __check_init__(self):
        self.check_values(scalar_fields(self))

    def check_values(self, values: dict[str, float | None]) -> None:
        """Check concrete values of λ_EWC and γ (a sweep point's, or this penalty's own)."""
        name = type(self).__name__
        check_non_negative(name, "lambda_ewc", values.get("lambda_ewc"))
        decay = values.get("ewc_decay")
        if decay is not None and not 0 <= decay <= 1:
            raise ValueError(f"{name}: ewc_decay={decay:.7g} must lie in [0, 1] (γ of online EWC, MODEL §9).")

    @abc.abstractmethod
    def importance(self, student: Student) -> Student:
        """F(θ): the per-parameter importance added to F at a switch (student-shaped)."""


class OnlineEWC(Penalty):
    """Online EWC with the analytic Gaussian Fisher of the student (MODEL §9).

    F(θ) is :func:`ntajax.analytic_fisher` — never the empirical Fisher, which vanishes at a perfect
    fit. Needs the task boundaries (oracle knowledge). Strength λ_EWC and decay γ are the traced
    fields ``lambda_ewc`` and ``ewc_decay``.
    """

    def importance(self, student):
        return analytic_fisher(student)


class L2Pull(Penalty):
    """Isotropic pull towards the solution at the last switch: :class:`OnlineEWC` with F(θ) ≡ 1.

    With ``ewc_decay`` γ = 0 the importance is exactly 1 (a pull towards the previous solution
    only); γ > 0 accumulates F = Σ_i γ^{j−i} over the j switches so far, as online EWC does.
    Needs the task boundaries.
    """

    def importance(self, student):
        return jax.tree.map(jnp.ones_like, student)


# ------------------------------------------------------------------------------------ gate policies
def _gate_field(student: Student) -> Array:
    if not hasattr(student, "c"):
        raise ValueError(
            f"this gate policy needs a student with explicit gates c (gated, per-neuron or multi-head), "
            f"not {type(student).__name__}; use LearnedGates() for the two-layer student."
        )
    return student.c


def _with_gates(student: Student, c: Array) -> Student:
    return eqx.tree_at(lambda s: s.c, student, c.astype(student.c.dtype))


def _zero_gate_velocity(velocity: Student) -> Student:
    return _with_gates(velocity, jnp.zeros_like(_gate_field(velocity)))


class GatePolicy(eqx.Module):
    """Abstract rule for the gates c of a gated student (MODEL §2.1, §2.2)."""

    needs_task_boundaries: ClassVar[bool] = False

    def check(self, simulation, n_targets: int) -> None:
        """Raise a ValueError if the policy cannot act on this simulation (called at construction)."""
        del simulation, n_targets

    def prepare(self, student: Student, *, block, config, n_targets: int) -> Student:
        """The student to step from in ``block`` (before the step's velocity)."""
        del block, config, n_targets
        return student

    def freeze(self, velocity: Student) -> Student:
        """The velocity with whatever the policy holds fixed set to zero."""
        return velocity

    def gates_for(self, student: Student, task_weights: Float[Array, " n_targets"]) -> Array | None:
        """The gates this policy would use for a task with curriculum weights ``task_weights``, or
        ``None`` when the gates are learned (used by re-gated retention)."""
        del student, task_weights
        return None


class LearnedGates(GatePolicy):
    """The gates follow their own gradient dynamics (the NTA model; no task boundaries)."""


class FrozenGates(GatePolicy):
    """Gates held at ``value`` (velocity zero). With ``n_paths=1`` and value 1 this is the ungated
    single-path student ŷ = Wx of MODEL §9, whose analytic Fisher is 1 for every weight.

    Args:
        value: the gate value (default 1).
    """

    value: float = eqx.field(static=True, default=1.0)

    def check(self, simulation, n_targets):
        del n_targets
        if not hasattr(simulation.state_shape(), "c"):
            raise ValueError(
                f"{type(self).__name__} needs a student with explicit gates c (gated, per-neuron or multi-head), "
                f"not {type(simulation.student).__name__}; use LearnedGates() for it."
            )

    def prepare(self, student, *, block, config, n_targets):
        del block, config, n_targets
        return _with_gates(student, jnp.full_like(student.c, self.value))

    def freeze(self, velocity):
        return _zero_gate_velocity(velocity)

    def gates_for(self, student, task_weights):
        del task_weights
        return jnp.full_like(student.c, self.value)


class OracleGates(GatePolicy):
    """Gates fixed to the current task: c_p = w_p, the curriculum weight of teacher p (one-hot for a
    blocked schedule of base teachers; per-neuron gates take it on every row). Path p serves
    teacher p, so the gates never have to be learned: an upper bound that needs the task
    boundaries and the task identity (oracle knowledge).

    The gates switch at the first step of each block; the record at a switch time is the state
    before that step (MODEL §5.5), so it still shows the previous block's gates.
    """

    needs_task_boundaries: ClassVar[bool] = True

    def check(self, simulation, n_targets):
        FrozenGates().check(simulation, n_targets)
        schedule = simulation.schedule
        if not isinstance(schedule, Blocked):
            raise ValueError(
                f"OracleGates needs a Blocked curriculum (it reads the task of each block), got "
                f"{type(schedule).__name__}; use LearnedGates() with it instead."
            )
        top = schedule.max_teacher_index
        n_paths = simulation.state_shape().c.shape[0]  # path p is gate row p (as prepare sets them)
        if top >= n_paths:
            raise ValueError(
                f"OracleGates gives path p to teacher p, but the curriculum uses teacher {top} and there are only "
                f"student.n_paths={n_paths} paths; use {type(simulation.student).__name__}(n_paths=...) with "
                f"n_paths ≥ {top + 1}."
            )

    def _gates(self, c, task_weights):
        n_paths = c.shape[0]
        per_path = jnp.zeros((n_paths,), c.dtype)
        k = min(n_paths, task_weights.shape[0])
        per_path = per_path.at[:k].set(task_weights[:k].astype(c.dtype))
        return jnp.broadcast_to(per_path.reshape((n_paths,) + (1,) * (c.ndim - 1)), c.shape)

    def prepare(self, student, *, block, config, n_targets):
        weights = config.schedule.task_of_block(block, n_targets)
        return _with_gates(student, self._gates(student.c, weights))

    def freeze(self, velocity):
        return _zero_gate_velocity(velocity)

    def gates_for(self, student, task_weights):
        return self._gates(student.c, task_weights)


# -------------------------------------------------------------------------------------------- frame
class ContinualState(eqx.Module):
    """Scan state of :class:`ContinualFrame`.

    Attributes:
        student: θ, the student being trained.
        anchor: θ*, the student at the last switch (``None`` without a penalty).
        importance: F, student-shaped, 0 before the first switch (``None`` without a penalty).
    """

    student: Student
    anchor: Student | None
    importance: Student | None


class ContinualFrame(Frame):
    """The plain student frame plus a penalty and a gate policy (module docstring).

    Attributes:
        inner: the plain student frame (velocity and records of the student itself).
        penalty: :class:`Penalty` or ``None``.
        gates: :class:`GatePolicy`.
        config: the run's simulation (the gate policy prepares the initial gates from it).
        n_targets: number of teachers including composites.
    """

    inner: FullFrame
    penalty: Penalty | None
    gates: GatePolicy
    config: eqx.Module
    n_targets: int = eqx.field(static=True)

    def encode(self, student):
        student = self.gates.prepare(student, block=jnp.int32(0), config=self.config, n_targets=self.n_targets)
        if self.penalty is None:
            return ContinualState(student=student, anchor=None, importance=None)
        return ContinualState(student=student, anchor=student, importance=jax.tree.map(jnp.zeros_like, student))

    def decode(self, state):
        return state.student

    def before_step(self, state, *, block, previous_block, config):
        student = state.student
        anchor, importance = state.anchor, state.importance
        if self.penalty is not None:
            # Block j ≥ 1 starts at this step: θ(t_j) is the state after the last step of block j − 1.
            switch = (block != previous_block) & (block >= 1)
            fresh = self.penalty.importance(student)
            decay = self.penalty.ewc_decay
            importance = jax.tree.map(lambda F, f: jnp.where(switch, decay * F + f, F), importance, fresh)
            anchor = jax.tree.map(lambda a, s: jnp.where(switch, s, a), anchor, student)
        student = self.gates.prepare(student, block=block, config=config, n_targets=self.n_targets)
        return ContinualState(student=student, anchor=anchor, importance=importance)

    def velocity(self, state, weights, input_covariance, config):
        student = state.student
        v = self.inner.velocity(student, weights, input_covariance, config)
        if self.penalty is not None:
            taus = config.student.time_constants(student)
            strength = self.penalty.lambda_ewc
            v = jax.tree.map(
                lambda dv, F, th, th0, tau: dv - strength * F * (th - th0) / tau,
                v, state.importance, student, state.anchor, taus,
            )
        v = self.gates.freeze(v)
        zeros = None if self.penalty is None else jax.tree.map(jnp.zeros_like, state.anchor)
        return ContinualState(student=v, anchor=zeros, importance=zeros)

    def record(self, state, *, t, block, weights, previous_weights, input_covariance, config):
        return self.inner.record(state.student, t=t, block=block, weights=weights, previous_weights=previous_weights,
                                 input_covariance=input_covariance, config=config)


# ------------------------------------------------------------------------------------------- engine
class ContinualScan(EulerScan):
    """The Euler scan with a continual-learning penalty and/or gate policy (MODEL §9).

    Set it as ``Simulation(engine=ContinualScan(...))``; everything else (``ntajax.run``, sweeps,
    stores) works unchanged. Examples::

        ContinualScan(penalty=OnlineEWC(lambda_ewc=10.0))  # online EWC, needs task boundaries
        ContinualScan(penalty=L2Pull(lambda_ewc=1.0))      # L2 pull, needs task boundaries
        ContinualScan(gates=OracleGates())                 # oracle gating, needs task boundaries
        ContinualScan(gates=FrozenGates())                 # with n_paths=1: ungated ŷ = Wx

    Args:
        penalty: :class:`OnlineEWC`, :class:`L2Pull` or ``None``, with its strength and decay.
        gates: a :class:`GatePolicy` (default :class:`LearnedGates`).
        unroll, rng_batch: as for :class:`~ntajax.EulerScan` (speed only).
    """

    supports_state_dependent_curriculum = False  # its frame reads the block clock (anchors, heads)
    supports_teacher_noise = False

    penalty: Penalty | None = None
    gates: GatePolicy = eqx.field(static=True, default=LearnedGates())

    def check(self, simulation):
        super().check(simulation)
        self.gates.check(simulation, simulation.n_targets)

    @property
    def needs_task_boundaries(self) -> bool:
        """True when the method is told where tasks end (EWC, L2 pull, oracle gating); NTA is not."""
        return (self.penalty is not None and self.penalty.needs_task_boundaries) or self.gates.needs_task_boundaries

    def frame(self, config, teachers, init) -> ContinualFrame:
        del init
        n_targets = teachers.shape[0]
        return ContinualFrame(inner=FullFrame(teachers=teachers), penalty=self.penalty, gates=self.gates, config=config,
                              n_targets=n_targets)

    def solve(self, config, *, teachers, init, data_key, start_step=0):
        if self.penalty is not None:
            start_step = eqx.error_if(
                jnp.asarray(start_step, jnp.int32), (jnp.asarray(start_step) != 0) & (self.penalty.lambda_ewc > 0),
                "ContinualScan with a penalty cannot resume (start_step > 0): the anchor and Fisher are not part of "
                "the student. Run in one piece with ntajax.run, not run_chunked/run_variants.",
            )
        return super().solve(config, teachers=teachers, init=init, data_key=data_key, start_step=start_step)
