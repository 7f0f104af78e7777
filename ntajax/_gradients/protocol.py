"""Optimised learning protocols: a hyperparameter schedule chosen by gradient ascent on an
outcome of the run minus a stated cost (the optimal-control question of which schedule of gate
speed or regularisation is best).

The protocol is a :class:`ntajax.ScheduledScan` whose schedules' knot values are optimised; the
objective of a simulation with scheduled leaves x_p(t) is

    J = ⟨O(run)⟩_seeds − Σ_p C_p[x_p],

with O a differentiable :class:`ntajax.Outcome` of one seed (e.g. :class:`AssignedAlignment`,
the summary's time-mean total alignment) averaged over the simulation's seeds, and C_p a
:class:`ScheduleCost`: C[x] = κ·(1/N)Σ_{i<N} (x(t_i)/x_ref)^p + μ·Σ_k |log x_{k+1} − log x_k|
over the N Euler steps t_i = i·dt (p = −1 for a time constant: the mean rate τ_ref/τ(t), a cost
of fast gates) and the K knots. For a constant x ≡ v the cost is κ·(v/x_ref)^p, so a sweep of
constant values (:func:`constant_sweep`) scores the same J and the gain of the optimum is
J(schedule) − max_v J(v).

:func:`schedule_gradient` returns J and dJ/dx_k exactly (reverse mode through the Euler scan,
checkpointed per recording interval); :func:`optimise_protocol` runs optax on the knots in a
bounded log parametrisation x_k = lo·(hi/lo)^σ(θ_k), one compiled program for all steps.
"""

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from .._compile import COMPILER_OPTIONS
from .._precision import pin_matmul_precision
from .._run import _as_key, _check_teachers, _seeds, make_teachers, precision
from .._simulation import Simulation
from ..metrics._assignment import assign_paths
from .gradient import _checked_outcome
from .outcomes import Outcome
from .schedule import PiecewiseLinear, ScheduledScan


class AssignedAlignment(Outcome):
    """Total alignment A_tot(t) = (1/M)Σ_m S_{m,π(m)}(t) (MODEL §7.5) with each seed's OWN
    assignment π — the argmax over path permutations of its time-mean similarity (§7.4), as
    :class:`ntajax.Summary` computes it — held fixed under differentiation.

    Its value is :attr:`ntajax.Summary.mean_alignment` (``final=False``) or
    :attr:`~ntajax.Summary.final_alignment` (``final=True``) of a run that did not diverge; its
    derivative is that of :class:`ntajax.MeanAlignment` / :class:`ntajax.FinalAlignment` with
    π = the seed's assignment, exact wherever π does not change (almost everywhere: π is
    piecewise constant). Unlike those, seeds may assign differently (their initial weights
    break the symmetry between paths differently).

    Args:
        final: read A_tot at t_total instead of its mean over the save points (static).
    """

    final: bool = eqx.field(static=True, default=False)

    def check(self, simulation):
        n_paths = getattr(simulation.student, "n_paths", None)
        if n_paths is None or n_paths < simulation.n_teachers:
            raise ValueError(f"AssignedAlignment needs a student with n_paths ≥ n_teachers = {simulation.n_teachers} "
                             "(an assignment of paths to teachers, MODEL §7.4).")

    def __call__(self, config, trajectory):
        del config
        similarity = trajectory.similarity  # (T, M, P)
        pi = assign_paths(jax.lax.stop_gradient(jnp.mean(similarity, axis=0)))
        alignment = jnp.mean(similarity[:, jnp.arange(similarity.shape[1]), pi], axis=-1)
        return alignment[-1] if self.final else jnp.mean(alignment)


