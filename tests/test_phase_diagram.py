"""Phase-diagram job, boundary extraction, sweep CLI/TOML and multi-device sharding."""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ntajax
from ntajax._sweep.phase import (boundary_by_interpolation, grid_bootstrap_interval, refine_boundary,
                                seed_mean_final_alignment)
from ntajax._sweep.sweep import Sweep, make_axis
from ntajax._presets.sweeps import fig5_base, load_sweep_toml
from ntajax._store.sweep_store import SUMMARY_FIELDS, open_sweep
from ntajax._cli.main import main


def test_boundary_interpolation_on_a_known_map():
    """Rows of a logistic map ½ + ½σ(k(x − b_y)) cross ¾ exactly at x = b_y (linear and log x)."""
    x = np.linspace(0.0, 10.0, 41)
    b = np.array([2.0, 5.0, 7.5])
    rows = 0.5 + 0.5 / (1 + np.exp(-3 * (x[None, :] - b[:, None])))
    boundary, bracket = boundary_by_interpolation(rows, x, threshold=0.75)
    np.testing.assert_allclose(boundary, b, atol=0.02)  # linear interpolation error of a smooth curve
    assert np.all((bracket[:, 0] <= b) & (b <= bracket[:, 1]))
    xg = np.geomspace(1.0, 100.0, 41)
    rows = 0.5 + 0.5 / (1 + np.exp(-4 * (np.log(xg)[None, :] - np.log(b)[:, None])))
    boundary, _ = boundary_by_interpolation(rows, xg, threshold=0.75)
    np.testing.assert_allclose(boundary, b, rtol=0.01)
    never = boundary_by_interpolation(np.full((1, 5), 0.5), np.arange(5.0))[0]
    assert np.isnan(never[0])


def test_phase_diagram_cli_end_to_end(tmp_path, capsys):
    out = tmp_path / "pd"
    code = main(["phase-diagram", "--out", str(out), "--resolution", "3", "--seeds", "2", "--no-progress"])
    assert code == 0
    for panel, x_axis in (("a", "tau_ratio"), ("b", "lambda")):
        ds = open_sweep(out / "phase_diagram.zarr" / panel)
        assert ds.attrs["complete"]
        assert ds["final_alignment"].dims == ("block_over_tau_w", x_axis, "seed")
        assert ds["final_alignment"].shape == (3, 3, 2)
        assert np.all(ds["status"].values == 0)
        assert "boundary" in ds and "boundary_refined" in ds and ds["boundary"].shape == (3,)
        assert ds["boundary_refined"].attrs["method"] == "bisection"  # the default
        assert ds["boundary_lower"].shape == ds["boundary_upper"].shape == (3,)
        # alignment is a cosine average: within [−1, 1]
        assert np.all(np.abs(ds["final_alignment"].values) <= 1.0 + 1e-6)
    assert (out / "phase_diagram.png").stat().st_size > 20_000
    assert "panel a" in capsys.readouterr().out
    # the store opens with plain xarray, root and panels, without any warning
    import warnings

    import xarray as xr

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xr.open_zarr(out / "phase_diagram.zarr")
        for panel in ("a", "b"):
            assert "final_alignment" in xr.open_zarr(out / "phase_diagram.zarr", group=panel)


TOML = """
[base]
tau_w = 0.1
tau_c = 0.02
lambda_nonneg = 0.5
lambda_norm = 2.5

[base.grid]
t_total = 0.4
n_save = 5

[base.gradient]
type = "ExpectedGradient"

[axes]
block_over_tau_w = [1, 2]
tau_ratio = [1, 5]

[sweep]
n_seeds = 2
"""


