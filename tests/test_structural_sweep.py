"""Structural sweeps: static fields (d_in, P, dt, …) as axes of one job, one store.

A structural sweep over P and d_in equals the separate single-structure sweeps point for point
(every structure uses the sweep's root key, as a separate sweep with the same seed does), compiles
once per structure, resumes after an interruption to the same store, is planned exactly by
``explain``, reads from a TOML spec, and refuses bad values at construction.
"""

import dataclasses

import jax
import numpy as np
import pytest
import xarray as xr

import ntajax
from ntajax._cli.main import main
from ntajax._presets.sweeps import load_sweep_toml
from ntajax._store.sweep_store import SweepStore
from ntajax._sweep.execute import compile_count, run_sweep
from ntajax._sweep.plan import plan_sweep
from ntajax._sweep.sweep import StaticAxis, Sweep, make_axis

D_IN, N_PATHS, TAU_C = (4, 6), (2, 3), (0.02, 0.05, 0.1)
CHUNK = 2  # 3 traced points per structure: chunks of 2 and 1 points, 8 chunks for 4 structures


def tiny_base(*, t_total=0.2, n_save=5):
    """d_in 4, d_out 2, M = 2, P = 2, τ_w = 0.1, τ_c = 0.02, dt = 1e-3, τ_B = 0.1, expected gradient."""
    return ntajax.Simulation(
        d_in=4, d_out=2, n_teachers=2, student=ntajax.Gated(n_paths=2, tau_w=0.1, tau_c=0.02),
        regulariser=ntajax.Regulariser(lambda_nonneg=0.5, lambda_norm=2.5),
        grid=ntajax.TimeGrid(dt=1e-3, t_total=t_total, n_save=n_save), curriculum=ntajax.Blocked(block_length=0.1),
        gradient=ntajax.ExpectedGradient(), n_seeds=2,
    )


def structural_sweep() -> Sweep:
    return Sweep(tiny_base(), (StaticAxis(name="d_in", values=D_IN), StaticAxis(name="n_paths", values=N_PATHS),
                               make_axis("tau_c", TAU_C)), n_seeds=2, traces=("gates",))


def separate_sweep(d_in: int, n_paths: int) -> Sweep:
    """The single-structure sweep of one (d_in, P), built by hand."""
    base = tiny_base()
    base = base.replace(d_in=d_in, student=base.student.replace(n_paths=n_paths))
    return Sweep(base, (make_axis("tau_c", TAU_C),), n_seeds=2, traces=("gates",))


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """The structural sweep run once into a store (the first thing this module compiles)."""
    path = tmp_path_factory.mktemp("structural") / "s.zarr"
    chunks = []
    before = compile_count()
    ds = run_sweep(structural_sweep(), path, chunk_size=CHUNK, progress=False, on_chunk=chunks.append)
    return path, ds, compile_count() - before, chunks


def test_structural_sweep_equals_the_separate_sweeps_point_for_point(stored):
    path, ds, compiles, chunks = stored
    sweep = structural_sweep()
    assert sweep.n_structures == 4 and compiles == 4  # one compiled program per structure
    assert chunks == list(range(8)) and ds.attrs["complete"]
    plain = xr.open_zarr(path)  # one labelled store: structural dimensions first, then traced, then seed
    assert plain["final_alignment"].dims == ("d_in", "n_paths", "tau_c", "seed")
    assert plain["trace_gates"].dims == ("d_in", "n_paths", "tau_c", "seed", "trace_t", "gate")
    assert plain["d_in"].dtype == np.int64 and list(plain["d_in"].values) == list(D_IN)
    np.testing.assert_array_equal(plain["size_gate"].values, [[2, 3], [2, 3]])  # the real P of each structure
    memory = run_sweep(sweep, None, chunk_size=CHUNK, progress=False)  # in memory: same layout and values
    before = compile_count()
    for d_in in D_IN:
        for n_paths in N_PATHS:
            separate = run_sweep(separate_sweep(d_in, n_paths), None, chunk_size=CHUNK, progress=False)
            cell = ds.sel(d_in=d_in, n_paths=n_paths)
            for name in separate.data_vars:
                expected = separate[name].values
                got = cell[name].values[..., :n_paths] if name == "trace_gates" else cell[name].values
                np.testing.assert_array_equal(got, expected, err_msg=f"{name} at d_in={d_in}, P={n_paths}")
                np.testing.assert_array_equal(memory[name].sel(d_in=d_in, n_paths=n_paths).values,
                                              cell[name].values, err_msg=name)
            assert np.isnan(cell["trace_gates"].values[..., n_paths:]).all()  # padding, never another structure's data
    assert compile_count() == before  # the separate sweeps are the very programs the structural one compiled
    # independent of the sweep executor: one structure's point against ntajax.run
    part = sweep.structures[3]
    single = part.config.set(part.point_fields()[1])
    trajectory = ntajax.run(single, jax.random.key(sweep.seed))
    np.testing.assert_allclose(ds["final_loss"].sel(d_in=6, n_paths=3).values[1], np.asarray(trajectory.loss)[:, -1],
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ds["trace_gates"].sel(d_in=6, n_paths=3).values[1], np.asarray(trajectory.gates),
                               rtol=1e-5, atol=1e-7)