class ScheduleCost(eqx.Module):
    """The stated cost of a schedule x(t) (module docstring):

        C[x] = weight·(1/N)Σ_{i<N} (x(t_i)/reference)^exponent + variation·Σ_k |log x_{k+1} − log x_k|,

    with t_i = i·dt the N Euler steps of the run and x_k the knots.

    Args:
        weight: κ ≥ 0, the weight of the mean power of the schedule.
        reference: x_ref > 0, the value at which that term costs κ.
        exponent: p (default −1: for a time constant, the mean rate τ_ref/τ(t), a cost of fast
            gates; +1 for a regularisation strength, the mean strength).
        variation: μ ≥ 0, the weight of the total variation of log x over the knots (0 for a
            constant schedule).
    """

    weight: float = eqx.field(static=True, default=0.0)
    reference: float = eqx.field(static=True, default=1.0)
    exponent: float = eqx.field(static=True, default=-1.0)
    variation: float = eqx.field(static=True, default=0.0)

    def __check_init__(self):
        for name in ("weight", "variation"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"ScheduleCost({name}={value!r}) must be a finite number ≥ 0.")
        if not (isinstance(self.reference, (int, float)) and math.isfinite(self.reference) and self.reference > 0):
            raise ValueError(f"ScheduleCost(reference={self.reference!r}) must be a finite number > 0.")
        if not (isinstance(self.exponent, (int, float)) and math.isfinite(self.exponent)):
            raise ValueError(f"ScheduleCost(exponent={self.exponent!r}) must be a finite number.")

    def __call__(self, schedule: PiecewiseLinear, dt: float, n_steps: int) -> Float[Array, ""]:
        """C[x] of ``schedule`` on the N = ``n_steps`` Euler steps of spacing ``dt``."""
        x = schedule.on_steps(dt, n_steps)
        cost = self.weight * jnp.mean((x / self.reference) ** self.exponent)
        if self.variation:
            cost = cost + self.variation * jnp.sum(jnp.abs(jnp.diff(jnp.log(schedule.values))))
        return cost

    def of_constant(self, value):
        """C of the constant schedule x ≡ ``value`` (κ·(value/x_ref)^p; any shape)."""
        return self.weight * (jnp.asarray(value) / self.reference) ** self.exponent


def _scheduled(simulation: Simulation) -> ScheduledScan:
    if not isinstance(simulation, Simulation):
        raise TypeError(f"simulation must be an ntajax.Simulation, got {type(simulation).__name__}.")
    if not isinstance(simulation.engine, ScheduledScan):
        raise ValueError(
            f"simulation.engine is {type(simulation.engine).__name__}(); a protocol is a schedule: use "
            "engine=ntajax.ScheduledScan({'student.tau_c': ntajax.PiecewiseLinear(times, values)})."
        )
    return simulation.engine


def _costs(cost, paths) -> dict:
    if cost is None:
        return {}
    if isinstance(cost, ScheduleCost):
        return {p: cost for p in paths}
    if isinstance(cost, dict):
        unknown = sorted(set(cost) - set(paths))
        if unknown or not all(isinstance(c, ScheduleCost) for c in cost.values()):
            raise ValueError(f"cost must map scheduled paths {list(paths)} to ntajax.ScheduleCost objects, got {cost!r}.")
        return dict(cost)
    raise TypeError(f"cost must be an ntajax.ScheduleCost, a dict path → ScheduleCost, or None; got {type(cost).__name__}.")


def _prepare(simulation, outcome, key, teachers):
    """Checked, cast (float64 inside its precision scope) simulation, teachers and key."""
    outcome = _checked_outcome(outcome)
    outcome.check(simulation)
    engine = _scheduled(simulation)
    if not engine.checkpoint:
        simulation = simulation.replace(engine=engine.replace(checkpoint=True))
    key = _as_key(key)
    simulation = simulation.cast()
    if teachers is None:
        teachers = make_teachers(simulation, key)
    teacher_axis = _check_teachers(simulation, teachers)
    return simulation, outcome, key, jnp.asarray(teachers, simulation.float_dtype), teacher_axis


def _objective(values, simulation, outcome, costs, key, teachers, teacher_axis):
    """J for knot values (path → (K,)) and the parts of it: (J, (mean outcome, total cost))."""
    engine = simulation.engine.replace_values(values)
    config = eqx.tree_at(lambda s: s.engine, simulation, engine)
    trajectories = _seeds(config, key, teachers, None, teacher_axis, None, jnp.int32(0))
    value = jnp.mean(jax.vmap(lambda tr: outcome(config, tr))(trajectories))
    grid = config.grid
    cost = sum((c(engine.schedules[p], grid.dt, grid.n_steps) for p, c in costs.items()), jnp.zeros((), value.dtype))
    return value - cost, (value, cost)


