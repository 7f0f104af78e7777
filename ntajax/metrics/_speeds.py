"""Speeds and norms on the recording grid (MODEL.md §7.8).

* Time derivatives are central differences divided by the spacing (one-sided at the two ends), as
  ``numpy.gradient`` with ``edge_order=1``. The original's Fig. 2e gate speed was not divided by the
  spacing (a per-sample axis); pass ``dt=1`` for that display option.
* Gate speed v_c(t) = ‖dc/dt‖₂ over all gate entries.
* Normalised weight speed v_W(t) = mean_p ‖d(W_p/‖W_p‖_F)/dt‖_F, divided by its maximum over the
  second half of the record (per seed; Fig. 2d).
* Peak gate speed per block τ_c·max_{t∈block, p} |dc_p/dt|, averaged over the last 10 % of blocks
  (Fig. A2). Unlike the original, each block uses only its own records.
* Per-layer row speed: the mean over rows of ‖d(row)/dt‖₂, then a running maximum over a window
  of recorded samples (Fig. A4).
* Path norms ‖W_p‖_F and the stack norm √(Σ_p ‖W_p‖²_F).
"""

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float

from ._blocks import block_membership, last_valid


@eqx.filter_jit
def central_difference(
    x: Float[ArrayLike, "T *rest"], dt: float | Float[ArrayLike, ""] | Float[ArrayLike, " T"]
) -> Float[Array, "T *rest"]:
    """Time derivative along axis 0 by central differences, one-sided at the ends.

    Matches ``numpy.gradient(x, dt, axis=0, edge_order=1)``: exact for quadratics at interior
    points (also on a non-uniform grid), first order at the two end points.

    Args:
        x: samples of shape (T, ...), T ≥ 2, time first.
        dt: the uniform recording spacing Δ (scalar, may be traced), or the recorded times of shape
            (T,) for a non-uniform grid.

    Returns:
        dx/dt of shape (T, ...).
    """
    x = jnp.asarray(x)
    dt = jnp.asarray(dt)
    n_time = x.shape[0]
    if n_time < 2:
        raise ValueError(f"central_difference needs at least 2 samples along axis 0, got shape {x.shape}.")
    if dt.ndim == 0:
        interior = (x[2:] - x[:-2]) / (2 * dt)
        first = (x[1] - x[0]) / dt
        last = (x[-1] - x[-2]) / dt
    elif dt.shape == (n_time,):
        h = jnp.diff(dt).reshape((n_time - 1,) + (1,) * (x.ndim - 1))
        h1, h2 = h[:-1], h[1:]
        # Second-order weights of the non-uniform three-point stencil (as numpy.gradient).
        interior = (
            -h2 / (h1 * (h1 + h2)) * x[:-2]
            + (h2 - h1) / (h1 * h2) * x[1:-1]
            + h1 / (h2 * (h1 + h2)) * x[2:]
        )
        first = (x[1] - x[0]) / h[0]
        last = (x[-1] - x[-2]) / h[-1]
    else:
        raise ValueError(
            "central_difference needs dt as a scalar spacing or as the (T,) recorded times; got shape "
            f"{dt.shape} for x of shape {x.shape}."
        )
    return jnp.concatenate([first[None], interior, last[None]], axis=0)


@eqx.filter_jit
def gate_speed(
    gates: Float[ArrayLike, "T *gates"], dt: float | Float[ArrayLike, "..."]
) -> Float[Array, " T"]:
    """Gate switching speed v_c(t) = ‖dc/dt‖₂ (§7.8, Fig. 2e).

    Args:
        gates: gates of shape (T, G), or (T, P, d_out) for per-neuron gates; the norm runs over all
            gate entries, flattened.
        dt: recording spacing Δ, or the (T,) recorded times (see ``central_difference``). Pass 1 for
            the original's per-sample axis.

    Returns:
        v_c of shape (T,).
    """
    rate = central_difference(gates, dt)
    return jnp.sqrt(jnp.sum(rate.reshape(rate.shape[0], -1) ** 2, axis=-1))


@eqx.filter_jit
def path_norms(weights: Float[ArrayLike, "*batch P d_out d_in"]) -> Float[Array, "*batch P"]:
    """Frobenius norm ‖W_p‖_F of every path (§7.8).

    Args:
        weights: path weights of shape (..., P, d_out, d_in).

    Returns:
        Norms of shape (..., P).
    """
    weights = jnp.asarray(weights)
    return jnp.sqrt(jnp.sum(weights**2, axis=(-2, -1)))


@eqx.filter_jit
def stack_norm(weights: Float[ArrayLike, "*batch P d_out d_in"]) -> Float[Array, "*batch"]:
    """Stack norm √(Σ_p ‖W_p‖²_F) (§7.8).

    For a perfectly specialised student its reference value is √(Σ_m ‖W*_m‖²_F), i.e. this
    function applied to the teachers.

    Args:
        weights: path weights of shape (..., P, d_out, d_in).

    Returns:
        Norm of shape (...).
    """
    weights = jnp.asarray(weights)
    return jnp.sqrt(jnp.sum(weights**2, axis=(-3, -2, -1)))


