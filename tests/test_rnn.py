"""The gated recurrent student, its tasks, curricula, training and sweeps (ntajax._rnn).

References are independent of the code under test: central finite differences in float64 for
the BPTT gradient, the closed-form fixed point of the linear RNN, brute-force loops over the
trials for the planted task properties, hand-computed adaptation times, a trace counter for the
one-compile property, and the single run for a vmapped seed.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntajax
from ntajax._rnn import training
from ntajax._rnn.training import adaptation_times, batch_loss, euler_step, objective

F64 = jnp.float64


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def small_model(activation, n_hidden=5, n_modules=2, dtype=jnp.float32, **kwargs):
    kw = dict(alpha=0.3, tau_w=1.0, tau_c=0.1)
    kw.update(kwargs)
    return ntajax.GatedRNN(n_hidden=n_hidden, n_modules=n_modules, activation=activation,
                           **{k: jnp.asarray(v, dtype) for k, v in kw.items()})


def random_state(key, model, d_in, d_out, dtype, scale=0.6):
    k = jax.random.split(key, 5)
    P, N = model.n_modules, model.n_hidden
    return ntajax.GatedRNNState(
        W_rec=scale / np.sqrt(N) * jax.random.normal(k[0], (P, N, N), dtype),
        W_in=jax.random.normal(k[1], (P, N, d_in), dtype),
        b=0.1 * jax.random.normal(k[2], (N,), dtype),
        W_out=jax.random.normal(k[3], (d_out, N), dtype) / np.sqrt(N),
        c=jax.random.uniform(k[4], (P,), dtype, 0.2, 0.9),
    )


# ----------------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("activation", [ntajax.Tanh(), ntajax.Identity()], ids=["tanh", "linear"])
def test_bptt_gradient_matches_central_finite_differences_in_float64(x64, activation):
    model = small_model(activation, dtype=F64)
    task = ntajax.FlipFlop(n_bits=2, n_steps=8, pulse_probability=0.3)
    trials = jax.tree.map(lambda x: x.astype(F64), task.batch(jax.random.key(1), 3))
    state = random_state(jax.random.key(2), model, 2, 2, F64)
    reg = ntajax.Regulariser(lambda_norm=jnp.asarray(0.7, F64), lambda_nonneg=jnp.asarray(0.2, F64),
                             lambda_w=jnp.asarray(0.05, F64), norm_order=2)
    f = jax.jit(lambda s: objective(model, reg, s, trials))
    grad = jax.grad(f)(state)
    leaves, treedef = jax.tree.flatten(state)
    g_leaves = jax.tree.leaves(grad)
    eps = 1e-6
    for j, (leaf, g) in enumerate(zip(leaves, g_leaves)):
        fd = np.zeros(leaf.size)
        for i in range(leaf.size):
            def shifted(delta):
                new = list(leaves)
                new[j] = leaf.reshape(-1).at[i].add(delta).reshape(leaf.shape)
                return f(jax.tree.unflatten(treedef, new))
            fd[i] = (shifted(eps) - shifted(-eps)) / (2 * eps)
        np.testing.assert_allclose(np.asarray(g).reshape(-1), fd, rtol=1e-6, atol=1e-8)


def test_gate_step_scales_with_one_over_tau_c_and_ungated_gates_hold():
    task = ntajax.Go(n_steps=12, stimulus_onset=2, response_onset=8)
    trials = task.batch(jax.random.key(0), 4)
    reg = ntajax.Regulariser(lambda_norm=0.5)
    fast = small_model(ntajax.Tanh(), tau_c=0.1)
    slow = small_model(ntajax.Tanh(), tau_c=0.2)
    state = random_state(jax.random.key(1), fast, 5, 3, jnp.float32)
    step = eqx.filter_jit(euler_step)
    _, a = step(fast, reg, state, trials, 0.01)
    _, b = step(slow, reg, state, trials, 0.01)
    np.testing.assert_allclose(a.c - state.c, 2 * (b.c - state.c), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(a.W_rec, b.W_rec)
    assert np.all(np.abs(a.c - state.c) > 0)
    ungated = small_model(ntajax.Tanh(), n_modules=1).replace(gated=False)
    s0 = ungated.initialise(jax.random.key(2), d_in=5, d_out=3)
    assert float(s0.c[0]) == 1.0
    _, s1 = step(ungated, reg, s0, trials, 0.01)
    np.testing.assert_array_equal(s1.c, s0.c)
    assert not np.allclose(s1.W_out, s0.W_out)


# ----------------------------------------------------------------------------------- fixed point
def test_linear_rnn_relaxes_to_its_closed_form_fixed_point(x64):
    model = small_model(ntajax.Identity(), n_hidden=6, n_modules=3, dtype=F64, alpha=0.25)
    state = random_state(jax.random.key(3), model, 2, 1, F64, scale=0.5)
    u = jnp.asarray([0.7, -1.3], F64)
    W = np.einsum("p,pij->ij", np.asarray(state.c), np.asarray(state.W_rec))
    W_in = np.einsum("p,pij->ij", np.asarray(state.c), np.asarray(state.W_in))
    assert np.max(np.abs(np.linalg.eigvals(W))) < 1  # a stable fixed point
    h_star = np.linalg.solve(np.eye(6) - W, W_in @ np.asarray(u) + np.asarray(state.b))
    hidden = model.hidden(state, jnp.broadcast_to(u, (3000, 2)))
    np.testing.assert_allclose(hidden[-1], h_star, rtol=1e-10, atol=1e-12)
    F = model.step_function(state)
    np.testing.assert_allclose(F(jnp.asarray(h_star), u), h_star, atol=1e-12)  # F(h*) = h*


# ----------------------------------------------------------------------------------- tasks
def test_flip_flop_target_holds_the_last_pulse_of_each_channel():
    task = ntajax.FlipFlop(n_bits=3, n_steps=50, pulse_probability=0.1)
    trials = task.batch(jax.random.key(4), 200)
    assert trials.inputs.shape == (200, 50, 3) and trials.targets.shape == (200, 50, 3) == trials.mask.shape
    inputs, targets, mask = map(np.asarray, (trials.inputs, trials.targets, trials.mask))
    assert set(np.unique(inputs)) <= {-1.0, 0.0, 1.0}
    rate = np.mean(inputs != 0)
    assert abs(rate - 0.1) < 4 * np.sqrt(0.1 * 0.9 / inputs.size)
    for b in range(20):
        for j in range(3):
            last = 0.0
            for k in range(50):
                if inputs[b, k, j] != 0:
                    last = inputs[b, k, j]
                assert targets[b, k, j] == last
                assert mask[b, k, j] == float(np.any(inputs[b, : k + 1, j] != 0))


def test_sine_wave_target_has_the_cued_frequency():
    task = ntajax.SineWave(n_steps=200, min_frequency=0.05, max_frequency=0.1)
    trials = task.batch(jax.random.key(5), 20)
    for b in range(20):
        cue = float(trials.inputs[b, 0, 0])
        assert np.all(np.asarray(trials.inputs[b]) == cue)
        f = 0.05 + (cue - 0.25) * 0.05
        assert 0.05 <= f <= 0.1
        spectrum = np.abs(np.fft.rfft(np.asarray(trials.targets[b, :, 0]), n=20000))
        assert abs(np.argmax(spectrum) / 20000 - f) < 2e-3
        np.testing.assert_allclose(trials.targets[b, :, 0], np.sin(2 * np.pi * f * np.arange(200)), atol=1e-4)
    discrete = ntajax.SineWave(n_frequencies=3).batch(jax.random.key(6), 60)
    assert len(np.unique(np.round(np.asarray(discrete.inputs[:, 0, 0]), 5))) == 3


@pytest.mark.parametrize("n_dims", [1, 2])
def test_delayed_memory_shows_the_value_once_and_asks_to_hold_it(n_dims):
    task = ntajax.DelayedMemory(n_dims=n_dims, n_steps=30, stimulus_onset=3, stimulus_offset=7)
    tr = task.batch(jax.random.key(7), 50)
    assert tr.inputs.shape == (50, 30, n_dims) and task.d_in == task.d_out == n_dims
    value = np.asarray(tr.inputs[:, 3])
    assert np.all(np.abs(value) <= 1) and np.std(value) > 0.3
    np.testing.assert_array_equal(tr.inputs[:, 3:7], np.broadcast_to(value[:, None], (50, 4, n_dims)))
    assert np.all(tr.inputs[:, :3] == 0) and np.all(tr.inputs[:, 7:] == 0)
    np.testing.assert_array_equal(tr.targets[:, 7:], np.broadcast_to(value[:, None], (50, 23, n_dims)))
    assert np.all(tr.targets[:, :7] == 0)


def _response(tr):
    """(fixation input, response direction) of trials on the Yang layout."""
    return np.asarray(tr.inputs[..., 0]), np.asarray(tr.targets[:, -1, 1:3])


@pytest.mark.parametrize("anti", [False, True])
def test_go_and_anti_respond_toward_and_away_from_the_stimulus(anti):
    task = ntajax.Go(anti=anti)
    tr = task.batch(jax.random.key(8), 40)
    assert tr.inputs.shape == (40, 20, 5) and tr.targets.shape == (40, 20, 3)
    fixation, response = _response(tr)
    assert np.all(fixation[:, :12] == 1) and np.all(fixation[:, 12:] == 0)
    np.testing.assert_array_equal(tr.targets[:, :, 0], fixation)
    stimulus = np.asarray(tr.inputs[:, -1, 1:3])
    np.testing.assert_allclose(response, -stimulus if anti else stimulus, atol=1e-6)
    assert np.all(tr.inputs[:, :4, 1:] == 0) and np.all(tr.inputs[:, :, 3:] == 0)
    np.testing.assert_array_equal(tr.mask[:, 12:14], 0.0)
    np.testing.assert_array_equal(tr.mask[:, 14:], 1.0)


def test_delayed_go_hides_the_stimulus_during_the_delay():
    tr = ntajax.DelayedGo().batch(jax.random.key(9), 30)
    assert np.all(tr.inputs[:, 8:, 1:] == 0)
    _, response = _response(tr)
    np.testing.assert_allclose(response, tr.inputs[:, 5, 1:3], atol=1e-6)


@pytest.mark.parametrize("attend", [0, 1])
def test_context_decision_follows_the_attended_modality(attend):
    task = ntajax.ContextDecision(attend=attend, noise=0.0)
    tr = task.batch(jax.random.key(10), 100)
    _, response = _response(tr)
    evidence = np.asarray(tr.inputs[:, 6, 1 + 2 * attend: 3 + 2 * attend])
    assert np.all(np.sum(response * evidence, axis=1) >= 0)
    other = np.asarray(tr.inputs[:, 6, 3 - 2 * attend: 5 - 2 * attend])
    assert np.mean(np.sum(response * other, axis=1) >= 0) < 0.75  # the distractor does not decide


def test_readouts_place_tasks_on_their_channels_and_curricula_append_the_cue():
    tasks = (ntajax.FlipFlop(n_bits=2, n_steps=20), ntajax.DelayedMemory(n_dims=1, n_steps=20))
    key = jax.random.key(11)
    for readout in (ntajax.GatedReadout(), ntajax.OrthogonalReadout(), ntajax.ParallelReadout()):
        ex = ntajax.RNNExperiment(student=ntajax.GatedRNN(n_hidden=4), tasks=tasks, readout=readout,
                                  curriculum=ntajax.InterleavedTasks(cue=True), n_steps=10, record_every=5)
        assert (ex.d_in, ex.d_out) == (3 + 2, 3)
        tr = ex.trial(key, jnp.int32(1))
        np.testing.assert_array_equal(tr.inputs[:, 3:], np.broadcast_to([0.0, 1.0], (20, 2)))  # the cue of task 1
        if isinstance(readout, ntajax.GatedReadout):
            assert np.all(tr.mask[:, :2] == 0) and np.all(tr.inputs[:, :2] == 0)
        elif isinstance(readout, ntajax.OrthogonalReadout):
            assert np.all(tr.mask[:, :2] == 1) and np.all(tr.targets[:, :2] == 0) and np.all(tr.inputs[:, :2] == 0)
        else:  # parallel: both tasks in the trial, whatever the index
            assert np.any(tr.inputs[:, :2] != 0) and np.any(tr.inputs[:, 2] != 0)
        assert np.any(tr.inputs[:, 2] != 0)
    shared = ntajax.RNNExperiment(student=ntajax.GatedRNN(n_hidden=4), tasks=tasks, n_steps=10, record_every=5)
    assert (shared.d_in, shared.d_out) == (2, 2)
    tr = shared.trial(key, jnp.int32(1))  # the memory task padded to two channels, its extra output masked
    assert np.all(tr.inputs[:, 1] == 0) and np.all(tr.mask[:, 1] == 0) and np.any(tr.inputs[:, 0] != 0)


def test_blocked_tasks_alternate_every_block_length():
    curriculum = ntajax.BlockedTasks(block_length=0.3)
    steps = jnp.arange(100)
    of_step = jax.vmap(lambda i: curriculum.tasks_of_step(i, None, n_tasks=2, batch_size=1, dt=0.01)[0])
    tasks = np.asarray(of_step(steps))
    np.testing.assert_array_equal(tasks, (np.arange(100) // 30) % 2)
    ordered = ntajax.BlockedTasks(block_length=0.1, order=(2, 0, 1))
    np.testing.assert_array_equal(ordered.task_of_block(jnp.arange(6), 3), [2, 0, 1, 2, 0, 1])


def test_adaptation_time_is_the_time_to_the_first_step_below_threshold_in_each_block():
    loss = jnp.asarray([0.9, 0.5, 0.05, 0.01, 0.8, 0.7, 0.6, 0.5, 0.9, 0.02, 0.9, 0.9])
    blocks = jnp.asarray([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    out = np.asarray(adaptation_times(loss, blocks, 0.1, 0.5, 5))
    np.testing.assert_allclose(out[:3], [1.0, np.nan, 0.5])  # steps 2−0, never, 9−8; times dt = 0.5
    assert np.all(np.isnan(out[3:]))  # blocks that do not occur


# ----------------------------------------------------------------------------------- construction
def test_construction_errors_name_the_parameter():
    with pytest.raises(TypeError, match="activation"):
        ntajax.GatedRNN(activation="tanh")
    with pytest.raises(ValueError, match="alpha"):
        ntajax.GatedRNN(alpha=1.5)
    with pytest.raises(ValueError, match="tau_c"):
        ntajax.GatedRNN(tau_c=-1.0)
    with pytest.raises(ValueError, match="n_steps"):
        ntajax.RNNExperiment(student=ntajax.GatedRNN(), tasks=(ntajax.Go(), ntajax.FlipFlop(n_steps=30)))
    with pytest.raises(ValueError, match="record_every"):
        ntajax.RNNExperiment(student=ntajax.GatedRNN(), tasks=(ntajax.Go(),), n_steps=100, record_every=7)
    with pytest.raises(ValueError, match="dt/tau_c"):
        ntajax.RNNExperiment(student=ntajax.GatedRNN(tau_c=0.005), tasks=(ntajax.Go(),), dt=0.01)
    with pytest.raises(ValueError, match="pulse_probability"):
        ntajax.FlipFlop(pulse_probability=2.0)
    with pytest.raises(ValueError, match="attend"):
        ntajax.ContextDecision(attend=2)
    with pytest.raises(TypeError, match="Readout"):
        ntajax.RNNExperiment(student=ntajax.GatedRNN(), tasks=(ntajax.Go(),), readout="gated")
    ex = ntajax.RNNExperiment(student=ntajax.GatedRNN(), tasks=(ntajax.Go(),))
    with pytest.raises(ValueError, match="lambda_norm"):
        ex.set({"lambda_norm": -1.0})
    with pytest.raises(ValueError, match="not a traced parameter"):
        ex.set({"tau_q": 1.0})
    with pytest.raises(ValueError, match="dt/tau_c"):  # a sweep point is checked as a new experiment
        ntajax.rnn_sweep(ex, {"tau_c": [0.1, 0.001]}, 0)


# ----------------------------------------------------------------------------------- training, sweeps
def small_experiment(**kwargs):
    kw = dict(student=ntajax.GatedRNN(n_hidden=12, alpha=0.3), tasks=(ntajax.Go(), ntajax.Go(anti=True)),
              curriculum=ntajax.BlockedTasks(block_length=1.0), regulariser=ntajax.Regulariser(lambda_norm=0.5),
              dt=0.04, n_steps=120, batch_size=8, record_every=20, eval_size=16, max_blocks=8)
    kw.update(kwargs)
    return ntajax.RNNExperiment(**kw)


def test_one_compile_for_a_sweep_over_tau_c_tau_w_lambda_and_block_length_and_seed_i_is_the_single_run():
    ex = small_experiment()
    training.TRACES["sweep"] = 0
    points = ntajax.rnn_grid({"student.tau_c": [0.05, 0.5], "tau_w": [1.0, 2.0],
                              "regulariser.lambda_norm": [0.0, 1.0], "curriculum.block_length": [0.5, 2.0]})
    first = ntajax.rnn_sweep(ex, points, 3, n_seeds=2, chunk_size=6)  # 16 points in 3 chunks (last padded)
    other = ntajax.rnn_sweep(ex, {k: v * 1.1 for k, v in points.items()}, 4, n_seeds=2, chunk_size=6)
    assert training.TRACES["sweep"] == 1
    assert first.step_loss.shape == (16, 2, 120) and first.final.W_rec.shape == (16, 2, 2, 12, 12)
    assert not np.allclose(first.step_loss, other.step_loss)
    j = 13  # τ_c 0.5, τ_w 2, λ 0, τ_B 2
    point = {k: float(v[j]) for k, v in points.items()}
    single = ntajax.train_rnn(ex.set(point), jax.random.split(jax.random.key(3), 2)[1])
    np.testing.assert_allclose(single.step_loss, first.step_loss[j, 1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(single.gates, first.gates[j, 1], rtol=1e-5, atol=1e-6)
    # the block clock follows the traced τ_B: blocks of 2.0/0.04 = 50 steps
    np.testing.assert_array_equal(first.step_task[j, 0], (np.arange(120) // 50) % 2)
    np.testing.assert_array_equal(first.block_task[j, 0], [0, 1, 0, -1, -1, -1, -1, -1])


def test_training_lowers_the_loss_and_records_per_task_states():
    ex = small_experiment(tasks=(ntajax.DelayedMemory(n_steps=20),), curriculum=ntajax.BlockedTasks(block_length=100.0),
                          n_steps=300, regulariser=ntajax.Regulariser())
    run = ntajax.train_rnn(ex, 0)
    assert run.eval_loss.shape == (16, 1) and run.gates.shape == (16, 2) and int(run.status) == 0
    assert float(run.eval_loss[-1, 0]) < 0.3 * float(run.eval_loss[0, 0])
    np.testing.assert_array_equal(run.task_final.W_rec[0], run.final.W_rec)  # one task: its last state is the final one
    responses = ntajax.rnn_responses(ex, run.final, jax.random.key(1), 8)
    assert responses.hidden.shape == (1, 8, 20, 12) and responses.outputs.shape == (1, 8, 20, 1)
    loss = 0.5 * np.mean(np.sum(responses.mask * (responses.outputs - responses.targets) ** 2, axis=(2, 3)) / 20)
    assert loss < 0.3 * float(run.eval_loss[0, 0])


def test_block_edge_losses_average_the_first_and_last_tenth_of_each_block():
    loss = jnp.arange(25.0)
    blocks = jnp.asarray([0] * 20 + [1] * 5)
    start, end = map(np.asarray, training.block_edge_losses(loss, blocks, 3))
    np.testing.assert_allclose(start[:2], [0.5, 20.0])   # steps 0–1 (⌊0.1·20⌋ = 2); step 20 (at least one)
    np.testing.assert_allclose(end[:2], [18.5, 24.0])    # steps 18–19; step 24
    assert np.isnan(start[2]) and np.isnan(end[2])
