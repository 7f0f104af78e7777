"""The recurrent-network analysis figures (rnn-representations, rnn-attractors) at tiny size.

Each figure's stores are computed once (through its registry entry) and drawn; the tests check
what holds at any training length, against facts that do not come from the figure code: the FTV
histograms recount the stored FTV values, FTV lies in [−1, 1] and the normalised profiles peak at
1; an ungated network's gates stay at 1, and at tiny size (100 steps, blocks of 200) only the
first task has been trained, so the networks "in" the other tasks are the initial network (gates
at gate_init = 0.5, identical task variance across those tasks); attractor counts and fractions are
consistent (shared ≤ used ≤ found), the PCA's explained fractions decrease and sum to at most 1,
and the unstable-eigenvalue counts are integers in [0, N]. The ``ntajax figure`` command then
reuses the stores and draws again.
"""

import numpy as np
import pytest
from conftest import tiny_figures

from ntajax._cli.main import main

pytestmark = pytest.mark.slow  # trains 6 small RNNs (about a minute of CPU in all)

NAMES = {"rnn-representations": "rnn_representations", "rnn-attractors": "rnn_attractors"}


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("rnnanalysisfigs")


@pytest.fixture(scope="module")
def tiny(out_dir):
    return tiny_figures(out_dir)


@pytest.mark.parametrize("name", list(NAMES))
def test_figure_writes_png_and_pdf(name, tiny):
    module, ctx, data = tiny(name)
    files = module.plot(data, ctx)
    png = next(f for f in files if f.suffix == ".png")
    assert png.stat().st_size > 10_000 and next(f for f in files if f.suffix == ".pdf").read_bytes()[:4] == b"%PDF"
    assert isinstance(module.headline(data), str) and module.headline(data)


def test_representation_store_is_consistent(tiny):
    module, _, data = tiny("rnn-representations")
    ds = data["representations"]
    ftv = ds["ftv"].values
    finite = np.isfinite(ftv)
    assert finite.any() and np.all(np.abs(ftv[finite]) <= 1 + 1e-6)
    recount = [[np.histogram(ftv[v, :, p][np.isfinite(ftv[v, :, p])], module.FTV_BINS)[0] for p in range(ds.sizes["pair"])]
               for v in range(ds.sizes["variant"])]
    np.testing.assert_array_equal(ds["ftv_histogram"].values, np.asarray(recount))
    profiles = ds["profile"].values
    active = ds["clustered"].values.astype(bool)
    np.testing.assert_allclose(profiles.max(-1)[active], 1.0, rtol=1e-6)
    gates = ds["gates"]
    for name in ("ungated, blocked", "ungated, interleaved + cue"):
        np.testing.assert_array_equal(gates.sel(variant=name, module=0).values, 1.0)
    # 100 steps with blocks of 200 steps: only task 0 was trained, the others hold the initial network
    nta = gates.sel(variant="NTA gated, blocked").values  # (seed, task, module)
    np.testing.assert_array_equal(nta[:, 1:], 0.5)
    assert not np.allclose(nta[:, 0], 0.5)
    tv = ds["task_variance"].sel(variant="NTA gated, blocked").values  # (seed, task, unit)
    assert np.all(ds["n_clusters"].values >= 1) and tv.shape[1] == 4


def test_attractor_store_is_consistent(tiny):
    _, _, data = tiny("rnn-attractors")
    ds = data["attractors"]
    assert np.all((ds["accuracy"].values >= 0) & (ds["accuracy"].values <= 1)) and np.all(ds["f_ratio"].values >= 0)
    found, used, shared = (ds[f].values for f in ("n_stable", "n_used", "n_shared"))
    assert np.all(found >= 1) and np.all(shared <= used) and np.all(used <= found)
    eigen = ds["unstable_eigenvalues"].values
    assert np.all(eigen == np.round(eigen)) and np.all((eigen >= 0) & (eigen <= 16))
    explained = ds["explained"].values
    assert np.all(np.diff(explained, axis=-1) <= 1e-6) and np.all(explained.sum(-1) <= 1 + 1e-6)
    category = ds["fp_category"].values
    assert set(np.unique(category)) <= {-1, 0, 1, 2, 3}
    assert np.all(np.sum(category >= 0, axis=1) == found[:, 0])  # every point of seed 0 is drawn


@pytest.mark.parametrize("name", list(NAMES))
def test_cli_reuses_the_stores(name, tiny, out_dir, capsys):
    tiny(name)  # stores computed in out_dir
    stores = sorted(p.name for p in (out_dir / "data").iterdir())
    assert main(["figure", name, "--size", "tiny", "--no-progress", "--out", str(out_dir)]) == 0
    assert sorted(p.name for p in (out_dir / "data").iterdir()) == stores  # reused, none added
    stems = {p.stem for p in out_dir.glob(f"{NAMES[name]}.*")}
    assert stems == {NAMES[name]}
    assert capsys.readouterr().out
