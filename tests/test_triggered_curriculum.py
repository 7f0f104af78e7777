"""The loss-triggered curriculum (ntajax.LossTriggered): it switches at the first step after the
loss has stayed below the threshold for the hold time (checked against a plain NumPy loop over the
recorded loss, every step recorded), never later than the maximum block length (with a threshold
the loss never reaches it is the clock-blocked curriculum, bit for bit), its summaries read the
block bounds from the record, a sweep over the threshold compiles once, and the engines that
cannot follow it refuse it at construction."""

import jax
import numpy as np
import pytest

import ntajax
from ntajax._sweep.execute import compile_count as sweep_compile_count
from ntajax._sweep.execute import run_sweep

DT, T_TOTAL = 1e-2, 4.0
N_STEPS = round(T_TOTAL / DT)


def _config(curriculum=None, **changes):
    base = dict(
        d_in=6, d_out=3, n_teachers=2, student=ntajax.Gated(tau_w=0.5, tau_c=0.05),
        regulariser=ntajax.Regulariser(lambda_norm=0.5, lambda_nonneg=0.1), gradient=ntajax.ExpectedGradient(),
        grid=ntajax.TimeGrid(dt=DT, t_total=T_TOTAL, n_save=N_STEPS + 1),  # every step recorded
        curriculum=curriculum or ntajax.LossTriggered(threshold=0.05, hold_time=0.05, block_length=1.0),
        n_seeds=2, dtype="float64",
    )
    return ntajax.Simulation(**(base | changes))


def _numpy_blocks(loss, threshold, hold_time, block_length):
    """The switching rule written out as a plain loop over the recorded loss: record i is the state
    before step i; after step i the block ends if the loss was below the threshold at its last
    n_hold steps, or if it has run n_max steps. Returns the block of every step and the kinds of
    switch (True: triggered by the loss)."""
    n_hold, n_max = max(1, round(hold_time / DT)), max(1, round(block_length / DT))
    block, n, below, blocks, triggered = 0, 0, 0, [], []
    for i in range(len(loss) - 1):
        blocks.append(block)
        n += 1
        below = below + 1 if loss[i] < threshold else 0
        if below >= n_hold or n >= n_max:
            triggered.append(below >= n_hold)
            block, n, below = block + 1, 0, 0
    return np.asarray(blocks), np.asarray(triggered)


@pytest.mark.parametrize("engine, gradient", [
    (ntajax.EulerScan(), ntajax.ExpectedGradient()),
    (ntajax.EulerScan(), ntajax.SampledGradient(batch_size=20)),
    (ntajax.SubspaceScan(), ntajax.ExpectedGradient()),
], ids=["euler-expected", "euler-sampled", "subspace"])
def test_switches_at_the_first_step_after_the_criterion_holds(engine, gradient):
    threshold, hold, block_length = 0.05, 0.05, 1.0
    config = _config(engine=engine, gradient=gradient)
    trajectory = ntajax.run(config, jax.random.key(0))
    n_triggered = 0
    for seed in range(config.n_seeds):
        loss, recorded = np.asarray(trajectory.loss[seed]), np.asarray(trajectory.block[seed])
        blocks, triggered = _numpy_blocks(loss, threshold, hold, block_length)
        np.testing.assert_array_equal(recorded[:-1], blocks)
        assert recorded[-1] == blocks[-1]  # the final record closes the last step's block
        # task sequence A, B, A, B, … by block; the closing loss differs from the loss only at a switch
        np.testing.assert_array_equal(np.asarray(trajectory.task[seed]), recorded % 2)
        switch = np.flatnonzero(np.diff(recorded[:-1])) + 1
        assert np.all(np.asarray(trajectory.closing_loss[seed])[switch] != loss[switch])
        n_triggered += int(triggered.sum())
        assert 0 < triggered.sum() < len(triggered) + 1
    assert n_triggered >= 4  # the test exercises switches by the loss, not only by the maximum length


def test_never_later_than_the_maximum_block_length_and_blocked_when_never_triggered():
    """Block lengths never exceed n_max steps; with threshold 0 (the loss is never < 0) every block
    lasts exactly n_max steps, and the run is the clock-blocked run with τ_B = n_max·dt, bit for bit."""
    block_length = 0.37
    for threshold in (0.0, 0.2):
        config = _config(ntajax.LossTriggered(threshold=threshold, hold_time=0.0, block_length=block_length),
                         gradient=ntajax.SampledGradient(batch_size=20))
        trajectory = ntajax.run(config, jax.random.key(1))
        for seed in range(config.n_seeds):
            lengths = np.bincount(np.asarray(trajectory.block[seed])[:-1])
            assert lengths.max() <= round(block_length / DT)
            if threshold == 0.0:
                assert np.all(lengths[:-1] == round(block_length / DT))
    blocked = ntajax.run(config.replace(curriculum=ntajax.Blocked(block_length=block_length)), jax.random.key(1))
    never = ntajax.run(config.replace(curriculum=ntajax.LossTriggered(threshold=0.0, block_length=block_length)),
                       jax.random.key(1))
    for name in ("t", "block", "task", "loss", "closing_loss", "minibatch_loss", "gates", "similarity"):
        np.testing.assert_array_equal(np.asarray(getattr(never, name)), np.asarray(getattr(blocked, name)), err_msg=name)


