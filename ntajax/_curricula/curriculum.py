"""Curricula: which teacher (or mixture of teachers) is the target at each time (MODEL §6).

A curriculum maps the current time, block and step to a weight vector over all teachers
(base teachers first, then composites, MODEL §3.6); the target map is
W*(t) = Σ_m w_m(t) W*_m. Three families:

* :class:`Blocked` — piecewise-constant blocked schedules given as phases (§6.1), built
  from the spec's schedule strings by :func:`schedule`;
* :class:`Smooth` — the smooth periodic curriculum with sharpness g (§6.2);
* :class:`Interleaved` — the interleaved control, per step or per sample (§6.3).

Every curriculum carries its block length τ_B (the context duration t_ctx of the smooth
curriculum, the analysis window of the interleaved control) as a traced array leaf, so a sweep
over τ_B compiles once; everything else (phases, sharpness, …) is static.
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

from .._parameters import check_positive, scalar_fields, traced
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

    # Whether the weights depend on the random key (then no deterministic ODE exists) and
    # whether the curriculum consists of blocks (block metrics are defined).
    is_stochastic = False
    is_blocked = False


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
    """

    phases: tuple[tuple[int, tuple[int | tuple[float, ...], ...]], ...] | None = eqx.field(static=True, default=None)
    block_length: Float[Array, ""] = eqx.field(default=1.0, converter=traced)
    clock_steps: Int[Array, ""] | None = None
    is_blocked = True

    def __check_init__(self):
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
        return Blocked(((0, tuple(range(n_teachers))),), block_length=self.block_length, clock_steps=self.clock_steps)

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
