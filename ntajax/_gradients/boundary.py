"""Gradient-located phase boundaries: the flexible/forgetful boundary of a phase-diagram panel
solved for by safeguarded Newton steps on exact derivatives, with a bootstrap interval over seeds.

For every row y of a two-axis sweep the boundary is the x at which the seed mean of the final
total alignment,

    Ā(x) = (1/N) Σ_n A_n(x),   A_n = (1/M) Σ_m S_{m,π_n(m)}(t_total)   (MODEL §7.5),

crosses the threshold θ (``DEFAULT_THRESHOLD`` = ¾, ntajax's convention; FIGURES.md Fig. 5).
π_n is seed n's own assignment of paths to teachers, the argmax over injective maps of the
time-mean similarity (§7.4), exactly as in :attr:`ntajax.Summary.final_alignment`.

* :class:`AssignedFinalAlignment` is that per-seed quantity as a differentiable
  :class:`ntajax.Outcome`: its value IS the summary's final alignment; its derivative holds each
  seed's π_n fixed (π_n is piecewise constant and changes only where two injective maps tie in
  time-mean similarity), i.e. it is :class:`ntajax.FinalAlignment` with π = π_n, per seed. A
  single :class:`ntajax.FinalAlignment` (one π for every seed) agrees with the summary only
  where every seed picks that π, which fails in the flexible regime (which path learns which
  teacher is decided by each seed's initial weights).
* :class:`SeedSlopes` evaluates, for one probe x per row, every seed's value A_n and its
  derivative dA_n/dx along the x axis (the chain rule through whatever traced leaves the axis
  sets, e.g. τ_c = τ_w/x for ``tau_ratio``), all rows and seeds as one compiled
  ``vmap`` chunk. The derivative is forward mode (one ``jax.jvp`` pass: a single direction per
  point, memory that does not grow with the steps and no checkpointing needed) through the same
  run as :func:`ntajax.outcome_gradient`'s reverse mode; the two agree to rounding
  (tests/test_gradient_boundary.py). One value-and-slope evaluation is one simulated run per seed.
* :func:`locate_boundary` solves Ā(x) = θ per row, all rows in parallel, by Newton steps in the
  axis coordinate u (u = log x on a log-spaced axis, else x), safeguarded as rtsafe: a bracket
  [u_lo, u_hi] with Ā(u_lo) < θ ≤ Ā(u_hi) is kept and shrunk by every evaluation, and a Newton
  step that leaves the bracket, meets a slope ≤ 0 or not finite (a flat map), or does not at
  least halve the previous step is replaced by bisection. It takes any ``evaluate`` callable
  returning per-seed values and slopes, so it can be tested without simulations.
* :func:`bootstrap_interval` resamples seeds at the final iterate u_K: for a resample b with
  mean value Ā_b and mean slope Ā'_b, the crossing is u_K − (Ā_b − θ)/Ā'_b (the Newton step of
  the resampled mean, i.e. a linearisation around u_K, accurate while the interval is small
  against the curvature of Ā); the percentile interval over resamples is returned.
* :func:`gradient_boundary` runs the two on a sweep, from the brackets (and interpolated
  starts) of :func:`ntajax._sweep.phase.boundary_by_interpolation`.
"""

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Float

from .._compile import COMPILER_OPTIONS
from .._precision import pin_matmul_precision
from .._run import _seeds, precision
from .._sweep.phase import DEFAULT_THRESHOLD, REFINE_ITERATIONS, _is_geometric, bisection_tolerance, probe_sweep
from .._sweep.sweep import Sweep, sweep_teachers
from ..metrics import assign_paths
from .gradient import _check_switch_derivative
from .outcomes import Outcome

GRADIENT_MAX_ITERATIONS = 10
"""Rounds of :func:`locate_boundary` at most (bisection alone needs ``REFINE_ITERATIONS`` = 6 from
the midpoint of a grid bracket to reach its own tolerance; Newton rows converge in 2–3)."""


