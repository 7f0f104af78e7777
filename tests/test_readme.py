"""The README's quick start runs as written (in a scratch directory), and its links resolve.

The README stays short (the two commands, a quick start, the figure table, links). The longer
examples that it used to carry now live on the documentation site, where the build executes them
and ``tests/test_docs.py`` checks their output: "Your own student" is the tutorial
``docs/tutorials/own_student.md``, "What a sweep keeps" runs in ``docs/guide/sweeps.md``, and the
TOML sweep spec is ``docs/tutorials/phase.toml`` (``test_tutorial_spec_describes_its_sweep``).
"""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def python_block(section: str) -> str:
    """The first ```python block under the README heading ``section``."""
    text = README.read_text()
    start = text.index(f"\n## {section}\n")
    match = re.search(r"```python\n(.*?)```", text[start:], flags=re.S)
    assert match, f"no python block under '## {section}'"
    return match.group(1)


@pytest.mark.parametrize("section", ["Quick start"])
def test_readme_example_runs(section, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(python_block(section), f"README.md ({section})", "exec"), {"__name__": "readme_example"})
    assert capsys.readouterr().out.strip()  # the examples print their results


def test_readme_starts_with_the_two_commands():
    """The first lines are the install + phase-diagram command and the install + test command."""
    lines = README.read_text().splitlines()
    assert lines[2:6] == [
        "```bash",
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/ntajax phase-diagram",
        'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/pytest',
        "```",
    ]


def test_readme_links_resolve():
    """Every relative link of the README points at an existing file (the docs pages)."""
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README.read_text())
    assert any(link.startswith("docs/") for link in links)
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, f"README links to missing files: {missing}"
