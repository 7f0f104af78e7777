"""Exact hyperparameter gradients (issue 11): reverse mode through the Euler scan of a
differentiable outcome, against central finite differences of the discrete run in float64,
the fractional switch clock against the default one, vmapped against per-point gradients,
one compile per chunk, and the refusal of outcomes without a derivative."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntajax
from ntajax._gradients.gradient import _value_and_grad

LEAVES = ("student.tau_w", "student.tau_c", "student.init_scale", "curriculum.block_length",
          "regulariser.lambda_norm", "regulariser.lambda_nonneg")


def small(dt=0.01, block_length=0.7, fractional=True, **changes):
    """A small Gated problem in float64: 2 teachers, 2 paths, 3 switches in t_total = 2.4."""
    sim = ntajax.Simulation(
        d_in=8, d_out=3, n_teachers=2,
        student=ntajax.Gated(n_paths=2, tau_w=1.3, tau_c=0.1),
        regulariser=ntajax.Regulariser(lambda_nonneg=0.2, lambda_norm=0.5, norm_order=1),
        curriculum=ntajax.Blocked(block_length=block_length, fractional_switches=fractional),
        gradient=ntajax.ExpectedGradient(), grid=ntajax.TimeGrid(dt=dt, t_total=2.4, n_save=25),
        n_seeds=2, dtype="float64", engine=ntajax.EulerScan(unroll=1),  # unroll=1: half the compile time
    )
    sim = sim.replace(**changes) if changes else sim
    with jax.enable_x64(True):
        return sim.cast()  # float64 leaves, so that set() keeps a float64 perturbation


def central_differences(sim, outcome, paths, key, rel=1e-5):
    """Central differences of the seed-mean outcome, all ± perturbations in one run_stacked call."""
    configs, steps = [], []
    for path in paths:
        value = float(sim.get(path))
        h = rel * value
        steps.append(h)
        with jax.enable_x64(True):
            configs += [sim.set({path: value + h}), sim.set({path: value - h})]
    trajectories = ntajax.run_stacked(configs, key)
    with jax.enable_x64(True):
        values = [float(jnp.mean(jax.vmap(lambda tr: outcome(sim, tr))(tr))) for tr in trajectories]
    return {p: (values[2 * k] - values[2 * k + 1]) / (2 * steps[k]) for k, p in enumerate(paths)}


def relative_errors(grads, fd):
    return {p: abs(float(grads[p]) - fd[p]) / max(abs(fd[p]), 1e-12) for p in fd}


@pytest.mark.parametrize("block_length", [0.7, 0.7037])  # τ_B/dt = 70 (switches on step edges) and 70.37
def test_every_leaf_against_finite_differences(block_length):
    """Orthogonal teachers: the gates stay positive, so the non-negativity penalty is inactive and
    its derivative is exactly zero (as its finite difference); every other leaf to < 1e-6."""
    sim, key = small(block_length=block_length), jax.random.key(3)
    value, grads = ntajax.outcome_gradient(sim, ntajax.FinalLoss(), LEAVES, key)
    fd = central_differences(sim, ntajax.FinalLoss(), LEAVES, key)
    errors = relative_errors(grads, fd)
    print("relative errors", block_length, {p: f"{e:.1e}" for p, e in errors.items()})
    assert float(value) == pytest.approx(float(np.mean(np.asarray(ntajax.run(sim, key).loss[:, -1]))), rel=1e-12)
    assert fd["regulariser.lambda_nonneg"] == 0.0 and float(grads["regulariser.lambda_nonneg"]) == 0.0
    assert all(abs(fd[p]) > 1e-3 for p in LEAVES if p != "regulariser.lambda_nonneg")
    assert max(errors.values()) < 1e-6, errors


def test_gradients_with_negative_gates_against_finite_differences():
    """i.i.d. teachers overlap, so a gate goes negative and the non-negativity penalty acts. Its
    force λ_nonneg·1[c < 0] jumps where a gate crosses zero, so the discrete run has tiny jumps in
    every parameter (a crossing moving by one step); central differences straddle some of them,
    hence the looser 1e-4."""
    sim, key = small(teachers=ntajax.IIDTeachers()), jax.random.key(3)
    assert float(np.min(np.asarray(ntajax.run(sim, key).gates))) < -0.1
    _, grads = ntajax.outcome_gradient(sim, ntajax.FinalLoss(), LEAVES, key)
    fd = central_differences(sim, ntajax.FinalLoss(), LEAVES, key)
    errors = relative_errors(grads, fd)
    print("relative errors, negative gates", {p: f"{e:.1e}" for p, e in errors.items()})
    assert abs(fd["regulariser.lambda_nonneg"]) > 0.1
    assert max(errors.values()) < 1e-4, errors


def test_alignment_and_crossing_time_against_finite_differences():
    sim, key = small(), jax.random.key(3)
    reference = ntajax.summarise(sim, ntajax.run(sim, key))
    assignment = tuple(int(p) for p in np.asarray(reference.assignment[0]))
    paths = ("student.tau_c", "student.tau_w")
    for outcome in (ntajax.MeanAlignment(assignment), ntajax.CrossingTime(threshold=0.15, after=0.7)):
        _, grads = ntajax.outcome_gradient(sim, outcome, paths, key)
        errors = relative_errors(grads, central_differences(sim, outcome, paths, key))
        print(type(outcome).__name__, {p: f"{e:.1e}" for p, e in errors.items()})
        assert min(abs(float(g)) for g in grads.values()) > 1e-3
        assert max(errors.values()) < 1e-5, errors


def test_fractional_clock_equals_default_where_block_length_is_whole_steps():
    key = jax.random.key(1)
    fractional = ntajax.run(small(fractional=True), key)
    default = ntajax.run(small(fractional=False), key)
    for field in ("loss", "gates", "similarity", "closing_loss"):
        assert np.array_equal(np.asarray(getattr(fractional, field)), np.asarray(getattr(default, field)))
    assert np.array_equal(np.asarray(fractional.final.W), np.asarray(default.final.W))


def test_block_length_gradient_converges_as_dt_shrinks():
    """d final loss / dτ_B of the discrete run converges (first order) to the continuous-time
    derivative: successive halvings of dt change it by less and less. The default clock's
    derivative is zero (switches rounded to steps), which outcome_gradient refuses."""
    key = jax.random.key(3)
    grads = []
    for dt in (0.02, 0.01, 0.005):
        _, g = ntajax.outcome_gradient(small(dt=dt, block_length=0.71), ntajax.FinalLoss(), "block_length", key)
        grads.append(float(g["curriculum.block_length"]))
    first, second = abs(grads[0] - grads[1]), abs(grads[1] - grads[2])
    print("d/dτ_B at dt = 0.02, 0.01, 0.005:", grads, "differences", first, second)
    assert second < 0.7 * first
    default = small(block_length=0.71, fractional=False)
    with jax.enable_x64(True):
        zero = jax.grad(lambda tb: ntajax.simulate(default.set({"block_length": tb}), key,
                                                   teachers=ntajax.make_teachers(default, key)).loss[-1])(0.71)
    assert float(zero) == 0.0  # the silent zero the fractional clock replaces
    with pytest.raises(ValueError, match="fractional_switches=True"):
        ntajax.outcome_gradient(default, ntajax.FinalLoss(), "block_length", key)


def test_sampled_mode_is_pathwise_with_common_random_numbers():
    # τ_B/dt = 70.37: no switch on a step edge, where the central difference straddles a kink and
    # the noisy steps on either side make its O(h) error visible
    sim, key = small(block_length=0.7037, gradient=ntajax.SampledGradient(batch_size=16)), jax.random.key(5)
    paths = ("student.tau_c", "curriculum.block_length")
    _, grads = ntajax.outcome_gradient(sim, ntajax.FinalLoss(), paths, key)
    errors = relative_errors(grads, central_differences(sim, ntajax.FinalLoss(), paths, key))
    print("sampled", {p: f"{e:.1e}" for p, e in errors.items()})
    assert max(errors.values()) < 1e-5, errors


def test_subspace_engine_gives_the_same_gradients():
    sim, key = small(), jax.random.key(3)
    _, full = ntajax.outcome_gradient(sim, ntajax.FinalLoss(), LEAVES, key)
    _, reduced = ntajax.outcome_gradient(sim.replace(engine=ntajax.SubspaceScan(unroll=1)), ntajax.FinalLoss(), LEAVES, key)
    for p in LEAVES:
        assert float(reduced[p]) == pytest.approx(float(full[p]), rel=1e-9, abs=1e-12), p


def test_vmapped_points_equal_per_point_gradients_with_one_compile():
    sim, key = small(), jax.random.key(2)
    tau_c = jnp.asarray([0.05, 0.1, 0.2])
    paths = ("student.tau_c", "curriculum.block_length")
    before = eqx.debug.get_num_traces(_value_and_grad)
    values, grads = ntajax.outcome_gradient(sim, ntajax.FinalLoss(), paths, key, points={"tau_c": tau_c})
    again, _ = ntajax.outcome_gradient(sim, ntajax.FinalLoss(), paths, key, points={"tau_c": 2 * tau_c})
    assert eqx.debug.get_num_traces(_value_and_grad) == before + 1  # one program for every chunk of 3 points
    assert values.shape == (3,) and not np.array_equal(np.asarray(values), np.asarray(again))
    for n, c in enumerate(np.asarray(tau_c)):
        with jax.enable_x64(True):
            point = sim.set({"tau_c": float(c)})
        value, g = ntajax.outcome_gradient(point, ntajax.FinalLoss(), paths, key)
        assert float(values[n]) == pytest.approx(float(value), rel=1e-12)
        for p in paths:
            assert float(grads[p][n]) == pytest.approx(float(g[p]), rel=1e-10)


@pytest.mark.parametrize("name, counterpart", [
    ("assignment", "FinalAlignment"), ("final_alignment", "FinalAlignment"),
    ("adaptation_time", "CrossingTime"), ("regime", "FinalAlignment"),
])
def test_outcomes_without_a_derivative_raise(name, counterpart):
    with pytest.raises(ValueError, match=rf"'{name}' is not differentiable.*{counterpart}"):
        ntajax.outcome_gradient(small(), name, "tau_c", jax.random.key(0))


def test_bad_requests_raise():
    sim, key = small(), jax.random.key(0)
    with pytest.raises(ValueError, match="MeanLoss.*jumps"):
        ntajax.outcome_gradient(sim, ntajax.MeanLoss(), "block_length", key)
    with pytest.raises(ValueError, match="assignment"):
        ntajax.outcome_gradient(sim, ntajax.FinalAlignment((0, 0)), "tau_c", key)
    with pytest.raises(ValueError, match="not a traced parameter"):
        ntajax.outcome_gradient(sim, ntajax.FinalLoss(), "tau_x", key)
    with pytest.raises(TypeError, match="ntajax.Outcome"):
        ntajax.outcome_gradient(sim, lambda c, tr: tr.loss[-1], "tau_c", key)
    with pytest.raises(ValueError, match="Diffrax"):
        sim.replace(engine=ntajax.Diffrax())
    with pytest.raises(ValueError, match="original's integer clock"):
        ntajax.Blocked(block_length=1.0, clock_steps=jnp.int32(100), fractional_switches=True)