SMOOTHNESS = 0.1
"""Two evaluations count as one smooth piece of the map when the change of the value between them
differs from the trapezoid of their slopes by at most this fraction of it (a jump of a seed's
alignment between them fails this); only then is the curvature estimated from their slopes."""


class AssignedFinalAlignment(Outcome):
    """Final total alignment on the seed's own assignment: :attr:`ntajax.Summary.final_alignment`
    as a differentiable outcome (MODEL §7.4–§7.5).

    π = argmax over injective maps of the time-mean similarity (the summary's assignment); the
    value A_tot(t_total) = (1/M) Σ_m S_{m,π(m)}(t_total) equals the summary's, and the derivative
    holds π fixed (exact wherever π does not change, i.e. away from ties of the time-mean
    similarity). NaN for a diverged run, as in the summary. Needs at least as many paths as
    teachers.
    """

    def check(self, simulation) -> None:
        n_paths = getattr(simulation.student, "n_paths", None)
        if n_paths is not None and n_paths < simulation.n_teachers:
            raise ValueError(
                f"AssignedFinalAlignment needs at least as many paths as teachers (P ≥ M) to assign them, got "
                f"n_paths={n_paths}, n_teachers={simulation.n_teachers}."
            )

    def __call__(self, config, trajectory):
        del config
        similarity = trajectory.similarity  # (T, M, P)
        pi = assign_paths(jnp.mean(similarity, axis=0))  # integer: no derivative flows through it
        final = jnp.mean(similarity[-1, jnp.arange(similarity.shape[1]), pi])
        return jnp.where(trajectory.status != 0, jnp.nan, final)


# ------------------------------------------------------------------------------ per-seed slopes
@eqx.filter_jit(compiler_options=COMPILER_OPTIONS)
@eqx.debug.assert_max_traces(max_traces=None)  # counts traces: slope_compile_count()
@pin_matmul_precision  # full float32 products on GPUs too, as in ntajax.run
def _values_and_slopes(config, tangents, outcome, key, teachers, teacher_axis):
    """Per point (leading axis of the stacked ``config`` and of every ``tangents`` entry): every
    seed's outcome and its directional derivative along ``tangents`` (d leaf / dx by path)."""

    def one_point(point_config, point_tangents):
        paths = tuple(point_tangents)

        def per_seed(leaves):
            c = point_config.set(dict(zip(paths, leaves)), check=False)
            trajectories = _seeds(c, key, teachers, None, teacher_axis, None, jnp.int32(0))
            return jax.vmap(lambda tr: outcome(c, tr))(trajectories)

        primals = tuple(point_config.get(p) for p in paths)
        return jax.jvp(per_seed, (primals,), (tuple(point_tangents[p] for p in paths),))

    in_axes = jax.tree.map(lambda x: 0 if eqx.is_array(x) else None, config)
    return jax.vmap(one_point, in_axes=(in_axes, 0))(config, tangents)


def slope_compile_count() -> int:
    """How many times the per-seed value-and-slope program of :class:`SeedSlopes` was traced."""
    return eqx.debug.get_num_traces(_values_and_slopes)


def _axis_fields(sweep: Sweep, values: dict[str, float]) -> dict[str, float]:
    """Every traced leaf (by full path) at one point given its axis values, as
    :meth:`Sweep.point_fields` computes them (axes applied in order), without the point checks."""
    base = sweep.base
    current = {path: float(base.get(path)) for path in base.traced_paths()}
    for axis in sweep.axes:
        current.update({base.resolve_path(k): v for k, v in axis.fields(values[axis.name], current).items()})
    return current


def _stack(config, points: list[dict[str, float]]):
    """:func:`ntajax._sweep.sweep.stack_points` in the simulation's own float dtype (float32: the
    same leaves; float64: points not rounded to float32, so that differences of them are exact)."""
    paths = config.traced_paths()
    dtype = config.float_dtype
    values = [jnp.asarray([p.get(path, float(config.get(path))) for p in points], dtype) for path in paths]
    return eqx.tree_at(lambda c: [c.get(path) for path in paths], config.cast(), values)


