"""The sweep engine: equivalence with single runs, chunking, compiles, resume, divergence."""

import os
import signal
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import ntajax
from ntajax._sweep.sweep import Sweep, make_axis
from ntajax._sweep.execute import compile_count, run_sweep
from ntajax._store.sweep_store import SUMMARY_FIELDS

SAMPLED, EXPECTED = ntajax.SampledGradient(), ntajax.ExpectedGradient()


def base_simulation(gradient=EXPECTED, *, t_total=0.6, n_save=13, block_length=0.1):
    """d_in 20, d_out 10, τ_w = 0.1, τ_c = 0.02, λ_nonneg = 0.5, λ_norm = 2.5, dt = 1e-3, τ_B = 0.1."""
    return ntajax.Simulation(
        d_in=20, d_out=10, student=ntajax.Gated(tau_w=0.1, tau_c=0.02),
        regulariser=ntajax.Regulariser(lambda_nonneg=0.5, lambda_norm=2.5),
        grid=ntajax.TimeGrid(dt=1e-3, t_total=t_total, n_save=n_save),
        curriculum=ntajax.Blocked(block_length=block_length), gradient=gradient,
    )


def small_sweep(gradient=EXPECTED, **axes):
    axes = axes or {"block_over_tau_w": [1, 3], "tau_ratio": [1, 2, 5]}
    return Sweep(base_simulation(gradient), tuple(make_axis(k, v) for k, v in axes.items()), n_seeds=3)


def _values(ds):
    return {name: ds[name].values for name in SUMMARY_FIELDS}


def _assert_same(a, b, **tol):
    for name in SUMMARY_FIELDS:
        if tol:
            np.testing.assert_allclose(a[name], b[name], equal_nan=True, err_msg=name, **tol)
        else:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_sweep_point_equals_single_run(tmp_path):
    """Point i × seed s equals ntajax.run of that point's config with the sweep's key (float32: rtol 1e-5)."""
    sweep = small_sweep(SAMPLED)
    ds = run_sweep(sweep, tmp_path / "s.zarr", progress=False)
    config = sweep.config
    for i, point in enumerate(sweep.point_fields()):
        single = config.set(point)
        trajectory = ntajax.run(single, jax.random.key(sweep.seed))
        summary = ntajax.summarise(single, trajectory)
        index = np.unravel_index(i, sweep.shape)
        for name in ("final_alignment", "mean_alignment", "final_loss", "adaptation_time", "gate_contrast"):
            np.testing.assert_allclose(ds[name].values[index], np.asarray(getattr(summary, name)), rtol=1e-5, atol=1e-6,
                                       equal_nan=True, err_msg=f"{name} at point {point}")


def test_chunk_size_does_not_change_results(tmp_path):
    sweep = small_sweep()
    one = _values(run_sweep(sweep, tmp_path / "c1.zarr", chunk_size=1, progress=False))
    four = _values(run_sweep(sweep, tmp_path / "c4.zarr", chunk_size=4, progress=False))
    whole = _values(run_sweep(sweep, tmp_path / "c6.zarr", chunk_size=6, progress=False))
    _assert_same(one, four, rtol=1e-5, atol=1e-6)  # float32: vmap width may reorder sums
    _assert_same(one, whole, rtol=1e-5, atol=1e-6)


def test_one_compile_for_every_traced_axis(tmp_path):
    sweep = small_sweep(tau_w=[0.1, 0.2], tau_c=[0.02, 0.05], lambda_norm=[0.0, 1.0], lambda_nonneg=[0.0, 0.3],
                        block_length=[0.1, 0.2], init_scale=[0.01, 0.02], lambda_w=[0.0, 0.1])
    before = compile_count()
    run_sweep(sweep, tmp_path / "all.zarr", chunk_size=16, progress=False)
    assert compile_count() - before == 1


