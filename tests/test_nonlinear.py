"""Nonlinear students on explicit minibatches: the gated tanh network and ``MinibatchScan``.

Checks: autodiff gradients against finite differences; a gated tanh network learns through
``ntajax.run`` and its trajectory has the documented shapes; ``MinibatchScan`` on a linear
student takes the same steps as ``EulerScan`` (same batches); the evaluation-batch loss agrees
with the exact loss within its derived Monte-Carlo tolerance; traced parameters do not recompile.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import ntajax
from ntajax._engines.minibatch import (
    EVAL_KEY_TAG, MinibatchScan, least_squares_projector, linear_readout, minibatch_loss, minibatch_velocity,
)
from ntajax._run import compile_count
from ntajax._students.nonlinear import GatedTanh, GatedTanhStudent

RECORD_FIELDS = ("t", "block", "task", "loss", "closing_loss", "minibatch_loss", "gates", "path_norms", "similarity",
                 "context_alignment")


def _random_tanh(key, P=2, H=5, d_out=3, d_in=4):
    k_w, k_v = jax.random.split(key)
    return GatedTanhStudent(W=0.8 * jax.random.normal(k_w, (P, H, d_in)), V=0.6 * jax.random.normal(k_v, (P, d_out, H)),
                            c=jnp.array([0.8, -0.3]))


# ------------------------------------------------------------------------------------- 1. gradients
def test_gradient_matches_finite_differences_and_velocity_is_minus_gradient_over_tau():
    with jax.enable_x64(True):
        k_s, k_x, k_t = jax.random.split(jax.random.key(3), 3)
        student = jax.tree.map(lambda x: x.astype(jnp.float64), _random_tanh(k_s))
        X = jax.random.normal(k_x, (16, 4), jnp.float64)
        target = 0.5 * jax.random.normal(k_t, (3, 4), jnp.float64)
        model = GatedTanh(hidden=5, tau_w=0.7, tau_c=0.05)
        reg = ntajax.Regulariser(lambda_norm=0.4, lambda_nonneg=0.2, lambda_w=0.1)

        # the loss itself: ½ mean_b Σ_i (Σ_p c_p V_p tanh(W_p x_b) − W* x_b)_i², written out in numpy
        W, V, c, x = (np.asarray(a) for a in (student.W, student.V, student.c, X))
        pred = np.stack([sum(c[p] * V[p] @ np.tanh(W[p] @ xb) for p in range(2)) for xb in x])
        np.testing.assert_allclose(float(minibatch_loss(student, X, target)),
                                   0.5 * np.mean(np.sum((pred - x @ np.asarray(target).T) ** 2, axis=1)), rtol=1e-12)

        flat, unravel = ravel_pytree(student)
        h = 1e-5
        steps = h * jnp.eye(flat.size, dtype=jnp.float64)

        @jax.jit
        def derivatives(student):
            def objective(s):
                return minibatch_loss(s, X, target) + reg(s)

            def central(f):  # error O(h²) ≈ 1e-10, rounding ≈ 1e-11
                on_flat = jax.vmap(lambda v: f(unravel(v)))
                return (on_flat(flat + steps) - on_flat(flat - steps)) / (2 * h)

            task = lambda s: minibatch_loss(s, X, target)  # noqa: E731
            return (jax.grad(objective)(student), central(objective), jax.grad(task)(student), central(task),
                    minibatch_velocity(student, X, target, model, reg))

        gradient, finite, task_gradient, task_finite, v = derivatives(student)
        np.testing.assert_allclose(ravel_pytree(gradient)[0], finite, rtol=1e-7, atol=1e-9)
        # the task part alone as well (the regulariser must not mask an error in it)
        np.testing.assert_allclose(ravel_pytree(task_gradient)[0], task_finite, rtol=1e-7, atol=1e-9)
        assert type(v) is GatedTanhStudent
        np.testing.assert_allclose(v.W, -gradient.W / model.tau_w, rtol=1e-14)
        np.testing.assert_allclose(v.V, -gradient.V / model.tau_w, rtol=1e-14)
        np.testing.assert_allclose(v.c, -gradient.c / model.tau_c, rtol=1e-14)


# ------------------------------------------------------------------------------ 2. a learning run
def _tanh_simulation(**changes):
    kwargs = dict(
        d_in=8, d_out=4, n_teachers=2, student=GatedTanh(hidden=8), gradient=ntajax.SampledGradient(batch_size=64),
        engine=MinibatchScan(eval_size=512), grid=ntajax.TimeGrid(dt=1e-2, t_total=8.0, n_save=41),
        curriculum=ntajax.Blocked(block_length=8.0), recording=ntajax.Recording(weights=True, weights_every=2),
        n_seeds=3,
    )
    return ntajax.Simulation(**(kwargs | changes))


@pytest.fixture(scope="module")
def tanh_run():
    config = _tanh_simulation()
    key = jax.random.key(0)
    return config, key, ntajax.run(config, key)


def test_gated_tanh_learns_through_run_with_documented_shapes(tanh_run):
    config, key, tr = tanh_run
    S, T, M, P, H = 3, 41, 2, 2, 8
    shapes = dict(t=(S, T), block=(S, T), task=(S, T), loss=(S, T), closing_loss=(S, T), minibatch_loss=(S, T),
                  gates=(S, T, P), path_norms=(S, T, P), similarity=(S, T, M, P), context_alignment=(S, T))
    for name, shape in shapes.items():
        assert getattr(tr, name).shape == shape, name
        assert getattr(tr, name).dtype == (jnp.int32 if name in ("block", "task") else jnp.float32), name
    assert isinstance(tr.final, GatedTanhStudent)
    assert tr.final.W.shape == (S, P, H, 8) and tr.final.V.shape == (S, P, 4, H) and tr.final.c.shape == (S, P)
    assert tr.weights.W.shape == (S, 21, P, H, 8)  # every 2nd of the 41 records
    np.testing.assert_array_equal(np.asarray(tr.weights.c[:, -1]), np.asarray(tr.final.c))
    np.testing.assert_allclose(tr.t[0], config.save_times, rtol=1e-6)
    assert np.all(np.asarray(tr.status) == ntajax.Status.OK)
    assert np.all(np.asarray(tr.task) == 0) and np.all(np.asarray(tr.block) == 0)
    np.testing.assert_allclose(tr.gates[:, 0], 0.5)

    loss = np.asarray(tr.loss)
    # at t = 0 the output is ≈ 0, so L ≈ ½‖W*_0‖²_F = ½ d_out s² = ½·4/8 (orthogonal teachers, s = 1/√d_in)
    np.testing.assert_allclose(loss[:, 0], 0.25, atol=5e-3)
    assert np.all(loss[:, -1] < loss[:, 0] / 5), loss[:, -1]  # a clear factor within one block
    assert np.all(np.asarray(tr.minibatch_loss[:, -1]) < loss[:, 0] / 3)
    np.testing.assert_array_equal(tr.closing_loss, tr.loss)  # one block: no switch
    # the learned map points at the block's teacher, not at the other one
    assert np.all(np.asarray(tr.context_alignment[:, -1]) > 0.8)
    similarity = np.asarray(tr.similarity[:, -1])
    assert np.all(similarity[:, 0].max(axis=-1) > 0.5) and np.all(np.abs(similarity[:, 1]) < 0.3)

    summary = ntajax.summarise(config, tr)
    assert summary.assignment.shape == (S, M) and summary.adaptation_time.shape == (S, 1)
    np.testing.assert_allclose(summary.final_loss, tr.loss[:, -1])
    assert np.all(np.isfinite(np.asarray(summary.final_alignment)))


def test_engine_step_is_euler_on_minus_gradient_over_tau_with_the_documented_keys(tanh_run):
    """Replays the first two recording intervals (20 steps) from the recorded initial state with
    X_i = normal(fold_in(batch_key, i)), batch_key = split(data_key)[1]."""
    config, key, tr = tanh_run
    _, seed_keys = ntajax.seed_keys(key, config.n_seeds)
    _, data_key = jax.random.split(seed_keys[1])
    _, batch_key = jax.random.split(data_key)
    teachers = ntajax.make_teachers(config, key)
    state = jax.tree.map(lambda x: x[1, 0], tr.weights)

    @jax.jit
    def step(state, i):
        X = jax.random.normal(jax.random.fold_in(batch_key, i), (64, config.d_in))
        v = minibatch_velocity(state, X, teachers[0], config.student, config.regulariser)
        return jax.tree.map(lambda y, dy: y + config.grid.dt * dy, state, v)

    for i in range(2 * config.save_every):
        state = step(state, jnp.int32(i))
    recorded = jax.tree.map(lambda x: x[1, 1], tr.weights)  # weights_every = 2: the record at step 20
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(recorded)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------- 3. linear cross-check against EulerScan
@pytest.mark.parametrize("dtype, tol", [("float32", 1e-5), ("float64", 1e-10)])
def test_minibatch_scan_equals_euler_scan_on_the_same_batches(dtype, tol):
    """EulerScan(method="batch") draws X_i = normal(fold_in(batch_key, i), (B, d_in)) and steps with
    Σ̂ = XᵀX/B in closed form; MinibatchScan draws the same X_i and differentiates the explicit
    batch loss: the same iterates up to rounding. Records use the evaluation batch, whose
    least-squares map is W_eff exactly for a linear student, so every record agrees too."""
    base = ntajax.Simulation(
        d_in=6, d_out=3, n_teachers=2, student=ntajax.Gated(tau_w=0.5, tau_c=0.05),
        regulariser=ntajax.Regulariser(lambda_norm=0.5, lambda_nonneg=0.1, lambda_w=0.05),
        gradient=ntajax.SampledGradient(batch_size=16, method="batch"),
        grid=ntajax.TimeGrid(dt=1e-2, t_total=2.0, n_save=11),
        curriculum=ntajax.Blocked(block_length=0.5), n_seeds=2, dtype=dtype,
    )
    key = jax.random.key(1)
    closed = ntajax.run(base, key)
    autodiff = ntajax.run(base.replace(engine=MinibatchScan(eval_size=64)), key)
    for name in RECORD_FIELDS:
        a, b = getattr(closed, name), getattr(autodiff, name)
        assert a.shape == b.shape and a.dtype == b.dtype, name
        np.testing.assert_allclose(b, a, rtol=tol, atol=tol, err_msg=name)
    for a, b in zip(jax.tree.leaves(closed.final), jax.tree.leaves(autodiff.final)):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(b, a, rtol=tol, atol=tol)
    assert np.all(np.asarray(autodiff.status) == ntajax.Status.OK)
    # the comparison is not vacuous: the run moves and switches blocks
    loss = np.asarray(closed.loss)
    assert loss.min() < 0.5 * loss[0, 0] and np.any(np.diff(np.asarray(closed.task[0])) != 0)


# --------------------------------------------------------------------- 4. the evaluation-batch loss
@eqx.filter_jit
def _estimate(student, target, inputs):
    """The engine's loss estimator on ``inputs``: ½‖W* − Ŵ_lin‖² + ½ mean‖ŷ − Ŵ_lin x‖²."""
    w_lin, residual, paths = linear_readout(student, inputs, least_squares_projector(inputs))
    return 0.5 * jnp.sum((target - w_lin) ** 2) + residual, residual, w_lin, paths


