"""Gradient-located phase boundaries (issue 11): safeguarded Newton steps on exact slopes against
bisection and against crossings known in closed form, the bisection fallback on a flat map, the
bootstrap interval over seeds, and the per-seed slopes against the summary, reverse mode and
central finite differences."""

import dataclasses

import jax
import numpy as np
import pytest
from scipy.optimize import brentq

import ntajax
from ntajax._gradients.boundary import (
    AssignedFinalAlignment,
    SeedSlopes,
    bootstrap_interval,
    gradient_boundary,
    locate_boundary,
    slope_compile_count,
)
from ntajax._presets.sweeps import fig5_base
from ntajax._sweep.phase import (
    bisection_tolerance,
    boundary_by_interpolation,
    interpolated_start,
    probe_sweep,
    refine_boundary,
    seed_mean_final_alignment,
)
from ntajax._sweep.sweep import Sweep, compute_chunk, make_axis

THETA = 0.75


# ----------------------------------------------------------------------------- synthetic maps
def logistic_seeds(centres, width):
    """Per-seed maps A_n(u) = ½ + ½σ((u − c_n)/w) of u = log x, with exact values and d/dx."""

    def values_and_slopes(x):
        u = np.log(np.asarray(x, float))[:, None]
        s = 1.0 / (1.0 + np.exp(-(u - centres) / width))
        return 0.5 + 0.5 * s, 0.5 * s * (1 - s) / width / np.exp(u)  # dA/dx = dA/du / x

    return values_and_slopes


def exact_crossing(centres, width):
    """The crossing of the seed mean in u, by Brent's method on the closed form."""
    return brentq(lambda u: np.mean(0.5 + 0.5 / (1 + np.exp(-(u - centres) / width))) - THETA, -20, 20, xtol=1e-14)


class Counted:
    """Wraps an evaluation and counts the runs it stands for (n_y × n_seeds per call)."""

    def __init__(self, fn, n_seeds):
        self.fn, self.n_seeds, self.runs = fn, n_seeds, 0

    def __call__(self, x):
        self.runs += len(x) * self.n_seeds
        return self.fn(x)


def synthetic_rows(n_rows=5, n_seeds=10, width=0.3, seed=0):
    rng = np.random.default_rng(seed)
    shifts = np.linspace(0.5, 2.5, n_rows)  # row y crosses near u = shift
    centres = shifts[:, None] + 0.3 * rng.standard_normal((n_rows, n_seeds))
    return centres, width


def test_newton_boundary_equals_bisection_and_the_known_crossing():
    """Rows of a smooth map (means of logistic seeds): from a 10-point grid's brackets, Newton
    lands on the closed-form crossing far inside bisection's tolerance, agrees with bisection to
    within that tolerance, and needs at least 3× fewer runs."""
    centres, width = synthetic_rows()
    n_rows, n_seeds = centres.shape
    evaluate_rows = logistic_seeds(centres, width)
    x = np.geomspace(1.0, 40.0, 10)
    grid = np.stack([evaluate_rows(np.full(n_rows, xv))[0].mean(axis=1) for xv in x], axis=1)
    _, bracket = boundary_by_interpolation(grid, x, THETA)
    start = interpolated_start(grid, x, bracket, THETA)
    truth = np.array([exact_crossing(c, width) for c in centres])
    tol = bisection_tolerance(bracket, log_x=True)

    newton_eval = Counted(evaluate_rows, n_seeds)
    result = locate_boundary(newton_eval, bracket, start=start, threshold=THETA, log_x=True)
    assert result.converged.all() and (result.bisection_steps == 0).all()
    np.testing.assert_array_less(np.abs(np.log(result.boundary) - truth), 0.05 * tol)

    # bisection on the same rows: refine_boundary with the seed mean as its evaluation
    sweep = Sweep(fig5_base(ntajax.ExpectedGradient()), (make_axis("block_over_tau_w", np.arange(1.0, n_rows + 1)),
                                                         make_axis("tau_ratio", x)), n_seeds=n_seeds)
    bisection_runs = []

    def mean_of(probe):
        bisection_runs.append(probe.n_points * n_seeds)
        return evaluate_rows(np.array([p["tau_ratio"] for p in probe.axis_values()]))[0].mean(axis=1)

    bisected = refine_boundary(sweep, "tau_ratio", bracket, threshold=THETA, evaluate=mean_of)
    np.testing.assert_array_less(np.abs(np.log(bisected) - truth), tol * (1 + 1e-9))
    np.testing.assert_array_less(np.abs(np.log(result.boundary) - np.log(bisected)), tol * 1.05)
    assert result.runs == newton_eval.runs
    assert 3 * result.runs <= sum(bisection_runs), (result.runs, sum(bisection_runs))


