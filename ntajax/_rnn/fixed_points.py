"""Fixed points, limit cycles and eigenvalue outliers of discrete-time recurrent maps.

The maps are plain callables, so the analyses do not depend on any student class: a recurrent
network with a constant input u is the map h ↦ F(h, u) (for the leaky RNN of the issue,
F(h, u) = (1 − α) h + α φ(Σ_p c_p (W_rec^p h + W_in^p u) + b)).

**Fixed points** (Sussillo & Barak 2013, for discrete maps). A fixed point h* of F solves
F(h*) = h*; candidates minimise the speed q(h) = ½‖F(h) − h‖². :func:`find_fixed_points`
solves the nonlinear least-squares problem min_h ½‖F(h) − h‖² with optimistix's
Levenberg–Marquardt solver from many initial states at once (one jit-compiled, vmapped solve),
keeps the solutions with q below ``q_tolerance``, merges those closer than
``unique_tolerance`` (greedy, lowest q first) and linearises F at each survivor: the Jacobian
J = ∂F/∂h (``jax.jacfwd``), its eigenvalues λ, and the **stability of a discrete map**: stable
when every |λ| < 1, with ``n_unstable`` = #{λ : |λ| > 1 + margin}. Zeros of F(h) − h are found
whatever their stability (unlike running the network forward, which only finds attractors), so
saddles and repellers are found too; with ``relax_steps`` the map is first iterated from every
initial state, so the solves polish the attractors that the states flow to.

**Limit cycles** (:func:`detect_limit_cycle`): the map is run freely from an initial state; after
a transient, the trajectory is a *fixed point* when its last step moves less than
``fixed_tolerance`` (relative to the state's size); it is *periodic* when it neither settles nor
grows and the power spectrum of the (Hann-windowed, mean-removed) output concentrates at one
frequency: the peak bin and its two neighbours hold at least ``min_peak_fraction`` of the
power. The frequency is refined by quadratic interpolation of the log power around the peak
(cycles per step; period = 1/frequency steps), and the return distance ‖h_{t+T} − h_t‖ at the
nearest integer period T is reported.

**Eigenvalue outliers** (:func:`eigenvalue_outliers`). For an N × N matrix with i.i.d. entries of
standard deviation σ, the eigenvalues fill the disc of radius σ√N (circular law); a low-rank
structure adds eigenvalues outside it. Rule used here: σ is the standard deviation of the
entries about their mean (unless ``sigma`` is given; the mean is left in the matrix, so a
rank-one mean term is an outlier), the bulk radius is σ√N·(1 + ``margin``) (default margin 0.1
for the finite-N edge), and outliers are the eigenvalues outside it.
:func:`unstable_eigenvalue_count` counts the eigenvalues of W that make the linearisation
h ↦ (1 − α) h + α W h unstable, |1 − α + α λ| > 1 (α → 0: the continuous-time condition Re λ > 1).

Eigendecompositions run on the host (numpy): ``jnp.linalg.eig`` is not available on every
accelerator, and the deduplication is data-dependent in size anyway.
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

Map = Callable[..., Array]
"""A discrete-time map: ``F(h)`` or, with an input, ``F(h, u)``; h of shape (N,)."""


def _with_input(step: Map, u) -> Callable[[Array], Array]:
    return (lambda h: step(h)) if u is None else (lambda h: step(h, u))


# ------------------------------------------------------------------------------------ fixed points
class FixedPoints(eqx.Module):
    """The distinct fixed points of a map, with their linearisation (host arrays).

    Attributes:
        points: (K, N) the fixed points, lowest speed first.
        speed: (K,) q(h*) = ½‖F(h*) − h*‖².
        jacobians: (K, N, N) ∂F/∂h at each point.
        eigenvalues: (K, N) complex eigenvalues of each Jacobian, largest modulus first.
        n_unstable: (K,) number of eigenvalues with |λ| > 1 + margin.
        basin_count: (K,) how many accepted solves ended at each point.
        candidates: (n, N) the solution of every solve (before the tolerance and merging).
        candidate_speed: (n,) q at every solution.
        margin: the stability margin used.
    """

    points: np.ndarray
    speed: np.ndarray
    jacobians: np.ndarray
    eigenvalues: np.ndarray
    n_unstable: np.ndarray
    basin_count: np.ndarray
    candidates: np.ndarray
    candidate_speed: np.ndarray
    margin: float = eqx.field(static=True, default=0.0)

    @property
    def stable(self) -> np.ndarray:
        """(K,) True where every |λ| < 1 + margin (a discrete-time attractor)."""
        return self.n_unstable == 0

    @property
    def n_points(self) -> int:
        return int(self.points.shape[0])

    @property
    def n_stable(self) -> int:
        return int(np.sum(self.stable))

    @property
    def spectral_radius(self) -> np.ndarray:
        """(K,) max |λ| of each Jacobian."""
        return np.abs(self.eigenvalues[:, 0]) if self.n_points else np.zeros(0)


def sample_initial_states(
    trajectories: Float[ArrayLike, "... N"], n: int, *, key: PRNGKeyArray, noise: float = 0.0
) -> Float[Array, "n N"]:
    """``n`` initial states drawn from the visited states of ``trajectories`` plus N(0, noise²) noise.

    Args:
        trajectories: any array whose last axis is the state (e.g. (trials, time, N)).
        n: number of states (without replacement when there are at least ``n`` states).
        key: random key. noise: standard deviation of the added Gaussian noise.
    """
    if n <= 0:
        raise ValueError(f"n={n} initial states requested; ask for at least one.")
    return _sample(jnp.asarray(trajectories), n, key, noise)


@eqx.filter_jit
def _sample(trajectories, n: int, key, noise):
    states = jnp.reshape(trajectories, (-1, trajectories.shape[-1]))
    pick_key, noise_key = jax.random.split(key)
    index = jax.random.choice(pick_key, states.shape[0], (n,), replace=states.shape[0] < n)
    return states[index] + noise * jax.random.normal(noise_key, (n, states.shape[1]), states.dtype)


JACOBIAN_ELEMENTS = 1 << 24
"""Up to this many Jacobian entries (n_states · N²), the Jacobians of every solution are computed
in the solve's own program (one compile); above it, only at the merged points, in a second program
per power-of-two number of points."""


@eqx.filter_jit
def _solve(step, initial_states, u, solver, max_steps: int, relax_steps, with_jacobians: bool):
    F = _with_input(step, u)

    def one(h0):
        # relax_steps is traced: one program serves every relaxation length
        h0 = jax.lax.fori_loop(0, relax_steps, lambda _, h: F(h), h0)
        residual = lambda h, _: F(h) - h  # noqa: E731
        solution = optx.least_squares(residual, solver, h0, max_steps=max_steps, throw=False)
        h = solution.value
        r = F(h) - h
        return h, 0.5 * jnp.sum(r**2), (jax.jacfwd(F)(h) if with_jacobians else None)

    return jax.vmap(one)(initial_states)


@eqx.filter_jit
def _jacobians(step, points, u):
    return jax.vmap(jax.jacfwd(_with_input(step, u)))(points)


def jacobian(step: Map, point: Float[ArrayLike, " N"], u: Float[ArrayLike, " d"] | None = None) -> Float[Array, "N N"]:
    """∂F/∂h at ``point`` (``jax.jacfwd``), with the input ``u`` held fixed when given."""
    return _jacobians(step, jnp.asarray(point)[None], None if u is None else jnp.asarray(u))[0]


def deduplicate(points: np.ndarray, order: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy merge: visit ``points`` in ``order`` and keep one unless it lies within ``tolerance``
    (Euclidean) of a kept point. Returns (indices of the kept points, index of the kept point every
    visited point was merged into, −1 for points not visited)."""
    points = np.asarray(points)
    kept: list[int] = []
    owner = np.full(points.shape[0], -1)
    for i in order:
        if kept:
            distance = np.linalg.norm(points[kept] - points[i], axis=1)
            j = int(np.argmin(distance))
            if distance[j] <= tolerance:
                owner[i] = j
                continue
        owner[i] = len(kept)
        kept.append(int(i))
    return np.asarray(kept, dtype=int), owner