@eqx.filter_jit
def _moments(student, target, big):
    """(loss, std(u), ½E‖g‖²) on a large batch, for the tolerance of :func:`_tolerance`."""
    loss, residual, w_lin, _ = _estimate(student, target, big)
    g = jax.vmap(student)(big) - big @ w_lin.T
    u = jnp.sum((big @ (w_lin - target).T) * g, axis=-1) + 0.5 * jnp.sum(g**2, axis=-1)
    return loss, jnp.std(u), residual


def _tolerance(std_u, residual, n, n_big, d_in):
    """Monte-Carlo tolerance of the engine's estimator on n inputs. Write ŷ = W_lin x + g(x) with
    E[g xᵀ] = 0 and D = W_lin − W*. The estimator ½‖W* − Ŵ_lin‖² + ½ mean‖ŷ − Ŵ_lin x‖² differs
    from L = ½‖D‖² + ½E‖g‖² by the mean of u_n = x_nᵀDᵀg_n + ½‖g_n‖² − E[·] (the term
    ½ tr(D(Σ̂ − I)Dᵀ) of a plain estimate is absent), plus biases of order (d_in/n)·½E‖g‖² from
    the least-squares fit: 5·std(u)/√n + (d_in/n)·½E‖g‖², plus the large batch's own 5·std(u)/√n_big."""
    return 5 * float(std_u) * (1 / np.sqrt(n) + 1 / np.sqrt(n_big)) + d_in / n * float(residual)


