"""The documentation site builds strictly, and its tutorials really run.

One ``mkdocs build --strict`` per test session (into a temporary folder) executes every
``python exec="on"`` block of the tutorials and guide pages (markdown-exec) and renders the API
reference from the docstrings (mkdocstrings); any warning — a failing code block, a docstring
griffe cannot parse, a broken link or cross-reference — fails the build, and the test shows the
log. The built HTML must then contain what only an executed block prints (numbers, labelled
xarray output, figures), never merely the source code. Cheap checks that need no build: every
public name has a place in the API reference, and the tutorial's TOML spec describes the sweep its
text says.
"""

import html
import os
import pathlib
import re
import subprocess
import sys
import time
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BUILD_TIMEOUT_S = 600


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """Build the site once: (folder of the built site, build log, seconds)."""
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", MPLBACKEND="agg")
    start = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
    )
    elapsed = time.perf_counter() - start
    log = process.stdout + process.stderr
    problems = [line for line in log.splitlines() if re.match(r"\s*(WARNING|ERROR)\b", line)]
    if process.returncode != 0 or problems:
        pytest.fail(f"mkdocs build --strict failed (exit {process.returncode}, {len(problems)} warnings/errors) "
                    f"after {elapsed:.0f} s:\n{log}", pytrace=False)
    return out, log, elapsed


def page_text(site_dir: pathlib.Path, page: str) -> str:
    """The built HTML of a docs page (``tutorials/fig2.md`` → ``tutorials/fig2/index.html``),
    with HTML entities decoded."""
    path = site_dir / pathlib.Path(page).with_suffix("") / "index.html"
    assert path.exists(), f"{page} was not built ({path} missing)"
    return html.unescape(path.read_text())


def test_build_is_strict_and_clean(site):
    site_dir, log, elapsed = site
    assert (site_dir / "index.html").exists() and (site_dir / "api" / "simulation" / "index.html").exists()
    assert "Aborted" not in log
    print(f"mkdocs build --strict: {elapsed:.1f} s")


# an inline figure drawn at build time (the theme's icons are inline SVG too, without this metadata)
MATPLOTLIB_SVG = r"<svg[^>]*>(?:(?!</svg>).)*Matplotlib v\d"

# What only an executed block can print: each pattern matches the output, not the source shown
# above it (the source has the f-string templates and names, the output numbers and xarray reprs).
EXECUTED = {
    "tutorials/fig2.md": [
        r"<xarray\.Dataset>",                                   # the store opened with xarray
        r"Dimensions:\s+\(variant: 2, seed: 5, block: 20",      # flexible and forgetful × 5 seeds × 20 blocks
        r"final_alignment\s+gate_separation\s+adaptation first/last block",  # the printed table's header
        MATPLOTLIB_SVG,                                         # the figure
    ],
    "tutorials/phase_diagram.md": [
        r"30 points \(5 × 6\) × 4 seeds",
        r"\binterrupted\s+12 of 30 points were stored before the interruption",  # 2 chunks of 6 points
        r"resumed: computed chunks \[2, 3, 4\]; the store is complete: True",
        r"<xarray\.DataArray 'final_alignment' \(block_over_tau_w: 5, tau_ratio: 6\)",
        r"cluster store complete: True; identical to the local store: True",
        MATPLOTLIB_SVG,
    ],
    "tutorials/own_student.md": [
        r"\[\s*\d\.\d+\s+\d\.\d+\s*\]",                          # the learned gain g of each of 2 seeds
        r"<xarray\.DataArray 'final_alignment' \(tau_g: 3\)",
    ],
    "tutorials/gradients.md": [
        r"relative difference \d\.\de-1[0-9]",                 # exact vs central difference, float64
        r"\(gain \+0\.\d{4}\)",                                # the optimised schedule beats the best constant
    ],
    "guide/sweeps.md": [
        r"<xarray\.DataArray 'peak_loss' \(tau_c: 3\)",          # the reducer example of 'What a sweep keeps'
    ],
}


@pytest.mark.parametrize("page", sorted(EXECUTED))
def test_executed_blocks_ran(site, page):
    text = page_text(site[0], page)
    assert "Traceback (most recent call last)" not in text, f"{page}: a code block raised"
    for pattern in EXECUTED[page]:
        assert re.search(pattern, text, flags=re.S), f"{page}: no output matching {pattern!r}: the block did not run"


def test_executed_tutorials_show_real_numbers(site):
    """The printed Fig. 2 table and phase diagram carry the phenomenon, not placeholders: the
    flexible student specialises (A_tot ≥ 0.95 and faster adaptation), the forgetful one does not."""
    text = page_text(site[0], "tutorials/fig2.md")
    flexible = re.search(r"flexible\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)", text)
    forgetful = re.search(r"forgetful\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)", text)
    assert flexible and forgetful, "the Fig. 2 table was not printed"
    assert float(flexible[1]) >= 0.95 and float(forgetful[1]) < 0.9
    assert float(flexible[3]) > 5 * float(forgetful[3])       # adaptation first/last block
    assert int(flexible[5]) == 0 and int(forgetful[5]) == 0   # no diverged seeds