def find_fixed_points(
    step: Map,
    initial_states: Float[ArrayLike, "n N"],
    u: Float[ArrayLike, " d"] | None = None,
    *,
    q_tolerance: float = 1e-9,
    unique_tolerance: float = 1e-3,
    margin: float = 1e-3,
    solver: optx.AbstractLeastSquaresSolver | None = None,
    max_steps: int = 256,
    relax_steps: int = 0,
) -> FixedPoints:
    """The distinct fixed points of h ↦ F(h) (or F(h, u)) reached from ``initial_states``.

    Args:
        step: the map, ``step(h)`` or ``step(h, u)`` with h (N,) → (N,); a function or an Equinox
            module (its array leaves are traced, so one compile serves every parameter value).
        initial_states: (n, N) starting points of the solves (see :func:`sample_initial_states`).
        u: constant input (the task context), or None.
        q_tolerance: keep solutions with q = ½‖F(h) − h‖² ≤ q_tolerance.
        unique_tolerance: solutions closer than this (Euclidean) are one point.
        margin: |λ| > 1 + margin counts as unstable (marginal directions, e.g. a line attractor's
            λ ≈ 1, count as stable).
        solver: an optimistix least-squares solver (default Levenberg–Marquardt, rtol 1e-6,
            atol 1e-9); unconverged solves are not errors, their q decides.
        max_steps: solver steps per initial state.
        relax_steps: iterate the map this many steps from each initial state before the solve
            (static): the solves then polish the attractors the states flow to, instead of the
            nearest zero of F(h) − h of any stability.

    Returns:
        :class:`FixedPoints` (K may be 0).
    """
    h0 = jnp.asarray(initial_states)
    if h0.ndim != 2:
        raise ValueError(f"initial_states has shape {h0.shape}; pass (n_states, N).")
    if q_tolerance <= 0 or unique_tolerance < 0:
        raise ValueError(f"q_tolerance={q_tolerance} and unique_tolerance={unique_tolerance} must be > 0 and ≥ 0.")
    solver = optx.LevenbergMarquardt(rtol=1e-6, atol=1e-9) if solver is None else solver
    u = None if u is None else jnp.asarray(u)
    if relax_steps < 0:
        raise ValueError(f"relax_steps={relax_steps} must be ≥ 0.")
    with_jacobians = h0.shape[0] * h0.shape[1] ** 2 <= JACOBIAN_ELEMENTS
    solutions, q, all_jacobians = _solve(step, h0, u, solver, max_steps, jnp.int32(relax_steps), with_jacobians)
    solutions, q = np.asarray(solutions), np.asarray(q)
    accepted = np.flatnonzero(np.isfinite(q) & (q <= q_tolerance))
    kept, owner = deduplicate(solutions, accepted[np.argsort(q[accepted], kind="stable")], unique_tolerance)
    n_state = h0.shape[1]
    if kept.size == 0:
        empty = np.zeros((0, n_state))
        return FixedPoints(empty, np.zeros(0), np.zeros((0, n_state, n_state)), np.zeros((0, n_state), complex),
                           np.zeros(0, int), np.zeros(0, int), solutions, q, margin)
    points = solutions[kept]
    if with_jacobians:
        jacobians = np.asarray(all_jacobians)[kept]
    else:  # pad to a power of two so that contexts with different numbers of points share compiles
        padded = np.concatenate([points, np.repeat(points[:1], (1 << (kept.size - 1).bit_length()) - kept.size, axis=0)])
        jacobians = np.asarray(_jacobians(step, jnp.asarray(padded), u))[: kept.size]
    eigenvalues = np.linalg.eigvals(jacobians)
    eigenvalues = np.take_along_axis(eigenvalues, np.argsort(-np.abs(eigenvalues), axis=1, kind="stable"), axis=1)
    return FixedPoints(
        points=points, speed=q[kept], jacobians=jacobians, eigenvalues=eigenvalues,
        n_unstable=np.sum(np.abs(eigenvalues) > 1 + margin, axis=1),
        basin_count=np.bincount(owner[owner >= 0], minlength=kept.size), candidates=solutions, candidate_speed=q,
        margin=margin,
    )


