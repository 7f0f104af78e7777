"""Curricula: which teacher (or mixture of teachers) is the target at each time (MODEL §6).

A curriculum maps the current time, block and step to a weight vector over all teachers
(base teachers first, then composites, MODEL §3.6); the target map is
W*(t) = Σ_m w_m(t) W*_m. Three families:

* :class:`Blocked` — piecewise-constant blocked schedules given as phases (§6.1), built
  from the spec's schedule strings by :func:`schedule`;
* :class:`Smooth` — the smooth periodic curriculum with sharpness g (§6.2);
* :class:`Interleaved` — the interleaved control, per step or per sample (§6.3);
* :class:`LossTriggered` — a curriculum that reacts to the learner: the next task starts once the
  loss has stayed below a threshold for a hold time, or at the latest after a maximum block
  length (the protocol of Lee, Goldt & Saxe's continual-learning teacher–student code).

Every curriculum carries its block length τ_B (the context duration t_ctx of the smooth
curriculum, the analysis window of the interleaved control, the maximum block length of the
loss-triggered curriculum) as a traced array leaf, so a sweep over τ_B compiles once; everything
else (phases, sharpness, …) is static.

Clock curricula are pure functions of (t, block, step, key), the block coming from the step
(:func:`clock.block_of_step`). A *state-dependent* curriculum (``is_state_dependent = True``)
instead carries a state through the engine's scan: :meth:`Curriculum.init_state` gives it before
the first step and :meth:`Curriculum.advance` updates it after every step from that step's loss;
its current block is ``state.block``. Engines that support this declare
``supports_state_dependent_curriculum`` (:class:`ntajax.EulerScan`, :class:`ntajax.SubspaceScan`).
"""

import abc
import dataclasses
import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._parameters import check_non_negative, check_positive, scalar_fields, traced
from . import clock


class Curriculum(eqx.Module):
    """Abstract curriculum: a weight vector over the teachers at each time.

    Attributes:
        block_length: τ_B, a traced scalar (MODEL §6.4).
    """

    block_length: eqx.AbstractVar[Float[Array, ""]]

    def __check_init__(self):
        self.check_values(scalar_fields(self))

    def check_values(self, values: dict[str, float | None]) -> None:
        """Check concrete values of the traced fields (a sweep point's, or this curriculum's own)."""
        check_positive(type(self).__name__, "block_length", values.get("block_length"))

    @abc.abstractmethod
    def weights(
        self,
        *,
        t: Float[Array, ""],
        block: Int[Array, ""],
        step: Int[Array, ""],
        key: PRNGKeyArray,
        n_targets: int,
    ) -> Float[Array, " n_targets"]:
        """Weights w_m(t) over all ``n_targets`` teachers (base then composites)."""

    def block_of_step(self, step, dt: float) -> Int[Array, ""]:
        """Index of the block that contains Euler step ``step`` (see :func:`clock.block_of_step`)."""
        return clock.block_of_step(step, self.block_length, dt)

    # Whether the Euler engines should integrate the target over each step
    # (:meth:`step_weights`) instead of reading it at the step's start: set by
    # ``Blocked(fractional_switches=True)``, the clock whose switch times carry a derivative.
    integrates_steps = False

    def step_weights(
        self, step: Int[Array, ""], block: Int[Array, ""], dt: float, n_targets: int
    ) -> Float[Array, " n_targets"]:
        """Weights averaged over Euler step ``step`` (curricula with ``integrates_steps`` only)."""
        raise TypeError(f"{type(self).__name__} reads its weights at the start of each step.")

    def resolve(self, n_teachers: int) -> "Curriculum":
        """This curriculum with its defaults filled in for ``n_teachers`` base teachers."""
        del n_teachers
        return self

    def replace(self, **changes) -> "Curriculum":
        """A copy with some fields changed (re-validated)."""
        return dataclasses.replace(self, **changes)

    @property
    @abc.abstractmethod
    def max_teacher_index(self) -> int:
        """Largest teacher index used; the config checks that this many teachers exist."""

    def block_count_bound(self, values: dict[str, float | None], t_total: float, dt: float) -> int | None:
        """How many blocks a run over [0, t_total] can contain, from this curriculum's traced values
        by field name (``None`` where a needed value is traced): ⌈t_total/τ_B⌉ for clock curricula."""
        block_length = values.get("block_length")
        return None if block_length is None else clock.count_blocks(t_total, block_length)

    # Whether the weights depend on the random key (then no deterministic ODE exists), whether
    # the curriculum consists of blocks (block metrics are defined) and whether its blocks follow
    # the learner (a state carried through the scan, see the module docstring).
    is_stochastic = False
    is_blocked = False
    is_state_dependent = False

    def init_state(self) -> "TriggerState":
        """The curriculum state before the first step (state-dependent curricula only)."""
        raise TypeError(f"{type(self).__name__} is a clock curriculum (block from the step); it has no state.")

    def advance(self, state: "TriggerState", loss: Float[Array, ""], dt: float) -> "TriggerState":
        """The curriculum state after a step whose loss was ``loss`` (state-dependent curricula only)."""
        raise TypeError(f"{type(self).__name__} is a clock curriculum (block from the step); it has no state.")


