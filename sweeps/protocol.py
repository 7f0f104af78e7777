"""Simulations behind ``ntajax figure protocol``: an optimised gate-speed schedule τ_c(t) against
the best constant τ_c.

Problem: the gated student (d_in 8, d_out 4, M = P = 2, τ_w = 1, Fig. 2's regulariser λ_nonneg =
1/11, λ_norm = 10/11), A, B, A, … blocks of τ_B = 1, expected flow in the exact reduced
coordinates, dt = 0.005. Objective: the seed mean of the time-mean total alignment (each seed's
own assignment, :class:`ntajax.AssignedAlignment`) minus a cost of fast gates, the mean rate
κ·⟨τ_ref/τ_c(t)⟩_t with κ = 0.02, τ_ref = 0.1 (:class:`ntajax.ScheduleCost`). The schedule is
piecewise linear on knots every half block (at the switches and between them), τ_c ∈ [0.01, 1].

* ``constant``: J(τ_c) for constant τ_c on a log grid over the bounds (the plain engine,
  :func:`ntajax.constant_sweep`, one compiled program);
* ``protocol``: Adam on the knots (:func:`ntajax.optimise_protocol`) from the best constant,
  every iterate's J, outcome, cost and knots, plus the seed-mean A_tot(t) and τ_c(t) of the best
  schedule and of the best constant.
"""

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import ntajax
from ntajax._cli.figure import FigureContext
from ntajax._simulation import describe

BOUNDS = (0.01, 1.0)
COST = ntajax.ScheduleCost(weight=0.02, reference=0.1)
KNOT_SPACING = 0.5


def problem(ctx: FigureContext) -> ntajax.Simulation:
    t_total, n_seeds = ctx.pick((16.0, 8), (8.0, 4), (4.0, 2))
    times = np.arange(0.0, t_total + 1e-9, KNOT_SPACING)
    return ntajax.Simulation(
        d_in=8, d_out=4, n_teachers=2, student=ntajax.Gated(n_paths=2, tau_w=1.0, tau_c=0.1),
        regulariser=ntajax.Regulariser(lambda_nonneg=1 / 11, lambda_norm=10 / 11),
        curriculum=ntajax.Blocked(block_length=1.0), gradient=ntajax.ExpectedGradient(),
        grid=ntajax.TimeGrid(dt=0.005, t_total=t_total, n_save=int(round(t_total / 0.1)) + 1), n_seeds=n_seeds,
        engine=ntajax.ScheduledScan({"student.tau_c": ntajax.PiecewiseLinear.constant(0.1, times)}, subspace=True,
                                    unroll=1),  # unroll=1: a third of the compile time of the gradient
    )


def _records(sim, key):
    """Seed-mean A_tot(t) (own assignment) and the τ_c(t) the steps used, on the save points."""
    trajectory = ntajax.run(sim, key)
    summary = ntajax.summarise(sim, trajectory)
    alignment = np.asarray(summary.total_alignment).mean(axis=0)
    t = np.asarray(trajectory.t[0])
    engine = sim.engine
    tau_c = (np.asarray(engine.schedules["student.tau_c"](jnp.asarray(t))) if isinstance(engine, ntajax.ScheduledScan)
             else np.full(t.shape, float(sim.student.tau_c)))
    return t, alignment, tau_c


def compute(ctx: FigureContext) -> dict:
    """Stores ``constant`` and ``protocol``."""
    sim, key = problem(ctx), jax.random.key(ctx.seed)
    values = np.geomspace(BOUNDS[0] * 1.2, BOUNDS[1] * 0.8, ctx.pick(24, 16, 8))
    steps, learning_rate = ctx.pick(150, 60, 12), 0.2
    outcome = ntajax.AssignedAlignment()
    description = {"simulation": sim.to_dict(), "cost": describe(COST), "bounds": BOUNDS,
                   "seed": ctx.seed}

    def constant():
        sweep = ntajax.constant_sweep(sim, outcome, key, "student.tau_c", values, cost=COST)
        return xr.Dataset({"objective": ("tau_c", sweep.objective), "outcome": ("tau_c", sweep.outcome),
                           "cost": ("tau_c", sweep.cost)}, coords={"tau_c": values})

    constants = ctx.cached("protocol_constant", description | {"values": values.tolist()}, constant,
                           work=f"{len(values)} constant τ_c × {sim.n_seeds} seeds")

    def optimise():
        best = float(constants["tau_c"].values[int(np.nanargmax(constants["objective"].values))])
        knots = sim.engine.schedules["student.tau_c"].times
        start = sim.replace(engine=sim.engine.replace_values({"student.tau_c": jnp.full(knots.shape, best)}))
        result = ntajax.optimise_protocol(start, outcome, key, bounds=BOUNDS, cost=COST, steps=steps,
                                          learning_rate=learning_rate)
        t, optimised_alignment, optimised_tau = _records(result.simulation, key)
        plain = sim.replace(engine=sim.engine.unscheduled()).set({"student.tau_c": best})
        _, constant_alignment, constant_tau = _records(plain, key)
        return xr.Dataset(
            {"objective": ("step", result.objective), "outcome": ("step", result.outcome), "cost": ("step", result.cost),
             "knots": (("step", "knot"), result.values["student.tau_c"]),
             "alignment": (("schedule", "t"), np.stack([optimised_alignment, constant_alignment])),
             "tau_c_of_t": (("schedule", "t"), np.stack([optimised_tau, constant_tau]))},
            coords={"step": np.arange(steps + 1), "knot_time": ("knot", np.asarray(knots)), "t": t,
                    "schedule": ["optimised", "best constant"]},
            attrs={"best": result.best, "best_constant": best, "steps": steps, "learning_rate": learning_rate,
                   "cost_weight": COST.weight, "cost_reference": COST.reference, "bounds": list(BOUNDS),
                   "block_length": float(sim.curriculum.block_length), "n_seeds": sim.n_seeds},
        )

    protocol = ctx.cached("protocol", description | {"values": values.tolist(), "steps": steps, "lr": learning_rate},
                          optimise, work=f"{steps} Adam steps of value and gradient × {sim.n_seeds} seeds")
    return {"constant": constants, "protocol": protocol}
