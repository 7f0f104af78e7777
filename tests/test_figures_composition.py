"""Fig. 3, A12, A14: row-matching views against independent references, the figure scripts at tiny
size, and the paper's qualitative claims about composition where they hold."""

import itertools

import jax
import numpy as np
import pytest
from conftest import check_figure_files

from ntajax import metrics
from ntajax._cli.figure import FigureContext, load_figure, make_figure
from ntajax._teachers.matrices import orthogonal_teachers
from ntajax.metrics import _rows


# ----------------------------------------------------------------------- row matching (MODEL §7.9)
def _np_rowcos(teachers, rows):
    """rowcos[k, i] = cos(teacher row k, student row i), by explicit loops."""
    flat = np.asarray(teachers, dtype=np.float64).reshape(-1, teachers.shape[-1])
    rows = np.asarray(rows, dtype=np.float64)
    out = np.zeros((flat.shape[0], rows.shape[0]))
    for k in range(flat.shape[0]):
        for i in range(rows.shape[0]):
            out[k, i] = flat[k] @ rows[i] / (np.linalg.norm(flat[k]) * np.linalg.norm(rows[i]))
    return out


def test_row_cosines_match_explicit_loops():
    rng = np.random.default_rng(0)
    teachers = rng.normal(size=(3, 4, 7))
    rows = rng.normal(size=(5, 12, 7))  # (T, rows, d_in)
    got = np.asarray(_rows.row_cosines(teachers, rows))
    assert got.shape == (5, 12, 12)
    for t in range(5):
        np.testing.assert_allclose(got[t], _np_rowcos(teachers, rows[t]), atol=1e-5)


def test_row_matching_recovers_a_planted_permutation():
    """Student rows are a scrambled, positively rescaled, noisy copy of the teacher rows over time:
    the matching on the time-mean signed cosine must return exactly the planted permutation."""
    rng = np.random.default_rng(1)
    teachers = np.asarray(orthogonal_teachers(key=jax.random.key(3), n_teachers=3, d_out=6, d_in=20, scale=0.2))
    flat = teachers.reshape(18, 20)
    planted = rng.permutation(18)  # teacher row k lives in student row planted[k]
    T = 40
    rows = np.zeros((T, 18, 20))
    for t in range(T):
        rows[t, planted] = flat * rng.uniform(0.5, 2.0, size=(18, 1)) + 0.05 * rng.normal(size=(18, 20))
    match = metrics.row_matching(np.asarray(_rows.row_cosines(teachers, rows)).mean(axis=0))
    assert sorted(match.tolist()) == list(range(18))  # a permutation
    np.testing.assert_array_equal(match, planted)


def test_row_matching_is_the_optimal_assignment_not_an_argmax():
    """A matrix on which the independent argmax per teacher row picks one student row twice: the
    matching is still a permutation and attains the brute-force optimum of the signed sum."""
    s = np.array([[0.90, 0.80, 0.10, 0.0],
                  [0.95, 0.20, 0.10, 0.0],
                  [0.10, 0.30, 0.60, -0.9],
                  [-0.5, 0.20, 0.55, 0.5]])
    assert len(set(np.argmax(s, axis=1).tolist())) < 4  # the original's choice collides
    match = metrics.row_matching(s)
    assert sorted(match.tolist()) == [0, 1, 2, 3]
    best = max(sum(s[k, p[k]] for k in range(4)) for p in itertools.permutations(range(4)))
    assert sum(s[k, match[k]] for k in range(4)) == pytest.approx(best)


def test_sorted_views_and_alignment_against_numpy():
    rng = np.random.default_rng(2)
    M, d_out, d_in, hidden, T = 2, 3, 8, 6, 4
    teachers = rng.normal(size=(M, d_out, d_in))
    rows = rng.normal(size=(T, hidden, d_in))
    w2 = rng.normal(size=(T, d_out, hidden))
    match = rng.permutation(hidden)[: M * d_out]
    blocks = np.asarray(_rows.sorted_rows(rows, match, M))
    w2_sorted = np.asarray(_rows.sorted_second_layer(w2, match, M))
    for m in range(M):
        for r in range(d_out):
            np.testing.assert_allclose(blocks[:, m, r], rows[:, match[m * d_out + r]], atol=1e-6)
            np.testing.assert_allclose(w2_sorted[:, m, :, r], w2[:, :, match[m * d_out + r]], atol=1e-6)
    np.testing.assert_allclose(np.asarray(_rows.second_layer_block_means(w2, match, M)), w2_sorted.mean(axis=(-2, -1)),
                               atol=1e-6)
    rowcos = np.stack([_np_rowcos(teachers, rows[t]) for t in range(T)])
    alignment = np.asarray(_rows.matched_row_alignment(rowcos, match))
    sim = np.asarray(_rows.sorted_similarity(teachers, blocks))
    for t in range(T):
        # A_tot = cos_row of the stacked teachers against the stacked sorted blocks (MODEL §7.5)
        stacked = float(metrics.row_cosine(teachers.reshape(-1, d_in), blocks[t].reshape(-1, d_in)))
        assert alignment[t] == pytest.approx(stacked, abs=1e-5)
        for m in range(M):
            for n in range(M):
                expected = np.mean([_np_rowcos(teachers[m][r:r + 1], blocks[t, n, r:r + 1])[0, 0] for r in range(d_out)])
                assert sim[t, m, n] == pytest.approx(expected, abs=1e-5)


