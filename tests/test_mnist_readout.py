"""The MNIST gated readout: presets, gradients, the Euler step, records, vmap, compilation, the
flexible-vs-forgetful claim, the metrics and the Fig. 7 script at tiny size.

References are independent of the code under test: closed-form softmax gradients, a numpy
SGD step, numpy accuracies, hand-built trajectories with known threshold crossings.
"""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntajax import Blocked, Gated, Regulariser, TimeGrid
from ntajax import mnist as nm
from ntajax._cli.figure import FigureContext, make_figure
from ntajax.mnist import _idx, _readout
from ntajax.mnist._stream import epoch_order

TINY_CNN = nm.CNNConfig(n_steps=100, batch_size=256)  # as in test_mnist.py and sweeps/fig7.py (tiny)


@pytest.fixture(scope="session")
def features(tmp_path_factory):
    if _idx.default_data_dir() is None:
        pytest.skip("the shipped MNIST split (shared/data/mnist) is not present")
    cache = tmp_path_factory.getbasetemp() / "ntajax_cache" / "mnist"  # shared with test_mnist.py
    return nm.mnist_features(nm.load_mnist(_idx.default_data_dir()), TINY_CNN, cache_dir=cache)


def _small(**changes):
    """A short run: 4 blocks of 20 steps, records every 5 steps, 2 seeds."""
    base = dict(grid=TimeGrid(dt=0.1, t_total=8.0, n_save=17), curriculum=Blocked(block_length=2.0), n_seeds=2)
    return nm.flexible(**{**base, **changes})


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _accuracy(W, c, h, labels):
    logits = h @ np.einsum("p,pij->ij", c, W).T
    return np.mean(np.argmax(logits, axis=1) == labels)


# ------------------------------------------------------------------------------ presets and init
def test_presets_are_the_fig7_settings():
    flex, forg = nm.fig7_presets().values()
    assert float(flex.grid.dt / flex.student.tau_w) == pytest.approx(1e-4)
    assert float(flex.grid.dt / flex.student.tau_c) == pytest.approx(0.2)
    assert float(forg.grid.dt / forg.student.tau_w) == pytest.approx(1e-4)
    assert float(forg.grid.dt / forg.student.tau_c) == pytest.approx(1e-4)
    assert float(flex.regulariser.lambda_nonneg) == pytest.approx(0.5)
    assert float(flex.regulariser.lambda_norm) == pytest.approx(0.5)
    assert float(forg.regulariser.lambda_nonneg) == pytest.approx(1.1e-15)
    assert float(forg.regulariser.lambda_norm) == pytest.approx(1.1e-15)
    for c in (flex, forg):
        assert (c.regulariser.norm_order, c.student.n_paths, c.batch_size, c.grid.dt, c.n_seeds) == (1, 2, 100, 0.1, 10)
        assert c.n_steps == 10_000 and c.block_starts().tolist() == [1000 * k for k in range(10)]
        assert c.label_tables.tolist() == [list(range(10)), [0, 5, 1, 6, 2, 7, 3, 8, 4, 9]]
        assert c.record_every <= 10


def test_initialisation_scale_and_gates():
    config = nm.flexible(student=Gated(n_paths=2, tau_w=1000.0, tau_c=0.5))
    readout = nm.GatedReadout.initialise(config, 4096, key=jax.random.key(0))
    assert readout.W.shape == (2, 10, 4096) and np.all(np.asarray(readout.c) == 0.5)
    expected = 0.01 * 0.01 / np.sqrt(4096)  # MODEL §2.5: extra factor 0.01 on σ₀/√d_in
    assert np.std(np.asarray(readout.W)) == pytest.approx(expected, rel=0.02)


# ------------------------------------------------------------------------------ gradients and the step
def test_loss_gradient_matches_closed_form():
    rng = np.random.default_rng(0)
    P, d, B = 2, 7, 13
    W = rng.normal(size=(P, 10, d)).astype(np.float32)
    c = np.array([0.8, -0.3], np.float32)
    h = rng.normal(size=(B, d)).astype(np.float32)
    y = rng.integers(0, 10, B)
    config = nm.flexible().set({"regulariser.lambda_norm": 0.7, "regulariser.lambda_nonneg": 0.4})
    readout = nm.GatedReadout(W=jnp.asarray(W), c=jnp.asarray(c))
    loss, grad = jax.value_and_grad(nm.readout_loss)(readout, jnp.asarray(h), jnp.asarray(y), config)
    z = h @ np.einsum("p,pij->ij", c, W).T
    p = _softmax(z.astype(np.float64))
    ce = -np.mean(np.log(p[np.arange(B), y]))
    reg = 0.7 * 0.5 * (np.abs(c).sum() - 1) ** 2 + 0.4 * np.sum(np.maximum(0, -c))
    assert float(loss) == pytest.approx(ce + reg, rel=1e-5)
    delta = p - np.eye(10)[y]  # ∂CE/∂z per example
    grad_W = np.stack([c[q] * delta.T @ h / B for q in range(P)])
    grad_c = np.array([np.mean(np.einsum("bi,ij,bj->b", delta, W[q], h)) for q in range(P)])
    grad_c += 0.7 * (np.abs(c).sum() - 1) * np.sign(c) - 0.4 * (c < 0)
    assert np.allclose(grad.W, grad_W, atol=1e-5) and np.allclose(grad.c, grad_c, atol=1e-5)


