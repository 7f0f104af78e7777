"""Engines against closed forms and against each other (MODEL §5.2)."""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tree_allclose

import ntajax
from ntajax.metrics import analytic_wbar, order_parameters


def _relaxation_config(n_save=11):
    """One path, gates frozen (τ_c huge, no regulariser): W relaxes exponentially to W*/c."""
    return ntajax.Simulation(
        d_in=6, d_out=3, n_teachers=1, student=ntajax.Gated(n_paths=1, tau_w=0.5, tau_c=1e30),
        gradient=ntajax.ExpectedGradient(), grid=ntajax.TimeGrid(dt=1e-3, t_total=1.0, n_save=n_save), n_seeds=1,
        curriculum=ntajax.Blocked(block_length=1.0),
    )


def test_frozen_gate_relaxation_closed_form_and_exact_discrete_form(key):
    """τ_w dW/dt = c(W* − cW) ⇒ W(t) = W*/c + (W0 − W*/c)·exp(−c²t/τ_w); Euler: (1 − c²dt/τ_w)^n."""
    config = _relaxation_config()
    teacher = ntajax.make_teachers(config, key)
    tr = ntajax.run(config, key, teachers=teacher)
    W_t = np.asarray(tr.weights.W if tr.weights is not None else tr.final.W)[0, 0]
    init_key = jax.random.split(ntajax.seed_keys(key, 1)[1][0])[0]
    W0 = np.asarray(config.student.initialise(init_key, d_in=6, d_out=3, n_teachers=1).W[0])
    c, tau, n, dt = 0.5, 0.5, config.n_steps, config.grid.dt
    fixed = np.asarray(teacher[0]) / c
    discrete = fixed + (W0 - fixed) * (1 - c**2 * dt / tau) ** n
    continuous = fixed + (W0 - fixed) * np.exp(-(c**2) * n * dt / tau)
    np.testing.assert_allclose(W_t, discrete, rtol=1e-5, atol=1e-6)
    # Euler's local error: |(1 − h)^n − e^{−nh}| ≈ n h²/2 · e^{−nh} with h = c²dt/τ_w.
    h = c**2 * dt / tau
    bound = n * h**2 / 2 * np.exp(-n * h) * np.max(np.abs(W0 - fixed)) * 1.5
    assert np.max(np.abs(W_t - continuous)) < bound
    assert np.max(np.abs(W_t - continuous)) > 0.1 * bound  # the discrete form really differs


def test_record_of_loss_follows_relaxation(key):
    config = _relaxation_config(n_save=101)
    teacher = ntajax.make_teachers(config, key)
    tr = ntajax.run(config, key, teachers=teacher)
    # ‖E‖ decays at rate c²/τ_w, so the loss at rate 2c²/τ_w: log-slope −1 per time unit.
    t, loss = np.asarray(tr.t[0]), np.asarray(tr.loss[0])
    slope = np.polyfit(t, np.log(loss - 0.5 * np.sum(np.asarray(teacher[0]) ** 2) * 0), 1)[0]
    # Residual E = W* − cW = (W* − cW0)·e^{−c²t/τ_w}  →  L = ½‖E‖² decays as e^{−2c²t/τ_w} = e^{−t}.
    assert slope == pytest.approx(-2 * 0.25 / 0.5, rel=1e-3)


def _ode(config, **engine):
    return config.replace(engine=ntajax.Diffrax(**engine))


def test_diffrax_euler_reproduces_scan(flexible_config, key):
    scan = ntajax.run(flexible_config, key)
    ode = ntajax.run(_ode(flexible_config, solver=diffrax.Euler(), stepsize_controller=diffrax.ConstantStepSize()), key)
    np.testing.assert_allclose(ode.loss, scan.loss, rtol=2e-4, atol=1e-6)
    np.testing.assert_allclose(ode.gates, scan.gates, rtol=2e-4, atol=1e-5)
    np.testing.assert_array_equal(ode.block, scan.block)


def test_scan_converges_to_diffrax_linearly_in_dt(key):
    """Euler's global error is O(dt): halving dt halves the distance to the adaptive ODE solution."""
    base = ntajax.Simulation(
        d_in=20, d_out=10, student=ntajax.Gated(tau_w=0.2, tau_c=0.05),
        regulariser=ntajax.Regulariser(lambda_nonneg=0.5, lambda_norm=2.5), gradient=ntajax.ExpectedGradient(),
        grid=ntajax.TimeGrid(dt=1e-3, t_total=1.6, n_save=9), n_seeds=2, curriculum=ntajax.Blocked(block_length=0.4),
    )
    reference = ntajax.run(
        base.replace(engine=ntajax.Diffrax(stepsize_controller=diffrax.PIDController(rtol=1e-7, atol=1e-9))), key
    )
    errors = []
    for dt in (8e-3, 4e-3, 2e-3):
        tr = ntajax.run(base.replace(grid=base.grid.replace(dt=dt)), key)
        errors.append(float(jnp.max(jnp.abs(tr.final.W - reference.final.W))))
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert errors[-1] < 5e-3
    np.testing.assert_allclose(ratios, 2.0, rtol=0.25)