def test_matched_gates_and_same_output_fraction():
    P, d_out = 3, 4
    gates = np.arange(2 * P * d_out, dtype=float).reshape(2, P * d_out)  # entry i = p·d_out + r
    match = np.array([4, 2, 10, 7, 1, 5, 3, 11])  # M = 2 teachers × d_out rows; own output at k = 0, 2, 3, 5, 7
    picked = np.asarray(_rows.matched_gates(gates, match, 2))
    np.testing.assert_array_equal(picked, gates[:, match].reshape(2, 2, d_out))
    # output index of student row i is i % d_out; teacher row k has output k % d_out
    own = np.mean([match[k] % d_out == k % d_out for k in range(len(match))])
    assert float(metrics.same_output_fraction(match, d_out)) == pytest.approx(own)
    assert own == pytest.approx(5 / 8)


# ----------------------------------------------------------------------- figure scripts, tiny size
@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return FigureContext(out=tmp_path_factory.mktemp("composition"), size="tiny", progress=False)


@pytest.fixture(scope="module")
def composition_data(ctx):
    from sweeps import composition

    return composition.compute(ctx)


@pytest.fixture(scope="module")
def a14_data(ctx):
    from sweeps import a14

    return a14.compute(ctx)




@pytest.mark.slow
@pytest.mark.parametrize("name", ["fig3", "a12"])
def test_composition_figures_write_png_and_pdf(ctx, composition_data, name):
    check_figure_files(make_figure(name, ctx), [name])


@pytest.mark.slow
def test_a14_figure_writes_png_and_pdf(ctx, a14_data):
    check_figure_files(make_figure("a14", ctx), ["a14"])


class _Recomputed(Exception):
    """Raised by the patched simulation entry point: a store was recomputed instead of read."""


def _forbid_simulation(monkeypatch):
    """Make every variant simulation behind the sweeps' stores raise (``variants_dataset`` runs them
    through ``run_variants``), so only stored data can satisfy a figure."""
    from ntajax._presets import experiment

    def refuse(*args, **kwargs):
        raise _Recomputed("a store was recomputed instead of read from disk")

    monkeypatch.setattr(experiment, "run_variants", refuse)


@pytest.mark.slow
def test_stores_are_shared_between_fig3_and_a12(ctx, composition_data, monkeypatch, tmp_path):
    """A12 is drawn from the stores Fig. 3 wrote: with simulation disabled it still builds (and reads
    the very same stores), while in an empty output directory the same call has to simulate."""
    a12 = load_figure("a12")

    _forbid_simulation(monkeypatch)
    with pytest.raises(_Recomputed):
        a12.compute(FigureContext(out=tmp_path, size="tiny", progress=False))
    again = a12.compute(ctx)
    for key, ds in composition_data.items():
        assert again[key].attrs["content_hash"] == ds.attrs["content_hash"]
    check_figure_files(make_figure("a12", ctx), ["a12"])


# ----------------------------------------------------------------------- the paper's claims
@pytest.mark.slow
@pytest.mark.parametrize("key", ["additive", "concatenated", "concatenated_expected"])
def test_flexible_meets_composites_faster_than_forgetful(composition_data, key):
    """Fig. 3: at the first composite block the flexible model recovers faster and accumulates less
    loss than the forgetful one (also in the small-dt expected-gradient cross-check of panel d)."""
    from figures.fig3 import switch_response

    ds = composition_data[key]
    flex, forg = switch_response(ds, "flexible"), switch_response(ds, "forgetful")
    # both had learned the last base task before the switch, so they start from the same loss level
    assert np.all(flex["before"] < 0.05 * flex["at"]) and np.all(forg["before"] < 0.05 * forg["at"])
    assert np.all(np.isfinite(flex["recovery"]))
    assert np.nanmax(flex["recovery"]) < 0.5 * np.nanmin(np.where(np.isfinite(forg["recovery"]), forg["recovery"], np.inf))
    assert np.max(flex["mean"]) < 0.5 * np.min(forg["mean"])