def test_flat_map_falls_back_to_bisection_and_converges():
    """Seeds that jump from ½ to 1 (steps: every slope is 0, no Newton step is possible): the
    solver bisects and ends within bisection's tolerance of the crossing, in bisection's rounds."""
    jumps = np.array([[0.9, 1.3, 1.7, 2.2], [0.3, 0.7, 1.1, 2.9]])  # in u = log x; the mean crosses ¾ at the 2nd jump

    def steps(x):
        u = np.log(np.asarray(x, float))[:, None]
        return np.where(u >= jumps, 1.0, 0.5), np.zeros((len(x), jumps.shape[1]))

    bracket = np.exp(np.array([[1.0, 2.0], [0.2, 1.0]]))
    result = locate_boundary(steps, bracket, threshold=THETA, log_x=True)
    tol = bisection_tolerance(bracket, log_x=True)
    assert result.converged.all() and (result.newton_steps == 0).all()
    np.testing.assert_array_less(np.abs(np.log(result.boundary) - jumps[:, 1]), tol * (1 + 1e-9))
    assert result.iterations == 6  # from the midpoint, as refine_boundary's default 6 rounds
    assert np.isnan(result.interval).all()  # no slope: no gradient-based interval
    # a row without a bracket stays NaN and does not stop the others
    with_nan = locate_boundary(steps, np.vstack([bracket[:1], [np.nan, np.nan]]), threshold=THETA, log_x=True)
    assert np.isfinite(with_nan.boundary[0]) and np.isnan(with_nan.boundary[1])


def test_newton_falls_back_where_a_step_leaves_the_bracket():
    """A map with a misleading slope at the start (a kink): the Newton step leaves the bracket,
    bisection takes over, and the solution is still the crossing."""

    def kinked(x):
        x = np.asarray(x, float)
        value = np.where(x < 2.0, 0.5 + 0.01 * x, 0.52 + 0.5 * (x - 2.0))  # crosses ¾ at x = 2.46
        slope = np.where(x < 2.0, 0.01, 0.5)
        return value[:, None], slope[:, None]

    result = locate_boundary(kinked, np.array([[1.0, 3.0]]), start=np.array([1.5]), threshold=THETA)
    assert result.converged[0] and result.bisection_steps[0] >= 1 and result.newton_steps[0] >= 1
    assert abs(result.boundary[0] - 2.46) < bisection_tolerance(np.array([[1.0, 3.0]]))[0]


def test_bootstrap_interval_contains_the_estimate_and_shrinks_with_seeds():
    """Bootstrap over seeds at the converged point: the interval holds the point estimate, and
    with 20× more seeds (drawn from the same law) it is more than 3× narrower (∝ 1/√N)."""
    widths = []
    for n_seeds in (10, 200):
        centres = 1.0 + 0.4 * np.random.default_rng(n_seeds).standard_normal((1, n_seeds))
        result = locate_boundary(logistic_seeds(centres, 0.3), np.exp([[-1.0, 3.0]]), threshold=THETA, log_x=True)
        lower, upper = result.interval[0]
        assert lower < result.boundary[0] < upper
        widths.append(np.log(upper / lower))
    assert widths[1] < widths[0] / 3, widths
    # the same per-seed data give the same interval for the same bootstrap seed
    v, g = logistic_seeds(np.array([[0.5, 1.0, 1.5]]), 0.3)(np.array([2.7]))
    a = bootstrap_interval(np.array([2.7]), v, g, log_x=True, seed=3)
    np.testing.assert_array_equal(a, bootstrap_interval(np.array([2.7]), v, g, log_x=True, seed=3))


# ------------------------------------------------------------------------------ simulated runs
SMOOTH = ntajax.Regulariser(lambda_nonneg=0.0, lambda_norm=2.5, norm_order=2)
"""A regulariser without kinks (no hinge, ℓ2 gate norm): the simulated map is smooth in τ_c.
With the Fig. 5 one (hinge + ℓ1 norm) each seed's final alignment jumps between discrete
levels as a gate pinned at zero changes its Euler steps, so its crossing is a jump that only
bisection can locate (BENCHMARKS.md)."""


def small_panel(n_seeds=3, dtype="float32", x=tuple(np.geomspace(2.0, 40.0, 5)), y=(2.0, 6.0)):
    base = fig5_base(ntajax.ExpectedGradient(), n_save=21).replace(regulariser=SMOOTH, dtype=dtype)
    base = base.replace(grid=base.grid.replace(t_total=2.0))
    return Sweep(base, (make_axis("block_over_tau_w", y), make_axis("tau_ratio", x)), n_seeds=n_seeds, seed=1)