def test_evaluation_loss_of_a_linear_student_is_exact():
    """g ≡ 0 for a linear student, so the derived tolerance is zero: only float32 rounding
    remains, even on a batch of just N = 2·d_in inputs (a plain Monte-Carlo estimate would be
    off by ~√(2/N) ≈ 30 % there)."""
    key = jax.random.key(5)
    k_s, k_t, k_x, k_big = jax.random.split(key, 4)
    student = ntajax.GatedStudent(W=0.3 * jax.random.normal(k_s, (2, 10, 20)), c=jnp.array([0.7, 0.2]))
    target = jax.random.normal(k_t, (10, 20)) / np.sqrt(20)
    exact = float(ntajax.task_loss(student.effective_map(), target))
    truth, std_u, residual = _moments(student, target, jax.random.normal(k_big, (4096, 20)))
    n = 40
    assert _tolerance(std_u, residual, n, 4096, 20) < 1e-5 * exact
    estimate, _, w_lin, paths = _estimate(student, target, jax.random.normal(k_x, (n, 20)))
    np.testing.assert_allclose(float(estimate), exact, rtol=2e-5)
    np.testing.assert_allclose(float(truth), exact, rtol=2e-5)
    np.testing.assert_allclose(w_lin, student.effective_map(), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(paths, student.W)  # a linear student reports its own path weights


def test_evaluation_loss_of_the_tanh_network_within_derived_tolerance(tanh_run):
    """The engine's recorded loss at t_total (N = 512 evaluation inputs from the data key) against
    a 2^16-input estimate, within the tolerance derived above; the nonlinear part is not negligible."""
    config, key, tr = tanh_run
    teachers = ntajax.make_teachers(config, key)
    _, seed_keys = ntajax.seed_keys(key, config.n_seeds)
    n, n_big = config.engine.eval_size, 2**16
    big = jax.random.normal(jax.random.key(100), (config.n_seeds, n_big, config.d_in))
    truth, std_u, residual = jax.vmap(_moments, in_axes=(0, None, 0))(tr.final, teachers[0], big)
    # the documented evaluation batch of each seed: fold_in(data_key, EVAL_KEY_TAG)
    data_keys = jax.vmap(lambda k: jax.random.split(k)[1])(seed_keys)
    X = jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, EVAL_KEY_TAG), (n, config.d_in)))(data_keys)
    replayed, nonlinear, _, _ = jax.vmap(_estimate, in_axes=(0, None, 0))(tr.final, teachers[0], X)
    recorded = np.asarray(tr.loss[:, -1])
    np.testing.assert_allclose(recorded, replayed, rtol=1e-5)  # the documented estimator on the documented batch
    for seed in range(config.n_seeds):
        tolerance = _tolerance(std_u[seed], residual[seed], n, n_big, config.d_in)
        error = abs(recorded[seed] - float(truth[seed]))
        assert error < tolerance, (seed, recorded[seed], float(truth[seed]), tolerance)
    assert np.all(np.asarray(nonlinear) > 0.05 * recorded)  # the network is really nonlinear here


