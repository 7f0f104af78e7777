"""Scheduled hyperparameters and optimised protocols (issue 11): knot gradients against central
finite differences of independent runs in float64, a constant schedule against the plain engine,
a step schedule against a run continued with the second value, the optimiser against its start
(the best constant of a sweep), one compile per optimisation, and the refusal of bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntajax
from ntajax._gradients.protocol import protocol_compile_count

TAU_C_KNOTS = ([0.0, 0.8, 1.6, 2.4], [0.08, 0.2, 0.05, 0.12])
LAMBDA_KNOTS = ([0.0, 2.4], [0.3, 0.8])


def small(schedules=None, subspace=False, dt=0.01, t_total=2.4, n_save=25, **changes):
    """A small gated problem in float64 (2 teachers, 2 paths, τ_B = 0.7) with τ_c(t) and
    λ_norm(t) scheduled."""
    if schedules is None:
        schedules = {"student.tau_c": ntajax.PiecewiseLinear(*TAU_C_KNOTS),
                     "regulariser.lambda_norm": ntajax.PiecewiseLinear(*LAMBDA_KNOTS)}
    sim = ntajax.Simulation(
        d_in=6, d_out=3, n_teachers=2, student=ntajax.Gated(n_paths=2, tau_w=1.0, tau_c=0.1),
        regulariser=ntajax.Regulariser(lambda_nonneg=0.2, lambda_norm=0.5),
        curriculum=ntajax.Blocked(block_length=0.7), gradient=ntajax.ExpectedGradient(),
        grid=ntajax.TimeGrid(dt=dt, t_total=t_total, n_save=n_save), n_seeds=2, dtype="float64",
        engine=ntajax.ScheduledScan(schedules, subspace=subspace, unroll=1),
    )
    sim = sim.replace(**changes) if changes else sim
    with jax.enable_x64(True):
        return sim.cast()


COST = ntajax.ScheduleCost(weight=0.01, reference=0.1, variation=0.003)


def objective_by_runs(configs, key, outcome, cost):
    """J of each config from ntajax.run_stacked (an independent forward path) and the cost in NumPy."""
    trajectories = ntajax.run_stacked(configs, key)
    out = []
    for config, tr in zip(configs, trajectories):
        with jax.enable_x64(True):
            value = float(jnp.mean(jax.vmap(lambda t: outcome(config, t))(tr)))
        grid = config.grid
        t = np.arange(grid.n_steps) * grid.dt
        total = 0.0
        for schedule in config.engine.schedules.values():
            x = np.interp(t, np.asarray(schedule.times), np.asarray(schedule.values))
            log = np.log(np.asarray(schedule.values))
            total += cost.weight * np.mean((x / cost.reference) ** cost.exponent) + cost.variation * np.abs(np.diff(log)).sum()
        out.append(value - total)
    return out


@pytest.mark.parametrize("subspace", [False, True])
def test_knot_gradients_against_finite_differences(subspace):
    sim, key = small(subspace=subspace), jax.random.key(3)
    outcome = ntajax.AssignedAlignment()
    value, grads = ntajax.schedule_gradient(sim, outcome, key, cost=COST)
    configs, steps = [], []
    for path, schedule in sim.engine.schedules.items():
        for k in range(schedule.n_knots):
            h = 1e-5 * float(schedule.values[k])
            steps.append((path, k, h))
            for sign in (1.0, -1.0):
                with jax.enable_x64(True):
                    values = schedule.values.at[k].add(sign * h)
                    configs.append(sim.replace(engine=sim.engine.replace_values({path: values})))
    with jax.enable_x64(True):
        [reference] = objective_by_runs([sim], key, outcome, COST)
    assert float(value) == pytest.approx(reference, rel=1e-12)
    objectives = objective_by_runs(configs, key, outcome, COST)
    errors = []
    for n, (path, k, h) in enumerate(steps):
        fd = (objectives[2 * n] - objectives[2 * n + 1]) / (2 * h)
        exact = float(grads[path][k])
        assert abs(fd) > 1e-4, (path, k, fd)
        errors.append(abs(exact - fd) / abs(fd))
    print("relative errors of the knot gradients", subspace, [f"{e:.1e}" for e in errors])
    assert max(errors) < 1e-6


@pytest.mark.parametrize("engine, gradient", [("scan", "expected"), ("scan", "sampled"), ("subspace", "expected")])
def test_constant_schedule_reproduces_the_plain_engine(engine, gradient):
    """x(t) ≡ v is the run of the plain engine with the leaf set to v: the same iterates, bit for
    bit for the expected flow in full coordinates; elsewhere XLA fuses the division by a computed
    τ differently, which changes the last bit of some steps."""
    mode = ntajax.ExpectedGradient() if gradient == "expected" else ntajax.SampledGradient(batch_size=16)
    schedules = {"student.tau_c": ntajax.PiecewiseLinear.constant(0.07, [0.0, 1.0, 2.4]),
                 "regulariser.lambda_norm": ntajax.PiecewiseLinear.constant(0.9, [0.5, 1.5])}
    scheduled = small(schedules, subspace=engine == "subspace", gradient=mode)
    with jax.enable_x64(True):  # the same float64 values as the knots (born float32, then cast)
        values = {p: float(s.values[0]) for p, s in scheduled.engine.schedules.items()}
        plain = scheduled.replace(engine=scheduled.engine.unscheduled()).set(values)
    assert type(plain.engine) is (ntajax.SubspaceScan if engine == "subspace" else ntajax.EulerScan)
    key = jax.random.key(1)
    a, b = ntajax.run(scheduled, key), ntajax.run(plain, key)
    for field in ("loss", "gates", "similarity", "closing_loss"):
        x, y = np.asarray(getattr(a, field)), np.asarray(getattr(b, field))
        if (engine, gradient) == ("scan", "expected"):
            assert np.array_equal(x, y), field
        else:
            np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-15)
    # and a different constant changes the run (the schedule is what the steps use)
    with jax.enable_x64(True):
        other = ntajax.run(plain.set({"tau_c": 0.08}), key)
    assert not np.allclose(np.asarray(other.gates), np.asarray(a.gates))


def test_step_schedule_equals_a_run_continued_with_the_second_value():
    """Knots (1.1901, 0.05) and (1.1999, 0.2): steps 0 … 119 (t_i ≤ 1.19) use τ_c = 0.05 and steps
    120 … (t_i ≥ 1.2) use 0.2 (x(t) is constant outside the knots), which is a plain run of 120
    steps continued (start_step = 120) with τ_c = 0.2; one step later is a different run."""
    key = jax.random.key(4)
    with jax.enable_x64(True):  # float64 knots and values, so that x(t_i) is exactly 0.05 or 0.2
        def step_at(t0, t1):
            return small({"student.tau_c": ntajax.PiecewiseLinear(jnp.asarray([t0, t1]), jnp.asarray([0.05, 0.2]))})

        full = ntajax.run(step_at(1.1901, 1.1999), key)
        half = step_at(1.1901, 1.1999).replace(engine=ntajax.EulerScan(unroll=1),
                                                grid=ntajax.TimeGrid(dt=0.01, t_total=1.2, n_save=13))
        first = ntajax.run(half.set({"tau_c": 0.05}), key)
        second = ntajax.run(half.set({"tau_c": 0.2}), key, init=first.final, start_step=120)
        late = ntajax.run(step_at(1.2001, 1.2099), key)
    for field in ("W", "c"):
        np.testing.assert_allclose(np.asarray(getattr(full.final, field)), np.asarray(getattr(second.final, field)),
                                   rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(np.asarray(full.loss[:, 12]), np.asarray(first.loss[:, -1]), rtol=1e-13)
    assert not np.allclose(np.asarray(late.final.c), np.asarray(second.final.c), rtol=1e-9)


def test_assigned_alignment_is_the_summary_alignment():
    sim, key = small(), jax.random.key(2)
    trajectory = ntajax.run(sim, key)
    with jax.enable_x64(True):
        summary = ntajax.summarise(sim, trajectory)
    for final, field in ((False, "mean_alignment"), (True, "final_alignment")):
        with jax.enable_x64(True):
            values = jax.vmap(lambda tr: ntajax.AssignedAlignment(final=final)(sim, tr))(trajectory)
        np.testing.assert_allclose(np.asarray(values), np.asarray(getattr(summary, field)), rtol=1e-12)


def test_optimiser_improves_on_the_best_constant_with_one_compile():
    """Start from the best constant τ_c of a sweep (same objective and cost): the constant
    schedule scores the sweep's J, and a few Adam steps raise J above it."""
    t_total = 4.0
    sim = small({"student.tau_c": ntajax.PiecewiseLinear.constant(0.1, np.linspace(0, t_total, 9))}, subspace=True,
                dt=0.005, t_total=t_total, n_save=41, curriculum=ntajax.Blocked(block_length=1.0),
                regulariser=ntajax.Regulariser(lambda_nonneg=1 / 11, lambda_norm=10 / 11))
    key, outcome = jax.random.key(0), ntajax.AssignedAlignment()
    cost = ntajax.ScheduleCost(weight=0.02, reference=0.1)
    sweep = ntajax.constant_sweep(sim, outcome, key, "tau_c", np.geomspace(0.012, 0.8, 8), cost=cost)
    assert 0 < sweep.best < 7  # an interior optimum: the cost matters
    start = sim.replace(engine=sim.engine.replace_values({"student.tau_c": jnp.full(9, sweep.best_value)}))
    before = protocol_compile_count()
    result = ntajax.optimise_protocol(start, outcome, key, bounds=(0.01, 1.0), cost=cost, steps=6, learning_rate=0.3)
    assert protocol_compile_count() - before == 1
    assert result.objective.shape == (7,) and result.values["student.tau_c"].shape == (7, 9)
    # (the knots hold the float32 of the value, and x = lo·(hi/lo)^σ(θ) round-trips it to ~1e-8)
    assert result.objective[0] == pytest.approx(sweep.best_objective, rel=1e-6)
    gain = result.best_objective - sweep.best_objective
    print("objective over steps", np.round(result.objective, 4), "gain over the best constant", gain)
    assert gain > 2e-3
    assert result.outcome[result.best] - result.cost[result.best] == pytest.approx(result.best_objective, rel=1e-12)
    best_knots = np.asarray(result.schedules["student.tau_c"].values)
    np.testing.assert_allclose(best_knots, result.values["student.tau_c"][result.best], rtol=1e-12)
    assert np.all(best_knots > 0.01) and np.all(best_knots < 1.0)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="increase strictly"):
        ntajax.PiecewiseLinear([0.0, 1.0, 1.0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="one shape"):
        ntajax.PiecewiseLinear([0.0, 1.0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="1-D"):
        ntajax.PiecewiseLinear([[0.0, 1.0]], [[0.1, 0.2]])
    with pytest.raises(ValueError, match="finite"):
        ntajax.PiecewiseLinear([0.0, 1.0], [0.1, float("nan")])
    with pytest.raises(TypeError, match="real numbers"):
        ntajax.PiecewiseLinear(["a", "b"], [0.1, 0.2])
    with pytest.raises(ValueError, match="non-empty dict"):
        ntajax.ScheduledScan({})
    with pytest.raises(ValueError, match="cannot schedule 'curriculum.block_length'"):
        ntajax.ScheduledScan({"curriculum.block_length": ntajax.PiecewiseLinear([0, 1], [1, 2])})
    with pytest.raises(TypeError, match="PiecewiseLinear"):
        ntajax.ScheduledScan({"student.tau_c": 0.1})
    with pytest.raises(ValueError, match="not a traced leaf"):
        small({"student.tau_x": ntajax.PiecewiseLinear([0, 1], [0.1, 0.1])})
    with pytest.raises(ValueError, match="takes the value 0.004.*too large"):  # dt/τ_c > 2
        small({"student.tau_c": ntajax.PiecewiseLinear([0, 1], [0.1, 0.004])})
    with pytest.raises(ValueError, match="lambda_norm.*non-negative"):
        small({"regulariser.lambda_norm": ntajax.PiecewiseLinear([0, 1], [0.1, -0.5])})
    with pytest.raises(ValueError, match="lambda_w"):
        small({"regulariser.lambda_w": ntajax.PiecewiseLinear([0, 1], [0.0, 0.0])}, subspace=True)
    sim, key = small(), jax.random.key(0)
    with pytest.raises(RuntimeError, match="cannot continue a run"):
        ntajax.run(sim, key, start_step=10)
    plain = sim.replace(engine=sim.engine.unscheduled())
    with pytest.raises(ValueError, match="ScheduledScan"):
        ntajax.schedule_gradient(plain, ntajax.FinalLoss(), key)
    with pytest.raises(ValueError, match="scheduled by the engine"):  # the plain leaf is never read: not a silent 0
        ntajax.outcome_gradient(sim, ntajax.FinalLoss(), "student.tau_c", key)
    with pytest.raises(ValueError, match="not differentiable"):
        ntajax.schedule_gradient(sim, "mean_alignment", key)
    with pytest.raises(ValueError, match="strictly inside"):
        ntajax.optimise_protocol(sim, ntajax.FinalLoss(), key, bounds=(0.06, 1.0), steps=1)
    with pytest.raises(ValueError, match="0 < lo < hi"):
        ntajax.optimise_protocol(sim, ntajax.FinalLoss(), key, bounds=(1.0, 0.5), steps=1)
    with pytest.raises(ValueError, match="every scheduled path"):
        ntajax.optimise_protocol(sim, ntajax.FinalLoss(), key, bounds={"student.tau_c": (0.01, 1.0)}, steps=1)
    with pytest.raises(ValueError, match="steps"):
        ntajax.optimise_protocol(sim, ntajax.FinalLoss(), key, bounds=(0.01, 1.0), steps=0)
    with pytest.raises(ValueError, match="weight"):
        ntajax.ScheduleCost(weight=-1.0)
    with pytest.raises(ValueError, match="reference"):
        ntajax.ScheduleCost(reference=0.0)
