"""The simulation: the objects that define one NTA run, each carrying its own parameters.

A :class:`Simulation` composes

* the task shape (``d_in``, ``d_out``, ``n_teachers``) and the teacher set (MODEL §3);
* the student model with its architecture, time constants and initial scale (§2, §5.1, §5.3);
* the curriculum with its block length (§6);
* the regulariser with its coefficients (§4.2);
* the gradient mode with its batch size (§5.2);
* the engine with its own options (e.g. a continual-learning penalty, §9);
* the time grid and what to record (§5.5);
* the number of seeds and the floating-point precision.

Every hyperparameter a sweep may vary is a float array leaf of one of these objects and is
addressed by its path, e.g. ``"student.tau_c"``, ``"curriculum.block_length"`` or
``"regulariser.lambda_norm"`` (:meth:`Simulation.traced_paths`). Changing one never
recompiles, and a stack of simulations that differ only in such leaves runs as one ``vmap``.
Everything else is static structure: changing it compiles a new program.

Each object checks its own fields at construction; the checks that involve two objects (time
constants against ``dt``, block length against ``dt`` and the block count, the curriculum's
teachers against the teacher set, what the engine supports) are made here, once.
"""

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._curricula.curriculum import Blocked, Curriculum, Interleaved
from ._engines.base import Engine
from ._engines.euler import EulerScan
from ._gradient import GradientMode, SampledGradient
from ._losses import Regulariser
from ._parameters import PathAddressed, path_getter, check_size, scalar_fields
from ._recording import Recording
from ._students.base import StudentModel
from ._students.linear import Gated
from ._teachers.sets import OrthogonalTeachers, TeacherSet
from ._time_grid import TimeGrid
from ._warnings import deriving, warn_at_caller

_COMPONENTS = {
    "student": (StudentModel, "a student model such as ntajax.Gated(tau_w=1.3, tau_c=0.03)"),
    "teachers": (TeacherSet, "a teacher set such as ntajax.OrthogonalTeachers()"),
    "curriculum": (Curriculum, "a curriculum such as ntajax.Blocked(block_length=1.0)"),
    "regulariser": (Regulariser, "ntajax.Regulariser(lambda_norm=..., lambda_nonneg=...)"),
    "gradient": (GradientMode, "ntajax.SampledGradient(batch_size=200) or ntajax.ExpectedGradient()"),
    "engine": (Engine, "an engine such as ntajax.EulerScan() or ntajax.SubspaceScan()"),
    "grid": (TimeGrid, "ntajax.TimeGrid(dt=..., t_total=..., n_save=...)"),
    "recording": (Recording, "ntajax.Recording(weights=..., weights_every=...)"),
}