# ---------------------------------------------------------------------- 5. traced parameters, errors
def test_traced_parameters_do_not_recompile_and_divergence_is_flagged(tanh_run):
    config, key, tr = tanh_run
    before = compile_count()
    changed = ntajax.run(config.set({"student.tau_c": 0.1, "student.tau_w": 0.9, "regulariser.lambda_norm": 0.3}), key)
    diverged = ntajax.run(config.set({"student.init_scale": 1e25}), key)
    assert compile_count() == before
    assert not np.allclose(changed.loss, tr.loss)
    assert np.all(np.asarray(changed.status) == ntajax.Status.OK)
    assert np.all(np.asarray(diverged.status) == ntajax.Status.DIVERGED)


def test_resumed_run_is_exact(tanh_run):
    """Per-step keys fold_in(batch_key, i) on the absolute step and a run-wide evaluation batch:
    the run in two halves (the second resumed from the first's final state with start_step)
    gives the uninterrupted run's records and final state."""
    config, key, whole = tanh_run
    half = config.replace(grid=ntajax.TimeGrid(dt=1e-2, t_total=4.0, n_save=21))
    init = ntajax._run.initial_students(config, key)
    first = ntajax.run(half, key, init=init)
    second = ntajax.run(half, key, init=first.final, start_step=half.n_steps)
    # the same steps on the same batches; only float32 rounding differs (differently compiled programs)
    same = dict(rtol=1e-5, atol=1e-7)
    for name in RECORD_FIELDS:
        np.testing.assert_allclose(getattr(first, name), getattr(whole, name)[:, :21], err_msg=name, **same)
        np.testing.assert_allclose(getattr(second, name), getattr(whole, name)[:, 20:], err_msg=name, **same)
    for a, b in zip(jax.tree.leaves(whole.final), jax.tree.leaves(second.final)):
        np.testing.assert_allclose(a, b, **same)
    # not vacuous: resumed on the first half's batches (start_step 0), the end state differs
    other = ntajax.run(half, key, init=first.final)
    assert not np.allclose(other.final.V, whole.final.V, rtol=1e-3, atol=1e-4)