class Blocked(Curriculum):
    """A blocked schedule: block k uses the task of the phase that contains k (MODEL §6.1).

    Each phase is ``(start_block, sequence)``; block k uses ``sequence[k mod len(sequence)]``
    of the last phase whose start is ≤ k (absolute block index, as in the original). A
    sequence element is a teacher index or a tuple of mixture weights over the teachers.
    Example: ``Blocked(((0, (0, 1)),), block_length=1.0)`` is A, B, A, B, … with τ_B = 1;
    ``Blocked()`` (no phases) cycles through all base teachers.

    Args:
        phases: the phases, or ``None`` for every base teacher in turn (static).
        block_length: τ_B (traced).
        clock_steps: [compat] the original's steps per block ⌊τ_B/dt⌋ (MODEL §6.4 feature 1),
            set by :meth:`with_original_clock`; ``None`` is the exact clean clock.
        fractional_switches: (static, default ``False``) the Euler step that contains a switch
            integrates the piecewise-constant target over the step: with a fraction f of the
            step [i·dt, (i+1)·dt] before the switch at k·τ_B, it steps towards
            f·w_old + (1 − f)·w_new (:meth:`step_weights`). f is a differentiable function of
            τ_B, so gradients with respect to ``block_length`` exist (the default clock's are
            zero) and converge to the continuous-time jump term as dt → 0. Where τ_B/dt is an
            integer every switch falls on a step boundary and the run equals the default clock's
            bit for bit; otherwise it differs from it by O(dt) (the default rounds each switch to
            the nearest step). Needs τ_B ≥ dt (at most one switch per step) and an Euler engine
            (:class:`ntajax.EulerScan`, :class:`ntajax.SubspaceScan`, :class:`ntajax.ContinualScan`).
    """

    phases: tuple[tuple[int, tuple[int | tuple[float, ...], ...]], ...] | None = eqx.field(static=True, default=None)
    block_length: Float[Array, ""] = eqx.field(default=1.0, converter=traced)
    clock_steps: Int[Array, ""] | None = None
    fractional_switches: bool = eqx.field(static=True, default=False)
    is_blocked = True

    @property
    def integrates_steps(self) -> bool:  # type: ignore[override]
        return self.fractional_switches

    def __check_init__(self):
        if not isinstance(self.fractional_switches, bool):
            raise TypeError(f"Blocked(fractional_switches={self.fractional_switches!r}) must be True or False.")
        if self.fractional_switches and self.clock_steps is not None:
            raise ValueError(
                "Blocked(fractional_switches=True) integrates the clean clock's switches k·τ_B over each step and "
                "cannot be combined with the original's integer clock (clock_steps / with_original_clock()); "
                "drop one of them."
            )
        if self.phases is None:
            return
        if not self.phases:
            raise ValueError("Blocked(phases=()) is empty: give at least one (start_block, sequence) phase.")
        starts = [p[0] for p in self.phases]
        if starts[0] != 0 or sorted(set(starts)) != starts:
            raise ValueError(
                f"Blocked phases must start at block 0 and have strictly increasing start blocks; got starts {starts}."
            )
        for start, seq in self.phases:
            if len(seq) == 0:
                raise ValueError(f"Blocked phase starting at block {start} has an empty task sequence.")

    def resolve(self, n_teachers):
        if self.phases is not None:
            return self
        return Blocked(((0, tuple(range(n_teachers))),), block_length=self.block_length, clock_steps=self.clock_steps,
                       fractional_switches=self.fractional_switches)

    def block_of_step(self, step, dt):
        return clock.block_of_step(step, self.block_length, dt, self.clock_steps)

    def with_original_clock(self, dt: float) -> "Blocked":
        """[compat] The original's float-floor block clock ⌊τ_B/dt⌋ (MODEL §6.4 feature 1)."""
        steps = clock.original_block_steps(float(self.block_length), dt)
        return self.replace(clock_steps=jnp.asarray(steps, dtype=jnp.int32))

    @property
    def max_teacher_index(self) -> int:
        if self.phases is None:
            raise ValueError("Blocked() without phases has no fixed teacher count: call .resolve(n_teachers) first.")
        top = 0
        for _, seq in self.phases:
            for item in seq:
                top = max(top, item if isinstance(item, int) else len(item) - 1)
        return top

    def _sequence_matrix(self, seq, n_targets: int) -> np.ndarray:
        rows = []
        for item in seq:
            row = np.zeros(n_targets)
            if isinstance(item, int):
                row[item] = 1.0
            else:
                row[: len(item)] = item
            rows.append(row)
        return np.stack(rows)

    def task_of_block(self, block: Int[Array, ""], n_targets: int) -> Float[Array, " n_targets"]:
        """Weight vector of block ``block``.

        Written as a chain of selects over the (short) sequences rather than an indexing of a
        table: when ``block`` is batched (a sweep over τ_B) an index would become a gather in
        every Euler step, which XLA executes far more slowly on CPU.
        """
        out = None
        for start, seq in self.phases:
            table = self._sequence_matrix(seq, n_targets)
            position = jnp.mod(block, len(seq))
            w = jnp.asarray(table[0], jnp.float32)
            for j in range(1, len(seq)):
                w = jnp.where(position == j, jnp.asarray(table[j], jnp.float32), w)
            out = w if out is None else jnp.where(block >= start, w, out)
        return out

    def weights(self, *, t, block, step, key, n_targets):
        del t, step, key
        return self.task_of_block(block, n_targets)

    def step_weights(self, step, block, dt, n_targets):
        """The target weights integrated over Euler step ``step`` of block ``block``, (n_targets,).

        In step units the switches lie at s_k = k·r with r = τ_B/dt. Block b (from the clock,
        :func:`clock.block_of_step`) covers [s_b, s_{b+1}); the step [i, i + 1] overlaps block
        b − 1 by g = clip(s_b − i, 0, 1) and block b + 1 by h = clip(i + 1 − s_{b+1}, 0, 1),
        so the weights are g·w_{b−1} + h·w_{b+1} + (1 − g − h)·w_b (r ≥ 1: at most one switch
        per step). s_k is snapped to the nearest integer when it is one up to float32 rounding
        (the value only: ds_k/dτ_B = k/dt is kept), so that for integer r the weights are
        exactly w_b. At a switch on a step boundary the clip has a kink; JAX's derivative of clip there
        is the mean of the two one-sided derivatives, which is what a central finite difference
        of the discrete run measures.
        """
        r = self.block_length / dt
        i = jnp.asarray(step).astype(r.dtype)
        b = jnp.asarray(block).astype(r.dtype)
        before = _unit_ramp(_snap_to_integer(b * r) - i)
        after = _unit_ramp(i + 1 - _snap_to_integer((b + 1) * r))
        w = self.task_of_block(block, n_targets)
        previous = self.task_of_block(jnp.maximum(block - 1, 0), n_targets)
        following = self.task_of_block(block + 1, n_targets)
        return before * previous + after * following + (1 - before - after) * w


