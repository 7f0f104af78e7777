"""The simulation config: static structure plus traced hyperparameters (MODEL §5, §6.4).

A :class:`Config` is a frozen Equinox module. Its fields fall into two groups:

* **static** (Python values; changing one compiles a new program): sizes, ``dt``,
  ``t_total`` (hence the number of steps), ``n_save``, ``batch_size``, ``n_seeds``, the
  student kind, ``norm_order``, the gradient mode, the engine, the curriculum, the teacher
  set, ``n_blocks`` (the length of per-block outputs);
* **traced** (float32 array leaves; changing one does NOT recompile, and a stacked config
  can be ``vmap``-ped): ``tau_w, tau_c, tau_w1, tau_w2, lambda_norm, lambda_nonneg,
  lambda_w, block_length, init_scale``.

Every check that can be made on concrete values is made at construction and raises a
``ValueError``/``TypeError`` naming the field, the value and the fix.
"""

import dataclasses
import json
import math
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ._curricula import clock as _clock
from ._curricula.curriculum import Blocked, Curriculum, Interleaved
from ._engines.euler import ENGINES, Engine, SubspaceScan
from ._gradient import GRADIENT_MODES, GradientMode
from ._students.registry import STUDENTS
from ._students.linear import Student
from ._teachers.sets import OrthogonalTeachers, TeacherSet


class NtajaxWarning(UserWarning):
    """Warnings about settings that are allowed but outside the gradient-flow regime."""


TRACED_FIELDS: tuple[str, ...] = (
    "tau_w",
    "tau_c",
    "tau_w1",
    "tau_w2",
    "lambda_norm",
    "lambda_nonneg",
    "lambda_w",
    "block_length",
    "init_scale",
    "lambda_ewc",
    "ewc_decay",
)


def _traced(x) -> Float[Array, ""]:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.number, np.ndarray, jax.Array)):
        raise TypeError(f"expected a real number, got {x!r} of type {type(x).__name__}")
    return jnp.asarray(x, dtype=jnp.float32)


def _gradient_mode(x) -> GradientMode:
    if isinstance(x, GradientMode):
        return x
    if x not in GRADIENT_MODES:
        raise ValueError(f"gradient={x!r} is not a gradient mode; use one of {sorted(GRADIENT_MODES)} or a GradientMode object.")
    return GRADIENT_MODES[x]


def _engine(x) -> Engine:
    if isinstance(x, Engine):
        return x
    if x not in ENGINES:
        raise ValueError(f"engine={x!r} is not an engine; use one of {sorted(ENGINES)} or an Engine object.")
    return ENGINES[x]()


def _concrete(x) -> float | None:
    """The Python value of a traced field, or None while it is being traced."""
    if isinstance(x, jax.core.Tracer):
        return None
    arr = np.asarray(x)
    return float(arr) if arr.ndim == 0 else None