def test_bad_sweep_specs_are_rejected_before_running():
    base = base_simulation()
    with pytest.raises(ValueError, match="not a traced parameter"):
        Sweep(base, (make_axis("tau_x", [1.0]),))
    with pytest.raises(ValueError, match="has no values"):
        Sweep(base, (make_axis("tau_c", []),))
    with pytest.raises(ValueError, match="tau_c=-0.1 must be positive"):
        Sweep(base, (make_axis("tau_c", [0.1, -0.1]),))
    with pytest.raises(ValueError, match="equal lengths"):
        Sweep(base, (make_axis("tau_c", [0.1, 0.2]), make_axis("tau_w", [0.1])), zipped=(("tau_c", "tau_w"),))


def test_zipped_axes(tmp_path):
    sweep = Sweep(base_simulation(),
                  (make_axis("tau_c", [0.02, 0.05]), make_axis("tau_w", [0.1, 0.2])), n_seeds=2,
                  zipped=(("tau_c", "tau_w"),))
    ds = run_sweep(sweep, tmp_path / "z.zarr", progress=False)
    assert sweep.n_points == 2 and ds["final_alignment"].shape == (2, 2)
    np.testing.assert_allclose(ds["tau_c"].values, [0.02, 0.05])
    np.testing.assert_allclose(ds["tau_w"].values, [0.1, 0.2])


def test_store_of_another_sweep_is_refused(tmp_path):
    run_sweep(small_sweep(), tmp_path / "x.zarr", progress=False)
    other = small_sweep(tau_ratio=[1, 3])
    with pytest.raises(ValueError, match="holds results of a different sweep"):
        run_sweep(other, tmp_path / "x.zarr", progress=False)