def test_sweep_cli_with_toml_and_resume(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text(TOML)
    sweep = load_sweep_toml(str(spec))
    assert sweep.shape == (2, 2) and sweep.n_seeds == 2
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 0
    first = open_sweep(out / "sweep.zarr")
    assert first.attrs["complete"] and "swept 4 points" in capsys.readouterr().out
    # the same command again resumes: nothing to do, same data
    assert main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 0
    again = open_sweep(out / "sweep.zarr")
    for name in SUMMARY_FIELDS:
        np.testing.assert_array_equal(first[name].values, again[name].values)
    # a different spec into the same directory is refused
    assert main(["sweep", str(spec), "--set", "tau_w=0.2", "--out", str(out), "--no-progress"]) == 2
    assert "different sweep" in capsys.readouterr().err


def test_sweep_cli_rejects_bad_specs(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(TOML.replace("tau_ratio = [1, 5]", "tau_ratio = [1, 5]\ntau_q = [1]"))
    assert main(["sweep", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "tau_q" in capsys.readouterr().err
    assert main(["sweep", "fig9", "--out", str(tmp_path / "o")]) == 2
    assert "unknown sweep spec 'fig9'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


DEVICES_SCRIPT = textwrap.dedent(
    """
    import json, sys, warnings
    import jax
    sys.path.insert(0, {tests!r})
    from test_sweep import SAMPLED, small_sweep
    from ntajax._sweep.execute import run_sweep
    from ntajax._sweep.sweep import chunk_inputs, run_chunk
    sweep = small_sweep(SAMPLED)
    ds = run_sweep(sweep, {path!r}, chunk_size=4, progress=False)
    # where one chunk's inputs and outputs live
    config, t_end, n = chunk_inputs(sweep, 0, 4, 4)
    inputs = [sorted(d.id for d in leaf.sharding.device_set) for leaf in jax.tree.leaves(config) if isinstance(leaf, jax.Array)]
    values, n = run_chunk(sweep, 0, 4, 4)
    out = values["final_alignment"]
    shards = [(s.device.id, list(s.data.shape)) for s in out.addressable_shards]
    # a chunk size the device count does not divide: padded, still on every device
    odd, n_odd = run_chunk(sweep, 0, 3, 4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rounded = run_sweep(sweep, {path3!r}, chunk_size=3, progress=False)
    print(json.dumps({{
        "devices": len(jax.devices()), "inputs": inputs, "n": n,
        "output_devices": sorted(d.id for d in out.sharding.device_set), "shards": shards,
        "odd_width": odd["final_alignment"].shape[0], "odd_points": n_odd,
        "odd_devices": sorted(d.id for d in odd["final_alignment"].sharding.device_set),
        "warnings": [str(w.message) for w in caught], "rounded_chunk_size": int(rounded.attrs["chunk_size"]),
    }}))
    """
)


def test_four_devices_give_the_same_sweep(tmp_path):
    """Chunks sharded over 4 (virtual CPU) devices give the single-device results; a chunk's
    inputs and outputs are split over all 4 devices, one point each; a chunk size that 4 does not
    divide is rounded up to a multiple of 4 (with a warning), not run on one device."""
    from test_sweep import SAMPLED, small_sweep

    from ntajax._sweep.execute import run_sweep

    path, path3 = str(tmp_path / "four.zarr"), str(tmp_path / "four3.zarr")
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    script = DEVICES_SCRIPT.format(tests=os.path.dirname(__file__), path=path, path3=path3)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["devices"] == 4
    assert report["inputs"] and all(ids == [0, 1, 2, 3] for ids in report["inputs"])  # every stacked leaf
    assert report["n"] == 4 and report["output_devices"] == [0, 1, 2, 3]
    assert sorted(d for d, _ in report["shards"]) == [0, 1, 2, 3]
    assert all(shape == [1, 3] for _, shape in report["shards"])  # one point × 3 seeds per device
    assert report["odd_width"] == 4 and report["odd_points"] == 3 and report["odd_devices"] == [0, 1, 2, 3]
    assert any("chunk_size=3" in w and "chunk_size=4" in w for w in report["warnings"]), report["warnings"]
    assert report["rounded_chunk_size"] == 4
    four = open_sweep(path)
    rounded = open_sweep(path3)
    one = run_sweep(small_sweep(SAMPLED), tmp_path / "one.zarr", chunk_size=4, progress=False)
    for name in SUMMARY_FIELDS:
        np.testing.assert_allclose(four[name].values, one[name].values, rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=name)
        np.testing.assert_allclose(rounded[name].values, one[name].values, rtol=1e-5, atol=1e-6, equal_nan=True,
                                   err_msg=name)


# ------------------------------------------------------------------------------- refine_boundary
def _two_axis_sweep(y=(1.0, 2.0, 4.0), x=tuple(np.geomspace(1.0, 40.0, 6)), **options) -> Sweep:
    """τ_B/τ_w × τ_w/τ_c on the Fig. 5 base, expected flow, t_tot = 2 (nothing runs until evaluated)."""
    base = fig5_base(ntajax.ExpectedGradient(), n_save=21)
    base = base.replace(grid=base.grid.replace(t_total=2.0))
    return Sweep(base, (make_axis("block_over_tau_w", y), make_axis("tau_ratio", x)), **options)


def _known_map(y, x):
    """A monotone map in x with its ¾ crossing at x = b(y) = 3·y (far outside the grid for y = 4)."""
    b = np.where(y < 3.0, 3.0 * y, 1e3)
    return 0.5 + 0.5 / (1.0 + np.exp(-3.0 * (np.log(x) - np.log(b))))


def test_refine_boundary_finds_a_known_crossing():
    """Bisection from the brackets of a coarse grid converges on the exact crossing of a synthetic
    map (the per-point evaluation is injected: nothing is simulated); a row without a crossing
    stays NaN; every probe keeps the sweep's settings."""
    sweep = _two_axis_sweep(n_seeds=4, seed=7, n_blocks_total=3, traces=("loss",), trace_every=2)
    x = np.asarray(sweep.axis("tau_ratio").values)
    y = np.asarray(sweep.axis("block_over_tau_w").values)
    coarse = _known_map(y[:, None], x[None, :])
    _, bracket = boundary_by_interpolation(coarse, x)
    assert np.isnan(bracket[2]).all()
    probes = []

    def evaluate(probe):
        probes.append(probe)
        points = probe.axis_values()
        return np.array([_known_map(p["block_over_tau_w"], p["tau_ratio"]) for p in points])

    iterations = 12
    refined = refine_boundary(sweep, "tau_ratio", bracket, iterations=iterations, evaluate=evaluate)
    step = np.log(x[1] / x[0])
    np.testing.assert_allclose(np.log(refined[:2]), np.log(3.0 * y[:2]), atol=step / 2**iterations)
    assert np.isnan(refined[2])
    assert len(probes) == iterations
    kept = [f.name for f in dataclasses.fields(Sweep) if f.name not in ("axes", "zipped")]
    for probe in probes:
        for name in kept:  # base, n_seeds, seed, n_blocks_total, traces, trace_every, and any later field
            assert getattr(probe, name) == getattr(sweep, name), name
        assert probe.zipped == (("block_over_tau_w", "tau_ratio"),)
        assert [type(a) for a in probe.axes] == [type(a) for a in sweep.axes]
        assert probe.axis("block_over_tau_w").values == sweep.axis("block_over_tau_w").values
        assert probe.n_points == len(y)


def test_refined_boundary_matches_a_dense_grid():
    """On simulated runs: the boundary bisected from a 4-point grid agrees with the interpolated
    boundary of a 16-point grid of the same axis to within the dense grid's spacing."""
    x = np.geomspace(1.0, 40.0, 16)
    dense = _two_axis_sweep(y=(2.0, 4.0), x=x, n_seeds=2)
    mean = seed_mean_final_alignment(dense).reshape(dense.shape)
    boundary, _ = boundary_by_interpolation(mean, x)
    assert np.isfinite(boundary).all()
    coarse = dataclasses.replace(dense, axes=(dense.axes[0], make_axis("tau_ratio", x[::5])))
    np.testing.assert_allclose(x[::5], np.geomspace(1.0, 40.0, 4))
    _, bracket = boundary_by_interpolation(mean[:, ::5], x[::5])
    refined = refine_boundary(coarse, "tau_ratio", bracket)
    assert np.all((bracket[:, 0] <= refined) & (refined <= bracket[:, 1]))
    assert np.all(np.abs(np.log(refined) - np.log(boundary)) <= np.log(x[1] / x[0]) + 1e-9), (refined, boundary)


def test_cells_with_diverged_seeds_are_marked_on_the_heatmap():
    """A cell averaged over fewer seeds than it ran is marked with a cross, never silently averaged."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import xarray as xr

    from ntajax._cli.phase_diagram import draw_panel

    values = np.full((2, 3, 4), 0.9)
    values[1, 2, 0] = np.nan  # one diverged seed in cell (1, 2)
    ds = xr.Dataset({"final_alignment": (("tau_ratio", "block_over_tau_w", "seed"), values)},
                    coords={"tau_ratio": [1.0, 2.0], "block_over_tau_w": [1.0, 2.0, 3.0]},
                    attrs={"dims": json.dumps(["tau_ratio", "block_over_tau_w"])})
    fig, ax = plt.subplots()
    draw_panel(fig, ax, ds, np.nanmean(values, axis=-1), label="A", cmap="Oranges", limits=(0.5, 1.0), boundary=False)
    marks = [c for c in ax.collections if c.get_label().startswith("1 cell(s) with diverged seeds")]
    assert len(marks) == 1
    np.testing.assert_allclose(marks[0].get_offsets(), [[3.0, 2.0]])
    plt.close(fig)


def _ramps(x, centres):
    """(n_x, n_seeds) per-seed final alignments: smooth ramps in log x crossing ½ at ``centres``."""
    return 0.5 + 0.5 * np.tanh(np.log(x[:, None] / centres[None, :]))


def test_grid_bootstrap_interval_covers_the_population_crossing():
    """On planted per-seed ramps (crossings log-normal around 10): identical seeds give a zero-width
    interval at the interpolated crossing; the interval shrinks like 1/√n with the seed count; and
    the 95 % interval covers the crossing of the population mean (from 20,000 seeds on the same
    grid) in about 95 % of 120 independent experiments of 10 seeds."""
    x = np.geomspace(1.0, 100.0, 33)
    rng = np.random.default_rng(3)
    same = np.broadcast_to(_ramps(x, np.array([10.0])), (33, 5))[None]
    crossing = boundary_by_interpolation(same.mean(-1), x)[0]
    interval = grid_bootstrap_interval(same, x)
    np.testing.assert_allclose(interval[0], [crossing[0], crossing[0]], rtol=1e-12)

    truth = boundary_by_interpolation(_ramps(x, np.exp(rng.normal(np.log(10.0), 0.3, 20_000))).mean(-1)[None], x)[0][0]
    widths, covered = {}, []
    for n in (10, 250):
        per_seed = _ramps(x, np.exp(rng.normal(np.log(10.0), 0.3, n)))[None]
        lower, upper = grid_bootstrap_interval(per_seed, x, seed=1)[0]
        widths[n] = np.log(upper / lower)
    assert widths[250] < widths[10] / 3  # √25 = 5 in expectation
    for trial in range(120):
        per_seed = _ramps(x, np.exp(rng.normal(np.log(10.0), 0.3, 10)))[None]
        lower, upper = grid_bootstrap_interval(per_seed, x, n_bootstrap=400, seed=trial)[0]
        covered.append(lower <= truth <= upper)
    assert 0.82 <= np.mean(covered) <= 1.0
    # a refined estimate moves the interval with it; a row that never crosses is NaN
    shifted = grid_bootstrap_interval(per_seed, x, n_bootstrap=400, seed=0, estimate=np.array([20.0]))
    unshifted = grid_bootstrap_interval(per_seed, x, n_bootstrap=400, seed=0)
    centre = boundary_by_interpolation(per_seed.mean(-1), x)[0]
    np.testing.assert_allclose(np.log(shifted / unshifted), np.log(20.0 / centre[0]), rtol=1e-9)
    assert np.isnan(grid_bootstrap_interval(np.zeros((1, 33, 4)), x)).all()
    with pytest.raises(ValueError, match="per_seed must have shape"):
        grid_bootstrap_interval(np.zeros((33, 4)), x)