class Simulation(PathAddressed):
    """Everything that defines one NTA simulation except the random key.

    Args:
        d_in, d_out: input and output dimension (static).
        n_teachers: M, base teachers (static).
        student: the student model, e.g. :class:`ntajax.Gated` (default ``Gated()``).
        teachers: the teacher set (default rotated orthogonal teachers, s = 1/√d_in); its structure is
            static, its output noise σ (``teachers.noise``, when set) a traced leaf.
        curriculum: the curriculum (default ``Blocked()``: every base teacher in turn, τ_B = 1).
        regulariser: the clean regulariser (default: none).
        gradient: :class:`ntajax.SampledGradient` (default, B = 200) or
            :class:`ntajax.ExpectedGradient` (static).
        engine: the integrator (default :class:`ntajax.EulerScan`).
        grid: the time grid (static; default dt = 1e-3, t_total = 20, 1001 records).
        recording: what to record besides the standard records (static).
        n_seeds: seeds run side by side by :func:`ntajax.run` (static).
        dtype: ``"float32"`` (default) or ``"float64"``; float64 runs inside
            ``jax.enable_x64(True)`` (scoped to the call, no global state), with every traced
            leaf, the teachers and the initial state cast to it (MODEL §5.2, precision).
    """

    d_in: int = eqx.field(static=True, default=20)
    d_out: int = eqx.field(static=True, default=10)
    n_teachers: int = eqx.field(static=True, default=2)
    student: StudentModel = eqx.field(default_factory=Gated)
    teachers: TeacherSet = eqx.field(default_factory=OrthogonalTeachers)
    curriculum: Curriculum = eqx.field(default_factory=Blocked)
    regulariser: Regulariser = eqx.field(default_factory=Regulariser)
    gradient: GradientMode = eqx.field(static=True, default_factory=SampledGradient)
    engine: Engine = eqx.field(default_factory=EulerScan)
    grid: TimeGrid = eqx.field(static=True, default_factory=TimeGrid)
    recording: Recording = eqx.field(static=True, default_factory=Recording)
    n_seeds: int = eqx.field(static=True, default=10)
    dtype: str = eqx.field(static=True, default="float32")

    # ------------------------------------------------------------------ derived values
    @property
    def n_steps(self) -> int:
        """Number of Euler steps, round(t_total/dt)."""
        return self.grid.n_steps

    @property
    def save_every(self) -> int:
        """Steps between two recorded points."""
        return self.grid.save_every

    @property
    def save_times(self) -> np.ndarray:
        """Recorded times, shape (n_save,)."""
        return self.grid.save_times

    @property
    def weight_save_times(self) -> np.ndarray:
        """Times at which full weights are recorded (when ``recording.weights``)."""
        return self.grid.save_times[:: self.recording.weights_every]

    @property
    def float_dtype(self):
        """The floating-point dtype of the simulation (``jnp.float32`` or ``jnp.float64``)."""
        return jnp.float64 if self.dtype == "float64" else jnp.float32

    @property
    def schedule(self) -> Curriculum:
        """The curriculum with its defaults filled in (``Blocked()`` cycles the base teachers)."""
        return self.curriculum.resolve(self.n_teachers)

    @property
    def n_targets(self) -> int:
        """Base teachers plus composites, M + M_c."""
        return self.n_teachers + self.teachers.n_composites(self.n_teachers)

    @property
    def block_count(self) -> int:
        """Length of per-block outputs: ``recording.n_blocks`` or ⌈t_total/τ_B⌉."""
        if self.recording.n_blocks is not None:
            return self.recording.n_blocks
        count = self.curriculum.block_count_bound(scalar_fields(self.curriculum), self.grid.t_total, self.grid.dt)
        if count is None:
            names = ", ".join(f"curriculum.{n}" for n, v in scalar_fields(self.curriculum).items() if v is None)
            raise ValueError(f"{names} is traced and recording.n_blocks is not set: set it explicitly.")
        return count

    def block_count_at(self, values: dict[str, float | None]) -> int | None:
        """The blocks a run with these traced values (by full path, e.g. a sweep point's) can
        contain: ⌈t_total/τ_B⌉ for clock curricula, the bound of
        :meth:`ntajax.LossTriggered.block_count_bound` for a loss-triggered one; ``None`` where a
        needed value is traced."""
        own = {path[len("curriculum."):]: v for path, v in values.items() if path.startswith("curriculum.")}
        return self.curriculum.block_count_bound(own, self.grid.t_total, self.grid.dt)

    def state_shape(self):
        """The shape of one seed's initial student state: a state of the student's type with
        ``jax.ShapeDtypeStruct`` leaves (nothing is computed)."""
        return jax.eval_shape(
            lambda key: self.student.initialise(key, d_in=self.d_in, d_out=self.d_out, n_teachers=self.n_teachers),
            jax.random.key(0),
        )

    def cast(self) -> "Simulation":
        """This simulation with its traced float leaves in :attr:`float_dtype` (call under
        ``jax.enable_x64`` for float64)."""
        dtype = self.float_dtype
        return jax.tree.map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, self)

    def with_block_count(self) -> "Simulation":
        """This simulation with ``recording.n_blocks`` filled in, so it can be traced."""
        if self.recording.n_blocks is not None:
            return self
        with deriving():
            return self.replace(recording=self.recording.replace(n_blocks=self.block_count))

    # ------------------------------------------------------------------ changing fields
    def replace(self, **changes) -> "Simulation":
        """A copy with some top-level fields changed (re-validated), e.g. ``student=Gated(...)``;
        use :meth:`set` (by path, e.g. ``{"student.tau_c": 0.05}``) for single hyperparameters."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        """JSON-ready description of every field, nested by object (traced values as floats)."""
        return describe(self)

    # ------------------------------------------------------------------ validation
    def __check_init__(self):
        for name in ("d_in", "d_out", "n_teachers", "n_seeds"):
            check_size("Simulation", name, getattr(self, name))
        for name, (kind, example) in _COMPONENTS.items():
            value = getattr(self, name)
            if not isinstance(value, kind):
                raise TypeError(f"Simulation: {name}={value!r} is a {type(value).__name__}; pass {example}.")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"Simulation: dtype={self.dtype!r} must be 'float32' or 'float64'.")
        self.teachers.validate(n_teachers=self.n_teachers, d_out=self.d_out, d_in=self.d_in)
        if (self.grid.n_save - 1) % self.recording.weights_every:
            raise ValueError(
                f"Recording: weights_every={self.recording.weights_every} must divide n_save − 1 = {self.grid.n_save - 1}."
            )
        self._check_structure()
        self._check_values(self.concrete_values())

    def check_point(self, values: dict[str, float], *, reference: dict[str, float | None] | None = None) -> None:
        """Check traced values given by full path (e.g. one sweep point) as constructing the
        changed simulation would, without building it.

        Leaves not in ``values`` keep their values: those of ``reference`` (this simulation's
        :meth:`concrete_values`, which a sweep computes once for all its points) or, without it,
        read from this simulation. Only the objects that own a path in ``values`` are checked.
        """
        values = {path: float(v) for path, v in values.items()}
        full = (self.concrete_values() if reference is None else reference) | values
        # (class-level calls: Equinox builds a bound-method module on every instance method access,
        # which dominates checking thousands of sweep points)
        for owner in {path.rpartition(".")[0] for path in values}:
            component = path_getter(owner)(self)
            check = getattr(type(component), "check_values", None)
            if check is not None:
                prefix = f"{owner}." if owner else ""
                check(component, {path[len(prefix):]: v for path, v in full.items()
                                  if path.startswith(prefix) and "." not in path[len(prefix):]})
        Simulation._check_values(self, full)

    def _check_values(self, values: dict[str, float | None]) -> None:
        """The checks across objects on concrete values by path (None: traced, skipped)."""
        dt = self.grid.dt
        block_length = values.get("curriculum.block_length")
        if block_length is not None and block_length < dt * (1 - 1e-6):
            raise ValueError(
                f"curriculum.block_length={block_length:.7g} is shorter than one step dt={dt}; use block_length ≥ dt."
            )
        needed = self.block_count_at(values) if self.recording.n_blocks is not None else None
        if needed is not None and needed > self.recording.n_blocks:
            rule = ("⌈n_steps/min(n_hold, n_max)⌉" if self.curriculum.is_state_dependent
                    else "⌈t_total/block_length⌉")
            raise ValueError(
                f"recording.n_blocks={self.recording.n_blocks} is smaller than the {rule} = {needed} "
                "blocks this simulation can run; raise n_blocks or leave it as None."
            )
        noise = values.get("teachers.noise")
        if noise not in (None, 0.0) and not self.engine.supports_teacher_noise:
            raise ValueError(
                f"teachers.noise={noise:.6g}: engine={type(self.engine).__name__}() does not model teacher output noise; "
                "use engine=ntajax.EulerScan() (or SubspaceScan()/Diffrax() for the expected flow), or noise=None."
            )
        for name in self.student.time_constant_names:
            tau = values.get(f"student.{name}")
            if tau is None:
                continue
            ratio = dt / tau
            if ratio > 2.0 * (1 + 1e-6):  # float32 storage of τ may round the ratio up
                raise ValueError(
                    f"dt={dt} is too large for {name}={tau:.6g} (grid.dt, student.{name}): dt/{name} = {ratio:.3g} > 2 "
                    f"makes the Euler step unstable. Use dt ≤ {tau / 2:.3g} (≤ {tau / 10:.3g} for gradient flow)."
                )
            if ratio >= 0.5 * (1 - 1e-6):
                warn_at_caller(
                    f"dt/{name} = {ratio:.3g} ≥ 0.5: this is outside the gradient-flow regime (MODEL §5.2); "
                    "cross-check with a smaller dt or ntajax.Diffrax()."
                )
        type(self.engine).check_values(self.engine, self, values)

    def _check_structure(self):
        schedule = self.schedule
        if schedule.max_teacher_index >= self.n_targets:
            raise ValueError(
                f"The curriculum uses teacher index {schedule.max_teacher_index} but only {self.n_targets} teachers "
                f"exist ({self.n_teachers} base + {self.n_targets - self.n_teachers} composites); "
                "set teachers=OrthogonalTeachers(composites='additive') or similar."
            )
        engine = self.engine
        if self.gradient.is_sampled and not engine.supports_sampled:
            raise ValueError(f"engine={type(engine).__name__}() integrates the expected-gradient flow: "
                             "set gradient=ntajax.ExpectedGradient().")
        if schedule.is_stochastic and not engine.supports_stochastic_curriculum:
            raise ValueError(f"engine={type(engine).__name__}() needs a deterministic curriculum; "
                             "Interleaved(per='step') is random.")
        if isinstance(schedule, Interleaved) and schedule.per == "sample" and self.gradient.is_sampled:
            raise ValueError(
                "Interleaved(per='sample') is defined for gradient=ExpectedGradient() only; "
                "use Interleaved(per='step') with sampled gradients."
            )
        if schedule.is_state_dependent and not engine.supports_state_dependent_curriculum:
            why = (" (its switch times must be known before the solve, and a loss-triggered switch is not)"
                   if not engine.supports_sampled else "")
            raise ValueError(
                f"engine={type(engine).__name__}() computes the block from the time step and cannot run "
                f"curriculum={type(schedule).__name__}(), whose blocks follow the learner{why}; use "
                "engine=ntajax.EulerScan() (expected or sampled gradients) or ntajax.SubspaceScan()."
            )
        if self.teachers.noise is not None and not engine.supports_teacher_noise:
            raise ValueError(
                f"teachers={type(self.teachers).__name__}(noise=...): engine={type(engine).__name__}() does not model "
                "teacher output noise; use engine=ntajax.EulerScan() (or SubspaceScan()/Diffrax() for the expected "
                "flow), or noise=None."
            )
        if schedule.integrates_steps and not engine.supports_fractional_switches:
            raise ValueError(
                f"curriculum=Blocked(fractional_switches=True) integrates the target over each Euler step, which "
                f"engine={type(engine).__name__}() does not do; use engine=ntajax.EulerScan() or ntajax.SubspaceScan(), "
                "or fractional_switches=False."
            )
        engine.check(self)


def describe(obj):
    """A JSON-ready description of a simulation or any of its objects (the one serialiser of
    configs, stores and fingerprints): modules as ``{"type": ..., field: ...}``, arrays as
    numbers or nested lists, tuples as lists."""
    if isinstance(obj, eqx.Module):
        out = {"type": type(obj).__name__}
        for f in dataclasses.fields(obj):
            if f.name.startswith("_"):
                continue
            out[f.name] = describe(getattr(obj, f.name))
        return out
    if isinstance(obj, (jax.Array, np.ndarray, np.generic)):
        arr = np.asarray(obj)
        return arr.item() if arr.ndim == 0 else arr.tolist()
    if isinstance(obj, (tuple, list)):
        return [describe(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): describe(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)
    return obj
