"""Exact gradients of a run's outcome with respect to the simulation's traced leaves.

Reverse-mode differentiation through the Euler scan (:class:`ntajax.EulerScan`,
:class:`ntajax.SubspaceScan`) of a differentiable outcome (:mod:`ntajax._gradients.outcomes`),
averaged over the simulation's seeds. Expected-gradient flows and sampled gradients alike: in
sampled mode the gradient is pathwise, with the same keys (common random numbers) for every
parameter value. The block length τ_B is differentiable with ``Blocked(fractional_switches=True)``
(the Euler step that contains a switch integrates the target over the step, MODEL §6.4); with
the default clock its derivative would be a silent zero, so it is refused.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._compile import COMPILER_OPTIONS
from .._precision import pin_matmul_precision
from .._curricula.curriculum import Blocked
from .._run import _as_key, _check_teachers, _seeds, make_teachers, precision
from .._simulation import Simulation
from .outcomes import NOT_DIFFERENTIABLE, Outcome


def _checked_outcome(outcome) -> Outcome:
    if isinstance(outcome, Outcome):
        return outcome
    if isinstance(outcome, str):
        if outcome in NOT_DIFFERENTIABLE:
            raise ValueError(f"outcome {outcome!r} is not differentiable: {NOT_DIFFERENTIABLE[outcome]}.")
        raise ValueError(
            f"outcome={outcome!r}: pass a differentiable outcome object, one of ntajax.FinalLoss(), "
            "ntajax.MeanLoss(), ntajax.FinalAlignment(assignment), ntajax.MeanAlignment(assignment), "
            "ntajax.CrossingTime(threshold, after), or an ntajax.Outcome of your own."
        )
    raise TypeError(f"outcome must be an ntajax.Outcome (e.g. ntajax.FinalLoss()), got {type(outcome).__name__}.")


def _check_not_scheduled(simulation: Simulation, paths: tuple[str, ...]) -> None:
    """A leaf a :class:`ntajax.ScheduledScan` schedules is not read by the run: its gradient
    would be a silent zero."""
    scheduled = sorted(set(paths) & set(getattr(simulation.engine, "schedules", None) or {}))
    if scheduled:
        raise ValueError(
            f"paths {scheduled} are scheduled by the engine (ScheduledScan), so the run never reads the plain "
            "leaves and their gradient would be 0; differentiate with respect to the schedule's knots with "
            "ntajax.schedule_gradient instead."
        )


def _check_switch_derivative(simulation: Simulation, outcome: Outcome, paths: tuple[str, ...]) -> None:
    if "curriculum.block_length" not in paths:
        return
    schedule = simulation.schedule
    if schedule.is_state_dependent:
        raise ValueError(
            f"curriculum.block_length: {type(schedule).__name__}'s switches are decided by comparisons with the loss "
            "and carry no derivative; differentiate a Blocked curriculum with fractional_switches=True instead."
        )
    if isinstance(schedule, Blocked) and not schedule.integrates_steps:
        raise ValueError(
            "curriculum.block_length: the default block clock rounds every switch to a step, so its derivative is "
            "zero; use curriculum=ntajax.Blocked(..., fractional_switches=True), whose Euler step containing a switch "
            "integrates the target over the step (equal to the default clock where τ_B/dt is an integer)."
        )
    if not outcome.continuous_in_switch_times:
        raise ValueError(
            f"curriculum.block_length: {type(outcome).__name__}() reads the loss at many save points, against a "
            "target that jumps when a switch crosses one, so its τ_B derivative would miss those jumps; differentiate "
            "FinalLoss(), FinalAlignment(assignment) or MeanAlignment(assignment) with respect to τ_B."
        )


def outcome_gradient(
    simulation: Simulation,
    outcome: Outcome,
    paths,
    key: PRNGKeyArray,
    *,
    teachers: Float[Array, "..."] | None = None,
    points: dict[str, Float[Array, " n"]] | None = None,
) -> tuple[Float[Array, "*n"], dict[str, Float[Array, "*n"]]]:
    """Value and exact gradient of the seed-mean ``outcome`` of a run with respect to traced leaves.

    The run is :func:`ntajax.run`'s (same teachers from ``key``, same seed keys), in the
    simulation's precision; the Euler engines are switched to ``checkpoint=True`` (memory of
    the gradient O(n_save + save_every) states, forward results unchanged). The outcome is
    averaged over ``simulation.n_seeds`` seeds (a diverged seed makes it NaN).

    Args:
        simulation: the simulation; its float leaves are cast to its dtype first (so a float64
            simulation is differentiated in float64 throughout).
        outcome: a differentiable :class:`ntajax.Outcome`. The name of a :class:`ntajax.Summary`
            field that is not differentiable (``"assignment"``, ``"adaptation_time"``,
            ``"regime"``, …) raises a ValueError naming its differentiable counterpart.
        paths: traced paths (or their unique last names) to differentiate with respect to, e.g.
            ``("student.tau_c", "curriculum.block_length")``.
        key: root key, as for :func:`ntajax.run`.
        teachers: explicit teachers, as for :func:`ntajax.run`.
        points: optional values of traced leaves by path, each of shape (n,): the gradient is
            computed at n points under one ``vmap`` (one compiled program for the chunk).

    Returns:
        ``(value, gradients)``: the outcome, () or (n,), and a dict path → d outcome / d leaf of
        the same shape.
    """
    outcome = _checked_outcome(outcome)
    if not isinstance(simulation, Simulation):
        raise TypeError(f"simulation must be an ntajax.Simulation, got {type(simulation).__name__}.")
    if isinstance(paths, str):
        paths = (paths,)
    paths = tuple(simulation.resolve_path(p) for p in paths)
    if not paths:
        raise ValueError("paths is empty: name at least one traced leaf, e.g. ('student.tau_c',).")
    outcome.check(simulation)
    if points is not None:
        points = {simulation.resolve_path(p): v for p, v in points.items()}
        sizes = {jnp.shape(v) for v in points.values()}
        if len(sizes) != 1 or len(next(iter(sizes))) != 1:
            raise ValueError(f"points must map paths to arrays of one common shape (n,), got shapes {sorted(sizes)}.")
    _check_switch_derivative(simulation, outcome, paths)
    _check_not_scheduled(simulation, paths)
    engine = simulation.engine
    if hasattr(engine, "checkpoint") and not engine.checkpoint:
        simulation = simulation.replace(engine=engine.replace(checkpoint=True))
    key = _as_key(key)
    with precision(simulation):
        simulation = simulation.cast()
        if teachers is None:
            teachers = make_teachers(simulation, key)
        teacher_axis = _check_teachers(simulation, teachers)
        teachers = jnp.asarray(teachers, simulation.float_dtype)
        if points is not None:
            points = {p: jnp.asarray(v, simulation.float_dtype) for p, v in points.items()}
        return _value_and_grad(simulation, outcome, paths, key, teachers, teacher_axis, points)


@eqx.filter_jit(compiler_options=COMPILER_OPTIONS)
@eqx.debug.assert_max_traces(max_traces=None)  # counts traces: eqx.debug.get_num_traces(_value_and_grad)
@pin_matmul_precision  # full float32 products on GPUs too, as in ntajax.run (ntajax._precision)
def _value_and_grad(config, outcome, paths, key, teachers, teacher_axis, points):
    def at(point):
        base = config.set(point, check=False) if point else config

        def mean_outcome(leaves):
            c = base.set(dict(zip(paths, leaves)), check=False)
            trajectories = _seeds(c, key, teachers, None, teacher_axis, None, jnp.int32(0))
            return jnp.mean(jax.vmap(lambda tr: outcome(c, tr))(trajectories))

        value, grads = jax.value_and_grad(mean_outcome)(tuple(base.get(p) for p in paths))
        return value, dict(zip(paths, grads))

    if points is None:
        return at({})
    return jax.vmap(at)(points)


def gradient_compile_count() -> int:
    """How many times :func:`outcome_gradient` has been traced (compiled) in this process."""
    return eqx.debug.get_num_traces(_value_and_grad)