def _unit_ramp(x: Float[Array, ""]) -> Float[Array, ""]:
    """clip(x, 0, 1); lax.max/min give the mean of the one-sided derivatives at the kinks."""
    return jnp.minimum(jnp.maximum(x, 0.0), 1.0)


def _snap_to_integer(x: Float[Array, ""]) -> Float[Array, ""]:
    """``x`` rounded to the nearest integer when within float32 rounding of it (4·ε₃₂·|x|), else
    ``x``; the derivative is always 1 (a straight-through snap that keeps d/dτ_B of a switch time).

    The tolerance is float32's even in float64 runs: leaves are born float32 (``Blocked(
    block_length=0.7)`` holds 0.699999988), so a switch meant to fall on a step edge lies
    within float32 rounding of it. Snapping moves a switch by at most ~5·10⁻⁷·k·τ_B/dt steps
    (the default clock rounds it by up to half a step)."""
    nearest = jnp.round(x)
    close = jnp.abs(nearest - x) <= 4 * float(jnp.finfo(jnp.float32).eps) * jnp.maximum(jnp.abs(x), 1.0)
    return x + jax.lax.stop_gradient(jnp.where(close, nearest, x) - x)


def smooth_context_weight(x: Float[Array, "..."], period: Float[Array, ""], t_ctx, sharpness) -> Float[Array, "..."]:
    """The periodic window F(x) of the smooth curriculum (MODEL §6.2, steps 1–4)."""
    r = jnp.fmod(x, period)
    xt = jnp.minimum(jnp.abs(r), period - jnp.abs(r))
    kappa = jnp.where(xt < t_ctx, jnp.cos(jnp.pi * xt / t_ctx), -1.0)
    return 0.5 * (1.0 + jnp.sign(kappa) * jnp.abs(jnp.sin(jnp.pi * kappa / 2)) ** (1.0 / sharpness))