def test_a_sweep_writes_a_store(tmp_path):
    from ntajax._sweep.execute import run_sweep

    config = _tanh_simulation(grid=ntajax.TimeGrid(dt=1e-2, t_total=0.4, n_save=5),
                              curriculum=ntajax.Blocked(block_length=0.2), recording=ntajax.Recording(), n_seeds=2)
    sweep = ntajax.Sweep(config, (ntajax.make_axis("tau_c", [0.03, 0.1]),), n_seeds=2)
    ds = run_sweep(sweep, tmp_path / "tanh.zarr", progress=False)
    assert ds["final_loss"].shape == (2, 2) and np.all(ds["status"].values == 0)
    assert np.all(np.isfinite(ds["final_loss"].values)) and ds.attrs["complete"]
    assert not np.allclose(ds["final_loss"].values[0], ds["final_loss"].values[1])


def test_configuration_errors():
    with pytest.raises(ValueError, match="SampledGradient"):
        _tanh_simulation(gradient=ntajax.ExpectedGradient())
    with pytest.raises(ValueError, match="MinibatchScan"):
        _tanh_simulation(engine=ntajax.EulerScan())  # closed-form engines need a linear student
    with pytest.raises(ValueError, match="eval_size=8"):
        _tanh_simulation(engine=MinibatchScan(eval_size=8))
    with pytest.raises(ValueError, match="tau_c"):
        GatedTanh(tau_c=-1.0)
    assert not isinstance(_tanh_simulation().state_shape(), ntajax.LinearStudent)
    assert "student.input_scale" in _tanh_simulation().traced_paths()