def test_one_step_is_sgd_with_rates_dt_over_tau(features):
    config = nm.flexible(grid=TimeGrid(dt=0.1, t_total=0.1, n_save=2), n_seeds=1).set(
        {"student.tau_w": 2.0, "student.tau_c": 0.5})
    data = nm.ReadoutData.from_features(features)
    seed_key = jax.random.split(jax.random.key(4), 1)[0]
    trajectory = nm.run_readout(config, features, key=4)
    # MODEL §5.4: the seed key splits into (init, data); task m's stream key is fold_in(data, m)
    init_key, data_key = jax.random.split(seed_key)
    init = nm.GatedReadout.initialise(config, features.dim, key=init_key)
    idx = np.asarray(epoch_order(jax.random.fold_in(data_key, 0), 0, features.train.shape[0]))[:100]
    W, c = np.asarray(init.W, np.float64), np.asarray(init.c, np.float64)
    h, y = features.train[idx].astype(np.float64), features.train_labels[idx]
    delta = _softmax(h @ np.einsum("p,pij->ij", c, W).T) - np.eye(10)[y]
    grad_W = np.stack([c[q] * delta.T @ h / 100 for q in range(2)])
    grad_c = np.array([np.mean(np.einsum("bi,ij,bj->b", delta, W[q], h)) for q in range(2)])
    grad_c += 0.5 * (np.abs(c).sum() - 1) * np.sign(c)
    final = trajectory.final
    assert np.allclose(final.W[0], W - (0.1 / 2.0) * grad_W, rtol=1e-4, atol=1e-6)
    assert np.allclose(final.c[0], c - (0.1 / 0.5) * grad_c, rtol=1e-5, atol=1e-7)
    assert data.train.shape == features.train.shape


def test_records_are_pre_update_states_with_numpy_accuracy(features):
    config = _small()
    trajectory = jax.tree.map(np.asarray, nm.run_readout(config, features, key=1))
    assert trajectory.step.tolist() == [list(range(0, 81, 5))] * 2
    # blocks of 20 steps alternate A, B; the final record keeps the last block's task
    expected_task = [(min(s, 79) // 20) % 2 for s in range(0, 81, 5)]
    assert trajectory.task[0].tolist() == expected_task
    tables = config.label_tables
    for s in range(2):
        final = trajectory.final
        for m in range(2):
            acc = _accuracy(final.W[s], final.c[s], features.test, tables[m][features.test_labels])
            assert trajectory.accuracy[s, -1, m] == pytest.approx(acc, abs=1e-6)
        assert np.allclose(trajectory.gates[s, -1], final.c[s])
        assert np.allclose(trajectory.path_norms[s, -1], np.linalg.norm(final.W[s].reshape(2, -1), axis=1), rtol=1e-5)
        assert trajectory.gates[s, 0].tolist() == [0.5, 0.5]
    current = np.asarray(trajectory.current_accuracy)
    assert np.allclose(current, np.take_along_axis(trajectory.accuracy, trajectory.task[..., None], -1)[..., 0])
    assert np.isnan(trajectory.batch_loss[:, -1]).all() and np.isfinite(trajectory.batch_loss[:, :-1]).all()


def test_vmap_over_seeds_equals_single_runs(features):
    config = _small(n_seeds=3)
    batched = nm.run_readout(config, features, key=7)
    keys = jax.random.split(jax.random.key(7), 3)
    data = nm.ReadoutData.from_features(features)
    single = eqx.filter_jit(nm.simulate_readout)
    for s in range(3):
        one = single(config, data, key=keys[s])
        for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(jax.tree.map(lambda x: x[s], batched))):
            assert np.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)
    # seeds differ (own init and own data streams)
    assert not np.allclose(batched.final.W[0], batched.final.W[1])