# ------------------------------------------------------------------------------------- limit cycles
class Orbit(eqx.Module):
    """What a free-running trajectory does after its transient (:func:`detect_limit_cycle`).

    Attributes (scalars; batch them with ``jax.vmap``):
        fixed_point: settled (last step shorter than ``fixed_tolerance`` × state size).
        diverged: non-finite, or the amplitude grew by more than 2× between the two halves.
        periodic: neither, and one frequency holds ≥ ``min_peak_fraction`` of the output's power.
        frequency: the dominant frequency in cycles per step (refined; 0 when settled).
        period: 1/frequency in steps (inf when the frequency is 0).
        peak_fraction: the fraction of power in the peak bin and its two neighbours.
        amplitude: RMS of the mean-removed output over the analysed window.
        return_distance: mean ‖h_{t+T} − h_t‖ / RMS‖h − h̄‖ at the nearest integer period T ≥ 1.
        final_speed: ‖F(h_last) − h_last‖.
    """

    fixed_point: Array
    diverged: Array
    periodic: Array
    frequency: Array
    period: Array
    peak_fraction: Array
    amplitude: Array
    return_distance: Array
    final_speed: Array


def iterate_map(step: Map, h0: Float[ArrayLike, " N"], n_steps: int, u: Float[ArrayLike, " d"] | None = None) -> Float[Array, "n_steps N"]:
    """The states h_1 … h_n of h_{t+1} = F(h_t) (or F(h_t, u)) from h_0 (``lax.scan``)."""
    F = _with_input(step, None if u is None else jnp.asarray(u))

    def body(h, _):
        h = F(h)
        return h, h

    return jax.lax.scan(body, jnp.asarray(h0), None, length=n_steps)[1]