def test_gradient_boundary_equals_bisection_on_a_simulated_panel():
    """Two rows of a small simulated panel (t_tot = 2): the gradient boundary lies within
    bisection's tolerance of refine_boundary's, with fewer simulated runs, one compiled program
    for every round, and a bootstrap interval around it."""
    sweep = small_panel()
    x = np.asarray(sweep.axis("tau_ratio").values)
    mean = seed_mean_final_alignment(sweep).reshape(sweep.shape)
    _, bracket = boundary_by_interpolation(mean, x)
    assert np.isfinite(bracket).all(), mean
    bisection_runs = []

    def counted_mean(probe):
        bisection_runs.append(probe.n_points * probe.n_seeds)
        return seed_mean_final_alignment(probe)

    bisected = refine_boundary(sweep, "tau_ratio", bracket, evaluate=counted_mean)
    before = slope_compile_count()
    result = gradient_boundary(sweep, "tau_ratio", bracket, start=interpolated_start(mean, x, bracket))
    assert slope_compile_count() - before <= 1
    tol = bisection_tolerance(bracket, log_x=True)
    assert result.converged.all()
    np.testing.assert_array_less(np.abs(np.log(result.boundary) - np.log(bisected)), tol * 1.05)
    assert result.runs < sum(bisection_runs), (result.runs, sum(bisection_runs))
    assert np.all((result.interval[:, 0] < result.boundary) & (result.boundary < result.interval[:, 1]))


def test_seed_slopes_against_the_summary_reverse_mode_and_finite_differences():
    """SeedSlopes' values are the stored summary's final alignment at the same points (same
    teachers and seed keys); its forward-mode slopes equal outcome_gradient's reverse-mode
    gradient times dτ_c/dx = −τ_w/x², and central differences of its own values (float64)."""
    sweep = small_panel(n_seeds=2, dtype="float64", x=(4.0, 8.0), y=(2.0, 6.0))
    slopes = SeedSlopes(sweep, "tau_ratio")
    probe = np.array([4.0, 8.0])  # row y0 at x = 4, row y1 at x = 8: grid points of the sweep
    with jax.enable_x64(True):
        values, d = slopes(probe)
    stored = compute_chunk(sweep, 0, sweep.n_points)["final_alignment"].reshape(2, 2, -1)
    np.testing.assert_allclose(values, stored[[0, 1], [0, 1]], rtol=1e-12, atol=1e-12)

    tangents = slopes.tangents(probe)
    assert list(tangents) == ["student.tau_c"]
    tau_w = float(sweep.base.get("student.tau_w"))
    np.testing.assert_allclose(tangents["student.tau_c"], -tau_w / probe**2, rtol=1e-8)

    fields = probe_sweep(sweep, "tau_ratio", probe).point_fields()  # the probes' leaves, as the sweep sets them
    points = {p: np.array([f[p] for f in fields]) for p in ("curriculum.block_length", "student.tau_c")}
    value, grads = ntajax.outcome_gradient(sweep.config, AssignedFinalAlignment(), ("student.tau_c",),
                                           jax.random.key(sweep.seed), points=points)
    np.testing.assert_allclose(np.asarray(value, float), values.mean(axis=1), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(grads["student.tau_c"], float) * tangents["student.tau_c"], d.mean(axis=1), rtol=1e-8)

    h = 1e-5 * probe
    with jax.enable_x64(True):
        plus, _ = slopes(probe + h)
        minus, _ = slopes(probe - h)
    fd = (plus - minus) / (2 * h[:, None])
    np.testing.assert_allclose(d, fd, rtol=1e-5, atol=1e-7)


def test_assigned_alignment_is_the_summary_where_one_fixed_assignment_is_not():
    """Seeds that assign their paths differently: AssignedFinalAlignment equals every seed's
    summary final_alignment, FinalAlignment((0, 1)) only for the seeds whose π is (0, 1)."""
    sim = small_panel(n_seeds=6).base.replace(n_seeds=6).set({"curriculum.block_length": 0.6, "student.tau_c": 0.005})
    sim = sim.with_block_count()
    trajectory = ntajax.run(sim, jax.random.key(2))
    summary = ntajax.summarise(sim, trajectory)
    pi = np.asarray(summary.assignment)
    assert {tuple(p) for p in pi} == {(0, 1), (1, 0)}, pi  # both assignments occur among the seeds
    own = np.array([float(AssignedFinalAlignment()(sim, jax.tree.map(lambda a: a[n], trajectory))) for n in range(6)])
    fixed = np.array([float(ntajax.FinalAlignment((0, 1))(sim, jax.tree.map(lambda a: a[n], trajectory)))
                      for n in range(6)])
    np.testing.assert_allclose(own, np.asarray(summary.final_alignment), rtol=1e-6)
    same = (pi == (0, 1)).all(axis=1)
    np.testing.assert_allclose(fixed[same], own[same], rtol=1e-6)
    assert np.all(np.abs(fixed[~same] - own[~same]) > 0.1)


def test_refusals():
    sweep = small_panel()
    with pytest.raises(ValueError, match="fractional_switches"):
        SeedSlopes(dataclasses.replace(sweep, axes=sweep.axes[::-1]), "block_over_tau_w")
    with pytest.raises(ValueError, match="n_blocks_total"):
        SeedSlopes(dataclasses.replace(sweep, n_blocks_total=4), "tau_ratio")
    with pytest.raises(ValueError, match="not an axis"):
        SeedSlopes(sweep, "tau_c")
    with pytest.raises(ValueError, match=r"shape \(n_y, 2\)"):
        locate_boundary(lambda x: (x, x), np.ones(3))