class Interrupt(Exception):
    pass


def test_resume_after_an_interruption_gives_the_same_store(stored, tmp_path):
    path = tmp_path / "interrupted.zarr"
    sweep = structural_sweep()

    def stop_after_three(index):
        if index == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_sweep(sweep, path, chunk_size=CHUNK, progress=False, on_chunk=stop_after_three)
    assert not xr.open_zarr(path).attrs["complete"]
    done = SweepStore.open(path, sweep, CHUNK).done()  # chunks 0-2 stored: 5 chunks of structures 1, 2, 3 remain
    plan = plan_sweep(sweep, CHUNK, 1, done=done, calibration=False)
    assert (plan.n_chunks, plan.n_programs, plan.n_pending, plan.n_structures) == (5, 3, 7, 4)
    computed = []
    resumed = run_sweep(sweep, path, chunk_size=CHUNK, progress=False, on_chunk=computed.append)
    assert computed == [3, 4, 5, 6, 7] and resumed.attrs["complete"]
    xr.testing.assert_identical(resumed.drop_attrs(), stored[1].drop_attrs())
    other = dataclasses.replace(sweep, axes=(StaticAxis(name="d_in", values=(4, 8)),) + sweep.axes[1:])
    with pytest.raises(ValueError, match="holds results of a different sweep"):
        run_sweep(other, path, progress=False)


def test_explain_predicts_compiles_and_chunks(tmp_path):
    """A dt axis: 2 structures of 100 and 200 steps, 2 programs, 4 chunks, as the real run then does."""
    base = tiny_base(t_total=0.1, n_save=3)  # other programs than the tests above compiled
    tau_c = make_axis("tau_c", (0.02, 0.05, 0.1))
    sweep = Sweep(base, (StaticAxis(name="dt", values=(1e-3, 5e-4)), tau_c), n_seeds=2)
    out = tmp_path / "plan.zarr"
    plan = run_sweep(sweep, out, chunk_size=2, explain=True)
    assert not out.exists()
    assert (plan.n_structures, plan.n_programs, plan.n_chunks, plan.n_points, plan.program_width) == (2, 2, 4, 6, 2)
    assert plan.steps_per_run == 200 and plan.pending_steps == 3 * 2 * (100 + 200)
    assert plan.estimated_s > 0 and "structures    2" in str(plan)
    chunks = []
    before = compile_count()
    ds = run_sweep(sweep, out, chunk_size=2, progress=False, on_chunk=chunks.append)
    assert compile_count() - before == plan.n_programs and len(chunks) == plan.n_chunks
    assert sum(v.size * v.dtype.itemsize for v in ds.data_vars.values()) == pytest.approx(plan.store_mb * 2**20)
    assert ds["assignment"].dims == ("dt", "tau_c", "seed", "teacher")
    np.testing.assert_allclose(ds["dt"].values, [1e-3, 5e-4])
    # zipped static axes are one structural dimension; identical structures share one program
    zipped = Sweep(base, (StaticAxis(name="dt", values=(1e-3, 5e-4)), StaticAxis(name="d_in", values=(4, 4)),
                          StaticAxis(name="d_out", values=(2, 1)), tau_c), n_seeds=2, zipped=(("d_in", "d_out"),))
    assert zipped.dims == ("dt", "d_in+d_out", "tau_c") and zipped.n_structures == 4
    assert (plan_sweep(zipped, 2, 1, calibration=False).n_programs, zipped.n_chunks(2)) == (4, 8)
    twice = dataclasses.replace(zipped, axes=zipped.axes[:2] + (StaticAxis(name="d_out", values=(2, 2)),) + zipped.axes[3:])
    assert plan_sweep(twice, 2, 1, calibration=False).n_programs == 2