def test_flexible_and_forgetful_share_one_compilation(features):
    # a grid no other test uses: 60 steps, records every 4
    sizes = dict(grid=TimeGrid(dt=0.1, t_total=6.0, n_save=16), curriculum=Blocked(block_length=2.0), n_seeds=2)
    before = eqx.debug.get_num_traces(_readout._counted_run_seeds)
    runs = {name: nm.run_readout(config, features, key=0) for name, config in nm.fig7_presets(**sizes).items()}
    nm.run_readout(nm.flexible(**sizes).set({"student.tau_w": 3.0, "regulariser.lambda_norm": 0.1}), features, key=1)
    assert eqx.debug.get_num_traces(_readout._counted_run_seeds) - before == 1
    assert not np.allclose(runs["flexible"].gates, runs["forgetful"].gates)


# ------------------------------------------------------------------------------ the paper's claim
def test_flexible_readout_switches_faster_than_forgetful(features):
    """After the first exposures to A and B, flexible gates switch: accuracy > 0.85 within a few
    records of every switch; the forgetful readout relearns and is far slower (or never gets there)."""
    configs = nm.fig7_presets(grid=TimeGrid(dt=0.1, t_total=600.0, n_save=601), n_seeds=3)  # 6 blocks of 1000 steps
    runs = {name: jax.tree.map(np.asarray, nm.run_readout(c, features, key=0)) for name, c in configs.items()}
    steps = {name: nm.steps_to_threshold(runs[name], configs[name])[0] for name in runs}
    late_flex = steps["flexible"][:, 3:]
    late_forg = np.where(np.isnan(steps["forgetful"][:, 3:]), 1000.0, steps["forgetful"][:, 3:])  # censored = block
    assert np.isfinite(late_flex).all()
    assert late_flex.mean() <= 100 and late_forg.mean() >= 5 * late_flex.mean()
    # flexible gates end specialised (one large, one near zero), forgetful gates stay equal
    final_flex = np.sort(runs["flexible"].gates[:, -1], axis=-1)
    assert np.all(final_flex[:, 0] < 0.35) and np.all(final_flex[:, 1] > 1.0)  # measured ≤ 0.13 and ≈ 1.62
    final_forg = runs["forgetful"].gates[:, -1]
    assert np.allclose(final_forg[:, 0], final_forg[:, 1], atol=1e-3)
    distance, cosine = nm.gate_inspecificity(runs["flexible"], configs["flexible"])
    assert np.all(cosine[:, 3:] > 0.98)  # measured ≥ 0.998


# ------------------------------------------------------------------------------ metrics
def _synthetic(accuracy, gates, config):
    T = accuracy.shape[0]
    step = np.arange(T) * config.record_every
    return nm.ReadoutTrajectory(step=step, t=step * config.grid.dt, task=np.zeros(T, int), accuracy=accuracy,
                                test_loss=np.zeros_like(accuracy), batch_loss=np.zeros(T), gates=gates,
                                path_norms=np.zeros_like(gates), final=None)


def test_steps_to_threshold_and_inspecificity_on_known_trajectory():
    # 4 blocks of 10 steps, records every 2 steps
    config = nm.flexible(grid=TimeGrid(dt=0.1, t_total=4.0, n_save=21), curriculum=Blocked(block_length=1.0), n_seeds=1)
    T = 21  # steps 0, 2, …, 40
    accuracy = np.full((T, 2), 0.1)
    gates = np.tile([0.5, 0.5], (T, 1))
    accuracy[3, 0] = 0.9  # block 0 (task A, steps 0–10): first above at step 6
    gates[3] = [0.2, 0.9]
    accuracy[4, 0] = 0.85  # not *above* 0.85
    accuracy[8, 1] = 0.86  # block 1 (task B, steps 10–20): at step 16 → 6 steps
    gates[8] = [1.0, 0.0]
    accuracy[12, 1] = 0.99  # task B during block 2 (task A): must not count for block 2
    accuracy[20, 1] = 0.95  # block 3 (task B, steps 30–40): the closing record (step 40) → 10 steps
    gates[20] = [0.0, 0.5]
    trajectory = _synthetic(accuracy, gates, config)
    steps, where = nm.steps_to_threshold(trajectory, config)
    assert np.array_equal(steps, [6, 6, np.nan, 10], equal_nan=True)
    assert where.tolist() == [3, 8, -1, 20]
    distance, cosine = nm.gate_inspecificity(trajectory, config)
    assert np.allclose(distance, [np.hypot(0.1, 0.2), 0.0, np.nan, 0.5], equal_nan=True)
    assert np.allclose(cosine, [0.9 / np.hypot(0.9, 0.2), 1.0, np.nan, 1.0], equal_nan=True)
    d, cos = nm.inspecificity(np.array([0.5, 0.5]))
    assert d == pytest.approx(np.sqrt(0.5)) and cos == pytest.approx(np.sqrt(0.5))