def test_summary_reads_block_bounds_from_the_record():
    config = _config()
    trajectory = ntajax.run(config, jax.random.key(0))
    summary = ntajax.summarise(config, trajectory)
    t = np.asarray(trajectory.t[0])
    loss, block = np.asarray(trajectory.loss[0]), np.asarray(trajectory.block[0])
    adaptation = np.asarray(summary.adaptation_time[0])
    assert len(adaptation) == config.block_count == np.ceil(N_STEPS / 5)  # min(n_hold, n_max) = 5 steps
    for k in range(block.max()):  # complete blocks: start at the first record of the block
        inside = np.flatnonzero(block[:-1] == k)
        below = inside[loss[inside] < 0.1]
        expected = t[below[0]] - t[inside[0]] if len(below) else np.nan
        np.testing.assert_allclose(adaptation[k], expected, atol=1e-5)
    assert np.all(np.isnan(adaptation[block.max() + 1:]))


def test_a_sweep_over_the_threshold_compiles_once_and_matches_direct_runs():
    config = _config(n_seeds=1, grid=ntajax.TimeGrid(dt=DT, t_total=2.0, n_save=201), dtype="float32")
    thresholds = [0.02, 0.05, 0.1]
    before = ntajax._run.compile_count()
    direct = [ntajax.run(config.set({"curriculum.threshold": v}), jax.random.key(0)) for v in thresholds]
    assert ntajax._run.compile_count() - before == 1
    sweep = ntajax.Sweep(config, (ntajax.make_axis("threshold", thresholds),), n_seeds=1, seed=0)
    before = sweep_compile_count()
    ds = run_sweep(sweep, None, progress=False)
    assert sweep_compile_count() - before == 1
    for v, trajectory in zip(thresholds, direct):
        summary = ntajax.summarise(sweep.config.set({"curriculum.threshold": v}), trajectory)
        np.testing.assert_allclose(ds["final_loss"].sel(threshold=v).values, np.asarray(summary.final_loss), rtol=1e-5)
        np.testing.assert_allclose(ds["adaptation_time"].sel(threshold=v).values, np.asarray(summary.adaptation_time),
                                   rtol=1e-5, atol=1e-6)
    # a lower threshold is reached later: fewer blocks in the same time
    n_blocks = [int(np.asarray(tr.block).max()) for tr in direct]
    assert n_blocks[0] <= n_blocks[1] <= n_blocks[2]


def test_construction_errors():
    triggered = ntajax.LossTriggered()
    with pytest.raises(ValueError, match="Diffrax.*switch times.*EulerScan"):
        _config(engine=ntajax.Diffrax())
    with pytest.raises(ValueError, match="ContinualScan.*EulerScan"):
        _config(engine=ntajax.ContinualScan(penalty=ntajax.OnlineEWC(lambda_ewc=1.0)))
    with pytest.raises(ValueError, match="MinibatchScan.*EulerScan"):
        _config(engine=ntajax.MinibatchScan(eval_size=64), gradient=ntajax.SampledGradient(batch_size=20))
    with pytest.raises(ValueError, match="threshold=-0.1"):
        ntajax.LossTriggered(threshold=-0.1)
    with pytest.raises(ValueError, match="hold_time"):
        _config(triggered).set({"curriculum.hold_time": -1.0})
    with pytest.raises(ValueError, match="block_length=0"):
        ntajax.LossTriggered(block_length=0.0)
    with pytest.raises(ValueError, match="tasks"):
        ntajax.LossTriggered(tasks=())
    with pytest.raises(ValueError, match="n_blocks=3 is smaller"):
        _config(recording=ntajax.Recording(n_blocks=3))
    config = _config(n_seeds=1, grid=ntajax.TimeGrid(dt=DT, t_total=0.5, n_save=11))
    with pytest.raises(ValueError, match="start_step=50.*cannot be continued"):
        ntajax.run(config, jax.random.key(0), start_step=50)
    with pytest.raises(ValueError, match="n_blocks_total"):
        ntajax.Sweep(config, (ntajax.make_axis("threshold", [0.1]),), n_seeds=1, n_blocks_total=2)
