"""Time-varying hyperparameters: a piecewise-linear schedule x(t) of a student or regulariser
leaf, run by the Euler engines (MODEL §5.1 with τ_θ or λ a function of time).

How time enters the dynamics. The vector field of MODEL §5.1, τ_θ dθ/dt = −∇_θ(L_task + R),
reads time only through the curriculum (the target W*(t)); the time constants τ_θ and the
regulariser's coefficients λ are constants of the student model and the regulariser, which the
engines read from the :class:`ntajax.Simulation` at every step. A schedule replaces one such
leaf, at Euler step i, by x(t_i) with t_i = i·dt:

    τ_θ(t_i)·(θ_{i+1} − θ_i)/dt = −∇_θ L(θ_i; W*(t_i))      (e.g. a gate speed schedule τ_c(t)).

:class:`ScheduledScan` is the Euler scan (:class:`ntajax.EulerScan`, or the reduced coordinates
of :class:`ntajax.SubspaceScan` with ``subspace=True``) whose frame carries the step count next
to the student and hands every step a simulation with the scheduled leaves set to their values
at that step. Everything else — curricula, gradient modes, records, ``ntajax.run``, sweeps and
reverse-mode gradients — is the engine's own. The knots of every schedule are traced array
leaves, so gradients with respect to them exist (:func:`ntajax.schedule_gradient`) and one
compiled program serves every value of them.
"""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._engines.euler import EulerScan, SubspaceScan
from .._engines.frames import Frame, FullFrame
from .._parameters import path_getter

SCHEDULABLE = ("student.", "regulariser.")
"""Owners whose scalar leaves can be scheduled: the student model and the regulariser."""


def _knots(x) -> Float[Array, " K"]:
    """Field converter: a sequence of real numbers as a float array (float32 unless already a JAX
    float array, which keeps its dtype, as :func:`ntajax.traced`)."""
    if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jnp.floating):
        return x
    if isinstance(x, (bool, str)) or isinstance(x, jax.core.Tracer):
        raise TypeError(f"expected a sequence of real numbers, got {x!r}")
    array = np.asarray(x)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"expected a sequence of real numbers, got {x!r} (dtype {array.dtype})")
    return jnp.asarray(array, dtype=jnp.float32)


