"""Sweeps on a dask cluster: same results as a local run, survives a killed worker."""

import os
import signal
import sys

import numpy as np
import pytest

import ntajax
from ntajax._sweep.cluster import run_on_cluster
from ntajax._sweep.sweep import Sweep, make_axis
from ntajax._sweep.execute import run_sweep
from ntajax._store.sweep_store import SUMMARY_FIELDS

distributed = pytest.importorskip("distributed")
xr = pytest.importorskip("xarray")

def small_sweep(t_total=0.4, block_length=0.1):
    base = ntajax.Simulation(
        d_in=20, d_out=10, student=ntajax.Gated(tau_w=0.1, tau_c=0.02),
        regulariser=ntajax.Regulariser(lambda_nonneg=0.5, lambda_norm=2.5),
        grid=ntajax.TimeGrid(dt=1e-3, t_total=t_total, n_save=11), gradient=ntajax.ExpectedGradient(),
        curriculum=ntajax.Blocked(block_length=block_length),
    )
    return Sweep(base, (make_axis("tau_ratio", [1, 2, 5]), make_axis("lambda_norm", [0.5, 2.5])), n_seeds=3)


@pytest.fixture
def cpu_workers(monkeypatch):
    """Spawned worker processes inherit this environment: keep them on the CPU."""
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")


def _assert_identical(a: xr.Dataset, b: xr.Dataset):
    """Equal summaries and coordinates, bit for bit (NaNs equal)."""
    assert a.attrs["complete"] and b.attrs["complete"]
    xr.testing.assert_equal(a[list(SUMMARY_FIELDS)], b[list(SUMMARY_FIELDS)])
    for name in SUMMARY_FIELDS:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def test_local_cluster_matches_local_run(tmp_path, cpu_workers):
    sweep = small_sweep()
    local = run_sweep(sweep, tmp_path / "a.zarr", chunk_size=2, progress=False)
    stored = []
    cluster = run_sweep(sweep, tmp_path / "b.zarr", chunk_size=2, progress=False, scheduler="local:2",
                        on_chunk=stored.append)
    assert sorted(stored) == [0, 1, 2]
    _assert_identical(local, cluster)
    assert (cluster["status"].values == 0).all()


@pytest.mark.slow  # 30-40 s on 2 cores: three compiles in worker processes plus the local reference
def test_killed_worker_still_completes(tmp_path, cpu_workers):
    """A worker killed mid-sweep: its chunks are rescheduled and the results are unchanged."""
    # Chunks of ~0.3 s each (after a ~4 s compile per worker), so work remains after the kill.
    sweep = small_sweep(t_total=200.0, block_length=2.0)
    local = run_sweep(sweep, tmp_path / "local.zarr", chunk_size=1, progress=False)

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
        pids = client.run(os.getpid)
        killed = {}
        stored = []

        def kill_one(index):
            stored.append(index)
            if killed:
                return
            busy = [addr for addr, keys in client.processing().items() if keys]
            assert busy, "no work left to interrupt: make the chunks slower"
            killed["addr"], killed["pid"] = busy[0], pids[busy[0]]
            os.kill(killed["pid"], signal.SIGKILL)

        ds = run_sweep(sweep, tmp_path / "cluster.zarr", chunk_size=1, progress=False,
                       scheduler=cluster.scheduler_address, on_chunk=kill_one)

        assert killed, "no worker was killed"
        assert sorted(stored) == list(range(sweep.n_points))
        assert killed["pid"] not in client.run(os.getpid).values()  # that process is gone (the nanny restarts one)
    assert ds.attrs["complete"]
    _assert_identical(local, ds)


def test_failing_chunk_raises_after_retries(cpu_workers):
    """An error inside a task is retried, then raised in the driver with the chunk named."""
    sweep = small_sweep()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        results = run_on_cluster(sweep, [99], 2, cluster.scheduler_address)  # chunk 99 has no points
        with pytest.raises(IndexError) as info:
            list(results)
    assert any("chunk 99" in note for note in getattr(info.value, "__notes__", []))


def test_nothing_pending_starts_nothing():
    assert list(run_on_cluster(small_sweep(), [], 2, "local:4")) == []


@pytest.mark.parametrize("scheduler", ["local:0", "local:x", "local", "local:-1", "", "tcp://", "not an address"])
def test_invalid_scheduler(scheduler):
    with pytest.raises(ValueError, match="local:N") as info:
        run_on_cluster(small_sweep(), [0], 2, scheduler)
    assert repr(scheduler) in str(info.value)


def test_missing_dask_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `import distributed` fail
    with pytest.raises(ImportError, match=r'pip install "ntajax\[cluster\]"'):
        run_on_cluster(small_sweep(), [0], 2, "local:2")
