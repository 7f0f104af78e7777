"""ntajax's regime classifier per student kind: the gate criterion where it applies, else "undefined"."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntajax
from ntajax.metrics import FLEXIBLE, FORGETFUL, UNDEFINED, classify_regime


def test_nan_separation_is_undefined_not_forgetful():
    labels = classify_regime(jnp.array([0.95, 0.95, jnp.nan]), jnp.array([jnp.nan, 0.9, jnp.nan]))
    np.testing.assert_array_equal(np.asarray(labels), [UNDEFINED, FLEXIBLE, UNDEFINED])


def _simulation(student, **changes):
    base = dict(
        regulariser=ntajax.Regulariser(lambda_nonneg=1 / 11, lambda_norm=10 / 11),
        curriculum=ntajax.Blocked(block_length=1.0), gradient=ntajax.ExpectedGradient(),
        grid=ntajax.TimeGrid(t_total=12.0, n_save=121), n_seeds=2,
    )
    return ntajax.Simulation(student=student, **(base | changes))


def test_gated_runs_keep_the_gate_criterion():
    """The gated student's flexible setting is flexible and the forgetful one (τ_c = τ_w, no
    regulariser) forgetful (MODEL §2.1; Fig. 2 settings, expected flow)."""
    key = jax.random.key(0)
    flexible = _simulation(ntajax.Gated(tau_w=1.3, tau_c=0.03))
    forgetful = _simulation(ntajax.Gated(tau_w=1.3, tau_c=1.3), regulariser=ntajax.Regulariser())
    np.testing.assert_array_equal(np.asarray(ntajax.summarise(flexible, ntajax.run(flexible, key)).regime), FLEXIBLE)
    np.testing.assert_array_equal(np.asarray(ntajax.summarise(forgetful, ntajax.run(forgetful, key)).regime), FORGETFUL)


@pytest.mark.parametrize("student", [ntajax.TwoLayer(tau_w1=0.06, tau_w2=0.01), ntajax.PerNeuron()], ids=["two_layer", "per_neuron"])
def test_students_without_one_gate_per_path_are_undefined(student):
    """The two-layer network has no per-path gates (W2 plays their role, MODEL §2.3), and per-neuron
    gates specialise row by row under per-row assignments (§7.9): their regime is "undefined", not
    "forgetful"."""
    # k = 2 norm on the two-layer network's W2 (as in Fig. A7; the k = 1 default diverges here)
    config = _simulation(student, grid=ntajax.TimeGrid(t_total=2.0, n_save=21),
                         regulariser=ntajax.Regulariser(lambda_nonneg=1 / 11, lambda_norm=10 / 11, norm_order=2))
    trajectory = ntajax.run(config, jax.random.key(0))
    assert np.all(np.asarray(trajectory.status) == 0)
    summary = ntajax.summarise(config, trajectory)
    assert np.all(np.isnan(np.asarray(summary.gate_separation)))
    np.testing.assert_array_equal(np.asarray(summary.regime), UNDEFINED)


def test_a_diverged_run_is_labelled_diverged_and_its_metrics_are_nan():
    """A λ_norm so large that the Euler step explodes: the summary says so instead of reporting
    numbers of a run that does not exist."""
    config = _simulation(ntajax.Gated(), grid=ntajax.TimeGrid(t_total=0.5, n_save=6),
                         regulariser=ntajax.Regulariser(lambda_norm=1e7))
    trajectory = ntajax.run(config, jax.random.key(0))
    assert np.all(np.asarray(trajectory.status) == 1)
    summary = ntajax.summarise(config, trajectory)
    np.testing.assert_array_equal(np.asarray(summary.regime), ntajax.metrics.DIVERGED)
    for name in ("final_alignment", "mean_alignment", "final_loss", "gate_separation", "gate_contrast", "specialisation"):
        assert np.all(np.isnan(np.asarray(getattr(summary, name)))), name