def test_every_public_name_has_a_place_in_the_api_reference():
    """Each name of ``ntajax.__all__`` is rendered by a ``::: ntajax.NAME`` directive on one of the
    API pages (a new public class goes onto the page of its family)."""
    import ntajax

    documented = set()
    for page in (DOCS / "api").glob("*.md"):
        documented |= set(re.findall(r"^::: ntajax\.(\w+)\s*$", page.read_text(), flags=re.M))
    missing = sorted(set(ntajax.__all__) - documented - {"__version__"})
    assert not missing, f"public names without an API entry: {missing}; add '::: ntajax.NAME' to a page in docs/api/"
    unknown = sorted(documented - set(ntajax.__all__))
    assert not unknown, f"API entries for names that ntajax does not export: {unknown}"


def test_tutorial_spec_describes_its_sweep():
    """docs/tutorials/phase.toml (shown and run by the phase-diagram tutorial) builds the sweep the
    tutorial's text describes, value for value against the TOML file itself."""
    import ntajax

    path = DOCS / "tutorials" / "phase.toml"
    raw = tomllib.loads(path.read_text())
    sweep = ntajax.load_sweep_toml(str(path))
    assert sweep.shape == (len(raw["axes"]["block_over_tau_w"]), len(raw["axes"]["tau_ratio"])) == (5, 6)
    assert sweep.n_seeds == raw["sweep"]["n_seeds"] == 4
    assert [a.name for a in sweep.axes] == ["block_over_tau_w", "tau_ratio"]
    assert [float(v) for v in sweep.axes[1].values] == [float(v) for v in raw["axes"]["tau_ratio"]]
    base = sweep.base
    assert float(base.student.tau_w) == pytest.approx(raw["base"]["tau_w"])
    assert float(base.regulariser.lambda_nonneg) == pytest.approx(raw["base"]["lambda_nonneg"]) == 0.5
    assert float(base.regulariser.lambda_norm) == pytest.approx(raw["base"]["lambda_norm"]) == 2.5
    assert base.grid.t_total == raw["base"]["grid"]["t_total"] == 7.0 and base.grid.dt == pytest.approx(1e-3)
    assert isinstance(base.gradient, ntajax.ExpectedGradient) and isinstance(base.engine, ntajax.SubspaceScan)
    assert (base.d_in, base.d_out, base.n_teachers, base.student.n_paths) == (20, 10, 2, 2)  # the Fig. 5 base


def test_snippets_and_links_point_at_existing_files():
    """Every ``--8<--`` include of the docs names an existing file (and section), and every relative
    link of the docs pages points at an existing page (mkdocs checks these too; this needs no build)."""
    for page in DOCS.rglob("*.md"):
        text = page.read_text()
        for target in re.findall(r'^--8<-- "([^"]+)"', text, flags=re.M):
            name, _, section = target.partition(":")
            included = ROOT / name
            assert included.exists(), f"{page}: includes missing {name}"
            if section and not section[0].isdigit():
                assert f"[start:{section}]" in included.read_text(), f"{page}: {name} has no section {section!r}"
        for link in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", text):
            assert (page.parent / link).resolve().exists(), f"{page}: broken link {link}"


def _load_extension(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"docs_griffe_{name}", DOCS / "_griffe" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_equinox_signatures_match_the_runtime_ones():
    """The API reference's signature of every public Equinox class (built statically by
    docs/_griffe/equinox_fields.py) lists the parameters, in order, that the class's runtime
    ``__init__`` (made by Equinox's dataclass machinery) takes."""
    import inspect

    import equinox as eqx
    import griffe

    import ntajax

    extensions = griffe.load_extensions(
        f"{DOCS / '_griffe' / 'lazy_exports.py'}:LazyExports", f"{DOCS / '_griffe' / 'equinox_fields.py'}:EquinoxFields")
    package = griffe.load("ntajax", search_paths=[str(ROOT)], extensions=extensions)
    checked = 0
    for name in ntajax.__all__:
        obj = getattr(ntajax, name)
        if not (isinstance(obj, type) and issubclass(obj, eqx.Module)):
            continue
        static = package[name].final_target
        if "equinox-module" not in static.labels:
            continue  # a hand-written __init__: griffe reads it as written
        runtime = [p.name for p in inspect.signature(obj).parameters.values()]
        documented = [p.name for p in static.members["__init__"].parameters if p.name != "self"]
        assert documented == runtime, f"ntajax.{name}: documented {documented}, runtime {runtime}"
        checked += 1
    assert checked >= 40


def test_docstring_rewriting():
    """Sphinx roles become optional cross-references, ``::`` a colon, and an argument entry naming
    several parameters one entry per parameter; other sections are left alone."""
    rewrite = _load_extension("sphinx_roles").rewrite
    text = ("Run it (:func:`ntajax.run`, :class:`~ntajax._sweep.sweep.Sweep`). Example::\n\n    x = 1\n\n"
            "Args:\n    d_in, d_out: sizes\n        (static).\n    key: a key.\n\nReturns:\n    a, b: kept as is.")
    assert rewrite(text) == (
        'Run it (<autoref identifier="ntajax.run" optional><code>ntajax.run</code></autoref>, '
        '<autoref identifier="ntajax._sweep.sweep.Sweep" optional><code>Sweep</code></autoref>). Example:\n\n'
        "    x = 1\n\nArgs:\n    d_in: sizes\n        (static).\n    d_out: sizes\n        (static).\n    key: a key.\n\n"
        "Returns:\n    a, b: kept as is.")
