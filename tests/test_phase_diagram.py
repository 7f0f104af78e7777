"""Phase-diagram job, boundary extraction, sweep CLI/TOML and multi-device sharding."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from ntajax._sweep.phase import boundary_by_interpolation
from ntajax._presets.sweeps import load_sweep_toml
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
        # alignment is a cosine average: within [−1, 1]
        assert np.all(np.abs(ds["final_alignment"].values) <= 1.0 + 1e-6)
    assert (out / "phase_diagram.png").stat().st_size > 20_000
    assert "panel a" in capsys.readouterr().out


TOML = """
[base]
tau_w = 0.1
tau_c = 0.02
lambda_nonneg = 0.5
lambda_norm = 2.5
t_total = 0.4
n_save = 5
gradient = "expected"

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
    import json, sys
    import numpy as np
    import jax
    sys.path.insert(0, {tests!r})
    from test_sweep import small_sweep
    from ntajax._sweep_run import run_sweep
    from ntajax._sweep_store import SUMMARY_FIELDS
    ds = run_sweep(small_sweep("sampled"), {path!r}, chunk_size=4, progress=False)
    print(json.dumps({{"devices": len(jax.devices())}}))
    """
)


def test_four_devices_give_the_same_sweep(tmp_path):
    """Chunks sharded over 4 (virtual CPU) devices give the single-device results."""
    from test_sweep import small_sweep

    from ntajax._sweep.execute import run_sweep

    path = str(tmp_path / "four.zarr")
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    script = DEVICES_SCRIPT.format(tests=os.path.dirname(__file__), path=path)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["devices"] == 4
    four = open_sweep(path)
    one = run_sweep(small_sweep("sampled"), tmp_path / "one.zarr", chunk_size=4, progress=False)
    for name in SUMMARY_FIELDS:
        np.testing.assert_allclose(four[name].values, one[name].values, rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=name)