@eqx.filter_jit(compiler_options=COMPILER_OPTIONS)
@eqx.debug.assert_max_traces(max_traces=None)  # counts traces: protocol_compile_count()
@pin_matmul_precision
def _value_and_grad(values, simulation, outcome, costs, key, teachers, teacher_axis):
    return jax.value_and_grad(_objective, has_aux=True)(values, simulation, outcome, costs, key, teachers, teacher_axis)


def schedule_gradient(
    simulation: Simulation,
    outcome: Outcome,
    key: PRNGKeyArray,
    *,
    cost: "ScheduleCost | dict | None" = None,
    teachers: Float[Array, "..."] | None = None,
) -> tuple[Float[Array, ""], dict[str, Float[Array, " K"]]]:
    """The objective J = ⟨outcome⟩_seeds − Σ_p C_p and its exact gradient with respect to the
    knot values of every schedule of ``simulation.engine`` (a :class:`ntajax.ScheduledScan`).

    The run is :func:`ntajax.run`'s (same teachers from ``key``, same seed keys), in the
    simulation's precision, with ``checkpoint=True``.

    Args:
        simulation: a simulation whose engine is a :class:`ntajax.ScheduledScan`.
        outcome: a differentiable :class:`ntajax.Outcome` of one seed.
        key: root key, as for :func:`ntajax.run`.
        cost: a :class:`ScheduleCost` for every schedule, a dict path → ScheduleCost, or None.
        teachers: explicit teachers, as for :func:`ntajax.run`.

    Returns:
        ``(J, gradients)``: J, a scalar, and path → dJ/dx_k of shape (K,).
    """
    engine = _scheduled(simulation)
    costs = _costs(cost, tuple(engine.schedules))
    with precision(simulation):
        simulation, outcome, key, teachers, axis = _prepare(simulation, outcome, key, teachers)
        values = {p: s.values for p, s in simulation.engine.schedules.items()}
        (objective, _), grads = _value_and_grad(values, simulation, outcome, costs, key, teachers, axis)
        return objective, grads


def protocol_compile_count() -> int:
    """How many times the protocol objective's value and gradient have been traced (compiled)."""
    return eqx.debug.get_num_traces(_value_and_grad)


# --------------------------------------------------------------------------------- the optimiser
def _to_values(theta, lo, hi):
    """x = lo·(hi/lo)^σ(θ): the bounded log parametrisation of the knots."""
    return lo * jnp.exp(jnp.log(hi / lo) * jax.nn.sigmoid(theta))


def _to_theta(values, lo, hi, path):
    values = np.asarray(values, dtype=float)
    if np.any(values <= lo) or np.any(values >= hi):
        raise ValueError(f"optimise_protocol: the initial knots of {path!r}, {values.tolist()}, must lie strictly inside "
                         f"bounds ({lo:g}, {hi:g}); start from values inside them or widen the bounds.")
    u = np.log(values / lo) / np.log(hi / lo)
    return np.log(u) - np.log1p(-u)


@dataclasses.dataclass(frozen=True)
class ProtocolResult:
    """What :func:`optimise_protocol` found.

    Attributes:
        simulation: the simulation with the best schedule found (highest J over the iterates).
        objective: J at every iterate, (steps + 1,); iterate 0 is the initial schedule.
        outcome: the seed-mean outcome at every iterate, (steps + 1,).
        cost: the total cost Σ_p C_p at every iterate, (steps + 1,).
        values: path → knot values at every iterate, (steps + 1, K).
        best: index of the best iterate.
    """

    simulation: Simulation
    objective: np.ndarray
    outcome: np.ndarray
    cost: np.ndarray
    values: dict
    best: int

    @property
    def schedules(self) -> dict:
        """path → the best :class:`ntajax.PiecewiseLinear`."""
        return dict(self.simulation.engine.schedules)

    @property
    def best_objective(self) -> float:
        """J of the best iterate."""
        return float(self.objective[self.best])


def _bounds(bounds, paths) -> dict:
    if isinstance(bounds, tuple) and len(bounds) == 2 and not isinstance(bounds[0], (tuple, list)):
        bounds = {p: bounds for p in paths}
    if not isinstance(bounds, dict) or sorted(bounds) != sorted(paths):
        raise ValueError(f"bounds must be (lo, hi) or a dict with (lo, hi) for every scheduled path {list(paths)}, "
                         f"got {bounds!r}.")
    out = {}
    for p, (lo, hi) in bounds.items():
        lo, hi = float(lo), float(hi)
        if not (0 < lo < hi and math.isfinite(hi)):
            raise ValueError(f"bounds[{p!r}] = ({lo:g}, {hi:g}) must satisfy 0 < lo < hi < ∞ (the knots are optimised "
                             "in log space).")
        out[p] = (lo, hi)
    return out