@eqx.filter_jit
def dominant_frequency(signal: Float[ArrayLike, "T ..."]) -> tuple[Array, Array]:
    """(dominant frequency in cycles per sample, fraction of power in its bin ± 1) of a signal.

    The mean is removed from every channel (trailing axes), a Hann window applied, and the power
    spectra of the channels summed; the peak is refined by quadratic interpolation of the log power
    over the peak bin and its neighbours (exact for a Gaussian-shaped peak, the Hann window's main
    lobe to a good approximation)."""
    x = jnp.asarray(signal)
    x = x.reshape(x.shape[0], -1)
    n = x.shape[0]
    window = 0.5 - 0.5 * jnp.cos(2 * jnp.pi * jnp.arange(n) / n)
    spectrum = jnp.fft.rfft((x - jnp.mean(x, 0)) * window[:, None], axis=0)
    power = jnp.sum(jnp.abs(spectrum) ** 2, axis=1)
    power = power.at[0].set(0.0)
    total = jnp.sum(power)
    k = jnp.argmax(power)
    n_bins = power.shape[0]
    left, right = power[jnp.maximum(k - 1, 0)], power[jnp.minimum(k + 1, n_bins - 1)]
    peak_fraction = (power[k] + jnp.where(k > 0, left, 0.0) + jnp.where(k < n_bins - 1, right, 0.0)) / jnp.where(total > 0, total, 1.0)
    tiny = 1e-30 * jnp.maximum(power[k], 1e-30)
    a, b, c = jnp.log(left + tiny), jnp.log(power[k] + tiny), jnp.log(right + tiny)
    curvature = a - 2 * b + c
    shift = jnp.where((k > 0) & (k < n_bins - 1) & (curvature < 0), 0.5 * (a - c) / jnp.where(curvature < 0, curvature, -1.0), 0.0)
    frequency = jnp.where(total > 0, (k + jnp.clip(shift, -0.5, 0.5)) / n, 0.0)
    return frequency, jnp.where(total > 0, peak_fraction, 0.0)


def detect_limit_cycle(
    step: Map,
    h0: Float[ArrayLike, " N"],
    u: Float[ArrayLike, " d"] | None = None,
    *,
    n_transient: int = 500,
    n_steps: int = 1024,
    readout: Callable[[Array], Array] | None = None,
    fixed_tolerance: float = 1e-6,
    min_peak_fraction: float = 0.5,
) -> Orbit:
    """Classify the free-running trajectory of h ↦ F(h[, u]) from ``h0`` (module docstring).

    Args:
        step: the map. h0: (N,) initial state. u: constant input or None.
        n_transient: steps discarded first. n_steps: steps analysed (static).
        readout: h ↦ y whose spectrum is analysed (default the state itself, all channels summed).
        fixed_tolerance: settled when ‖h_T − h_{T−1}‖ ≤ fixed_tolerance · max(1, RMS‖h‖).
        min_peak_fraction: spectral concentration required of a periodic orbit.

    Returns:
        :class:`Orbit` (jit- and vmap-compatible: ``jax.vmap`` over h0 or u for many runs).
    """
    if n_steps < 8 or n_transient < 0:
        raise ValueError(f"n_steps={n_steps} (≥ 8) and n_transient={n_transient} (≥ 0) are required.")
    return _detect(step, jnp.asarray(h0), None if u is None else jnp.asarray(u), n_transient, n_steps, readout,
                   fixed_tolerance, min_peak_fraction)