class Smooth(Curriculum):
    """Smooth periodic curriculum over ``n_contexts`` targets with sharpness g (MODEL §6.2).

    w_m(t) = F(t − m·t_ctx − T_p·¼·(1 − 10⁻⁴)) with period T_p = N·t_ctx and t_ctx =
    ``block_length``. ``order`` permutes which target comes first: ``order=(1, 0)`` makes
    target 1 active during the first block.
    """

    n_contexts: int = eqx.field(static=True, default=2)
    sharpness: float = eqx.field(static=True, default=100.0)
    order: tuple[int, ...] | None = eqx.field(static=True, default=None)
    block_length: Float[Array, ""] = eqx.field(default=1.0, converter=traced)

    def __check_init__(self):
        if self.n_contexts < 1:
            raise ValueError(f"Smooth(n_contexts={self.n_contexts}) must be at least 1.")
        if not (self.sharpness > 0 and math.isfinite(self.sharpness)):
            raise ValueError(f"Smooth(sharpness={self.sharpness}) must be a positive finite number (the spec uses 100 or 1000).")
        if self.order is not None and sorted(self.order) != list(range(self.n_contexts)):
            raise ValueError(f"Smooth(order={self.order}) must be a permutation of range({self.n_contexts}).")

    @property
    def max_teacher_index(self) -> int:
        return self.n_contexts - 1

    def weights(self, *, t, block, step, key, n_targets):
        del block, step, key
        block_length = self.block_length
        n = self.n_contexts
        period = n * block_length
        slots = jnp.arange(n, dtype=jnp.result_type(t, jnp.float32))
        w_slot = smooth_context_weight(t - slots * block_length - period * 0.25 * (1 - 1e-4), period, block_length, self.sharpness)
        order = self.order if self.order is not None else tuple(range(n))
        w = jnp.zeros(n_targets, w_slot.dtype).at[jnp.asarray(order)].set(w_slot)
        return w