def optimise_protocol(
    simulation: Simulation,
    outcome: Outcome,
    key: PRNGKeyArray,
    *,
    bounds,
    cost: "ScheduleCost | dict | None" = None,
    steps: int = 50,
    learning_rate: float = 0.1,
    optimiser: optax.GradientTransformation | None = None,
    teachers: Float[Array, "..."] | None = None,
) -> ProtocolResult:
    """Maximise J = ⟨outcome⟩_seeds − Σ_p C_p over the knot values of the simulation's schedules.

    Each knot x_k is parametrised as x_k = lo·(hi/lo)^σ(θ_k) (bounded, positive, log-uniform in
    θ) and θ follows ``optimiser`` (default ``optax.adam(learning_rate)``) on −J for ``steps``
    steps, starting from the simulation's own schedules. The same key (teachers, seeds) is used
    at every step. One compiled program serves all steps; every iterate's J is kept.

    Args:
        simulation: a simulation whose engine is a :class:`ntajax.ScheduledScan`.
        outcome: a differentiable :class:`ntajax.Outcome` (e.g. ``AssignedAlignment()``).
        key: root key, as for :func:`ntajax.run`.
        bounds: ``(lo, hi)`` for every schedule, or a dict path → (lo, hi); the values the
            dynamics allow (e.g. τ_c ≥ 2·dt for gradient flow). The initial knots must lie
            strictly inside.
        cost: as for :func:`schedule_gradient`.
        steps: optimiser steps (≥ 1).
        learning_rate: Adam's step size on θ (unused when ``optimiser`` is given).
        optimiser: an optax transformation to use instead of Adam.
        teachers: explicit teachers, as for :func:`ntajax.run`.

    Returns:
        A :class:`ProtocolResult` (the best schedule and the history of J).
    """
    engine = _scheduled(simulation)
    paths = tuple(engine.schedules)
    costs = _costs(cost, paths)
    bounds = _bounds(bounds, paths)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"optimise_protocol: steps={steps!r} must be a positive integer.")
    if optimiser is None:
        if not (isinstance(learning_rate, (int, float)) and learning_rate > 0):
            raise ValueError(f"optimise_protocol: learning_rate={learning_rate!r} must be a positive number.")
        optimiser = optax.adam(learning_rate)
    with precision(simulation):
        simulation, outcome, key, teachers, axis = _prepare(simulation, outcome, key, teachers)
        dtype = simulation.float_dtype
        lo = {p: jnp.asarray(bounds[p][0], dtype) for p in paths}
        hi = {p: jnp.asarray(bounds[p][1], dtype) for p in paths}
        theta = {p: jnp.asarray(_to_theta(engine.schedules[p].values, *bounds[p], p), dtype) for p in paths}
        state = optimiser.init(theta)

        def values_of(theta):
            return {p: _to_values(theta[p], lo[p], hi[p]) for p in paths}

        history = []
        for _ in range(steps + 1):
            values = values_of(theta)
            (objective, (value, cost_value)), grads = _value_and_grad(values, simulation, outcome, costs, key,
                                                                      teachers, axis)
            history.append((float(objective), float(value), float(cost_value), {p: np.asarray(v) for p, v in values.items()}))
            if len(history) == steps + 1:
                break
            theta, state = _update(optimiser, theta, state, grads, lo, hi)
        objectives = np.asarray([h[0] for h in history])
        best = int(np.nanargmax(objectives))
        best_values = {p: jnp.asarray(history[best][3][p], dtype) for p in paths}
        best_simulation = simulation.replace(engine=simulation.engine.replace_values(best_values))
    return ProtocolResult(
        simulation=best_simulation, objective=objectives, outcome=np.asarray([h[1] for h in history]),
        cost=np.asarray([h[2] for h in history]), values={p: np.stack([h[3][p] for h in history]) for p in paths},
        best=best,
    )