def test_toml_spec_with_static_axes_runs_from_the_command_line(stored, tmp_path, capsys):
    spec = tmp_path / "structural.toml"
    spec.write_text(
        "[base]\nd_in = 4\nd_out = 2\nn_seeds = 2\ntau_w = 0.1\ntau_c = 0.02\nlambda_nonneg = 0.5\nlambda_norm = 2.5\n"
        "[base.student]\nn_paths = 2\n[base.grid]\ndt = 0.001\nt_total = 0.2\nn_save = 5\n"
        "[base.curriculum]\nblock_length = 0.1\n[base.gradient]\ntype = \"ExpectedGradient\"\n"
        "[static_axes]\nd_in = [4, 6]\n[static_axes.student]\nn_paths = [2, 3]\n"
        "[axes]\ntau_c = [0.02, 0.05, 0.1]\n[sweep]\nn_seeds = 2\ntraces = [\"gates\"]\n"
    )
    sweep = load_sweep_toml(str(spec))
    assert sweep.axes[1] == StaticAxis(name="n_paths", values=(2, 3), path="student.n_paths")
    python = structural_sweep()
    python = dataclasses.replace(python, axes=python.axes[:1] + (sweep.axes[1],) + python.axes[2:])
    assert sweep.fingerprint() == python.fingerprint()  # the same sweep as built in Python (n_paths by full path)
    before = compile_count()
    assert main(["sweep", str(spec), "--out", str(tmp_path / "cli"), "--chunk-size", str(CHUNK)]) == 0
    assert compile_count() == before  # the programs of the same four structures
    capsys.readouterr()
    ds = xr.open_zarr(tmp_path / "cli" / "sweep.zarr").load()
    for name in ds.data_vars:
        np.testing.assert_array_equal(ds[name].values, stored[1][name].values, err_msg=name)
    spec.write_text(spec.read_text().replace("n_paths = [2, 3]", "n_paths = [2, 0]"))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "bad")]) == 2
    assert "n_paths=0" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_bad_static_axes_are_refused_at_construction():
    base = tiny_base()
    tau_c = make_axis("tau_c", TAU_C)

    def build(*axes, **options):
        return Sweep(base, axes, n_seeds=2, **options)

    with pytest.raises(ValueError, match=r"structure d_in=3.*Increase d_in"):
        build(StaticAxis(name="d_in", values=(4, 3)), tau_c)
    with pytest.raises(ValueError, match="n_paths=0.*must be a positive integer"):
        build(StaticAxis(name="n_paths", values=(2, 0)))
    with pytest.raises(ValueError, match="'n_paths': value 2.5 is not an integer.*give whole numbers"):
        build(StaticAxis(name="n_paths", values=(2, 2.5)))
    with pytest.raises(ValueError, match=r"dt=0.05.*dt=0.05 is too large for tau_c=0.02.*Use dt ≤"), \
            pytest.warns(ntajax.NtajaxWarning, match="dt/tau_w = 0.5"):  # τ_w = 0.1 is only at the limit: a warning
        build(StaticAxis(name="dt", values=(1e-3, 0.05)), tau_c)
    with pytest.raises(ValueError, match="dt=0.0007.*not a whole number of steps"):
        build(StaticAxis(name="dt", values=(7e-4,)))
    with pytest.raises(ValueError, match="names a traced parameter.*make_axis\\('tau_c'"):
        build(StaticAxis(name="tau_c", values=(0.02,)))
    with pytest.raises(ValueError, match="'d_in' names a static field.*StaticAxis\\(name='d_in'"):
        build(make_axis("d_in", (4, 6)))
    with pytest.raises(ValueError, match="not a static numeric field.*static fields: d_in, d_out"):
        build(StaticAxis(name="batch_size", values=(10,)))  # expected gradient: no batch size
    with pytest.raises(ValueError, match="Sweep\\(..., n_seeds=N\\)"):
        build(StaticAxis(name="n_seeds", values=(2,)))
    with pytest.raises(ValueError, match="come after the traced axis 'tau_c'.*list the static axes first"):
        build(tau_c, StaticAxis(name="d_in", values=(4, 6)))
    with pytest.raises(ValueError, match="zip static axes only with static axes"):
        build(StaticAxis(name="d_in", values=(4, 6)), make_axis("tau_w", (0.1, 0.2)), zipped=(("d_in", "tau_w"),))
    with pytest.raises(TypeError, match="value 'big' is a str; a static axis takes numbers"):
        StaticAxis(name="d_in", values=(4, "big"))
    with pytest.raises(ValueError, match="coordinate 'trace_t' differs between structures"):
        build(StaticAxis(name="n_save", values=(5, 3)), traces=("loss",))  # recording times 0.05 vs 0.1 apart
    # a sweep of static axes only: one point per structure, one chunk each
    only = build(StaticAxis(name="d_in", values=(4, 6)))
    assert (only.shape, only.n_points, only.n_chunks(5), only.chunk(1, 5)) == ((2,), 2, 2, (1, 0, slice(1, 2)))