def test_diverging_point_is_flagged_and_neighbours_unchanged(tmp_path):
    """A λ_norm so large that the Euler step explodes: that point is DIVERGED with NaN metrics,
    and the other point equals a sweep without it, bit for bit."""
    with_bad = run_sweep(small_sweep(lambda_norm=[2.5, 1e7]), tmp_path / "bad.zarr", chunk_size=2, progress=False)
    without = run_sweep(small_sweep(lambda_norm=[2.5]), tmp_path / "good.zarr", chunk_size=2, progress=False)
    assert np.all(with_bad["status"].values[1] == ntajax.Status.DIVERGED)
    assert np.all(np.isnan(with_bad["final_alignment"].values[1]))
    assert np.all(with_bad["status"].values[0] == ntajax.Status.OK)
    for name in SUMMARY_FIELDS:
        np.testing.assert_array_equal(with_bad[name].values[0], without[name].values[0], err_msg=name)


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from test_sweep import small_sweep
    import ntajax
    from ntajax._sweep.execute import run_sweep
    done = []
    def die(index):
        done.append(index)
        if len(done) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
    run_sweep(small_sweep(ntajax.SampledGradient()), {path!r}, chunk_size=1, progress=False, on_chunk=die)
    """
)


def test_resume_after_sigkill(tmp_path):
    """A sweep killed with SIGKILL after two chunks resumes: only missing chunks run, and the
    result equals an uninterrupted sweep."""
    path = str(tmp_path / "killed.zarr")
    script = KILL_SCRIPT.format(tests=os.path.dirname(__file__), path=path)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    computed = []
    resumed = run_sweep(small_sweep(SAMPLED), path, chunk_size=1, progress=False, on_chunk=computed.append)
    assert len(computed) == small_sweep().n_points - 2
    fresh = run_sweep(small_sweep(SAMPLED), tmp_path / "fresh.zarr", chunk_size=1, progress=False)
    _assert_same(_values(resumed), _values(fresh))
    assert resumed.attrs["complete"]


def test_fixed_number_of_blocks_reads_each_point_at_its_own_end(tmp_path):
    """n_blocks_total = 3: a point with τ_B = 0.1 is read at t = 0.3, one with τ_B = 0.2 at 0.6,
    and each equals a single run of exactly that length."""
    base = base_simulation(SAMPLED, t_total=0.3, n_save=7)
    sweep = Sweep(base, (make_axis("block_length", [0.1, 0.2]),), n_seeds=2, n_blocks_total=3)
    assert sweep.config.grid.t_total == pytest.approx(0.6) and sweep.end_times() == pytest.approx([0.3, 0.6])
    ds = run_sweep(sweep, tmp_path / "blocks.zarr", progress=False)
    for i, (block, t_total, n_save) in enumerate([(0.1, 0.3, 7), (0.2, 0.6, 13)]):
        single = base.replace(curriculum=base.curriculum.replace(block_length=block),
                              grid=base.grid.replace(t_total=t_total, n_save=n_save), n_seeds=2,
                              recording=base.recording.replace(n_blocks=sweep.config.recording.n_blocks))
        trajectory = ntajax.run(single, jax.random.key(sweep.seed))
        summary = ntajax.summarise(single, trajectory)
        for name in ("final_alignment", "mean_alignment", "final_loss", "adaptation_time", "gate_separation", "gate_contrast"):
            np.testing.assert_allclose(ds[name].values[i], np.asarray(getattr(summary, name)), rtol=1e-5, atol=1e-6,
                                       equal_nan=True, err_msg=name)
    with pytest.raises(ValueError, match="not on the recording grid"):
        Sweep(base, (make_axis("block_length", [0.1, 0.12]),), n_seeds=2, n_blocks_total=3)  # 0.36 is off the 0.05 grid


def test_traces_on_request_match_the_single_run(tmp_path):
    base = base_simulation()
    sweep = Sweep(base, (make_axis("tau_c", [0.02, 0.05]),), n_seeds=2, traces=("loss", "alignment", "gates"), trace_every=3)
    ds = run_sweep(sweep, tmp_path / "tr.zarr", progress=False)
    assert ds["trace_loss"].dims == ("tau_c", "seed", "trace_t") and ds.sizes["trace_t"] == 5
    np.testing.assert_allclose(ds["trace_t"].values, base.save_times[::3])
    for i, tau_c in enumerate([0.02, 0.05]):
        single = sweep.config.set({"tau_c": tau_c})
        trajectory = ntajax.run(single, jax.random.key(0))
        summary = ntajax.summarise(single, trajectory)
        np.testing.assert_allclose(ds["trace_loss"].values[i], np.asarray(trajectory.loss)[:, ::3], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(ds["trace_gates"].values[i], np.asarray(trajectory.gates)[:, ::3], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(ds["trace_alignment"].values[i], np.asarray(summary.total_alignment)[:, ::3], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(ds["assignment"].values[i], np.asarray(summary.assignment))
    with pytest.raises(ValueError, match="traces \\['weights'\\] are not available"):
        Sweep(base, (make_axis("tau_c", [0.02]),), traces=("weights",))


def test_float64_sweep_runs_and_stores_in_float64():
    """A float64 simulation swept: computed in float64 (equal to ntajax.run of the point in
    float64 to 1e-12, far below float32 rounding) and stored as float64."""
    base = ntajax.Simulation(d_in=8, d_out=4, dtype="float64", gradient=ntajax.ExpectedGradient(),
                             grid=ntajax.TimeGrid(t_total=1.0, n_save=11), curriculum=ntajax.Blocked(block_length=0.5))
    sweep = ntajax.Sweep(base, (ntajax.FieldAxis(name="tau_c", values=(0.05, 0.1)),), n_seeds=2)
    ds = run_sweep(sweep, None, progress=False)
    assert ds["final_alignment"].dtype == np.float64 and ds["final_loss"].dtype == np.float64
    config = sweep.config
    for i, point in enumerate(sweep.point_fields()):
        single = config.set(point)
        with jax.enable_x64(True):
            summary = ntajax.summarise(single, ntajax.run(single, jax.random.key(sweep.seed)))
            expected = np.asarray(summary.final_loss)
        assert expected.dtype == np.float64
        np.testing.assert_allclose(ds["final_loss"].values[i], expected, rtol=1e-12)
