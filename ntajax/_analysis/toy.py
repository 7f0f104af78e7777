"""Analysis of the two-dimensional toy model on stored arrays (MODEL §2.4, §7.7, §7.11).

Host-side (NumPy, float64) companions of :mod:`ntajax.metrics` for figure scripts that read
saved toy runs. Arrays follow the toy convention of the stores: weights ``w[..., p, q]`` =
component q of path p (w^p_q), gates ``c[..., p]``, errors and targets ``[..., q]``.

* :func:`output` — ŷ = Σ_p c_p w^p (x = 1).
* :func:`order_parameters` — C̄, W̄, W̿, w̄₁, w̄₂ of §7.7 in float64 (the jitted metric would
  round float64 records to float32 outside ``jax.enable_x64``).
* :func:`limit_cycle` — c̄ = c₂ − c₁ and w̄ = ½(w¹ − w²)·(e₂ − e₁) of Fig. 4F (§7.7).
* :func:`block_distances` — max_t ‖θ_{k+lag}(t) − θ_k(t)‖₂ between blocks ``lag`` apart (Fig. 4G):
  ``lag = 1`` is the consecutive-block d_k of §7.7; ``lag = 2`` compares each block with the
  next block of the same task, i.e. one period 2τ_B later.
* :func:`gate_gradient_field` — f(w) = wᵀε, the gate descent direction τ_c ċ_p of a path with
  weights w, regulariser ignored (Fig. 4D).
* :func:`ntk_grid` — the kernel split εᵀKε = Σ_p (w^pᵀε)² + Σ_p c_p²‖ε‖² of §7.11 on the grid of
  Fig. A8.
* :func:`multipathway_reference` — the no-gating multipathway flow ṗ_x = ṗ_y = S − p_x − p_y
  (Shi, Shea-Brown & Buice 2022, pathway depth D = 1), the optional overlay of Fig. 4E.
"""

import numpy as np

E1 = np.array([1.0, 0.0])
E2 = np.array([0.0, 1.0])


def output(w, c) -> np.ndarray:
    """ŷ = Σ_p c_p w^p, shape (..., 2), from weights (..., P, 2) and gates (..., P)."""
    return np.einsum("...p,...pq->...q", np.asarray(c, float), np.asarray(w, float))


def order_parameters(w, c, new_target, old_target, new_path: int) -> dict[str, np.ndarray]:
    """Order parameters of the symmetric toy model within one target block (§7.7), float64.

    Args:
        w: weights (..., 2, 2); c: gates (..., 2).
        new_target, old_target: e_new (the current target) and e_old (the previous one), (2,).
        new_path: index of the path aligned with e_new; the other one is "old".

    Returns:
        ``Cbar`` = c_new − c_old, ``Wbar`` = ½(w^new − w^old)·(e_new − e_old),
        ``Wbarbar`` = ½(w^new + w^old)·(e_new − e_old), ``wbar1`` = (w^old − w^new)·e_old,
        ``wbar2`` = (w^new − w^old)·e_new, each of shape (...).
    """
    w = np.asarray(w, float)
    c = np.asarray(c, float)
    e_new = np.asarray(new_target, float)
    e_old = np.asarray(old_target, float)
    old_path = 1 - int(new_path)
    w_new, w_old = w[..., int(new_path), :], w[..., old_path, :]
    switch = e_new - e_old
    return {
        "Cbar": c[..., int(new_path)] - c[..., old_path],
        "Wbar": 0.5 * (w_new - w_old) @ switch,
        "Wbarbar": 0.5 * (w_new + w_old) @ switch,
        "wbar1": (w_old - w_new) @ e_old,
        "wbar2": (w_new - w_old) @ e_new,
    }


def analytic_wbar(cbar, tau_c, tau_w) -> np.ndarray:
    """W̄(C̄) = √(1 − ½(τ_c/τ_w)(1 − C̄²)) (§7.7), float64; NaN where the radicand is negative."""
    cbar = np.asarray(cbar, float)
    radicand = 1.0 - 0.5 * (tau_c / tau_w) * (1.0 - cbar**2)
    return np.sqrt(np.where(radicand >= 0, radicand, np.nan))


def limit_cycle(w, c) -> tuple[np.ndarray, np.ndarray]:
    """Fig. 4F coordinates c̄ = c₂ − c₁ and w̄ = ½[(w¹₂ − w¹₁) − (w²₂ − w²₁)] (§7.7)."""
    w = np.asarray(w, float)
    c = np.asarray(c, float)
    return c[..., 1] - c[..., 0], 0.5 * ((w[..., 0, 1] - w[..., 0, 0]) - (w[..., 1, 1] - w[..., 1, 0]))


