"""Continual-learning metrics: retention of the previous task and alignment for any path count.

* Retention (ntajax's definition for the baselines comparison, MODEL §9): the expected loss on
  the task of block k − 1 at the end of block k, ½‖W*_{k−1} − W_eff(t_{k+1})‖²_F, with the
  student exactly as it is then (its current gates included).
* Re-gated retention: the same loss after re-setting only the gates, weights frozen —
  min_c ½‖W*_{k−1} − Σ_p c_p W_p‖²_F for the gated student, per output row for per-neuron gating,
  and min over W2 of ½‖W* − W2 W1‖²_F for the two-layer network (W2 plays the gate role, §2.3).
  It measures what the modules still know, which a fast gate switch can recover.
* Total alignment for P < M paths (e.g. the single-path student): at each time each path is
  assigned to a different teacher (the best such assignment at that time, since a path that is
  rewritten every block has no time-mean assignment) and teachers left without a path count 0,
  so a single path can reach at most P/M.

Pure ``jax.numpy`` on one seed (``jax.vmap`` for batches).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._assignment import assign_paths


def _half_squared(x, axes):
    return 0.5 * jnp.sum(x**2, axis=axes)


@eqx.filter_jit
def previous_task_loss(
    effective_map: Float[ArrayLike, "*K d_out d_in"], previous_target: Float[ArrayLike, "*K d_out d_in"]
) -> Float[Array, "*K"]:
    """Retention: ½‖W*_prev − W_eff‖²_F, the expected loss on the previous task (any leading axes)."""
    return _half_squared(jnp.asarray(previous_target) - jnp.asarray(effective_map), (-2, -1))


@eqx.filter_jit
def best_gate_loss(paths: Float[ArrayLike, "P d_out d_in"], target: Float[ArrayLike, "d_out d_in"]) -> Float[Array, ""]:
    """min over path gates c ∈ R^P of ½‖T − Σ_p c_p W_p‖²_F (gated student, weights frozen).

    Least squares in the P-dimensional span of the paths (pseudo-inverse, so paths that are
    zero or collinear are handled).
    """
    paths = jnp.asarray(paths)
    target = jnp.asarray(target)
    A = paths.reshape(paths.shape[0], -1).T  # (D, P)
    t = target.reshape(-1)
    c = jnp.linalg.pinv(A) @ t
    return _half_squared(t - A @ c, -1)


@eqx.filter_jit
def best_row_gate_loss(paths: Float[ArrayLike, "P d_out d_in"], target: Float[ArrayLike, "d_out d_in"]) -> Float[Array, ""]:
    """min over per-row gates c_{p,i} of ½‖T − Σ_p diag(c_p) W_p‖²_F (per-neuron gating, weights frozen)."""
    paths = jnp.asarray(paths)
    target = jnp.asarray(target)
    rows = jnp.transpose(paths, (1, 2, 0))  # (d_out, d_in, P): the P candidate rows of each output row

    def one_row(A, t):
        c = jnp.linalg.pinv(A) @ t
        return _half_squared(t - A @ c, -1)

    return jnp.sum(jax.vmap(one_row)(rows, target))


@eqx.filter_jit
def best_readout_loss(first_layer: Float[ArrayLike, "hidden d_in"], target: Float[ArrayLike, "d_out d_in"]) -> Float[Array, ""]:
    """min over W2 of ½‖T − W2 W1‖²_F = ½‖T (I − W1⁺W1)‖²_F (two-layer network, W1 frozen)."""
    W1 = jnp.asarray(first_layer)
    T = jnp.asarray(target)
    projector = jnp.linalg.pinv(W1) @ W1
    return _half_squared(T - T @ projector, (-2, -1))


@eqx.filter_jit
def any_total_alignment(similarity: Float[ArrayLike, "T M P"], window: Float[ArrayLike, " T"]) -> Float[Array, " T"]:
    """A_tot(t) for any number of paths.

    P ≥ M: MODEL §7.5, (1/M) Σ_m S_{m,π(m)}(t) with π assigned on the ``window``-weighted time
    mean of S (§7.4). P < M: (1/M) Σ_p S_{σ_t(p),p}(t) with σ_t the best injective map from paths
    to teachers at each time t; the M − P teachers without a path count 0.

    Args:
        similarity: S(t), shape (T, M, P).
        window: weights over time of the assignment window (summing to 1), shape (T,).
    """
    S = jnp.asarray(similarity)
    n_teachers, n_paths = S.shape[-2:]
    if n_paths >= n_teachers:
        pi = assign_paths(jnp.tensordot(jnp.asarray(window), S, axes=1))
        return jnp.sum(S[:, jnp.arange(n_teachers), pi], axis=-1) / n_teachers

    def at(s):
        sigma = assign_paths(s.T)  # path → teacher
        return jnp.sum(s[sigma, jnp.arange(n_paths)]) / n_teachers

    return jax.vmap(at)(S)