@dataclasses.dataclass(frozen=True)
class SeedSlopes:
    """Per-seed values and x-derivatives of the final total alignment at one probe x per row.

    ``SeedSlopes(sweep, x_axis)(x)`` with ``x`` of shape (n_y,) (row order of the sweep's other
    axis) returns ``(values, slopes)``, each (n_y, n_seeds): A_n(x_row) as
    :class:`AssignedFinalAlignment` (equal to the sweep's stored ``final_alignment`` at grid
    points, same teachers and seed keys) and dA_n/dx. Every leaf the x axis sets is
    differentiated, with d leaf/dx from the axis's own map (a central difference of it in
    float64 with relative step 1e-6: exact for the linear maps of ``lambda`` and field axes,
    relative error ~1e-12 for ``tau_ratio``'s τ_w/x). One compiled program for all calls of the
    same sweep; each call is n_y × n_seeds simulated runs (:attr:`runs_per_call`).

    Raises:
        ValueError: the sweep is not two traced axes, uses ``n_blocks_total`` (every point
            would be read at its own t_end, which moves with τ_B), the x axis sets no traced
            leaf, or it sets ``curriculum.block_length`` without ``Blocked(fractional_switches=True)``.
    """

    sweep: Sweep
    x_axis: str
    outcome: Outcome = AssignedFinalAlignment()

    def __post_init__(self):
        names = [a.name for a in self.sweep.axes]
        if self.x_axis not in names:
            raise ValueError(f"x_axis={self.x_axis!r} is not an axis of the sweep ({names}).")
        if len(self.sweep.axes) != 2 or self.sweep.zipped or self.sweep.static_axes:
            raise ValueError(f"a gradient-located boundary needs a sweep of two unzipped traced axes, got axes {names} "
                             f"with zipped={self.sweep.zipped}.")
        if self.sweep.n_blocks_total is not None:
            raise ValueError(
                f"n_blocks_total={self.sweep.n_blocks_total}: each point is read at its own t_end = N·τ_B, a record index "
                "that jumps with τ_B, so the read-out carries no derivative; locate this boundary with "
                "ntajax._sweep.phase.refine_boundary (bisection), or sweep with n_blocks_total=None."
            )
        self.outcome.check(self.sweep.config)
        paths = self._paths(np.asarray(self.sweep.axis(self.x_axis).values[:1], float))
        _check_switch_derivative(self.sweep.config, self.outcome, paths)

    @property
    def y_axis(self) -> str:
        return next(a.name for a in self.sweep.axes if a.name != self.x_axis)

    @property
    def runs_per_call(self) -> int:
        """Simulated runs of one call: one per row and seed (a value with its slope counts as one run)."""
        return len(self.sweep.axis(self.y_axis).values) * self.sweep.n_seeds

    def tangents(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """d leaf / dx at every row's probe, by full path, for the leaves the x axis moves."""
        y_values = self.sweep.axis(self.y_axis).values
        x = np.asarray(x, float)
        span = np.ptp(np.asarray(self.sweep.axis(self.x_axis).values, float)) or 1.0
        h = 1e-6 * np.maximum(np.abs(x), 1e-3 * span)
        out: dict[str, list[float]] = {}
        rows = []
        for y, xv, hv in zip(y_values, x, h):
            plus = _axis_fields(self.sweep, {self.y_axis: y, self.x_axis: xv + hv})
            minus = _axis_fields(self.sweep, {self.y_axis: y, self.x_axis: xv - hv})
            rows.append({p: (plus[p] - minus[p]) / (2 * hv) for p in plus})
        for path in rows[0]:
            column = np.array([r[path] for r in rows])
            if np.any(np.abs(column) > 1e-12 * np.maximum(1.0, np.abs([r[path] for r in rows]).max())):
                out[path] = column
        return out

    def _paths(self, x) -> tuple[str, ...]:
        probe = np.full(len(self.sweep.axis(self.y_axis).values), float(np.asarray(x).ravel()[0]))
        paths = tuple(self.tangents(probe))
        if not paths:
            raise ValueError(f"the x axis {self.x_axis!r} sets no traced leaf of the simulation; nothing to differentiate.")
        return paths

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, float)
        probe = probe_sweep(self.sweep, self.x_axis, x)  # checks every probe point as a sweep would
        config = probe.config
        tangents = self.tangents(x)
        with precision(config):
            stacked = _stack(config, probe.point_fields())
            tangents = {p: jnp.asarray(v, config.float_dtype) for p, v in tangents.items()}
            teachers = sweep_teachers(probe)
            values, slopes = _values_and_slopes(stacked, tangents, self.outcome, jax.random.key(probe.seed), teachers,
                                                0 if teachers.ndim == 4 else None)
            return np.asarray(values, float), np.asarray(slopes, float)