@eqx.filter_jit
def _detect(step, h0, u, n_transient, n_steps, readout, fixed_tolerance, min_peak_fraction):
    F = _with_input(step, u)
    start = iterate_map(step, h0, n_transient, u)[-1] if n_transient > 0 else h0
    h = iterate_map(step, start, n_steps, u)
    y = h if readout is None else jax.vmap(readout)(h)
    y = y.reshape(n_steps, -1)
    finite = jnp.all(jnp.isfinite(h))
    scale = jnp.maximum(1.0, jnp.sqrt(jnp.mean(jnp.sum(h**2, -1))))
    final_speed = jnp.linalg.norm(F(h[-1]) - h[-1])
    settled = finite & (jnp.linalg.norm(h[-1] - h[-2]) <= fixed_tolerance * scale)
    half = n_steps // 2
    spread = lambda z: jnp.sqrt(jnp.mean(jnp.sum((z - jnp.mean(z, 0)) ** 2, -1)))  # noqa: E731
    grew = spread(h[half:]) > 2.0 * spread(h[:half]) + 1e-12 * scale
    diverged = ~finite | grew
    frequency, peak_fraction = dominant_frequency(jnp.where(finite, y, 0.0))
    periodic = ~settled & ~diverged & (peak_fraction >= min_peak_fraction) & (frequency > 0)
    lag = jnp.clip(jnp.round(jnp.where(frequency > 0, 1.0 / jnp.where(frequency > 0, frequency, 1.0), 1.0)), 1, half).astype(int)
    shifted = jnp.roll(h, -lag, axis=0)
    valid = jnp.arange(n_steps) < n_steps - lag
    distance = jnp.sum(jnp.where(valid, jnp.linalg.norm(shifted - h, axis=-1), 0.0)) / jnp.sum(valid)
    return Orbit(
        fixed_point=settled, diverged=diverged, periodic=periodic,
        frequency=jnp.where(settled, 0.0, frequency),
        period=jnp.where(settled | (frequency <= 0), jnp.inf, 1.0 / jnp.where(frequency > 0, frequency, 1.0)),
        peak_fraction=peak_fraction, amplitude=jnp.sqrt(jnp.mean(jnp.sum((y - jnp.mean(y, 0)) ** 2, -1))),
        return_distance=distance / jnp.maximum(spread(h), 1e-30), final_speed=final_speed,
    )


# ------------------------------------------------------------------------------ eigenvalue outliers
class EigenvalueOutliers(eqx.Module):
    """Eigenvalues of a square matrix outside the bulk disc of the circular law (host arrays).

    Attributes:
        eigenvalues: (N,) complex, largest modulus first.
        radius: the bulk radius σ√N (1 + margin).
        sigma: the entry standard deviation used.
        outliers: (N,) True outside the radius.
    """

    eigenvalues: np.ndarray
    radius: float
    sigma: float
    outliers: np.ndarray

    @property
    def count(self) -> int:
        return int(np.sum(self.outliers))


def eigenvalue_outliers(
    matrix: Float[ArrayLike, "N N"], *, sigma: float | None = None, margin: float = 0.1
) -> EigenvalueOutliers:
    """Eigenvalues of ``matrix`` outside the circular-law disc of radius σ√N(1 + margin).

    Args:
        matrix: (N, N) e.g. a recurrent weight matrix.
        sigma: entry standard deviation of the random bulk (default: the standard deviation of the
            entries about their mean, a consistent estimate when the structure is low rank).
        margin: relative allowance for the finite-N edge of the disc.
    """
    W = np.asarray(matrix, dtype=float)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"matrix has shape {W.shape}; pass a square (N, N) matrix.")
    n = W.shape[0]
    sigma = float(np.std(W)) if sigma is None else float(sigma)
    eigenvalues = np.linalg.eigvals(W)
    eigenvalues = eigenvalues[np.argsort(-np.abs(eigenvalues), kind="stable")]
    radius = sigma * np.sqrt(n) * (1 + margin)
    return EigenvalueOutliers(eigenvalues, float(radius), sigma, np.abs(eigenvalues) > radius)


def unstable_eigenvalue_count(matrix: Float[ArrayLike, "N N"], alpha: float | None = None) -> int:
    """#{λ of W : |1 − α + α λ| > 1}, the unstable directions of h ↦ (1 − α) h + α W h.

    ``alpha=None`` uses the continuous-time limit α → 0: #{λ : Re λ > 1} (τ ḣ = −h + W h)."""
    eigenvalues = np.linalg.eigvals(np.asarray(matrix, dtype=float))
    if alpha is None:
        return int(np.sum(eigenvalues.real > 1))
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha={alpha} must lie in (0, 1] (the leak of h ↦ (1 − α) h + α W h).")
    return int(np.sum(np.abs(1 - alpha + alpha * eigenvalues) > 1))
