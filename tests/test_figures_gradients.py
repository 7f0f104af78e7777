"""``ntajax figure gradients`` and ``ntajax figure protocol`` at tiny size: each writes its PNG and
PDF, and its headline claims hold — exact gradients equal central differences, the τ_B derivative
approaches the ODE's as dt shrinks, the gradient field is finite and points where the alignment
grows, and the optimised schedule beats the best constant of the sweep under the same objective."""

import numpy as np
import pytest
from conftest import check_figure_files

from ntajax._cli.figure import FigureContext, load_figure, make_figure


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return FigureContext(out=tmp_path_factory.mktemp("gradientfigs"), size="tiny", progress=False)


@pytest.mark.slow
def test_gradients_figure(ctx):
    result = make_figure("gradients", ctx)
    check_figure_files(result, ["gradients"])
    module = load_figure("gradients").module
    data = load_figure("gradients").compute(ctx)  # the stores just written (reused, not recomputed)
    check = data["gradient_check"]
    assert len(check["parameter"]) == 6
    assert float(check["relative_error"].max()) < 1e-6
    assert np.count_nonzero(check["fd"].values) == 5  # λ_nonneg: inactive penalty, both exactly zero
    conv = data["block_length_dt"]
    error = np.abs(conv["exact"].values - conv.attrs["continuous"])
    assert np.all(np.diff(error) < 0) and 0.7 < module.convergence_order(conv) < 1.6
    field = data["gradient_field"]
    assert np.all(np.isfinite(field["d_log_block"])) and np.all(np.isfinite(field["d_log_ratio"]))
    # faster gates raise the alignment at the longest blocks (the flexible corner of the panel)
    assert float(field["d_log_ratio"].isel(block_over_tau_w=-1).mean()) > 0
    print(result.headline)


@pytest.mark.slow
def test_protocol_figure(ctx):
    result = make_figure("protocol", ctx)
    check_figure_files(result, ["protocol"])
    module = load_figure("protocol").module
    data = load_figure("protocol").compute(ctx)
    protocol, constant = data["protocol"], data["constant"]
    best_constant = float(np.nanmax(constant["objective"].values))
    # iterate 0 is the best constant as a schedule: the same J as the plain engine's (float32 run)
    assert float(protocol["objective"][0]) == pytest.approx(best_constant, rel=1e-4)
    assert module.gain(data) > 0.01
    knots = protocol["knots"].values[protocol.attrs["best"]]
    assert np.all(knots > protocol.attrs["bounds"][0]) and np.all(knots < protocol.attrs["bounds"][1])
    assert np.ptp(np.log(knots)) > 0.5  # the optimum is not a constant
    print(result.headline)