class Interleaved(Curriculum):
    """Interleaved control (MODEL §6.3): tasks drawn at random instead of in blocks.

    ``per="step"``: the whole minibatch of each Euler step gets one task drawn uniformly
    from ``tasks`` with its own seeded key (sampled or expected scan engine only).
    ``per="sample"``: every sample gets its own task; in expected mode this is the gradient
    of the task-averaged loss, i.e. the uniform mixture target (expected gradient only).
    ``block_length`` only sets the windows of the per-block metrics.
    """

    tasks: tuple[int, ...] = eqx.field(static=True, default=(0, 1))
    per: str = eqx.field(static=True, default="step")
    block_length: Float[Array, ""] = eqx.field(default=1.0, converter=traced)

    def __check_init__(self):
        if self.per not in ("step", "sample"):
            raise ValueError(f"Interleaved(per={self.per!r}) must be 'step' or 'sample'.")
        if len(self.tasks) == 0:
            raise ValueError("Interleaved(tasks=()) is empty.")

    @property
    def is_stochastic(self) -> bool:  # type: ignore[override]
        return self.per == "step"

    @property
    def max_teacher_index(self) -> int:
        return max(self.tasks)

    def weights(self, *, t, block, step, key, n_targets):
        del t, block
        tasks = jnp.asarray(self.tasks)
        if self.per == "sample":
            return jnp.zeros(n_targets).at[tasks].add(1.0 / len(self.tasks))
        choice = jax.random.randint(jax.random.fold_in(key, step), (), 0, len(self.tasks))
        return jax.nn.one_hot(tasks[choice], n_targets)


class TriggerState(eqx.Module):
    """The state a :class:`LossTriggered` curriculum carries through the scan (int32 scalars).

    Attributes:
        block: the block of the next step.
        last_block: the block of the step just taken (equal to ``block`` before the first step):
            a save point's ``closing_loss`` is the loss against its task.
        steps_in_block: steps of ``block`` taken so far.
        steps_below: consecutive steps of ``block``, up to the last one taken, whose loss was
            below the threshold.
    """

    block: Int[Array, ""]
    last_block: Int[Array, ""]
    steps_in_block: Int[Array, ""]
    steps_below: Int[Array, ""]


