"""The README's Python examples run as written (in a scratch directory)."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def python_block(section: str) -> str:
    """The first ```python block under the README heading ``section``."""
    text = README.read_text()
    start = text.index(f"\n## {section}\n")
    match = re.search(r"```python\n(.*?)```", text[start:], flags=re.S)
    assert match, f"no python block under '## {section}'"
    return match.group(1)


@pytest.mark.parametrize("section", ["Quick start", "Your own student", "What a sweep keeps"])
def test_readme_example_runs(section, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(python_block(section), f"README.md ({section})", "exec"), {"__name__": "readme_example"})
    assert capsys.readouterr().out.strip()  # the examples print their results


def test_readme_sweep_toml_loads(tmp_path):
    """The TOML sweep spec of the README builds the sweep it describes (nothing is run)."""
    from ntajax._presets.sweeps import load_sweep_toml

    text = README.read_text()
    spec = tmp_path / "spec.toml"
    spec.write_text(re.search(r"```toml\n(.*?)```", text, flags=re.S).group(1))
    sweep = load_sweep_toml(str(spec))
    assert sweep.shape == (5, 5) and sweep.n_seeds == 10
    assert float(sweep.base.student.tau_w) == pytest.approx(0.1) and sweep.base.grid.t_total == 7.0
