"""Gated-student figures (Fig. 2, 5, 8, A2, A3, A13) and the ``ntajax figure`` command.

Every script runs at tiny size and writes a PNG and a PDF; where the paper makes a claim that
already holds at a small size, it is checked against an independent reference (theory, the
teacher construction) or as the stated qualitative ordering.
"""

import numpy as np
import pytest
from conftest import tiny_figures

from ntajax._cli.figure import FigureContext, load_figure, make_figure
from ntajax._cli.main import main

PNG_MIN_BYTES = 10_000


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("gatedfigs")


@pytest.fixture(scope="module")
def tiny(out_dir):
    return tiny_figures(out_dir)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fig2", "fig5", "fig8", "a2", "a3", "a13"])
def test_figure_writes_png_and_pdf(name, tiny):
    module, ctx, data = tiny(name)
    files = module.plot(data, ctx)
    png = next(f for f in files if f.suffix == ".png")
    pdf = next(f for f in files if f.suffix == ".pdf")
    assert png.stat().st_size > PNG_MIN_BYTES and pdf.read_bytes()[:4] == b"%PDF"
    assert isinstance(module.headline(data), str) and module.headline(data)


def test_stores_are_reused_not_recomputed(out_dir, monkeypatch):
    """A second ``make_figure`` finds the content-addressed store and does not simulate again:
    during it, any request to compute a store raises."""
    ctx = FigureContext(out=out_dir / "reuse", size="tiny", progress=False)
    first = make_figure("a13", ctx)
    stores = sorted(p.name for p in ctx.data_dir.iterdir())
    assert stores
    original = FigureContext.cached

    def refuse_to_compute(self, name, description, compute):
        def recompute():
            raise AssertionError(f"store {name!r} was recomputed instead of reused")

        return original(self, name, description, recompute)

    monkeypatch.setattr(FigureContext, "cached", refuse_to_compute)
    second = make_figure("a13", ctx)
    assert sorted(p.name for p in ctx.data_dir.iterdir()) == stores
    assert second.headline == first.headline


@pytest.mark.slow
def test_fig8_switch_cost_falls_with_training_only_when_flexible(tiny):
    """Fig. 8's claim: the loss right after a switch shrinks over blocks for the flexible model."""
    module, _, data = tiny("fig8")
    flexible = np.nanmean(module.post_switch(data["runs"], "flexible")[:, :, 0], axis=0)
    forgetful = np.nanmean(module.post_switch(data["runs"], "forgetful")[:, :, 0], axis=0)
    assert flexible[-1] < 0.7 * flexible[0]
    assert forgetful[-1] > 0.85 * forgetful[0]


@pytest.mark.slow
def test_fig5_regulariser_and_block_length_make_the_flexible_regime(tiny):
    """Panel b: λ = 0 stays forgetful (A_tot ≈ ½); regularised gates with long blocks specialise,
    and more than with the quasi-interleaved blocks τ_B = τ_w (FIGURES.md Fig. 5 expectations)."""
    _, _, data = tiny("fig5")
    ds = data["fig5b"]
    mean = ds["final_alignment"].mean("seed")
    assert float(mean.sel(**{"lambda": 0.0}).max()) < 0.6
    strong = mean.sel(**{"lambda": 0.2})
    assert float(strong.sel(block_over_tau_w=[4.0, 6.0, 8.0, 10.0]).min()) > 0.9
    assert float(strong.sel(block_over_tau_w=1.0)) < float(strong.sel(block_over_tau_w=4.0))
    for panel in ("dense_a", "dense_b"):
        assert "boundary" in data[panel] and data[panel]["boundary"].shape == (data[panel].sizes["block_over_tau_w"],)


@pytest.mark.slow
def test_a2_peak_gate_speed_follows_the_summed_singular_values():
    """τ_c·max|ċ| ≈ Σ_α s_α² of the switched-on module (MODEL §7.8), for two teacher ranks."""
    from sweeps.a2 import simulate

    ds = simulate(grid=(2, 8), t_total=20.0, n_seeds=1, seed=0)
    ratio = ds["peak_gate_speed"].values[:, 0] / ds["teacher_sv_sum_sq"].values
    assert np.all((ratio > 0.75) & (ratio < 1.3))
    # the student's path norm approaches the teacher's Σ s² = r
    np.testing.assert_allclose(ds["path_norm_sq"].values[:, 0], ds["teacher_sv_sum_sq"].values, rtol=0.25)


@pytest.mark.slow
def test_a3_column_penalty_shrinks_the_unused_paths(tiny):
    """The W column penalty (a group lasso, MODEL §4.2) leaves the least-used path smaller than
    without it, seed by seed (common random numbers)."""
    _, _, data = tiny("a3")
    norms = data["runs"]["path_norms"].isel(t=-1)  # (variant, seed, path)
    smallest = norms.min("path")
    assert np.all(smallest.sel(variant="W penalty").values < smallest.sel(variant="no W penalty").values)