@eqx.filter_jit
def normalised_weight_speed(
    weights: Float[ArrayLike, "T P d_out d_in"],
    dt: float | Float[ArrayLike, "..."],
    eps: float = 1e-12,
) -> Float[Array, " T"]:
    """Normalised weight speed of Fig. 2d (§7.8).

    v_W(t) = mean_p ‖dŴ_p/dt‖_F with Ŵ_p = W_p/‖W_p‖_F (central differences), divided by
    max v_W over the second half of the record (records T//2 … T−1) of this seed.

    Args:
        weights: path weights of shape (T, P, d_out, d_in), T ≥ 2.
        dt: recording spacing Δ, or the (T,) recorded times.
        eps: added to ‖W_p‖_F before dividing.

    Returns:
        v_W / max_{second half} v_W, shape (T,).
    """
    weights = jnp.asarray(weights)
    unit = weights / (path_norms(weights)[..., None, None] + eps)
    speed = jnp.mean(path_norms(central_difference(unit, dt)), axis=-1)
    return speed / jnp.max(speed[speed.shape[0] // 2 :])


@eqx.filter_jit
def peak_gate_speed_per_block(
    t: Float[ArrayLike, " T"],
    gates: Float[ArrayLike, "T *gates"],
    block_starts: Float[ArrayLike, " K"],
    block_ends: Float[ArrayLike, " K"],
    tau_c: float | Float[ArrayLike, ""],
    last_fraction: float = 0.1,
) -> tuple[Float[Array, " K"], Float[Array, ""]]:
    """Peak gate speed τ_c·max_{t∈block, p} |dc_p/dt| per block and its mean over the last blocks (§7.8).

    Theory: right after a switch between specialised modules τ_c ċ ≈ ‖W*_new‖²_F.

    Args:
        t: recorded times, shape (T,), increasing (used for the derivative and the blocks).
        gates: gates of shape (T, P) (or (T, P, d_out); the max runs over all entries).
        block_starts: t_k, shape (K,).
        block_ends: end of block k, shape (K,). Block k holds the records with t_k ≤ t < end_k.
        tau_c: gate time constant.
        last_fraction: the fraction of blocks averaged at the end: the last
            max(1, ⌈last_fraction·K_rec⌉) blocks that hold records, K_rec being their number.

    Returns:
        per_block: shape (K,), NaN for blocks without records.
        tail_mean: scalar mean of ``per_block`` over the last blocks.
    """
    t = jnp.asarray(t)
    rate = central_difference(gates, t)
    peak = jnp.max(jnp.abs(rate.reshape(rate.shape[0], -1)), axis=-1)  # (T,)
    member = block_membership(t, block_starts, block_ends)  # (T, K)
    has_records = jnp.any(member, axis=0)
    per_block = jnp.where(
        has_records, tau_c * jnp.max(jnp.where(member, peak[:, None], -jnp.inf), axis=0), jnp.nan
    )
    n_last = jnp.maximum(1, jnp.ceil(last_fraction * jnp.sum(has_records)))
    tail = last_valid(has_records, n_last)
    tail_mean = jnp.sum(jnp.where(tail, per_block, 0.0)) / jnp.sum(tail)
    return per_block, tail_mean


@eqx.filter_jit
def running_max(x: Float[ArrayLike, "T *rest"], window: int) -> Float[Array, "T *rest"]:
    """Trailing running maximum along axis 0: y[i] = max(x[max(0, i−window+1)], …, x[i]).

    Args:
        x: samples of shape (T, ...).
        window: number of recorded samples in the window (static, ≥ 1); 1 returns x.

    Returns:
        Shape (T, ...).
    """
    x = jnp.asarray(x)
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"running_max needs an integer window >= 1 (samples), got {window!r}.")
    x = x.astype(jnp.result_type(x.dtype, jnp.float32))
    return lax.reduce_window(
        x,
        -jnp.inf,
        lax.max,
        window_dimensions=(window,) + (1,) * (x.ndim - 1),
        window_strides=(1,) * x.ndim,
        padding=((window - 1, 0),) + ((0, 0),) * (x.ndim - 1),
    )


@eqx.filter_jit
def layer_row_speed(
    w: Float[ArrayLike, "T rows cols"], dt: float | Float[ArrayLike, "..."], window: int = 2
) -> Float[Array, " T"]:
    """Per-layer weight speed of Fig. A4 (§7.8).

    The mean over rows of ‖d(row)/dt‖₂ (central differences), followed by a trailing running
    maximum over ``window`` recorded samples (the original's window works out to 2 samples in A4).

    Args:
        w: one layer's weights over time, shape (T, rows, cols) (W1 or W2).
        dt: recording spacing Δ, or the (T,) recorded times.
        window: running-maximum window in recorded samples (static).

    Returns:
        Shape (T,).
    """
    rate = central_difference(w, dt)
    speed = jnp.mean(jnp.sqrt(jnp.sum(rate**2, axis=-1)), axis=-1)
    return running_max(speed, window)