@pytest.mark.slow
def test_switch_response_against_a_direct_reading(composition_data):
    """The recovery time is the first record after t = 23 at which L < 10 % of L(23), read directly."""
    from figures.fig3 import switch_response

    ds = composition_data["additive"]
    t = ds["t"].values
    loss = ds["loss"].sel(variant="forgetful").values[0]
    i0 = int(np.flatnonzero(t >= 23.0 - 1e-4)[0])
    after = np.flatnonzero((t >= t[i0]) & (loss < 0.1 * loss[i0]))
    assert switch_response(ds, "forgetful")["recovery"][0] == pytest.approx(t[after[0]] - 23.0, abs=1e-6)


@pytest.mark.slow
def test_flexible_keeps_one_module_per_base_teacher(composition_data):
    """A12: during the composite phase the flexible model's paths (additive) and row-matched rows
    (concatenated) stay aligned with the base teachers, the forgetful ones do not."""
    from figures.a12 import composite_phase_alignment

    for key, margin in (("additive", 0.2), ("concatenated", 0.4)):
        flex = composite_phase_alignment(composition_data[key], "flexible", key)
        forg = composite_phase_alignment(composition_data[key], "forgetful", key)
        assert np.min(flex) > np.max(forg) + margin
    cat = composition_data["concatenated"]
    assert np.all(cat["final_row_alignment"].sel(variant="flexible").values > 0.9)
    # a per-neuron row (p, r) is only driven by output r's error, so its match has output r
    assert np.all(cat["same_output_fraction"].sel(variant="flexible").values == 1.0)


@pytest.mark.slow
def test_row_matching_in_the_store_is_a_permutation_per_seed(composition_data):
    cat = composition_data["concatenated"]
    match = cat["row_match"].values  # (variant, seed, teacher_row)
    n_rows = cat.sizes["student_row"]
    for v in range(match.shape[0]):
        for s in range(match.shape[1]):
            assert len(set(match[v, s].tolist())) == match.shape[-1] and match[v, s].max() < n_rows
    # the gates of the matched rows are the recorded gates at those rows (a view, not a copy)
    g = cat["gates"].values[0, 0]
    np.testing.assert_allclose(cat["matched_gates"].values[0, 0], g[:, match[0, 0]].reshape(g.shape[0], 3, -1))


@pytest.mark.slow
def test_a14_base_components_emerge_with_fast_gates(a14_data):
    """A14 (ntajax companion, τ_c = 0.003): trained only on AB, BC, CA, each path aligns with one
    base teacher and the last composite (BC) is served by the gates of the B and C paths."""
    from figures.a14 import final_matched_alignment

    ds = a14_data["runs"]
    assert np.mean(final_matched_alignment(ds, "fast_gates")) > 0.85
    v = ds.sel(variant="fast_gates")
    pi = v["assignment"].values
    gates = v["gates"].values[:, -1]  # (seed, path), the end of the last block, BC
    assert int(v["context"].values[0, -1]) == 4  # BC, the composite of B and C (MODEL §3.6)
    for s in range(gates.shape[0]):
        assert gates[s, pi[s, 1]] > 0.25 and gates[s, pi[s, 2]] > 0.25 and gates[s, pi[s, 0]] < 0.1


@pytest.mark.slow
def test_a14_spec_settings_stay_in_the_symmetric_state(a14_data):
    """A14 at the spec's τ_c = 0.03: the paths stay copies of the current composite; A_tot equals the
    symmetric state's value, computed independently from the teachers (see the figure docstring)."""
    from figures.a14 import final_matched_alignment

    ds = a14_data["runs"]
    teachers = ds["teachers"].sel(variant="paper").values
    # every path = BC: the best assignment scores mean_m cos_row(W*_m, BC), by explicit loops
    reference = np.mean([np.mean([_np_rowcos(teachers[m][r:r + 1], teachers[4][r:r + 1])[0, 0] for r in range(6)])
                         for m in range(3)])
    assert np.allclose(final_matched_alignment(ds, "paper"), reference, atol=0.02)
    gates = ds["gates"].sel(variant="paper").values[:, -1]
    assert np.all(np.ptp(gates, axis=-1) < 0.05)  # no gate stands out