def test_gate_order_uses_the_last_records():
    gates = np.zeros((2, 300, 2))
    gates[0, :, 0], gates[0, :, 1] = 1.0, 0.0
    gates[1, :200, 0], gates[1, 200:, 0] = 1.0, 0.0  # seed 1: path 0 large early, path 1 large in the last 100
    gates[1, :200, 1], gates[1, 200:, 1] = 0.0, 1.0
    assert nm.sort_paths_by_final_gates(gates, last=100).tolist() == [[0, 1], [1, 0]]
    view = nm.sorted_gates(gates, last=100)
    assert np.all(view[:, -100:, 0] == 1.0) and np.array_equal(gates[1, :200, 0], np.ones(200))  # raw untouched


# ------------------------------------------------------------------------------ validation
def test_config_errors_name_the_field_and_fix():
    with pytest.raises(ValueError, match="n_save=1430"):  # records every ≈ 7 of the 10 000 steps
        nm.flexible(grid=TimeGrid(dt=0.1, t_total=1000.0, n_save=1430))
    with pytest.raises(ValueError, match="t_total=10.05"):
        nm.flexible(grid=TimeGrid(dt=0.1, t_total=10.05))
    with pytest.raises(ValueError, match="tau_c=-1"):
        nm.flexible().set({"student.tau_c": -1.0})
    with pytest.raises(ValueError, match="no mixtures"):
        nm.flexible(curriculum=nm_blocked(((0, ((0.5, 0.5),)),)))
    with pytest.raises(ValueError, match="task 2"):
        nm.flexible(curriculum=nm_blocked(((0, (0, 2)),)))
    with pytest.raises(TypeError, match="LabelMap"):
        nm.flexible(tasks=("A", "B"))
    with pytest.raises(ValueError, match="norm_order"):
        nm.flexible(regulariser=Regulariser(norm_order=3))


def nm_blocked(phases):
    from ntajax import Blocked

    return Blocked(phases)


def test_batch_larger_than_training_set_is_rejected(features):
    small = nm.ReadoutData(train=jnp.zeros((50, 4)), train_labels=jnp.zeros(50, jnp.int32), test=jnp.zeros((5, 4)),
                           test_labels=jnp.zeros(5, jnp.int32))
    with pytest.raises(ValueError, match="batch_size=100"):
        nm.run_readout(_small(), small, key=0)


def test_custom_curriculum_is_followed(features):
    from ntajax import Blocked

    config = _small(curriculum=Blocked(((0, (1,)), (2, (0,))), block_length=2.0), n_seeds=1)  # B, B, then A, A
    trajectory = nm.run_readout(config, features, key=0)
    assert np.asarray(trajectory.task[0]).tolist() == [1] * 8 + [0] * 9


# ------------------------------------------------------------------------------ the figure
def test_fig7_tiny_writes_png_and_reuses_its_store(features, tmp_path, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NTAJAX_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "ntajax_cache"))
    monkeypatch.delenv("NTAJAX_MNIST_DIR", raising=False)
    ctx = FigureContext(out=tmp_path, size="tiny", progress=False)
    result = make_figure("fig7", ctx)
    png = tmp_path / "fig7.png"
    assert png in result.files and png.stat().st_size > 10_000 and (tmp_path / "fig7.pdf").exists()
    assert "flexible" in result.headline and "forgetful" in result.headline
    from sweeps import fig7 as sweep

    def no_rerun(*args, **kwargs):
        raise AssertionError("the stored Fig. 7 dataset should be reused")

    monkeypatch.setattr(sweep, "readout_dataset", no_rerun)
    ds = sweep.compute(ctx)["runs"]
    assert list(ds["variant"].values) == ["flexible", "forgetful"]
    assert ds.sizes["seed"] == 2 and ds.sizes["block"] == 4 and ds.sizes["t"] == 121
    assert json.loads(ds.attrs["features"])["key"] == features.key
    assert ds.attrs["n_test"] == 2000 and ds.attrs["record_every"] == 10


def test_data_option_reaches_the_loader_through_the_environment(tmp_path, monkeypatch):
    """``--data DIR`` of the figure command line (ntajax figure, python -m figures/sweeps) sets
    ``NTAJAX_MNIST_DIR``, which the loader reads."""
    import argparse

    from ntajax._cli.figure import add_figure_arguments, context_from_args

    monkeypatch.setenv("NTAJAX_MNIST_DIR", "placeholder")  # restored after the test
    parser = argparse.ArgumentParser()
    add_figure_arguments(parser)
    ctx = context_from_args(parser.parse_args(["--size", "tiny", "--data", str(tmp_path), "--out", str(tmp_path / "x")]))
    assert ctx.size == "tiny"
    assert _idx.resolve_data_dir() == tmp_path