# ------------------------------------------------------------------------------------- solver
class GradientBoundary(NamedTuple):
    """The result of :func:`locate_boundary` (n_y rows).

    Attributes:
        boundary: (n_y,) the crossing x (NaN for rows without a bracket, or not converged).
        interval: (n_y, 2) bootstrap interval over seeds (lower, upper) at ``level``
            (:func:`bootstrap_interval` at the last evaluated x, centred on ``boundary``); NaN
            where the seed-mean slope there is not positive (no gradient information, e.g. a row
            finished by bisection on a flat map).
        converged: (n_y,) whether the row met the tolerance within ``max_iterations``.
        bracket: (n_y, 2) the final bracket in x.
        iterations: rounds run (calls of ``evaluate``).
        runs: simulated runs (each call counts every row and seed it evaluates: n_y × n_seeds).
        newton_steps, bisection_steps: (n_y,) steps of each kind taken by each row.
        x_final: (n_y,) the last evaluated x of each row; values, slopes: (n_y, n_seeds) the
            per-seed values and d/dx there (what the bootstrap resamples).
    """

    boundary: np.ndarray
    interval: np.ndarray
    converged: np.ndarray
    bracket: np.ndarray
    iterations: int
    runs: int
    newton_steps: np.ndarray
    bisection_steps: np.ndarray
    x_final: np.ndarray
    values: np.ndarray
    slopes: np.ndarray


