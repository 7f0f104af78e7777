"""The recurrent-student figures (rnn-switching, rnn-phase) at tiny size.

Each runs through ``make_figure`` (its own ``compute``, one store, PNG and PDF); the tiny runs
are too short for the paper's claims, so only an ordering that already holds there is checked:
with fast gates and the regulariser the gates take different values in the two tasks, with
slow gates and none they do not (the gate separation S, checked against its definition).
"""

import numpy as np
import pytest
from conftest import check_figure_files

import ntajax
from ntajax._cli.figure import FigureContext, make_figure


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("rnnfigs")


def test_gate_separation_is_zero_for_equal_and_one_for_disjoint_gates():
    gates = np.array([[[0.5, 0.5], [0.5, 0.5]], [[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.5, 0.5]]])
    np.testing.assert_allclose(ntajax.gate_separation(gates), [0.0, 1.0, 0.5])
    np.testing.assert_array_equal(ntajax._rnn.metrics.late_blocks(100, 10), [8, 9])
    np.testing.assert_array_equal(ntajax._rnn.metrics.late_blocks(100, 12.5), [6, 7])
    np.testing.assert_array_equal(ntajax._rnn.metrics.late_blocks(100, 60), [0])


@pytest.mark.slow
def test_rnn_switching_runs_at_tiny_size(out_dir):
    result = make_figure("rnn-switching", FigureContext(out=out_dir, size="tiny", progress=False))
    check_figure_files(result, ["rnn-switching"])
    assert "gate separation" in result.headline
    import figures.rnn_switching as script

    ds = script.compute(FigureContext(out=out_dir, size="tiny", progress=False))["runs"]  # the stored copy
    S = ntajax.gate_separation(ds["task_gates"].values)
    assert np.mean(S[0]) > np.mean(S[1]) + 0.1  # flexible gates separate, forgetful ones do not
    assert np.all(ds["status"].values == 0)


@pytest.mark.slow
def test_rnn_phase_runs_at_tiny_size(out_dir):
    result = make_figure("rnn-phase", FigureContext(out=out_dir, size="tiny", progress=False))
    check_figure_files(result, ["rnn-phase"])
    import figures.rnn_phase as script

    n = script.headline_numbers(script.compute(FigureContext(out=out_dir, size="tiny", progress=False)))
    assert n["S fast gates, long blocks"] > n["S slow gates, long blocks"] + 0.1