def test_vmap_element_equals_single_run(flexible_config, key):
    """A stacked config under vmap gives, for element i, exactly the single run of config i."""
    taus = jnp.asarray([0.02, 0.03, 0.05])
    teachers = ntajax.make_teachers(flexible_config, key)

    def one(tau_c):
        return ntajax.simulate(flexible_config.set({"student.tau_c": tau_c}), key, teachers=teachers)

    batched = jax.jit(jax.vmap(one))(taus)
    for i, tau in enumerate(taus):
        single = jax.jit(one)(tau)
        assert tree_allclose(jax.tree.map(lambda x: x[i], batched), single, rtol=1e-5, atol=1e-6)


def test_same_key_identical_and_other_key_differs(key):
    config = ntajax.Simulation(
        student=ntajax.Gated(tau_c=0.03), regulariser=ntajax.Regulariser(lambda_norm=0.9),
        gradient=ntajax.SampledGradient(), grid=ntajax.TimeGrid(t_total=0.5, n_save=6), n_seeds=2,
    )
    a, b = ntajax.run(config, key), ntajax.run(config, key)
    assert tree_allclose(a, b, rtol=0, atol=0)
    c = ntajax.run(config, jax.random.key(1))
    assert not np.allclose(a.loss[:, 1:], c.loss[:, 1:])
    # different seeds of one run differ too
    assert not np.allclose(a.loss[0, 1:], a.loss[1, 1:])


def test_traced_fields_do_not_recompile(key):
    config = ntajax.Simulation(
        curriculum=ntajax.Blocked(block_length=0.2), gradient=ntajax.ExpectedGradient(),
        grid=ntajax.TimeGrid(t_total=0.4, n_save=5), n_seeds=2,
    )
    before = ntajax._run.compile_count()
    ntajax.run(config, key)
    after_first = ntajax._run.compile_count()
    for tau_c, lam, block in [(0.02, 0.1, 0.1), (0.05, 0.5, 0.2), (0.1, 1.0, 0.4), (0.03, 0.0, 0.05)]:
        changed = config.set({"student.tau_c": tau_c, "regulariser.lambda_norm": lam, "regulariser.lambda_nonneg": lam / 5,
                              "curriculum.block_length": block})
        ntajax.run(changed.replace(recording=ntajax.Recording(n_blocks=8)), key)
    # n_blocks is static: one compile for the first (default n_blocks=2) and one for n_blocks=8.
    assert after_first - before == 1
    assert ntajax._run.compile_count() - after_first == 1


def test_chunked_run_equals_single_run(key):
    config = ntajax.Simulation(
        student=ntajax.Gated(tau_c=0.03), regulariser=ntajax.Regulariser(lambda_norm=0.9),
        curriculum=ntajax.Blocked(block_length=0.2), gradient=ntajax.SampledGradient(),
        grid=ntajax.TimeGrid(t_total=0.6, n_save=7), n_seeds=2,
    )
    whole = ntajax.run(config, key)
    chunked = ntajax._run.run_chunked(config, key, n_chunks=3)
    assert tree_allclose(whole, chunked, rtol=0, atol=0)


def test_continuation_from_final_state(key):
    """run(t_total = 2T) == run(T) continued from its final state with start_step = n_steps."""
    long = ntajax.Simulation(
        student=ntajax.Gated(tau_c=0.05), curriculum=ntajax.Blocked(block_length=0.1),
        gradient=ntajax.SampledGradient(), grid=ntajax.TimeGrid(t_total=0.4, n_save=5), n_seeds=2,
    )
    short = long.replace(grid=ntajax.TimeGrid(t_total=0.2, n_save=3), recording=ntajax.Recording(n_blocks=4))
    first = ntajax.run(short, key)
    second = ntajax.run(short, key, init=first.final, start_step=short.n_steps)
    whole = ntajax.run(long, key)
    np.testing.assert_array_equal(second.final.W, whole.final.W)
    np.testing.assert_array_equal(second.loss[:, 1:], whole.loss[:, 3:])