def locate_boundary(
    evaluate: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    bracket: Float[np.ndarray, "n_y 2"],
    *,
    start: Float[np.ndarray, " n_y"] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    log_x: bool = False,
    tolerance: float | np.ndarray | None = None,
    max_iterations: int = GRADIENT_MAX_ITERATIONS,
    bounds: tuple[float, float] | None = None,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> GradientBoundary:
    """Solve Ā(x) = ``threshold`` in every row by safeguarded Newton steps, all rows per call.

    Each round calls ``evaluate`` once with one probe per row (rows already converged, and rows
    without a bracket, are probed again at their last point: the chunk keeps its width, so its
    program compiles once) and, per row still active: shrinks the bracket by the sign of
    Ā − θ at the probe, takes the Newton step u − (Ā − θ)/Ā'(u) in the axis coordinate u (log x
    if ``log_x``), and replaces it by the bracket's midpoint where it leaves the bracket, the
    slope is not positive and finite, or it is not shorter than half the step before. A row
    has converged when its Newton step is shorter than ``tolerance`` (its result is the Newton
    point) or, after a bisection step, when half its bracket is (its result is the midpoint).

    Args:
        evaluate: maps probes x of shape (n_y,) to ``(values, slopes)``, each (n_y, n_seeds):
            every seed's value and its derivative d/dx (e.g. :class:`SeedSlopes`). NaN seeds
            (diverged runs) are left out of the means.
        bracket: (n_y, 2) x below and above each row's crossing, with Ā(lower) < θ ≤ Ā(upper)
            (NaN: no crossing, the row stays NaN).
        start: (n_y,) first probe (e.g. the interpolated crossing); default the bracket's
            midpoint (geometric if ``log_x``). Starts outside the bracket are replaced by it.
        threshold: θ.
        log_x: iterate in log x (log-spaced axes; x must be positive).
        tolerance: in u, scalar or (n_y,); default bisection's own after ``REFINE_ITERATIONS``
            rounds from the same bracket (:func:`ntajax._sweep.phase.bisection_tolerance`).
        max_iterations: calls of ``evaluate`` at most.
        bounds, n_bootstrap, level, seed: the bootstrap of :func:`bootstrap_interval` at each
            row's last evaluated x, centred on its result.

    Returns:
        a :class:`GradientBoundary`.
    """
    bracket = np.asarray(bracket, float)
    if bracket.ndim != 2 or bracket.shape[1] != 2:
        raise ValueError(f"bracket must have shape (n_y, 2), got {bracket.shape}.")
    if max_iterations < 1:
        raise ValueError(f"max_iterations={max_iterations} must be at least 1.")
    n_y = bracket.shape[0]
    valid = np.isfinite(bracket).all(axis=1)
    if log_x and np.any(bracket[valid] <= 0):
        raise ValueError("log_x=True needs a positive bracket; pass log_x=False for a linear axis.")
    to_u = np.log if log_x else (lambda v: np.asarray(v, float))
    to_x = np.exp if log_x else (lambda v: np.asarray(v, float))
    safe = np.where(valid[:, None], bracket, 1.0)
    lo, hi = to_u(np.minimum(safe[:, 0], safe[:, 1])), to_u(np.maximum(safe[:, 0], safe[:, 1]))
    tol = bisection_tolerance(bracket, REFINE_ITERATIONS, log_x=log_x) if tolerance is None else tolerance
    tol = np.broadcast_to(np.asarray(tol, float), (n_y,)).copy()
    u = 0.5 * (lo + hi)
    if start is not None:
        s = to_u(np.where(np.isfinite(start) & (np.asarray(start) > 0 if log_x else True), start, 1.0))
        inside = np.isfinite(start) & (s > lo) & (s < hi)
        u = np.where(inside, s, u)
    done = ~valid
    converged = np.zeros(n_y, bool)
    result = np.full(n_y, np.nan)
    previous_step = 2 * (hi - lo)  # the first Newton step may span the whole bracket
    newton = np.zeros(n_y, int)
    bisection = np.zeros(n_y, int)
    x_final = np.full(n_y, np.nan)
    prev_u = prev_f = prev_g = np.full(n_y, np.nan)
    final_values = final_slopes = None
    runs = iterations = 0
    while iterations < max_iterations and not done.all():
        values, slopes = evaluate(to_x(u))
        values, slopes = np.asarray(values, float), np.asarray(slopes, float)
        if values.shape != slopes.shape or values.ndim != 2 or values.shape[0] != n_y:
            raise ValueError(f"evaluate must return values and slopes of shape (n_y={n_y}, n_seeds), got "
                             f"{values.shape} and {slopes.shape}.")
        if final_values is None:
            final_values, final_slopes = np.full(values.shape, np.nan), np.full(values.shape, np.nan)
        iterations += 1
        runs += values.size
        active = ~done
        x_final = np.where(active, to_x(u), x_final)
        final_values[active], final_slopes[active] = values[active], slopes[active]
        with np.errstate(all="ignore"):
            f = _nanmean(values) - threshold
            g = _nanmean(slopes) * (to_x(u) if log_x else 1.0)  # dĀ/du
        above = f >= 0
        hi = np.where(active & above, u, hi)
        lo = np.where(active & ~above, u, lo)
        with np.errstate(all="ignore"):
            step = -f / g
            candidate = u + step
        usable = np.isfinite(candidate) & (g > 0) & (candidate >= lo) & (candidate <= hi) & (
            np.abs(step) <= 0.5 * np.abs(previous_step))
        midpoint = 0.5 * (lo + hi)
        nxt = np.where(usable, candidate, midpoint)
        newton += active & usable
        bisection += active & ~usable
        # Error of the Newton point: e_{k+1} ≈ |f''/2f'|·e_k² with e_k ≈ |step|. With the previous
        # evaluation on the same smooth piece (the value changed as the two slopes say: no jump
        # between), |f''| is estimated from the two slopes.
        with np.errstate(all="ignore"):
            du = u - prev_u
            smooth = np.abs(f - prev_f - 0.5 * (g + prev_g) * du) <= SMOOTHNESS * np.abs(f - prev_f) + 1e-12
            curvature = np.abs(g - prev_g) / np.abs(du) / (2 * np.abs(g))
            predicted = np.where(np.isfinite(du) & (du != 0) & smooth, curvature * step**2, np.inf)
        newton_done = usable & ((np.abs(step) < tol) | (predicted <= 0.5 * tol))
        bisection_done = ~usable & (0.5 * (hi - lo) <= tol * (1 + 1e-9))
        finished = active & (newton_done | bisection_done)
        result = np.where(finished, nxt, result)
        converged |= finished
        done |= finished
        previous_step = np.where(active, nxt - u, previous_step)
        prev_u, prev_f, prev_g = (np.where(active, a, b) for a, b in ((u, prev_u), (f, prev_f), (g, prev_g)))
        u = np.where(active & ~finished, nxt, u)
    if final_values is None:  # no row to solve
        final_values = final_slopes = np.full((n_y, 0), np.nan)
    boundary = np.where(converged, to_x(result), np.nan)
    interval = bootstrap_interval(x_final, final_values, final_slopes, threshold=threshold, log_x=log_x,
                                  estimate=boundary, bounds=bounds, n_bootstrap=n_bootstrap, level=level, seed=seed)
    final_bracket = np.where(valid[:, None], np.stack([to_x(lo), to_x(hi)], axis=1), np.nan)
    return GradientBoundary(boundary, interval, converged, final_bracket, iterations, runs, newton, bisection,
                            x_final, final_values, final_slopes)


def _nanmean(a: np.ndarray) -> np.ndarray:
    """Mean over the last axis of the finite entries (NaN where none is finite), without warnings."""
    finite = np.isfinite(a)
    count = finite.sum(axis=-1)
    total = np.where(finite, a, 0.0).sum(axis=-1)
    with np.errstate(all="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def bootstrap_interval(
    x: Float[np.ndarray, " n_y"],
    values: Float[np.ndarray, "n_y n_seeds"],
    slopes: Float[np.ndarray, "n_y n_seeds"],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    log_x: bool = False,
    estimate: Float[np.ndarray, " n_y"] | None = None,
    bounds: tuple[float, float] | None = None,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Float[np.ndarray, "n_y 2"]:
    """Bootstrap interval over seeds of each row's crossing, from per-seed values and slopes at x.

    Resample b draws n_seeds seeds with replacement (the same draws for every row); its crossing
    is the Newton step of the resampled mean, u_b = u − (Ā_b − θ)/Ā'_b(u), with u = log x if
    ``log_x`` (a linearisation of the resampled mean around x: use the last x the solver
    evaluated). The interval is the (1 − level)/2 and (1 + level)/2 percentiles of u_b over
    resamples whose mean slope is positive — shifted by ``estimate`` − u_full where an
    ``estimate`` is given (u_full the same step of the full sample: the bootstrap's spread
    placed around the solver's answer, which differs from u_full only where the solver ended by
    bisection) — and clipped to ``bounds``. NaN where fewer than 90 % of the resamples have a
    positive slope, or x is NaN. Diverged seeds (NaN) are left out of each resample's means.

    Args:
        x: (n_y,) where the values and slopes were evaluated.
        values, slopes: (n_y, n_seeds) per-seed values and d/dx.
        threshold: θ.
        log_x: linearise in log x.
        estimate: optional (n_y,) crossing x to centre the interval on.
        bounds: optional (lowest, highest) x of the interval (e.g. the axis's range).
        n_bootstrap: resamples.
        level: coverage of the interval.
        seed: of the resampling (numpy's default generator).

    Returns:
        (n_y, 2) lower and upper x.
    """
    x = np.asarray(x, float)
    values, slopes = np.asarray(values, float), np.asarray(slopes, float)
    n_y = x.shape[0]
    if values.ndim != 2 or values.shape[-1] == 0:
        return np.full((n_y, 2), np.nan)
    if not 0 < level < 1:
        raise ValueError(f"level={level} must lie in (0, 1), e.g. 0.95.")
    n_seeds = values.shape[1]
    draws = np.random.default_rng(seed).integers(0, n_seeds, size=(n_bootstrap, n_seeds))
    with np.errstate(all="ignore"):
        u = np.log(x) if log_x else x
        scale = x if log_x else np.ones_like(x)
        mean_value = _nanmean(values[:, draws])  # (n_y, n_bootstrap)
        mean_slope = _nanmean(slopes[:, draws]) * scale[:, None]
        crossing = u[:, None] - (mean_value - threshold) / mean_slope
        shift = np.zeros(n_y)
        if estimate is not None:
            centre = u - (_nanmean(values) - threshold) / (_nanmean(slopes) * scale)
            target = np.log(np.asarray(estimate, float)) if log_x else np.asarray(estimate, float)
            shift = target - centre
    ok = np.isfinite(crossing) & (mean_slope > 0)
    alpha = 0.5 * (1 - level)
    out = np.full((n_y, 2), np.nan)
    for row in range(n_y):
        if np.isfinite(u[row]) and np.isfinite(shift[row]) and ok[row].mean() >= 0.9:
            out[row] = np.quantile(crossing[row, ok[row]], [alpha, 1 - alpha]) + shift[row]
    out = np.exp(out) if log_x else out
    if bounds is not None:
        out = np.clip(out, min(bounds), max(bounds))
    return out


def gradient_boundary(
    sweep: Sweep,
    x_axis: str,
    bracket: Float[np.ndarray, "n_y 2"],
    *,
    start: Float[np.ndarray, " n_y"] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    evaluate: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
    **options,
) -> GradientBoundary:
    """The gradient-located boundary of a two-axis sweep: :func:`locate_boundary` with
    :class:`SeedSlopes` (one compiled value-and-slope program for every round), in log x on a
    log-spaced x axis.

    Args:
        sweep: a two-axis sweep (any order of the x and y axes); rows are its y axis's values.
        x_axis: name of the x axis.
        bracket: (n_y, 2) grid cells around each row's crossing (NaN: none), e.g. from
            :func:`ntajax._sweep.phase.boundary_by_interpolation`.
        start: (n_y,) first probes, e.g. that function's interpolated crossings.
        threshold: θ of the seed-mean final alignment.
        evaluate: replaces :class:`SeedSlopes` (``SeedSlopes(sweep, x_axis)`` by default).
        **options: ``tolerance``, ``max_iterations``, ``bounds`` (default: the x axis's range),
            ``n_bootstrap``, ``level``, ``seed`` of :func:`locate_boundary`.
    """
    evaluate = SeedSlopes(sweep, x_axis) if evaluate is None else evaluate
    x_values = np.asarray(sweep.axis(x_axis).values, float)
    options.setdefault("bounds", (float(x_values.min()), float(x_values.max())))
    return locate_boundary(evaluate, bracket, start=start, threshold=threshold, log_x=_is_geometric(x_values), **options)


__all__ = ["AssignedFinalAlignment", "GradientBoundary", "SeedSlopes", "bootstrap_interval", "gradient_boundary",
           "locate_boundary", "slope_compile_count"]
