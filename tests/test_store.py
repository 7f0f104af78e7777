"""Stores a user can open and trust: plain ``xr.open_zarr`` on the sweep grid, refusal of other
code's stores, provenance in every store, and run stores that continue exactly."""

import json
import warnings

import jax
import numpy as np
import pytest
import xarray as xr
import zarr

import ntajax
import ntajax._provenance
from ntajax._store.dataset import load_trajectory, to_dataset, write_zarr
from ntajax._store.sweep_store import SUMMARY_FIELDS, block_points, open_sweep, rectangles
from ntajax._sweep.execute import choose_chunk_size, run_sweep
from ntajax._sweep.sweep import Sweep, make_axis

from test_sweep import base_simulation, small_sweep

LIBRARIES = ("python", "jax", "jaxlib", "equinox", "diffrax", "numpy", "xarray", "zarr")


def open_plain(path) -> xr.Dataset:
    """``xr.open_zarr`` with every warning an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return xr.open_zarr(path).load()


def test_rectangles_cover_a_run_of_points_exactly():
    for shape in [(2, 3), (3, 4, 5), (7,), (2, 1, 3), ()]:
        n = int(np.prod(shape))
        grid = np.arange(n).reshape(shape)
        for start in range(n):
            for stop in range(start + 1, n + 1):
                covered = np.zeros(shape, int)
                for first, end, index in rectangles(start, stop, shape):
                    np.testing.assert_array_equal(grid[index].ravel(), np.arange(first, end))
                    covered[index] += 1
                np.testing.assert_array_equal(covered.ravel(), (np.arange(n) >= start) & (np.arange(n) < stop))


def test_zarr_chunks_never_straddle_two_sweep_chunks():
    assert block_points((2, 3), 4) == (1, (1, 1))
    assert block_points((2, 3), 3) == (3, (1, 3))
    assert block_points((20, 30), 240) == (120, (4, 30))
    assert block_points((5, 7), 256) == (35, (5, 7))
    sweep = Sweep(base_simulation(), (make_axis("tau_w", np.linspace(0.1, 0.3, 20)), make_axis("tau_c", np.linspace(0.02, 0.05, 30))),
                  n_seeds=1)
    size = choose_chunk_size(sweep)
    assert size % 30 == 0 and size <= 256  # whole rows of the grid


def test_sweep_store_opens_with_plain_xarray_on_the_grid(tmp_path):
    """Chunks of 4 points on a 2×3 grid (not rectangles): the store opens with plain
    xr.open_zarr, no warning, one dimension per axis then seed, axis values as coordinates."""
    sweep = small_sweep()
    path = tmp_path / "grid.zarr"
    seen = []

    def check(index):  # a chunk is on disk as soon as it is done
        ds = open_plain(path)
        seen.append(int((ds["status"].values != -2).all(axis=-1).sum()))
        assert not ds.attrs["complete"] or index == 1

    returned = run_sweep(sweep, path, chunk_size=4, progress=False, on_chunk=check)
    assert seen == [4, 6]
    ds = open_plain(path)
    assert ds["final_alignment"].dims == ("block_over_tau_w", "tau_ratio", "seed")
    assert ds["adaptation_time"].dims == ("block_over_tau_w", "tau_ratio", "seed", "block")
    assert ds["assignment"].dims == ("block_over_tau_w", "tau_ratio", "seed", "teacher")
    assert ds.sizes["block_over_tau_w"] == 2 and ds.sizes["tau_ratio"] == 3 and ds.sizes["seed"] == 3
    np.testing.assert_allclose(ds["tau_ratio"].values, [1, 2, 5])
    np.testing.assert_allclose(ds["block_over_tau_w"].values, [1, 3])
    np.testing.assert_allclose(ds["field_tau_c"].values, [[0.1, 0.05, 0.02]] * 2)
    assert ds["field_tau_c"].attrs["path"] == "student.tau_c"
    assert ds.attrs["complete"] and "chunk_done" not in ds and "point" not in ds.dims
    assert np.all(ds["status"].values == ntajax.Status.OK)
    for name in SUMMARY_FIELDS:
        np.testing.assert_array_equal(ds[name].values, returned[name].values, err_msg=name)
        np.testing.assert_array_equal(ds[name].values, open_sweep(path)[name].values, err_msg=name)
    resumed = []
    run_sweep(sweep, path, chunk_size=4, progress=False, on_chunk=resumed.append)
    assert resumed == []  # finished chunks are skipped
    group = zarr.open_group(path, mode="r+", use_consolidated=False)
    group.attrs["complete"] = False  # as if killed after the last chunk's flag, before the store was marked
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(path)
    run_sweep(sweep, path, chunk_size=4, progress=False, on_chunk=resumed.append)
    assert resumed == [] and open_plain(path).attrs["complete"]


def test_zipped_sweep_store_has_one_dimension_per_group(tmp_path):
    sweep = Sweep(base_simulation(), (make_axis("tau_c", [0.02, 0.05, 0.04]), make_axis("tau_w", [0.1, 0.2, 0.3]),
                                      make_axis("lambda_norm", [0.0, 2.5])),
                  n_seeds=2, zipped=(("tau_c", "tau_w"),))
    run_sweep(sweep, tmp_path / "zip.zarr", chunk_size=4, progress=False)
    ds = open_plain(tmp_path / "zip.zarr")
    assert ds["final_loss"].dims == ("lambda_norm", "tau_c+tau_w", "seed")
    np.testing.assert_allclose(ds["tau_c"].values, [0.02, 0.05, 0.04])
    np.testing.assert_allclose(ds["tau_w"].values, [0.1, 0.2, 0.3])
    assert ds["tau_c"].dims == ("tau_c+tau_w",)
    np.testing.assert_allclose(ds["field_tau_w"].values, [[0.1, 0.2, 0.3]] * 2)
    assert np.all(ds["status"].values == ntajax.Status.OK)


def test_store_made_by_other_code_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "code.zarr"
    run_sweep(small_sweep(lambda_norm=[2.5]), path, progress=False)
    with monkeypatch.context() as patch:
        patch.setattr(ntajax._provenance, "source_digest", lambda: "0" * 64)
        with pytest.raises(ValueError, match="made by different ntajax code.*code differs.*new directory.*delete the store"):
            run_sweep(small_sweep(lambda_norm=[2.5]), path, progress=False)
    group = zarr.open_group(path, mode="r+", use_consolidated=False)
    group.attrs["code_digest"] = "f" * 64  # as if written by other code
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(path)
    with pytest.raises(ValueError, match="made by different ntajax code.*new directory.*delete the store"):
        run_sweep(small_sweep(lambda_norm=[2.5]), path, progress=False)


def _check_provenance(attrs, seed):
    record = json.loads(attrs["provenance"])
    for name in LIBRARIES:
        assert name in record["versions"], name
    assert record["versions"]["jax"] == jax.__version__ and record["versions"]["python"]
    assert isinstance(record["compiler_options"], dict) and "xla_flags" in record
    assert isinstance(record["command_line"], list) and record["seed"] == seed
    assert "git_commit" in record and "git_dirty" in record
    assert record["ntajax_source_digest"] == ntajax._provenance.source_digest()
    assert attrs["seed"] == seed and attrs["ntajax_source_digest"] == record["ntajax_source_digest"]


def test_every_store_carries_provenance(tmp_path):
    sweep = small_sweep(lambda_norm=[2.5])
    run_sweep(sweep, tmp_path / "p.zarr", progress=False)
    _check_provenance(open_plain(tmp_path / "p.zarr").attrs, sweep.seed)
    config = ntajax.Simulation(gradient=ntajax.ExpectedGradient(), grid=ntajax.TimeGrid(t_total=0.1, n_save=3), n_seeds=2)
    trajectory = ntajax.run(config, jax.random.key(7))
    write_zarr(to_dataset({"only": (config, trajectory, ntajax.summarise(config, trajectory))}, seed=7), tmp_path / "r.zarr")
    _check_provenance(open_plain(tmp_path / "r.zarr").attrs, 7)


def test_stored_run_continues_exactly(tmp_path, key):
    """A run of T written to a run store, loaded back as a Trajectory and continued from its final
    state with start_step = n_steps equals one run of 2T."""
    long = ntajax.Simulation(
        student=ntajax.Gated(tau_c=0.05), curriculum=ntajax.Blocked(block_length=0.1),
        gradient=ntajax.SampledGradient(), grid=ntajax.TimeGrid(t_total=0.4, n_save=5), n_seeds=2,
    )
    short = long.replace(grid=ntajax.TimeGrid(t_total=0.2, n_save=3), recording=ntajax.Recording(n_blocks=4))
    first = ntajax.run(short, key)
    flexible = short.set({"tau_c": 0.03})
    other = ntajax.run(flexible, key)
    ds = to_dataset({"slow": (short, first, ntajax.summarise(short, first)),
                     "fast": (flexible, other, ntajax.summarise(flexible, other))}, seed=0)
    write_zarr(ds, tmp_path / "results.zarr")
    assert json.loads(open_plain(tmp_path / "results.zarr").attrs["config"])["slow"] == short.to_dict()
    for simulation in (None, short):
        loaded = load_trajectory(tmp_path / "results.zarr", "slow", simulation=simulation)
        assert type(loaded.final) is type(first.final)
        for name in ("t", "block", "task", "loss", "closing_loss", "minibatch_loss", "gates", "path_norms", "similarity",
                     "context_alignment", "status"):
            np.testing.assert_array_equal(getattr(loaded, name), getattr(first, name), err_msg=name)
        np.testing.assert_array_equal(loaded.final.W, first.final.W)
        np.testing.assert_array_equal(loaded.final.c, first.final.c)
        second = ntajax.run(short, key, init=loaded.final, start_step=short.n_steps)
        whole = ntajax.run(long, key)
        np.testing.assert_array_equal(second.final.W, whole.final.W)
        np.testing.assert_array_equal(second.final.c, whole.final.c)
        np.testing.assert_array_equal(second.loss[:, 1:], whole.loss[:, 3:])
        np.testing.assert_array_equal(second.gates[:, 1:], whole.gates[:, 3:])
        np.testing.assert_array_equal(second.similarity[:, 1:], whole.similarity[:, 3:])
    fast = load_trajectory(open_plain(tmp_path / "results.zarr"), "fast")
    np.testing.assert_array_equal(fast.final.W, other.final.W)
    with pytest.raises(KeyError, match="'medium' is not in the store"):
        load_trajectory(tmp_path / "results.zarr", "medium")
