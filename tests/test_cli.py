"""The command line as a user meets it: one-line listings, errors without tracebacks, and
``--explain`` for ``phase-diagram`` and ``figure`` (planning only: nothing is run or written)."""

import os
import re

import pytest

from ntajax._cli import main as cli
from ntajax._cli.main import main


def test_presets_and_figures_are_listed_one_line_each(capsys):
    from ntajax._presets.runs import PRESETS
    from ntajax._presets.sweeps import SWEEP_PRESETS

    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(PRESETS) + len(SWEEP_PRESETS)
    for line in lines:
        kind, name, description = line.split(None, 2)
        assert kind in ("run", "sweep") and name in (PRESETS if kind == "run" else SWEEP_PRESETS)
        assert len(description) > 20  # a description, not just the name

    assert main(["figure", "--list"]) == 0
    from ntajax._cli.figure import registered_figures

    listed = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in listed] == list(registered_figures())
    assert all(len(line.split(None, 1)[1]) > 20 for line in listed)


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["run", "fig2", "--set", "tau_c=-1"], ["tau_c=-1", "positive", "> 0"]),
        (["run", "fig2", "--set", "tau_c=fast"], ["tau_c='fast'", "float", "e.g. tau_c=0.05"]),
        (["run", "fig2", "--set", "colour=red"], ["colour", "unknown field", "Settable fields"]),
        (["run", "fig3"], ["fig3", "choose one of"]),
        (["phase-diagram", "--resolution", "1"], ["--resolution 1", "≥ 2"]),
        (["figure", "fig99"], ["fig99", "choose from"]),
    ],
)
def test_errors_name_the_field_value_and_fix_without_traceback(argv, names, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith(f"ntajax {argv[0]}: error: ")
    for name in names:
        assert name in err


def test_toml_values_are_blamed_on_the_file_not_on_set(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text('[base]\ntau_c = "fast"\n[axes]\ntau_w = [1.0, 2.0]\n')
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "[base] tau_c='fast'" in err and "--set" not in err
    assert not (tmp_path / "out").exists()


def test_unwritable_output_fails_before_simulating(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    ran = []
    monkeypatch.setattr("ntajax._presets.experiment.run_variants", lambda *a, **k: ran.append(1))
    assert main(["run", "fig2", "--out", str(blocker / "results"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert str(blocker) in err and "Check the path" in err and "Traceback" not in err
    assert ran == []


def test_interrupt_says_how_to_resume_and_bugs_keep_their_traceback(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "command_sweep", interrupted)
    assert main(["sweep", "fig5a", "--out", "unused"]) == 130
    assert "run the same command again to resume" in capsys.readouterr().err

    def bug(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "command_sweep", bug)
    with pytest.raises(ZeroDivisionError):  # not a user error: the traceback is kept
        main(["sweep", "fig5a", "--out", "unused"])

    def user_error(args):
        raise ValueError("tau_c=-1 must be positive")

    monkeypatch.setattr(cli, "command_sweep", user_error)
    monkeypatch.setenv(cli.TRACEBACK_VARIABLE, "1")
    with pytest.raises(ValueError, match="tau_c=-1"):
        main(["sweep", "fig5a", "--out", "unused"])


def _count(pattern: str, text: str) -> list[int]:
    return [int(m.replace(",", "")) for m in re.findall(pattern, text)]


def test_phase_diagram_explain_predicts_the_run_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "pd"
    argv = ["phase-diagram", "--resolution", "2", "--seeds", "2", "--no-progress", "--out", str(out)]
    assert main([*argv, "--explain"]) == 0
    plan = capsys.readouterr().out
    assert not out.exists()
    # two panels of 2 × 2 points × 2 seeds, each one chunk; refinement: 6 rounds × 2 rows × 2 seeds
    assert _count(r"(\d+) × 2 seeds = (?:\d+) runs", plan) == [4, 4]
    assert _count(r"chunks\s+(\d+) of", plan) == [1, 1]
    assert _count(r"= ([\d,]+) runs, 1 more compiled program", plan) == [24, 24]
    assert "total: 64 runs" in plan

    from ntajax._sweep.execute import compile_count

    before = compile_count()
    assert main(argv) == 0
    capsys.readouterr()
    # the run compiled the grid program once (both panels share its structure) and the probe
    # program once: within the plan's "at most 4"
    assert 1 <= compile_count() - before <= 4
    assert main([*argv, "--explain"]) == 0
    again = capsys.readouterr().out
    assert _count(r"\((\d+) points still to run\)", again) == [0, 0]


def test_figure_explain_lists_stores_to_compute_then_to_reuse(tmp_path, capsys):
    out = tmp_path / "figs"
    assert main(["figure", "fig8", "--size", "tiny", "--explain", "--out", str(out)]) == 0
    plan = capsys.readouterr().out
    assert not out.exists()
    planned = re.search(r"compute\s+fig8\s+(\S+)", plan)
    assert planned and "1 store(s) to compute" in plan
    from ntajax._cli.figure import FigureContext
    from sweeps.fig8 import variants

    configs = [v.config for v in variants(FigureContext(out=out, size="tiny")).values()]
    student_steps = sum(c.n_seeds * c.n_steps for c in configs)
    assert f"{sum(c.n_seeds for c in configs)} runs, {student_steps:,} student-steps" in plan

    assert main(["figure", "fig8", "--size", "tiny", "--no-progress", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["figure", "fig8", "--size", "tiny", "--explain", "--out", str(out)]) == 0
    again = capsys.readouterr().out
    assert re.search(r"reuse\s+fig8\s", again) and "0 store(s) to compute" in again
    assert os.path.isdir(planned.group(1))  # the real run wrote its store where the plan said


def _sweep_in_fresh_process(tmp_path, out: str, *extra: str, env_cache: str | None) -> None:
    import subprocess
    import sys

    spec = tmp_path / "tiny.toml"
    spec.write_text('[base]\nt_total = 0.2\nn_save = 11\ngradient = "expected"\n[axes]\ntau_c = [0.05, 0.1]\n'
                    '[sweep]\nn_seeds = 2\n')
    env = dict(os.environ)
    env.pop("NTAJAX_COMPILE_CACHE", None)
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    if env_cache is not None:
        env["NTAJAX_COMPILE_CACHE"] = env_cache
    proc = subprocess.run([sys.executable, "-m", "ntajax._cli.main", "sweep", str(spec), "--out", str(tmp_path / out),
                           "--no-progress", *extra], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_compilation_cache_is_on_by_default_keyed_by_host_and_reused(tmp_path):
    from ntajax._compile_cache import host_key

    _sweep_in_fresh_process(tmp_path, "first", env_cache=None)
    folders = list((tmp_path / "xdg" / "ntajax").iterdir())
    assert [f.name for f in folders] == [f"xla-{host_key()}"]
    entries = set(os.listdir(folders[0]))
    assert entries  # the sweep's programs were stored
    # a fresh process running the same sweep finds every program it needs: nothing new is stored
    _sweep_in_fresh_process(tmp_path, "second", env_cache=None)
    assert set(os.listdir(folders[0])) == entries

    # the flag wins over a folder named in the environment
    _sweep_in_fresh_process(tmp_path, "off", "--no-compile-cache", env_cache=str(tmp_path / "unused"))
    assert not (tmp_path / "unused").exists()
    assert set(os.listdir(folders[0])) == entries


def test_the_environment_moves_or_disables_the_cache(monkeypatch, tmp_path):
    from ntajax._compile_cache import cache_disabled_by_environment, default_cache_dir

    monkeypatch.setenv("NTAJAX_COMPILE_CACHE", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere" and not cache_disabled_by_environment()
    for off in ("off", "0", "False"):
        monkeypatch.setenv("NTAJAX_COMPILE_CACHE", off)
        assert cache_disabled_by_environment()
    monkeypatch.delenv("NTAJAX_COMPILE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert not cache_disabled_by_environment() and default_cache_dir().parent == tmp_path / "ntajax"


def test_host_key_changes_with_the_cpu_features(monkeypatch):
    from ntajax import _compile_cache

    monkeypatch.setattr(_compile_cache, "_cpu_flags", lambda: "avx2 fma sse4_2")
    avx2 = _compile_cache.host_key()
    monkeypatch.setattr(_compile_cache, "_cpu_flags", lambda: "avx2 avx512f fma sse4_2")
    assert _compile_cache.host_key() != avx2
    with pytest.raises(ValueError, match="min_compile_time_s"):
        _compile_cache.enable_compilation_cache(min_compile_time_s=-1)