class Config(eqx.Module):
    """Everything that defines one NTA simulation except the random key.

    Sizes and timing (static):
        d_in, d_out: input and output dimension.
        n_teachers: M, base teachers. n_paths: P, student paths.
        student: ``"gated"`` (§2.1), ``"per_neuron"`` (§2.2) or ``"two_layer"`` (§2.3).
        dt: Euler step. t_total: simulated span [0, t_total], round(t_total/dt) steps.
        n_save: recorded points including t = 0 and t = t_total; (n_steps) must be a
            multiple of (n_save − 1).
        batch_size: B, samples per step in sampled mode.
        n_seeds: seeds run side by side by :func:`ntajax.run`.
        norm_order: k of the gate-norm regulariser, 1 or 2.
        gradient: ``"sampled"``, ``"expected"`` or a :class:`GradientMode`.
        engine: ``"scan"`` (Euler ``lax.scan``), ``"subspace"`` (the same Euler scan of the
            expected flow in exact reduced coordinates; gated and per-neuron students, λ_W = 0),
            ``"diffrax"`` (adaptive ODE) or an :class:`Engine` object.
        curriculum: a :class:`Curriculum`; default A, B, A, B, … over the base teachers.
        teachers: a :class:`TeacherSet`; default rotated orthogonal teachers, s = 1/√d_in.
        n_blocks: length of per-block outputs; default ⌈t_total/block_length⌉. A sweep
            over block lengths sets it to the largest count.
        dtype: ``"float32"`` (default) or ``"float64"``; float64 runs inside
            ``jax.enable_x64(True)`` (scoped to the call, no global state), with the traced
            fields, teachers and initial state cast to it (MODEL §5.2, precision).
        record_weights: also record the full weights (the whole student) ...
        weights_every: ... at every ``weights_every``-th save point (t = 0 and t_total always
            included); must divide n_save − 1. Coarser than the other records, to bound memory.

    Traced hyperparameters (float32 arrays):
        tau_w, tau_c: time constants of weights and gates (§5.1).
        tau_w1, tau_w2: time constants of the two layers of the two-layer student.
        lambda_norm, lambda_nonneg, lambda_w: clean regulariser coefficients (§4.2).
        block_length: τ_B; block k starts at k·τ_B (§6.4).
        init_scale: σ₀; weights start with std σ₀/√d_in (§5.3).
        lambda_ewc, ewc_decay: strength λ_EWC and online decay γ of the continual-learning
            penalties (MODEL §9); used only by engines that implement them.
        compat_block_steps: [compat] the original's steps per block ⌊τ_B/dt⌋ (see
            :meth:`with_original_clock`); ``None`` is the exact clean clock.
    """

    # static structure
    d_in: int = eqx.field(static=True, default=20)
    d_out: int = eqx.field(static=True, default=10)
    n_teachers: int = eqx.field(static=True, default=2)
    n_paths: int = eqx.field(static=True, default=2)
    student: str = eqx.field(static=True, default="gated")
    dt: float = eqx.field(static=True, default=1e-3)
    t_total: float = eqx.field(static=True, default=20.0)
    n_save: int = eqx.field(static=True, default=1001)
    batch_size: int = eqx.field(static=True, default=200)
    n_seeds: int = eqx.field(static=True, default=10)
    norm_order: int = eqx.field(static=True, default=1)
    gradient: GradientMode = eqx.field(static=True, default="sampled", converter=_gradient_mode)
    engine: Engine = eqx.field(static=True, default="scan", converter=_engine)
    curriculum: Curriculum | None = eqx.field(static=True, default=None)
    teachers: TeacherSet = eqx.field(static=True, default=OrthogonalTeachers())
    n_blocks: int | None = eqx.field(static=True, default=None)
    dtype: str = eqx.field(static=True, default="float32")
    record_weights: bool = eqx.field(static=True, default=False)
    weights_every: int = eqx.field(static=True, default=1)
    # traced hyperparameters
    tau_w: Float[Array, ""] = eqx.field(default=1.3, converter=_traced)
    tau_c: Float[Array, ""] = eqx.field(default=0.03, converter=_traced)
    tau_w1: Float[Array, ""] = eqx.field(default=0.06, converter=_traced)
    tau_w2: Float[Array, ""] = eqx.field(default=0.01, converter=_traced)
    lambda_norm: Float[Array, ""] = eqx.field(default=0.0, converter=_traced)
    lambda_nonneg: Float[Array, ""] = eqx.field(default=0.0, converter=_traced)
    lambda_w: Float[Array, ""] = eqx.field(default=0.0, converter=_traced)
    block_length: Float[Array, ""] = eqx.field(default=1.0, converter=_traced)
    init_scale: Float[Array, ""] = eqx.field(default=0.01, converter=_traced)
    lambda_ewc: Float[Array, ""] = eqx.field(default=0.0, converter=_traced)
    ewc_decay: Float[Array, ""] = eqx.field(default=1.0, converter=_traced)
    compat_block_steps: Int[Array, ""] | None = None

    # ------------------------------------------------------------------ derived values
    @property
    def n_steps(self) -> int:
        """Number of Euler steps, round(t_total/dt)."""
        return int(round(self.t_total / self.dt))

    @property
    def save_every(self) -> int:
        """Steps between two recorded points."""
        return self.n_steps // (self.n_save - 1)

    @property
    def save_times(self) -> np.ndarray:
        """Recorded times j·save_every·dt, shape (n_save,)."""
        return np.arange(self.n_save) * self.save_every * self.dt

    @property
    def float_dtype(self):
        """The floating-point dtype of the simulation (``jnp.float32`` or ``jnp.float64``)."""
        return jnp.float64 if self.dtype == "float64" else jnp.float32

    def cast(self) -> "Config":
        """This config with its traced float leaves in :attr:`float_dtype` (call under
        ``jax.enable_x64`` for float64)."""
        dtype = self.float_dtype
        return jax.tree.map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, self)

    @property
    def weight_save_times(self) -> np.ndarray:
        """Times at which full weights are recorded (when ``record_weights``)."""
        return self.save_times[:: self.weights_every]

    @property
    def student_class(self) -> type[Student]:
        return STUDENTS[self.student]

    @property
    def schedule(self) -> Curriculum:
        """The curriculum in force (the default is A, B, A, B, … over the base teachers)."""
        if self.curriculum is not None:
            return self.curriculum
        return Blocked(((0, tuple(range(self.n_teachers))),))

    @property
    def n_targets(self) -> int:
        """Base teachers plus composites, M + M_c."""
        return self.n_teachers + self.teachers.n_composites(self.n_teachers)

    @property
    def block_count(self) -> int:
        """Length of per-block outputs: ``n_blocks`` or ⌈t_total/block_length⌉."""
        if self.n_blocks is not None:
            return self.n_blocks
        value = _concrete(self.block_length)
        if value is None:
            raise ValueError("block_length is traced and n_blocks is not set: pass n_blocks explicitly.")
        return _clock.count_blocks(self.t_total, value)

    def with_block_count(self) -> "Config":
        """This config with ``n_blocks`` filled in, so it can be traced (used by run/summarise)."""
        return self if self.n_blocks is not None else self.replace(n_blocks=self.block_count)

    def replace(self, **changes) -> "Config":
        """A copy with some fields changed (re-validated)."""
        return dataclasses.replace(self, **changes)

    def with_original_clock(self) -> "Config":
        """[compat] Use the original's float-floor block clock ⌊τ_B/dt⌋ (MODEL §6.4 feature 1)."""
        steps = _clock.original_block_steps(float(self.block_length), self.dt)
        return self.replace(compat_block_steps=jnp.asarray(steps, dtype=jnp.int32))

    def to_dict(self) -> dict:
        """JSON-ready description of every field (traced values as floats)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (jax.Array, np.ndarray)):
                arr = np.asarray(value)
                value = arr.item() if arr.ndim == 0 else arr.tolist()
            elif isinstance(value, eqx.Module):
                value = repr(value)
            out[f.name] = value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    # ------------------------------------------------------------------ validation
    def __check_init__(self):
        self._check_sizes()
        self._check_time_grid()
        self._check_hyperparameters({name: _concrete(getattr(self, name)) for name in TRACED_FIELDS}, self.n_blocks)
        self._check_structure()

    def _check_sizes(self):
        for name in ("d_in", "d_out", "n_teachers", "n_paths", "batch_size", "n_seeds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive integer.")
        if self.student not in STUDENTS:
            raise ValueError(f"student={self.student!r} is not a student kind; use one of {sorted(STUDENTS)}.")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype={self.dtype!r} must be 'float32' or 'float64'.")
        if self.norm_order not in (1, 2):
            raise ValueError(f"norm_order={self.norm_order!r} must be 1 or 2 (the k of ‖c‖_k, MODEL §4.2).")
        if self.student == "gated" and self.n_paths < 1:
            raise ValueError("n_paths must be at least 1.")
        self.teachers.validate(n_teachers=self.n_teachers, d_out=self.d_out, d_in=self.d_in)

    def _check_time_grid(self):
        for name in ("dt", "t_total"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name}={value!r} must be a positive finite number.")
        ratio = self.t_total / self.dt
        if abs(ratio - round(ratio)) > 1e-6 * max(1.0, ratio):
            raise ValueError(
                f"t_total={self.t_total} is not a whole number of steps dt={self.dt} (ratio {ratio}); "
                "choose t_total as a multiple of dt."
            )
        if not isinstance(self.n_save, int) or self.n_save < 2:
            raise ValueError(f"n_save={self.n_save!r} must be an integer ≥ 2 (t = 0 and t = t_total are always recorded).")
        if self.n_steps % (self.n_save - 1) != 0:
            divisors = [d + 1 for d in range(1, self.n_steps + 1) if self.n_steps % d == 0]
            near = sorted(divisors, key=lambda v: abs(v - self.n_save))[:4]
            raise ValueError(
                f"n_save={self.n_save}: the {self.n_steps} steps cannot be split into n_save − 1 = "
                f"{self.n_save - 1} equal recording intervals; nearby valid values: {sorted(near)}."
            )
        if isinstance(self.weights_every, bool) or not isinstance(self.weights_every, int) or self.weights_every < 1 \
                or (self.n_save - 1) % self.weights_every:
            raise ValueError(
                f"weights_every={self.weights_every!r} must be a positive integer dividing n_save − 1 = {self.n_save - 1}."
            )
        if self.n_blocks is not None and (not isinstance(self.n_blocks, int) or self.n_blocks < 1):
            raise ValueError(f"n_blocks={self.n_blocks!r} must be a positive integer or None.")

    def _used_time_constants(self) -> tuple[str, ...]:
        return ("tau_w1", "tau_w2") if self.student == "two_layer" else ("tau_w", "tau_c")

    def check_point(self, values: dict[str, float]) -> None:
        """Check traced values (e.g. one sweep point) exactly as constructing
        ``self.replace(**values, n_blocks=None)`` would, without building the config."""
        full = {name: _concrete(getattr(self, name)) for name in TRACED_FIELDS} | {k: float(v) for k, v in values.items()}
        self._check_hyperparameters(full, n_blocks=None)
        self._check_engine_values(full)

    def _check_hyperparameters(self, values: dict, n_blocks: int | None):
        for name, value in values.items():
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name}={value:.7g} must be finite.")
        for name in ("tau_w", "tau_c", "tau_w1", "tau_w2", "block_length"):
            if values[name] is not None and values[name] <= 0:
                raise ValueError(f"{name}={values[name]:.7g} must be positive.")
        for name in ("lambda_norm", "lambda_nonneg", "lambda_w", "init_scale", "lambda_ewc"):
            if values[name] is not None and values[name] < 0:
                raise ValueError(f"{name}={values[name]:.7g} must be non-negative.")
        if values["ewc_decay"] is not None and not 0 <= values["ewc_decay"] <= 1:
            raise ValueError(f"ewc_decay={values['ewc_decay']:.7g} must lie in [0, 1] (γ of online EWC, MODEL §9).")
        if values["block_length"] is not None and values["block_length"] < self.dt * (1 - 1e-6):
            raise ValueError(
                f"block_length={values['block_length']:.7g} is shorter than one step dt={self.dt}; use block_length ≥ dt."
            )
        if n_blocks is not None and values["block_length"] is not None:
            needed = _clock.count_blocks(self.t_total, values["block_length"])
            if needed > n_blocks:
                raise ValueError(
                    f"n_blocks={n_blocks} is smaller than the ⌈t_total/block_length⌉ = {needed} blocks "
                    "this config simulates; raise n_blocks or leave it as None."
                )
        for name in self._used_time_constants():
            tau = values[name]
            if tau is None:
                continue
            ratio = self.dt / tau
            if ratio > 2.0 * (1 + 1e-6):  # float32 storage of τ may round the ratio up
                raise ValueError(
                    f"dt={self.dt} is too large for {name}={tau:.6g}: dt/{name} = {ratio:.3g} > 2 makes the Euler "
                    f"step unstable. Use dt ≤ {tau / 2:.3g} (≤ {tau / 10:.3g} for gradient flow)."
                )
            if ratio >= 0.5 * (1 - 1e-6):
                warnings.warn(
                    f"dt/{name} = {ratio:.3g} ≥ 0.5: this is outside the gradient-flow regime (MODEL §5.2); "
                    "cross-check with a smaller dt or engine='diffrax'.",
                    NtajaxWarning,
                    stacklevel=4,
                )

    def _check_engine_values(self, values: dict) -> None:
        if isinstance(self.engine, SubspaceScan) and values.get("lambda_w") not in (None, 0.0):
            raise ValueError(
                f"engine='subspace' needs lambda_w = 0, got {values['lambda_w']:.6g}: the W column penalty moves weights out "
                "of the invariant subspace. Use engine='scan'."
            )

    def _check_structure(self):
        schedule = self.schedule
        if schedule.max_teacher_index >= self.n_targets:
            raise ValueError(
                f"The curriculum uses teacher index {schedule.max_teacher_index} but only {self.n_targets} teachers "
                f"exist ({self.n_teachers} base + {self.n_targets - self.n_teachers} composites); "
                "set teachers=OrthogonalTeachers(composites='additive') or similar."
            )
        if self.gradient.is_sampled and not self.engine.supports_sampled:
            raise ValueError(f"engine={self.engine.name!r} integrates the expected-gradient flow: set gradient='expected'.")
        if schedule.is_stochastic and not self.engine.supports_stochastic_curriculum:
            raise ValueError(f"engine={self.engine.name!r} needs a deterministic curriculum; Interleaved(per='step') is random.")
        if self.student == "multi_head" and not getattr(self.engine, "handles_multi_head", False):
            raise ValueError(
                "student='multi_head' needs an engine that knows its output heads: use "
                "engine=ntajax.MultiHeadScan(outputs=GatedOutputs() | OrthogonalOutputs() | ParallelOutputs())."
            )
        if isinstance(self.engine, SubspaceScan):
            from ._engines.frames import SUBSPACE_FRAMES

            if self.student not in SUBSPACE_FRAMES:
                raise ValueError(
                    f"engine='subspace' supports students {sorted(SUBSPACE_FRAMES)}, not {self.student!r}; use engine='scan'."
                )
            self._check_engine_values({"lambda_w": _concrete(self.lambda_w)})
        if isinstance(schedule, Interleaved) and schedule.per == "sample" and self.gradient.is_sampled:
            raise ValueError(
                "Interleaved(per='sample') is defined for gradient='expected' only; "
                "use Interleaved(per='step') with sampled gradients."
            )
