"""One sweep executor with reducers: a reducer of the user's own goes through the executor into a
resumable store; in-memory and stored results agree; the continual comparison is the same
executor with another reducer; bad reducers are refused with a message that names the fix."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntajax
from ntajax._sweep.baselines import ContinualSummaries, continual_sweep
from ntajax._sweep.execute import compile_count, run_sweep
from ntajax._sweep.reducers import Reducer, Variable
from ntajax._store.sweep_store import SUMMARY_FIELDS

from test_sweep import base_simulation, small_sweep


class LossPeak(Reducer):
    """A user's reducer: the largest recorded loss and the time-mean ‖W_p‖ of each path."""

    def __call__(self, config, trajectory, teachers, t_end):
        return {"peak_loss": jnp.max(trajectory.loss), "mean_path_norm": jnp.mean(trajectory.path_norms, axis=0)}

    def variables(self, config):
        return {"peak_loss": Variable(description="largest recorded expected loss"),
                "mean_path_norm": Variable(("path",))}

    def sizes(self, config):
        return super().sizes(config) | {"path": config.student.n_paths}


def test_a_reducer_of_ones_own_runs_into_a_resumable_store_and_equals_direct_runs(tmp_path):
    sweep = dataclasses.replace(small_sweep(tau_c=[0.02, 0.05]), reduce=LossPeak())
    chunks = []
    ds = run_sweep(sweep, tmp_path / "peak.zarr", chunk_size=1, progress=False, on_chunk=chunks.append)
    assert chunks == [0, 1] and ds.attrs["complete"]
    assert ds["peak_loss"].dims == ("tau_c", "seed") and ds["mean_path_norm"].dims == ("tau_c", "seed", "path")
    for i, point in enumerate(sweep.point_fields()):
        trajectory = ntajax.run(sweep.config.set(point), jax.random.key(sweep.seed))
        np.testing.assert_allclose(ds["peak_loss"].values[i], np.max(np.asarray(trajectory.loss), axis=1), rtol=1e-5)
        np.testing.assert_allclose(ds["mean_path_norm"].values[i], np.mean(np.asarray(trajectory.path_norms), axis=1),
                                   rtol=1e-5)
    # resuming does nothing more; another reducer is another sweep, and is refused
    again = []
    run_sweep(sweep, tmp_path / "peak.zarr", progress=False, on_chunk=again.append)
    assert again == []
    with pytest.raises(ValueError, match="different sweep"):
        run_sweep(small_sweep(tau_c=[0.02, 0.05]), tmp_path / "peak.zarr", progress=False)


def test_in_memory_results_equal_the_store(tmp_path):
    sweep = small_sweep()
    stored = run_sweep(sweep, tmp_path / "s.zarr", chunk_size=4, progress=False)
    memory = run_sweep(sweep, None, chunk_size=4, progress=False)
    for name in SUMMARY_FIELDS:
        np.testing.assert_array_equal(memory[name].values, stored[name].values, err_msg=name)
    assert memory.attrs["fingerprint"] == stored.attrs["fingerprint"]


def test_the_continual_comparison_is_the_same_executor_and_can_be_stored(tmp_path):
    base = base_simulation(t_total=0.4, n_save=9)
    sweep = ntajax.Sweep(base, (ntajax.make_axis("tau_c", [0.02, 0.05]),), n_seeds=2)
    before = compile_count()
    memory = continual_sweep(sweep)
    assert compile_count() - before == 1
    stored_sweep = dataclasses.replace(
        ntajax._sweep.baselines.with_block_end_weights(sweep), reduce=ContinualSummaries())
    stored = run_sweep(stored_sweep, tmp_path / "c.zarr", progress=False)
    for name in ("retention", "regated_retention", "final_alignment", "end_task_loss", "censored"):
        np.testing.assert_array_equal(stored[name].values, memory[name].values, err_msg=name)
    assert stored["censored"].dtype == bool
    # the retention of block 1 is the loss on block 0's task at the end of block 1, as a direct run says
    config = stored_sweep.config.set(stored_sweep.point_fields()[0])
    trajectory = ntajax.run(config, jax.random.key(sweep.seed))
    teachers = np.asarray(ntajax.make_teachers(config, jax.random.key(sweep.seed)))
    k = round(0.2 / (config.grid.dt * config.save_every * config.recording.weights_every))
    W, c = np.asarray(trajectory.weights.W[:, k]), np.asarray(trajectory.weights.c[:, k])
    expected = 0.5 * np.sum((teachers[0] - np.einsum("sp,spij->sij", c, W)) ** 2, axis=(1, 2))
    np.testing.assert_allclose(memory["retention"].values[0, :, 1], expected, rtol=1e-4)


def test_bad_reducers_are_refused_with_the_fix():
    base = base_simulation()
    axes = (ntajax.make_axis("tau_c", [0.02]),)
    with pytest.raises(TypeError, match="reduce=.*must be an ntajax reducer"):
        ntajax.Sweep(base, axes, reduce=lambda *a: {})
    with pytest.raises(ValueError, match="configure the default reducer"):
        ntajax.Sweep(base, axes, traces=("loss",), reduce=LossPeak())
    with pytest.raises(ValueError, match="traces .* are not available"):
        ntajax.Sweep(base, axes, traces=("weights",))

    class NoLayout(Reducer):
        def __call__(self, config, trajectory, teachers, t_end):
            return {"x": trajectory.loss[-1]}

    with pytest.raises(NotImplementedError, match="define variables"):
        run_sweep(ntajax.Sweep(base, axes, n_seeds=1, reduce=NoLayout()), None, progress=False)