def test_block_switches_exactly_at_k_tau_b(key):
    config = ntajax.Simulation(
        curriculum=ntajax.Blocked(block_length=0.6), gradient=ntajax.ExpectedGradient(),
        grid=ntajax.TimeGrid(dt=1e-3, t_total=3.0, n_save=3001), n_seeds=1,
    )
    tr = ntajax.run(config, key)
    t, block = np.asarray(tr.t[0]), np.asarray(tr.block[0])
    switches = t[1:][np.diff(block) != 0]
    np.testing.assert_allclose(switches, [0.6, 1.2, 1.8, 2.4], atol=1e-6)
    np.testing.assert_array_equal(np.asarray(tr.task[0])[:5], [0, 0, 0, 0, 0])


def test_diverging_run_is_flagged_not_raised(key):
    """dt/τ_c = 2 with a huge regulariser blows up; the run returns status DIVERGED."""
    with pytest.warns(ntajax.NtajaxWarning, match="gradient-flow regime"):
        config = ntajax.Simulation(
            student=ntajax.Gated(tau_c=0.005), regulariser=ntajax.Regulariser(lambda_norm=1e3),
            gradient=ntajax.ExpectedGradient(), grid=ntajax.TimeGrid(dt=1e-2, t_total=0.5, n_save=2), n_seeds=1,
        )
    tr = ntajax.run(config, key)
    assert int(tr.status[0]) == ntajax.Status.DIVERGED


@pytest.mark.parametrize("tau_c", [0.1, 0.3162, 1.0])
def test_toy_follows_analytic_wbar_curve(tau_c):
    """Fig. 4H: after a switch the symmetric toy follows W̄(C̄) = √(1 − ½(τ_c/τ_w)(1 − C̄²)) (§7.7)."""
    config = ntajax.Simulation(
        d_in=1, d_out=2, n_teachers=2, student=ntajax.Gated(n_paths=2, tau_w=1.0, tau_c=tau_c),
        regulariser=ntajax.Regulariser(lambda_nonneg=1 / 11, lambda_norm=10 / 11),
        curriculum=ntajax.Smooth(n_contexts=2, sharpness=100.0, order=(1, 0), block_length=5.0),
        gradient=ntajax.ExpectedGradient(), grid=ntajax.TimeGrid(dt=1e-3, t_total=1.0, n_save=1001),
        recording=ntajax.Recording(weights=True), n_seeds=1, teachers=ntajax.ExplicitTeachers(),
    )
    from ntajax._presets.runs import toy_state, toy_teachers

    init = toy_state((1, 0), (0, 1), (1, 0))  # path 0 holds e₁ (old, gate 1); path 1 holds e₂ (new, gate 0)
    tr = ntajax.run(config, jax.random.key(0), teachers=toy_teachers(), init=init)
    w = np.asarray(tr.weights.W[0, :, :, :, 0])  # (T, path, component)
    c = np.asarray(tr.weights.c[0])
    params = order_parameters(w, c, new_target=np.array([0.0, 1.0]), old_target=np.array([1.0, 0.0]), new_path=1)
    cbar, wbar = np.asarray(params["Cbar"]), np.asarray(params["Wbar"])
    switching = (cbar > -0.95) & (cbar < 0.95)
    assert switching.sum() > 10
    predicted = np.asarray(analytic_wbar(cbar[switching], tau_c, 1.0))
    assert np.max(np.abs(wbar[switching] - predicted)) < 0.03
    # the dip deepens with τ_c/τ_w: the minimum of W̄ is near the analytic minimum
    assert np.min(wbar) == pytest.approx(np.sqrt(1 - tau_c / 2), abs=0.03)


def test_chunked_run_compiles_once_for_all_chunks():
    """run_chunked gives every chunk a per-seed initial state with strong dtypes: one trace."""
    from ntajax._run import compile_count, run_chunked

    config = ntajax.Simulation(
        student=ntajax.Gated(tau_c=0.03), regulariser=ntajax.Regulariser(lambda_nonneg=0.1, lambda_norm=0.9),
        curriculum=ntajax.Blocked(block_length=0.25), gradient=ntajax.ExpectedGradient(),
        grid=ntajax.TimeGrid(t_total=0.5, n_save=11), n_seeds=2,
    )
    whole = ntajax.run(config, jax.random.key(1))
    before = compile_count()
    pieces = run_chunked(config, jax.random.key(1), n_chunks=5)
    assert compile_count() - before == 1
    np.testing.assert_array_equal(np.asarray(pieces.loss), np.asarray(whole.loss))