@eqx.filter_jit
def _update(optimiser, theta, state, grads, lo, hi):
    """One optimiser step on θ for −J, given dJ/dx (the chain rule through x(θ) by autodiff)."""
    def values(theta):
        return {p: _to_values(theta[p], lo[p], hi[p]) for p in theta}

    _, pullback = jax.vjp(values, theta)
    (dtheta,) = pullback(grads)
    updates, state = optimiser.update(jax.tree.map(jnp.negative, dtheta), state, theta)
    return optax.apply_updates(theta, updates), state


# ------------------------------------------------------------------------------ constant settings
@dataclasses.dataclass(frozen=True)
class ConstantSweep:
    """J of constant settings x ≡ v of one leaf (:func:`constant_sweep`).

    Attributes:
        path: the leaf.
        values: the constant values v, (n,).
        objective: J(v) = ⟨outcome⟩ − C(v), (n,).
        outcome: the seed-mean outcome, (n,).
        cost: C(v), (n,).
    """

    path: str
    values: np.ndarray
    objective: np.ndarray
    outcome: np.ndarray
    cost: np.ndarray

    @property
    def best(self) -> int:
        """Index of the best constant value."""
        return int(np.nanargmax(self.objective))

    @property
    def best_value(self) -> float:
        return float(self.values[self.best])

    @property
    def best_objective(self) -> float:
        return float(self.objective[self.best])


@eqx.filter_jit(compiler_options=COMPILER_OPTIONS)
@pin_matmul_precision
def _constant_outcomes(simulation, path, values, outcome, key, teachers, teacher_axis):
    def at(v):
        config = simulation.set({path: v}, check=False)
        trajectories = _seeds(config, key, teachers, None, teacher_axis, None, jnp.int32(0))
        return jnp.mean(jax.vmap(lambda tr: outcome(config, tr))(trajectories))

    return jax.vmap(at)(values)


def constant_sweep(
    simulation: Simulation,
    outcome: Outcome,
    key: PRNGKeyArray,
    path: str,
    values,
    *,
    cost: ScheduleCost | None = None,
    teachers: Float[Array, "..."] | None = None,
) -> ConstantSweep:
    """J(v) = ⟨outcome⟩_seeds − C(v) for constant settings ``path`` = v, by the PLAIN engine (the
    run of ``simulation.set({path: v})``; a :class:`ntajax.ScheduledScan` is replaced by its
    :meth:`~ntajax.ScheduledScan.unscheduled` engine, other schedules dropped), all values under
    one ``vmap`` (one compiled program), the same key as the protocol.

    Args:
        simulation: the simulation (scheduled or not).
        outcome: the differentiable outcome the protocol maximises.
        key: root key.
        path: the traced leaf, e.g. ``"student.tau_c"``.
        values: the constant values v, (n,); each is checked as ``set`` would.
        cost: the :class:`ScheduleCost` of the protocol (C(v) = κ·(v/x_ref)^p), or None.
        teachers: explicit teachers, as for :func:`ntajax.run`.
    """
    if not isinstance(simulation, Simulation):
        raise TypeError(f"simulation must be an ntajax.Simulation, got {type(simulation).__name__}.")
    if cost is not None and not isinstance(cost, ScheduleCost):
        raise TypeError(f"cost must be an ntajax.ScheduleCost or None, got {type(cost).__name__}.")
    if isinstance(simulation.engine, ScheduledScan):
        simulation = simulation.replace(engine=simulation.engine.unscheduled())
    path = simulation.resolve_path(path)
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"constant_sweep: values must be a non-empty 1-D sequence, got shape {values.shape}.")
    for v in values:
        simulation.check_point({path: float(v)})
    outcome = _checked_outcome(outcome)
    outcome.check(simulation)
    key = _as_key(key)
    with precision(simulation):
        simulation = simulation.cast()
        if teachers is None:
            teachers = make_teachers(simulation, key)
        axis = _check_teachers(simulation, teachers)
        teachers = jnp.asarray(teachers, simulation.float_dtype)
        outcomes = np.asarray(_constant_outcomes(simulation, path, jnp.asarray(values, simulation.float_dtype),
                                                 outcome, key, teachers, axis))
    costs = np.zeros_like(outcomes) if cost is None else np.asarray(cost.of_constant(values), dtype=float)
    return ConstantSweep(path=path, values=values, objective=outcomes - costs, outcome=outcomes, cost=costs)