class PiecewiseLinear(eqx.Module):
    """A schedule x(t) linear between knots (t_k, x_k), k = 0 … K − 1, constant outside them:
    x(t) = x_0 for t ≤ t_0, x_{K−1} for t ≥ t_{K−1} (``jnp.interp``).

    Args:
        times: t_k, shape (K,), strictly increasing (traced; usually fixed, e.g.
            ``np.linspace(0, t_total, K)``).
        values: x_k, shape (K,) (traced: the leaves a protocol optimisation changes).

    Raises:
        ValueError: times and values are not 1-D of one shape, are empty or not finite, or
            the times do not increase strictly (checked where they are concrete).
    """

    times: Float[Array, " K"] = eqx.field(converter=_knots)
    values: Float[Array, " K"] = eqx.field(converter=_knots)

    def __check_init__(self):
        if self.times.ndim != 1 or self.values.shape != self.times.shape or self.times.shape[0] < 1:
            raise ValueError(
                f"PiecewiseLinear: times and values must be 1-D arrays of one shape (K,) with K ≥ 1 knots, got shapes "
                f"{self.times.shape} and {self.values.shape}; e.g. times=np.linspace(0, t_total, 5), values=[0.1] * 5."
            )
        for name in ("times", "values"):
            array = getattr(self, name)
            if isinstance(array, jax.core.Tracer):
                continue
            if not np.all(np.isfinite(np.asarray(array))):
                raise ValueError(f"PiecewiseLinear: {name}={np.asarray(array).tolist()} must be finite.")
        if not isinstance(self.times, jax.core.Tracer):
            steps = np.diff(np.asarray(self.times))
            if np.any(steps <= 0):
                raise ValueError(
                    f"PiecewiseLinear: times={np.asarray(self.times).tolist()} must increase strictly (knot "
                    f"{int(np.argmax(steps <= 0)) + 1} is not after the one before); sort them and drop duplicates."
                )

    @classmethod
    def constant(cls, value: float, times) -> "PiecewiseLinear":
        """The constant schedule x(t) = ``value`` on the knots ``times``."""
        times = np.asarray(times, dtype=float)
        return cls(times=times, values=np.full(times.shape, float(value)))

    @property
    def n_knots(self) -> int:
        """K, the number of knots."""
        return self.times.shape[0]

    def __call__(self, t: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        """x(t) at times ``t`` (any shape), in the dtype of ``values``."""
        t = jnp.asarray(t, self.values.dtype)
        return jnp.interp(t, self.times.astype(self.values.dtype), self.values)

    def on_steps(self, dt: float, n_steps: int) -> Float[Array, " n_steps"]:
        """x(t_i) at the Euler steps t_i = i·dt, i = 0 … n_steps − 1: the values the run uses."""
        steps = jnp.arange(n_steps).astype(self.values.dtype)
        return self(steps * dt)


class ScheduledState(eqx.Module):
    """Scan state of :class:`ScheduledFrame`: the inner frame's state and the step count.

    Attributes:
        inner: the state of the wrapped frame (the student, or its reduced coordinates).
        clock: the number of Euler steps taken in this solve, carried as a float next to the
            student (each step adds dt·(1/dt) ≈ 1); it is read rounded to the nearest integer,
            which is exact for any practical number of steps (rounding drift ≪ ½ below 2²⁴ steps).
    """

    inner: object
    clock: Float[Array, ""]


class ScheduledFrame(Frame):
    """A frame whose steps see the scheduled leaves at the step's time (module docstring).

    Attributes:
        inner: the wrapped frame (:class:`~ntajax._engines.frames.FullFrame` or a subspace frame).
        schedules: path → :class:`PiecewiseLinear`.
        dt: the Euler step.
    """

    inner: Frame
    schedules: dict
    dt: float = eqx.field(static=True)

    @property
    def records_in_loop(self) -> bool:  # type: ignore[override]
        return self.inner.records_in_loop

    def config_at(self, config, clock: Float[Array, ""]):
        """``config`` with every scheduled leaf set to its value at t = round(clock)·dt."""
        t = jnp.round(clock) * self.dt
        for path, schedule in self.schedules.items():
            getter = path_getter(path)
            value = schedule(t).astype(jnp.result_type(getter(config)))
            config = eqx.tree_at(getter, config, value)
        return config

    def encode(self, student):
        dtype = jnp.result_type(*jax.tree.leaves(student))
        return ScheduledState(inner=self.inner.encode(student), clock=jnp.zeros((), dtype))

    def decode(self, state):
        return self.inner.decode(state.inner)

    def before_step(self, state, *, block, previous_block, config):
        inner = self.inner.before_step(state.inner, block=block, previous_block=previous_block,
                                       config=self.config_at(config, state.clock))
        return ScheduledState(inner=inner, clock=state.clock)

    def velocity(self, state, weights, input_covariance, config):
        v = self.inner.velocity(state.inner, weights, input_covariance, self.config_at(config, state.clock))
        return ScheduledState(inner=v, clock=jnp.asarray(1.0 / self.dt, state.clock.dtype))

    def record(self, state, *, t, block, weights, previous_weights, input_covariance, config):
        return self.inner.record(state.inner, t=t, block=block, weights=weights, previous_weights=previous_weights,
                                 input_covariance=input_covariance, config=self.config_at(config, state.clock))

    def expected_loss(self, state, weights, config):
        return self.inner.expected_loss(state.inner, weights, self.config_at(config, state.clock))


class ScheduledScan(EulerScan):
    """The Euler scan with time-varying student or regulariser leaves (module docstring).

    ``Simulation(engine=ScheduledScan({"student.tau_c": PiecewiseLinear(times, values)}))`` runs
    the gated student with the gate time constant τ_c(t_i) at step i; the leaf's own value
    (``student.tau_c``) is not used by the run (it stays what summaries and stores show).
    A constant schedule x(t) = v gives the run of ``simulation.set({path: v})`` with the plain
    engine (:meth:`unscheduled`), the same iterates.

    Args:
        schedules: full path (``"student.tau_c"``, ``"regulariser.lambda_norm"``, …) →
            :class:`PiecewiseLinear`. Every value of a schedule is checked as a constant value
            of that leaf would be (positivity, dt/τ ≤ 2, …).
        subspace: integrate the expected flow in the exact reduced coordinates of
            :class:`ntajax.SubspaceScan` (gated and per-neuron students, λ_W = 0, not scheduled).
        **options: the options of :class:`ntajax.EulerScan` (``unroll``, ``rng_batch``, ``checkpoint``), with its
            defaults.

    The schedule's time is counted from the first step of the solve, so a run cannot be continued
    with ``start_step > 0``; curricula whose blocks follow the learner are supported as by the
    plain engine.
    """

    schedules: dict
    subspace: bool = eqx.field(static=True)

    def __init__(self, schedules: dict, *, subspace: bool = False, **options):
        plain = EulerScan(**options)  # the Euler scan's own options and defaults (unroll, rng_batch, …)
        for field in dataclasses.fields(EulerScan):
            setattr(self, field.name, getattr(plain, field.name))
        self.schedules = schedules
        self.subspace = subspace

    def __check_init__(self):
        if not isinstance(self.schedules, dict) or not self.schedules:
            raise ValueError(
                f"ScheduledScan(schedules={self.schedules!r}) needs a non-empty dict path → ntajax.PiecewiseLinear, "
                "e.g. {'student.tau_c': ntajax.PiecewiseLinear(times=[0, 10, 20], values=[0.1, 0.03, 0.1])}."
            )
        for path, schedule in self.schedules.items():
            if not isinstance(path, str) or not path.startswith(SCHEDULABLE):
                raise ValueError(
                    f"ScheduledScan: cannot schedule {path!r}; give the full path of a student or regulariser leaf, "
                    "e.g. 'student.tau_c' or 'regulariser.lambda_norm'."
                )
            if not isinstance(schedule, PiecewiseLinear):
                raise TypeError(f"ScheduledScan: schedules[{path!r}] is a {type(schedule).__name__}; pass an "
                                "ntajax.PiecewiseLinear(times, values).")
        if not isinstance(self.subspace, bool):
            raise TypeError(f"ScheduledScan(subspace={self.subspace!r}) must be True or False.")

    @property
    def supports_sampled(self) -> bool:  # type: ignore[override]
        return not self.subspace

    def unscheduled(self) -> EulerScan:
        """The plain engine this one schedules (same unroll, rng_batch and checkpoint)."""
        kind = SubspaceScan if self.subspace else EulerScan
        return kind(**{field.name: getattr(self, field.name) for field in dataclasses.fields(EulerScan)})

    def replace_values(self, values: dict) -> "ScheduledScan":
        """A copy with the knot values of some schedules replaced, path → (K,) array (traced
        values allowed; nothing is re-validated)."""
        paths = tuple(values)
        return eqx.tree_at(lambda e: [e.schedules[p].values for p in paths], self, [values[p] for p in paths])

    def check(self, simulation):
        if self.subspace:
            SubspaceScan.check(self, simulation)
            if "regulariser.lambda_w" in self.schedules:
                raise ValueError("ScheduledScan(subspace=True) cannot schedule regulariser.lambda_w: the W column "
                                 "penalty leaves the invariant subspace; use subspace=False.")
        else:
            EulerScan.check(self, simulation)
        paths = simulation.traced_paths()
        for path, schedule in self.schedules.items():
            if path not in paths:
                options = ", ".join(p for p in paths if p.startswith(SCHEDULABLE))
                raise ValueError(f"ScheduledScan: {path!r} is not a traced leaf of this simulation; schedulable "
                                 f"paths: {options}.")
            values = np.asarray(schedule.values) if not isinstance(schedule.values, jax.core.Tracer) else None
            if values is None:
                continue
            for value in sorted(set(values.tolist())):
                try:
                    simulation.check_point({path: value})
                except ValueError as error:
                    raise ValueError(f"ScheduledScan: schedules[{path!r}] takes the value {value:.6g}, which "
                                     f"{path} cannot have: {error}") from None

    def check_values(self, simulation, values):
        if self.subspace:
            SubspaceScan.check_values(self, simulation, values)

    def frame(self, config, teachers, init) -> ScheduledFrame:
        inner = SubspaceScan.frame(self, config, teachers, init) if self.subspace else FullFrame(teachers=teachers)
        return ScheduledFrame(inner=inner, schedules=self.schedules, dt=config.grid.dt)

    def solve(self, config, *, teachers, init, data_key, start_step=0):
        if isinstance(start_step, int) and start_step != 0:
            raise ValueError(f"ScheduledScan: start_step={start_step}: the schedules' time starts at the first "
                             "step of the solve, so a run cannot be continued; simulate it in one piece.")
        start_step = eqx.error_if(jnp.asarray(start_step, jnp.int32), jnp.asarray(start_step) != 0,
                                  "ScheduledScan cannot continue a run (start_step > 0); simulate it in one piece.")
        return super().solve(config, teachers=teachers, init=init, data_key=data_key, start_step=start_step)

