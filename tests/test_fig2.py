"""Fig. 2 end to end: the CLI writes a valid store and figure; the paper's result holds."""

import json

import jax
import numpy as np
import pytest
import xarray as xr

import ntajax
from ntajax._presets.runs import fig2
from ntajax._cli.main import main


def test_cli_run_writes_store_and_png(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", "fig2", "--set", "t_total=2", "--set", "n_save=101", "--set", "n_seeds=2",
                 "--set", "gradient=expected", "--out", str(out), "--no-progress"])
    assert code == 0
    ds = xr.open_zarr(out / "results.zarr")
    assert list(ds["variant"].values) == ["flexible", "forgetful"]
    for name in ("loss", "gates", "alignment", "adaptation_time", "context", "similarity", "assignment"):
        assert name in ds
    assert ds.sizes["seed"] == 2 and ds.sizes["t"] == 101 and ds.sizes["block"] == 2
    assert ds["t"].values[-1] == pytest.approx(2.0)
    configs = json.loads(ds.attrs["config"])
    assert configs["flexible"]["student"]["tau_c"] == pytest.approx(0.03)
    assert configs["forgetful"]["student"]["tau_c"] == pytest.approx(1.3)
    assert ds.attrs["seed"] == 0  # the root seed of the run is recorded
    assert ds.attrs["jax_version"] == jax.__version__ and "cpu" in ds.attrs["device"]
    assert (out / "summary.png").stat().st_size > 10_000
    printed = capsys.readouterr().out
    line = next(l for l in printed.splitlines() if l.startswith("flexible "))
    final = ds["final_alignment"].sel(variant="flexible").values
    half = 12.706204736174698 * final.std(ddof=1) / np.sqrt(2)  # t_{0.975, 1}: two seeds
    assert f"{final.mean():.3f} ± {final.std(ddof=1) / np.sqrt(2):.3f}" in line and "(2/2)" in line
    assert f"[{final.mean() - half:.3f}, {final.mean() + half:.3f}]" in line


def _fig2_result(mode: str):
    results = {}
    for name, variant in fig2().items():
        grid = variant.config.grid
        config = {
            "sampled": lambda c: c,
            "expected": lambda c: c.replace(gradient=ntajax.ExpectedGradient()),
            "diffrax": lambda c: c.replace(gradient=ntajax.ExpectedGradient(), engine=ntajax.Diffrax(), n_seeds=2,
                                           grid=grid.replace(n_save=1001)),
        }[mode](variant.config)
        trajectory = ntajax.run(config, jax.random.key(0))
        results[name] = (config, trajectory, ntajax.summarise(config, trajectory))
    return results


def _check_paper_claims(results, min_specialised: float = 1.0):
    """The paper's Fig. 2 claims on the seeds that specialise, and on at least ``min_specialised``
    of all seeds.

    In sampled mode a few seeds do not specialise within the 20 blocks (3 of 50 with key 0: their
    paths start too similar for the minibatch noise to break the symmetry in time; ntajax's
    classifier labels them forgetful), so the seed *mean* adaptation ratio falls to ~8 whenever
    one of them is among the 10 — while the median stays ~16. The claims are therefore checked
    per seed and on the median, with at least 80 % of seeds required to specialise in sampled mode.
    """
    flex_cfg, flex_tr, flex = results["flexible"]
    _, _, forg = results["forgetful"]
    a_flex = np.asarray(flex.adaptation_time)
    a_forg = np.nanmean(np.asarray(forg.adaptation_time), axis=0)
    ratio = a_flex[:, :2].mean(axis=1) / a_flex[:, -2:].mean(axis=1)  # per seed
    specialised = np.asarray(flex.regime) == 1
    assert specialised.mean() >= min_specialised
    # flexible adaptation falls by ≥ 10× from the first blocks to the last; forgetful plateaus
    assert np.median(ratio) >= 10 and np.all(ratio[specialised] >= 10)
    assert np.mean(a_forg[:2]) / np.mean(a_forg[-2:]) < 3
    # flexible gates end one-hot and alternate with the task
    assert np.all(np.asarray(flex.gate_separation)[specialised] > 0.9)
    gates = np.asarray(flex_tr.gates)  # (seed, T, P)
    pi = np.asarray(flex.assignment)
    t = np.asarray(flex_tr.t[0])
    last_a = np.searchsorted(t, 19.0 - 1e-6) - 1  # last record of the last A block [18, 19)
    last_b = len(t) - 1  # the final record closes the last B block [19, 20)
    for s in np.flatnonzero(specialised):
        assert gates[s, last_a, pi[s, 0]] > 0.9 and gates[s, last_a, pi[s, 1]] < 0.1
        assert gates[s, last_b, pi[s, 1]] > 0.9 and gates[s, last_b, pi[s, 0]] < 0.1
    # matched alignment > 0.99 (every specialised seed), mismatched < 0.1 (seed mean, as plotted)
    sim = np.asarray(flex_tr.similarity[:, -1])  # (seed, M, P)
    matched = np.stack([sim[s, [0, 1], pi[s]] for s in range(sim.shape[0])])
    mismatched = np.stack([sim[s, [0, 1], pi[s][::-1]] for s in range(sim.shape[0])])
    assert np.all(matched[specialised] > 0.99)
    assert np.all(np.abs(mismatched[specialised].mean(axis=0)) < 0.1)
    assert np.all(np.asarray(forg.regime) == 0)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sampled", "expected", "diffrax"])
def test_fig2_reproduces_the_paper(mode):
    """Acceptance: the paper's Fig. 2 picture in sampled (paper), expected and ODE dynamics."""
    _check_paper_claims(_fig2_result(mode), min_specialised=0.8 if mode == "sampled" else 1.0)


@pytest.mark.slow
def test_fig2_sampled_specialisation_rate_over_50_seeds():
    """How often a sampled Fig. 2 seed specialises within the 20 blocks (the reason the acceptance
    test above counts seeds): ≥ 85 % of 50 seeds (47 of 50 with key 0), each of them with a ≥ 10×
    fall of the adaptation time, and the median fall ≥ 10×."""
    flexible = fig2()["flexible"].config
    config = flexible.replace(grid=flexible.grid.replace(n_save=2001), n_seeds=50)
    summary = ntajax.summarise(config, ntajax.run(config, jax.random.key(0)))
    a = np.asarray(summary.adaptation_time)
    ratio = a[:, :2].mean(axis=1) / a[:, -2:].mean(axis=1)
    specialised = np.asarray(summary.regime) == 1
    assert specialised.mean() >= 0.85
    assert np.all(ratio[specialised] >= 10) and np.median(ratio) >= 10