def state_vector(w, c) -> np.ndarray:
    """θ = (w¹₁, w¹₂, w²₁, w²₂, c₁, c₂), shape (..., 6)."""
    w = np.asarray(w, float)
    c = np.asarray(c, float)
    return np.concatenate([w.reshape(*w.shape[:-2], 4), c], axis=-1)


def block_distances(theta, samples_per_block: int, lag: int = 1, drop: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Distances between blocks ``lag`` apart, max over corresponding times (Fig. 4G, §7.7).

    The record is cut into K = T // samples_per_block blocks starting at record 0 (a block
    start; a trailing partial block such as the final point at t_tot is ignored); the first and
    last ``drop`` blocks are dropped, and for the kept blocks k,
    d_k = max_t ‖θ_{k+lag}(t) − θ_k(t)‖₂.

    Returns:
        k: block numbers (of the original record) of the earlier block of each pair.
        d: the distances, same shape.
    """
    theta = np.asarray(theta, float)
    n_blocks = theta.shape[0] // samples_per_block
    blocks = theta[: n_blocks * samples_per_block].reshape(n_blocks, samples_per_block, -1)
    kept = np.arange(drop, n_blocks - drop)
    if len(kept) <= lag:
        raise ValueError(f"block_distances needs more than {lag} blocks after dropping {drop} at each end; "
                         f"the record holds {n_blocks} blocks of {samples_per_block} samples.")
    earlier, later = kept[:-lag], kept[lag:]
    d = np.max(np.linalg.norm(blocks[later] - blocks[earlier], axis=-1), axis=-1)
    return earlier, d


def gate_gradient_field(w1, w2, eps=(-1.0, 1.0)) -> np.ndarray:
    """f(w) = wᵀε at weights (w1, w2) (any broadcastable shapes): the gate descent direction (Fig. 4D)."""
    eps = np.asarray(eps, float)
    return np.asarray(w1, float) * eps[0] + np.asarray(w2, float) * eps[1]


def ntk_grid(n: int = 100, eps=(-1.0, 1.0)) -> dict[str, np.ndarray]:
    """The kernel split of §7.11 on the Fig. A8 grid, float64.

    Grid: (w¹₁, w¹₂) ∈ [0, 1]², n × n; w² = (1 − w¹₁, 1 − w¹₂); gates c = (w¹₁, w¹₂); points with
    w¹₁ + w¹₂ > 1 are masked (NaN). The kernel is assembled explicitly,
    K = Σ_p (w^p w^pᵀ + c_p² I), so ``total`` = εᵀKε is computed independently of the two parts.

    Returns:
        ``w11`` (n,), ``w12`` (n,) grid axes and ``total``, ``gate``, ``weight`` arrays of shape
        (n, n) indexed [i, j] = (w¹₂ = w12[i], w¹₁ = w11[j]) (rows along w¹₂, as for imshow).
    """
    axis = np.linspace(0.0, 1.0, n)
    w11, w12 = np.meshgrid(axis, axis)  # [i, j] = (w12[i], w11[j])
    w = np.stack([np.stack([w11, w12], -1), np.stack([1 - w11, 1 - w12], -1)], axis=-2)  # (n, n, P, 2)
    c = np.stack([w11, w12], -1)  # (n, n, P)
    eps = np.asarray(eps, float)
    kernel = np.einsum("...pi,...pj->...ij", w, w) + np.sum(c**2, -1)[..., None, None] * np.eye(2)
    total = np.einsum("i,...ij,j->...", eps, kernel, eps)
    gate = np.sum(np.einsum("...pi,i->...p", w, eps) ** 2, axis=-1)
    weight = np.sum(c**2, axis=-1) * (eps @ eps)
    mask = w11 + w12 > 1 + 1e-12
    return {
        "w11": axis, "w12": axis,
        "total": np.where(mask, np.nan, total),
        "gate": np.where(mask, np.nan, gate),
        "weight": np.where(mask, np.nan, weight),
    }


def multipathway_reference(p0, strength: float = 1.0, dt: float = 1e-3, n_steps: int = 10_000) -> np.ndarray:
    """Euler trajectory of ṗ_x = ṗ_y = S − p_x − p_y from p⁰ (pathway depth D = 1), (n_steps + 1, 2).

    The no-gating multipathway reference of Shi, Shea-Brown & Buice (2022) as FIGURES.md Fig. 4E
    states it: both pathway strengths grow equally until they share the target strength S.
    """
    p = np.empty((n_steps + 1, 2))
    p[0] = np.asarray(p0, float)
    for i in range(n_steps):
        p[i + 1] = p[i] + dt * (strength - p[i].sum())
    return p
