"""Metrics of the two-dimensional toy model (MODEL.md §2.4, §7.7, §7.11).

Weights are indexed w[..., p, q] = component q of path p (w^p_q in the spec, 0-based here), gates
c[..., p], and the 6-D state is θ = (w¹₁, w¹₂, w²₁, w²₂, c₁, c₂).

* Order parameters (§7.7): C̄ = c_new − c_old, W̄ = ½(w^new − w^old)·(e_new − e_old),
  W̿ = ½(w^new + w^old)·(e_new − e_old), w̄₂ = (w^new − w^old)·e_new, w̄₁ = (w^old − w^new)·e_old.
* Analytic curve W̄(C̄) = √(1 − ½(τ_c/τ_w)(1 − C̄²)) under the symmetric ansatz (§7.7).
* Limit-cycle coordinates c̄ = c₂ − c₁, w̄ = ½[(w¹₂ − w¹₁) − (w²₂ − w²₁)] (Fig. 4F).
* Cycle convergence d_k = max_t ‖θ_{k+1}(t) − θ_k(t)‖₂ (Fig. 4G).
* NTK split (§7.11): εᵀKε with K = Σ_p (w^p w^pᵀ + c_p² I), split into the gate-learning part
  Σ_p (w^p·ε)² and the weight-learning part Σ_p c_p² ‖ε‖².
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int


@eqx.filter_jit
def order_parameters(
    w: Float[ArrayLike, "*time 2 2"],
    c: Float[ArrayLike, "*time 2"],
    new_target: Float[ArrayLike, " 2"],
    old_target: Float[ArrayLike, " 2"],
    new_path: int | Int[ArrayLike, ""],
) -> dict[str, Float[Array, "*time"]]:
    """Order parameters of the symmetric toy model within one target block (§7.7).

    The original's convention (C̄ = c₁ − c₂, W̄ = −[(W₁₁ − W₁₂) + (W₂₂ − W₂₁)]/2 on its sorted
    paths) is ``new_target = e₂, old_target = e₁, new_path = 0``.

    Args:
        w: path weights of shape (T, 2, 2), w[t, p, q] = component q of path p.
        c: gates of shape (T, 2).
        new_target: the current target e_new, shape (2,).
        old_target: the previous target e_old, shape (2,).
        new_path: index (0 or 1, may be traced) of the path aligned with e_new; the other path is
            "old". Label it from the initial state or from the assignment.

    Returns:
        Dict of arrays of shape (T,): ``"Cbar"`` C̄, ``"Wbar"`` W̄, ``"Wbarbar"`` W̿,
        ``"wbar1"`` w̄₁ and ``"wbar2"`` w̄₂ (W̄ = ½(w̄₁ + w̄₂)).
    """
    w = jnp.asarray(w)
    c = jnp.asarray(c)
    e_new = jnp.asarray(new_target, dtype=w.dtype)
    e_old = jnp.asarray(old_target, dtype=w.dtype)
    new_path = jnp.asarray(new_path)
    old_path = 1 - new_path
    w_new = jnp.take(w, new_path, axis=-2)
    w_old = jnp.take(w, old_path, axis=-2)
    c_new = jnp.take(c, new_path, axis=-1)
    c_old = jnp.take(c, old_path, axis=-1)
    switch = e_new - e_old
    return {
        "Cbar": c_new - c_old,
        "Wbar": 0.5 * (w_new - w_old) @ switch,
        "Wbarbar": 0.5 * (w_new + w_old) @ switch,
        "wbar1": (w_old - w_new) @ e_old,
        "wbar2": (w_new - w_old) @ e_new,
    }


@eqx.filter_jit
def analytic_wbar(
    cbar: Float[ArrayLike, "*batch"],
    tau_c: float | Float[ArrayLike, "*batch"],
    tau_w: float | Float[ArrayLike, "*batch"],
) -> Float[Array, "*batch"]:
    """Analytic W̄(C̄) = √(1 − ½(τ_c/τ_w)(1 − C̄²)) of the symmetric ansatz (§7.7).

    Equals 1 at C̄ = ±1 and has its minimum √(1 − τ_c/(2τ_w)) at C̄ = 0. Identical to the
    original's half-scale form w̄′ = √((−¼τ′ + c̄′²τ′ + ¼τ_w)/τ_w) with c̄′ = C̄/2, w̄′ = W̄/2,
    τ′ = τ_c/2. NaN where the radicand is negative (τ_c > 2τ_w near C̄ = 0).

    Args:
        cbar: C̄ values, any shape.
        tau_c: gate time constant (broadcasts).
        tau_w: weight time constant (broadcasts).

    Returns:
        W̄ of the broadcast shape.
    """
    cbar = jnp.asarray(cbar)
    return jnp.sqrt(1.0 - 0.5 * (tau_c / tau_w) * (1.0 - cbar**2))


@eqx.filter_jit
def limit_cycle_coordinates(
    w: Float[ArrayLike, "*time 2 2"], c: Float[ArrayLike, "*time 2"]
) -> tuple[Float[Array, "*time"], Float[Array, "*time"]]:
    """Limit-cycle coordinates of Fig. 4F (§7.7).

    Args:
        w: path weights of shape (T, 2, 2), w[t, p, q] = component q of path p.
        c: gates of shape (T, 2).

    Returns:
        cbar: c̄ = c₂ − c₁, shape (T,).
        wbar: w̄ = ½(w¹ − w²)·(e₂ − e₁) = ½[(w¹₂ − w¹₁) − (w²₂ − w²₁)], shape (T,).
    """
    w = jnp.asarray(w)
    c = jnp.asarray(c)
    cbar = c[..., 1] - c[..., 0]
    wbar = 0.5 * ((w[..., 0, 1] - w[..., 0, 0]) - (w[..., 1, 1] - w[..., 1, 0]))
    return cbar, wbar


@eqx.filter_jit
def cycle_convergence(
    theta: Float[ArrayLike, "T D"], samples_per_block: int, drop: int = 2
) -> Float[Array, " K_pairs"]:
    """Distance between consecutive cycles of the toy trajectory (Fig. 4G, §7.7).

    The record is split into K = T // samples_per_block blocks of equal sample counts, starting at
    record 0 (which must be a block start; trailing records that do not fill a block, such as the
    final point at t_tot, are ignored). The first and last ``drop`` blocks are dropped, and for the
    remaining blocks k, d_k = max_t ‖θ_{k+1}(t) − θ_k(t)‖₂ over corresponding times.

    Args:
        theta: the state trajectory, shape (T, D) (D = 6 for the toy; any trailing shape works).
        samples_per_block: records per block (static), τ_B/Δ.
        drop: blocks dropped at each end (static).

    Returns:
        d_k of shape (K − 2·drop − 1,).
    """
    theta = jnp.asarray(theta)
    n_blocks = theta.shape[0] // samples_per_block
    n_kept = n_blocks - 2 * drop
    if n_kept < 2:
        raise ValueError(
            f"cycle_convergence needs at least 2 blocks after dropping {drop} at each end; the record "
            f"of {theta.shape[0]} samples holds {n_blocks} blocks of {samples_per_block} samples."
        )
    blocks = theta[: n_blocks * samples_per_block].reshape(n_blocks, samples_per_block, -1)
    blocks = blocks[drop : n_blocks - drop]
    distance = jnp.sqrt(jnp.sum((blocks[1:] - blocks[:-1]) ** 2, axis=-1))  # (K', samples)
    return jnp.max(distance, axis=-1)


@eqx.filter_jit
def ntk_split(
    w: Float[ArrayLike, "*batch P d"],
    c: Float[ArrayLike, "*batch P"],
    eps: Float[ArrayLike, "*batch d"],
) -> tuple[Float[Array, "*batch"], Float[Array, "*batch"], Float[Array, "*batch"]]:
    """Adaptation rate along the error and its gate/weight split (§7.11, Fig. A8).

    With τ_c = τ_w = τ and ε = y* − ŷ, dŷ/dt = (1/τ) K ε with K = Σ_p (w^p w^pᵀ + c_p² I).

    Args:
        w: path weights of shape (..., P, d), w[p] = w^p (the toy: (2, 2)).
        c: gates of shape (..., P).
        eps: output error ε = y* − ŷ, shape (..., d).

    Returns:
        total: εᵀKε, computed from the assembled kernel K, shape (...).
        gate_part: Σ_p (w^p·ε)² (gate learning), shape (...).
        weight_part: Σ_p c_p² ‖ε‖² (weight learning), shape (...).
    """
    w = jnp.asarray(w)
    c = jnp.asarray(c)
    eps = jnp.asarray(eps)
    identity = jnp.eye(w.shape[-1], dtype=w.dtype)
    kernel = jnp.einsum("...pi,...pj->...ij", w, w) + jnp.sum(c**2, axis=-1)[..., None, None] * identity
    total = jnp.einsum("...i,...ij,...j->...", eps, kernel, eps)
    gate_part = jnp.sum(jnp.einsum("...pi,...i->...p", w, eps) ** 2, axis=-1)
    weight_part = jnp.sum(c**2, axis=-1) * jnp.sum(eps**2, axis=-1)
    return total, gate_part, weight_part