class LossTriggered(Curriculum):
    """Switch to the next task once the loss has stayed below a threshold for a hold time, or at
    the latest after a maximum block length (Lee, Goldt & Saxe's continual-learning protocol).

    Block k uses ``tasks[k mod len(tasks)]`` (a teacher index or a tuple of mixture weights, as a
    :class:`Blocked` sequence; ``None``: every base teacher in turn). The blocks follow the learner,
    so the curriculum carries a :class:`TriggerState` through the Euler scan.

    **Which loss.** L_i = ½‖W*_k − W_eff(θ_i)‖²_F (+ the teacher-noise floor ½σ²·d_out when the
    teacher set has output noise), the exact *expected* loss (MODEL §4.1, Σ̂ = I) of the task of
    the current block k at the state θ_i before step i's update — in sampled mode too (never the
    minibatch loss). It is the ``loss`` a save point at step i records.

    **When it switches.** With n_hold = max(1, round(hold_time/dt)) and n_max = max(1,
    round(block_length/dt)) steps: after step i, a block that has run n steps (step i included)
    ends if L was below ``threshold`` at its last n_hold steps (strictly: L < threshold), or if
    n = n_max. Then step i + 1 is the first step of block k + 1 — the first step after the
    criterion holds. A block therefore lasts between min(n_hold, n_max) and n_max steps; the
    time below the threshold is counted within the current block only (it restarts at a switch).
    With a threshold the loss never reaches (e.g. 0) this is :class:`Blocked` with
    τ_B = n_max·dt.

    Args:
        tasks: the task sequence (static), or ``None`` for every base teacher in turn.
        threshold: L_θ, the loss threshold (traced, ≥ 0).
        hold_time: how long the loss must stay below the threshold (traced, ≥ 0; rounded to whole
            steps, at least one).
        block_length: the maximum block length τ_max (traced, > 0): a block ends at the latest
            after this time. The per-block outputs count up to ⌈n_steps/min(n_hold, n_max)⌉
            blocks (:meth:`block_count_bound`).

    Engines: :class:`ntajax.EulerScan` (expected and sampled gradients) and
    :class:`ntajax.SubspaceScan`; the others refuse it at construction. A run cannot be continued
    with ``start_step`` (the curriculum state is not part of ``Trajectory.final``).
    """

    tasks: tuple[int | tuple[float, ...], ...] | None = eqx.field(static=True, default=None)
    threshold: Float[Array, ""] = eqx.field(default=0.1, converter=traced)
    hold_time: Float[Array, ""] = eqx.field(default=0.1, converter=traced)
    block_length: Float[Array, ""] = eqx.field(default=1.0, converter=traced)
    is_blocked = True
    is_state_dependent = True

    def __check_init__(self):
        if self.tasks is not None and len(self.tasks) == 0:
            raise ValueError("LossTriggered(tasks=()) is empty: give at least one task, or None for every base teacher.")

    def check_values(self, values):
        check_positive(type(self).__name__, "block_length", values.get("block_length"))
        check_non_negative(type(self).__name__, "threshold", values.get("threshold"))
        check_non_negative(type(self).__name__, "hold_time", values.get("hold_time"))

    @property
    def max_block_length(self) -> Float[Array, ""]:
        """τ_max, the maximum block length (the field ``block_length``)."""
        return self.block_length

    def resolve(self, n_teachers):
        if self.tasks is not None:
            return self
        return self.replace(tasks=tuple(range(n_teachers)))

    @property
    def _blocked(self) -> Blocked:
        if self.tasks is None:
            raise ValueError("LossTriggered() without tasks has no fixed teacher count: call .resolve(n_teachers) first.")
        return Blocked(((0, self.tasks),), block_length=self.block_length)

    @property
    def max_teacher_index(self) -> int:
        return self._blocked.max_teacher_index

    def task_of_block(self, block: Int[Array, ""], n_targets: int) -> Float[Array, " n_targets"]:
        """Weight vector of block ``block``: ``tasks[block mod len(tasks)]``."""
        return self._blocked.task_of_block(block, n_targets)

    def weights(self, *, t, block, step, key, n_targets):
        del t, step, key
        return self.task_of_block(block, n_targets)

    def block_of_step(self, step, dt):
        raise TypeError("LossTriggered has no block clock: its block is the state the engine carries (state.block).")

    def steps(self, dt: float) -> tuple[Int[Array, ""], Int[Array, ""]]:
        """(n_hold, n_max): the hold time and the maximum block length in whole steps (≥ 1)."""
        n_hold = jnp.maximum(jnp.round(self.hold_time / dt), 1).astype(jnp.int32)
        n_max = jnp.maximum(jnp.round(self.block_length / dt), 1).astype(jnp.int32)
        return n_hold, n_max

    def block_count_bound(self, values, t_total, dt):
        hold, block_length = values.get("hold_time"), values.get("block_length")
        if hold is None or block_length is None:
            return None
        n_steps = max(1, round(t_total / dt))
        shortest = max(1, min(round(hold / dt), round(block_length / dt)))
        return max(1, math.ceil(n_steps / shortest))

    def init_state(self) -> TriggerState:
        zero = jnp.zeros((), jnp.int32)
        return TriggerState(block=zero, last_block=zero, steps_in_block=zero, steps_below=zero)

    def advance(self, state, loss, dt):
        """The state after a step of ``state.block`` whose expected loss (at the state before the
        update) was ``loss``; see the class docstring for the rule."""
        n_hold, n_max = self.steps(dt)
        n = state.steps_in_block + 1
        below = jnp.where(loss < self.threshold, state.steps_below + 1, 0).astype(jnp.int32)
        switch = (below >= n_hold) | (n >= n_max)
        return TriggerState(
            block=state.block + switch.astype(jnp.int32),
            last_block=state.block,
            steps_in_block=jnp.where(switch, 0, n).astype(jnp.int32),
            steps_below=jnp.where(switch, 0, below).astype(jnp.int32),
        )