def test_a13_overlap_and_adaptation_speed(tiny):
    """The realised row overlap of the seeded correlated teachers is ≈ ξ (MODEL §3.5); identical
    teachers (ξ = 1) cannot be told apart (specialisation 0); the loss moves more slowly after a
    switch when the teachers overlap more."""
    _, _, data = tiny("a13")
    ds = data["a13"]
    np.testing.assert_allclose(ds["realised_overlap"].mean("seed").values, ds["xi"].values, atol=0.06)
    assert np.all(ds["specialisation"].sel(xi=1.0).values < 1e-6)
    speed = ds["adaptation_speed"].mean("seed").values
    assert np.all(np.diff(speed) < 0)


def test_figure_cli_lists_and_rejects(capsys):
    assert main(["figure", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in ("fig2", "fig5", "a16", "baselines"):
        assert name in listed
    assert main(["figure", "no_such_figure", "--size", "tiny"]) == 2
    assert "unknown figure" in capsys.readouterr().err


def test_every_registered_figure_resolves_without_drawing():
    """Each registry entry names an importable plotting module with a title, ``plot`` and
    ``headline``, and a ``compute`` that exists; nothing is computed or drawn. The per-script
    boilerplate is gone: no plotting or sweep module has a ``main``."""
    import importlib

    from ntajax._cli.figure import Figure, registered_figures

    registry = registered_figures()
    assert {"fig2", "fig7", "a8", "a16", "baselines", "representations"} <= set(registry)
    for name, entry in registry.items():
        assert isinstance(entry, Figure)
        assert load_figure(name) is entry
        assert isinstance(entry.title, str) and entry.title
        assert callable(entry.module.plot) and callable(entry.module.headline)
        assert callable(entry.compute_function)
        assert not hasattr(entry.module, "main")
        if entry.source is not None:  # the store module's compute, not a pass-through in the script
            assert not hasattr(entry.module, "compute")
            assert not hasattr(importlib.import_module(entry.source.partition(":")[0]), "main")
    assert registry["a8"].source is None and registry["a8"].compute_function is registry["a8"].module.compute
    assert registry["fig3"].compute_function is registry["a12"].compute_function  # shared stores


def test_figure_entries_are_lazy_and_their_errors_clear():
    from ntajax._cli.figure import Figure

    entry = Figure("figures.no_such_script", compute="sweeps.no_such_sweep:compute")
    assert entry == Figure("figures.no_such_script", compute="sweeps.no_such_sweep:compute")  # nothing imported
    assert repr(entry) == "Figure('figures.no_such_script', compute='sweeps.no_such_sweep:compute')"
    with pytest.raises(ValueError, match="figures.no_such_script is missing"):
        entry.title
    with pytest.raises(ValueError, match="sweeps.no_such_sweep is missing"):
        entry.compute_function
    with pytest.raises(ValueError, match="has no nothing_here"):
        Figure("figures.a8", compute="sweeps.a2:nothing_here").compute_function
    with pytest.raises(ValueError, match="'module:function'"):
        Figure("figures.a8", compute="sweeps.a2")
    with pytest.raises(ValueError, match="dotted module name"):
        Figure("figures.a8:plot")


def test_python_m_figures_and_sweeps_run_in_a_subprocess(tmp_path):
    """``python -m figures --list``, ``python -m figures a8 --size tiny`` (draws) and ``python -m
    sweeps a8 --size tiny`` (stores only, reusing the store just written)."""
    import subprocess
    import sys

    def run(*args):
        done = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = run("figures", "--list")
    for name in ("fig2", "a8", "representations"):
        assert name in listed
    out = tmp_path / "a8"
    drawn = run("figures", "a8", "--size", "tiny", "--out", str(out), "--no-progress")
    assert drawn.startswith("a8: gate-learning share")
    assert (out / "a8.png").stat().st_size > PNG_MIN_BYTES and (out / "a8.pdf").read_bytes()[:4] == b"%PDF"
    stores = sorted(p.name for p in (out / "data").iterdir())
    computed = run("sweeps", "a8", "--size", "tiny", "--out", str(out), "--no-progress")
    assert computed.startswith("a8/ntk:")
    assert sorted(p.name for p in (out / "data").iterdir()) == stores
    assert sorted(p.name for p in out.iterdir()) == ["a8.pdf", "a8.png", "data"]
    failed = subprocess.run([sys.executable, "-m", "sweeps", "no_such_figure"], capture_output=True, text=True, timeout=300)
    assert failed.returncode == 2 and "unknown figure 'no_such_figure'" in failed.stderr
