"""Sweep planning (``explain=True``, ``ntajax sweep --explain``): the plan predicts what the real run
then does — its compiled programs, chunks and store size — and writes nothing."""

import os

import pytest

from ntajax._cli.main import main
from ntajax._sweep.execute import compile_count, run_sweep
from ntajax._sweep.plan import SweepPlan

from test_sweep import small_sweep


def test_explain_predicts_programs_chunks_and_store_and_writes_nothing(tmp_path):
    sweep = small_sweep()  # 2 × 3 points × 3 seeds
    out = tmp_path / "s.zarr"
    plan = run_sweep(sweep, out, chunk_size=4, explain=True)
    assert isinstance(plan, SweepPlan) and not out.exists()
    assert (plan.n_points, plan.n_runs, plan.n_chunks, plan.n_pending) == (6, 18, 2, 6)
    assert plan.estimated_s > 0 and plan.compile_s >= 0 and plan.run_step_s > 0
    chunks = []
    before = compile_count()
    ds = run_sweep(sweep, out, chunk_size=4, progress=False, on_chunk=chunks.append)
    assert compile_count() - before == plan.n_programs == 1
    assert len(chunks) == plan.n_chunks
    variables = [ds[name] for name in ds.data_vars]
    assert sum(v.size * v.dtype.itemsize for v in variables) == pytest.approx(plan.store_mb * 2**20)
    # a finished store has nothing left to run, and is planned as such
    done = run_sweep(sweep, out, explain=True)
    assert (done.n_chunks, done.n_pending, done.n_programs, done.estimated_s) == (0, 0, 0, None)


def test_explain_refuses_another_sweeps_store(tmp_path):
    out = tmp_path / "s.zarr"
    run_sweep(small_sweep(tau_c=[0.02]), out, progress=False)
    with pytest.raises(ValueError, match="different sweep"):
        run_sweep(small_sweep(tau_c=[0.05]), out, explain=True)


def test_command_line_explain_prints_the_plan_and_writes_nothing(tmp_path, capsys):
    toml = tmp_path / "sweep.toml"
    toml.write_text(
        "[base.grid]\nt_total = 0.2\nn_save = 5\n[base.gradient]\ntype = \"ExpectedGradient\"\n"
        "[axes]\ntau_c = [0.02, 0.05, 0.1]\n[sweep]\nn_seeds = 2\n"
    )
    assert main(["sweep", str(toml), "--out", str(tmp_path / "out"), "--explain"]) == 0
    text = capsys.readouterr().out
    assert "3 × 2 seeds = 6 runs" in text and "1 compiled program" in text and "time" in text
    assert not os.path.exists(tmp_path / "out" / "sweep.zarr")


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("ntajax ")