def _cycle(indices: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(i) for i in indices)


def schedule(name: str, n_teachers: int, switch_block: int | None = None, *, block_length=1.0) -> Blocked:
    """Build a blocked schedule from the spec's schedule strings (MODEL §6.1 table).

    Args:
        name: one of :data:`SCHEDULE_NAMES` (e.g. ``"A_B__"``, ``"A_B_C__AB_BC_CA__"``).
        n_teachers: M, the number of base teachers.
        switch_block: S, the first block of the second phase, for two-phase schedules.
            The original used S = ⌊0.75·(⌊t_tot/τ_B⌋ + 1)⌋, see
            :func:`ntajax.original_switch_block`.
        block_length: τ_B of the blocks.
    """
    M = n_teachers
    if name not in SCHEDULE_NAMES:
        raise ValueError(f"Unknown schedule {name!r}. Valid schedules: {', '.join(SCHEDULE_NAMES)}; or build Blocked(phases) directly.")
    single, two = _SCHEDULES[name]
    if two is None:
        return Blocked(((0, single(M)),), block_length=block_length)
    if switch_block is None or switch_block < 1:
        raise ValueError(
            f"Schedule {name!r} has two phases and needs switch_block ≥ 1 (got {switch_block}); "
            "the original used ntajax.original_switch_block(t_total, block_length)."
        )
    return Blocked(((0, single(M)), (int(switch_block), two(M))), block_length=block_length)


def _need_m(m_required: int, name: str):
    def check(M: int) -> None:
        if M != m_required:
            raise ValueError(f"Schedule {name!r} is defined for n_teachers={m_required}, got {M}.")

    return check


def _m4(seq, name):
    def build(M):
        _need_m(4, name)(M)
        return seq

    return build


_SCHEDULES = {
    "A_B__": (lambda M: _cycle(range(M)), None),
    "B_AB__A_B_AB__": (lambda M: _cycle((k % M) + 1 for k in range(M)), lambda M: _cycle(range(M + _n_comp(M)))),
    "B_AB__A_B__": (lambda M: _cycle((k % M) + 1 for k in range(M)), lambda M: _cycle(range(M))),
    "A_B__AB__": (lambda M: _cycle(range(M)), lambda M: (M,)),
    "AB_BC__": (lambda M: _cycle((k % (M - 1)) + M for k in range(M - 1)), None),
    "A_B_C__AB_BC_CA__": (lambda M: _cycle(range(M)), lambda M: _cycle(k + M for k in range(M))),
    "AB_BC_CA__": (lambda M: _cycle(k + M for k in range(M)), None),
    "AB_BC_CA__A_B_C__": (lambda M: _cycle(k + M for k in range(M)), lambda M: _cycle(range(M))),
    "AB_CD__AD__": (_m4((4, 6), "AB_CD__AD__"), _m4((7,), "AB_CD__AD__")),
    "AB_BC_CD_DA__AC_BD__": (_m4((4, 5, 6, 7), "AB_BC_CD_DA__AC_BD__"), _m4((8, 9), "AB_BC_CD_DA__AC_BD__")),
}

SCHEDULE_NAMES: tuple[str, ...] = tuple(_SCHEDULES)


def _n_comp(M: int) -> int:
    """Number of pair composites for M base teachers (MODEL §3.6)."""
    return M - 1 + (1 if M > 2 else 0)
