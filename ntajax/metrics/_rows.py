"""Row-matched views of FC and per-neuron students (MODEL.md §7.9).

Neither the two-layer network (§2.3) nor the per-neuron student (§2.2) carries path labels
that line up with teachers: their specialisation is read out row by row.

* Student rows U: the first layer W1 (hidden × d_in) of the FC network, or the P·d_out rows of
  the per-neuron student flattened as i = p·d_out + r.
* Teacher rows are flattened as k = m·d_out + r.
* rowcos[k, i](t) = cos(W*_m[r, :], U[i, :](t)), signed (:func:`row_cosines`).
* The matching i*(k) is a linear assignment on the time mean of rowcos
  (:func:`ntajax.metrics.row_matching`, host SciPy), never an independent argmax per teacher row
  (the original's [compat] choice, which can pick a student row twice).

Given i*, the views below are pure ``jax.numpy`` on the arrays of one seed (time first where
there is a time axis); they jit and vmap, and they never modify the raw arrays:

* sorted first-layer blocks Ŭ_m = [U[i*(m, 0)]; …; U[i*(m, d_out − 1)]] (:func:`sorted_rows`);
* sorted second-layer blocks W̆2_m = [W2[:, i*(m, 0)], …] (:func:`sorted_second_layer`);
* the sorted similarity S^sorted_{mn} = cos_row(W*_m, Ŭ_n) (:func:`sorted_similarity`);
* the total alignment on the matched rows, A_tot = cos_row([W*_0; …], [Ŭ_0; …]) =
  mean_k rowcos[k, i*(k)] (:func:`matched_row_alignment`, §7.5);
* the gates of the matched per-neuron rows (:func:`matched_gates`);
* the FC "gate" traces, the mean over the entries of each W̆2_m (:func:`second_layer_block_means`).
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from ._cosine import row_cosine


@eqx.filter_jit
def row_cosines(
    teachers: Float[ArrayLike, "M d_out d_in"],
    rows: Float[ArrayLike, "*time n_rows d_in"],
    eps: float = 1e-12,
) -> Float[Array, "*time n_teacher_rows n_rows"]:
    """Signed cosines between every teacher row and every student row (§7.9).

    Args:
        teachers: the M base teachers, shape (M, d_out, d_in).
        rows: student row stack U, shape (..., n_rows, d_in) (e.g. (T, P·H, d_in) for W1 over time).
        eps: added to each product of norms, so a zero row gives a cosine of 0.

    Returns:
        rowcos of shape (..., M·d_out, n_rows); teacher row k = m·d_out + r.
    """
    teachers = jnp.asarray(teachers)
    rows = jnp.asarray(rows)
    flat = teachers.reshape(-1, teachers.shape[-1])
    t_unit = flat / (jnp.linalg.norm(flat, axis=-1, keepdims=True) + eps)
    norms = jnp.linalg.norm(rows, axis=-1)  # (..., n_rows)
    dots = jnp.einsum("kd,...id->...ki", t_unit, rows)
    return dots / (norms[..., None, :] + eps)


@eqx.filter_jit
def per_neuron_rows(weights: Float[ArrayLike, "*time P d_out d_in"]) -> Float[Array, "*time n_rows d_in"]:
    """The P·d_out rows of a per-neuron student as one stack, row i = p·d_out + r (§7.9)."""
    weights = jnp.asarray(weights)
    return weights.reshape(*weights.shape[:-3], -1, weights.shape[-1])


@eqx.filter_jit
def sorted_rows(
    rows: Float[ArrayLike, "*time n_rows d_in"], matching: Int[ArrayLike, " n_teacher_rows"], n_teachers: int
) -> Float[Array, "*time M d_out d_in"]:
    """Sorted first-layer blocks Ŭ_m[r] = U[i*(m, r)] (§7.9).

    Args:
        rows: student row stack U, shape (..., n_rows, d_in).
        matching: i*, shape (M·d_out,), from ``row_matching``.
        n_teachers: M (static).

    Returns:
        Ŭ of shape (..., M, d_out, d_in).
    """
    rows = jnp.asarray(rows)
    picked = jnp.take(rows, jnp.asarray(matching), axis=-2)
    return picked.reshape(*rows.shape[:-2], n_teachers, -1, rows.shape[-1])


@eqx.filter_jit
def sorted_second_layer(
    w2: Float[ArrayLike, "*time d_out hidden"], matching: Int[ArrayLike, " n_teacher_rows"], n_teachers: int
) -> Float[Array, "*time M d_out d_out"]:
    """Sorted second-layer blocks W̆2_m[:, r] = W2[:, i*(m, r)] of the FC network (§7.9).

    Args:
        w2: second layer, shape (..., d_out, hidden).
        matching: i*, shape (M·d_out,).
        n_teachers: M (static).

    Returns:
        W̆2 of shape (..., M, d_out, d_out): block m, output row, matched column r. In context m
        a flexible network has a positive diagonal in W̆2_m and near-zero other blocks.
    """
    w2 = jnp.asarray(w2)
    columns = jnp.take(w2, jnp.asarray(matching), axis=-1)  # (..., d_out, M·d_out)
    blocks = columns.reshape(*w2.shape[:-1], n_teachers, -1)  # (..., d_out, M, d_out)
    return jnp.moveaxis(blocks, -2, -3)


@eqx.filter_jit
def sorted_similarity(
    teachers: Float[ArrayLike, "M d_out d_in"], blocks: Float[ArrayLike, "*time N d_out d_in"]
) -> Float[Array, "*time M N"]:
    """S^sorted_{mn} = cos_row(W*_m, Ŭ_n) (§7.9); matched entries on the diagonal."""
    teachers = jnp.asarray(teachers)
    blocks = jnp.asarray(blocks)
    return row_cosine(teachers[:, None], blocks[..., None, :, :, :])


@eqx.filter_jit
def matched_row_alignment(
    rowcos: Float[ArrayLike, "*time n_teacher_rows n_rows"], matching: Int[ArrayLike, " n_teacher_rows"]
) -> Float[Array, "*time"]:
    """Total alignment on the matched rows, A_tot = mean_k rowcos[k, i*(k)] (§7.5, §7.9).

    Equal to cos_row of the stacked teachers against the stacked sorted blocks Ŭ, because the row
    cosine is the mean of the row-wise cosines.
    """
    rowcos = jnp.asarray(rowcos)
    matching = jnp.asarray(matching)
    k = jnp.arange(matching.shape[0])
    return jnp.mean(rowcos[..., k, matching], axis=-1)


@eqx.filter_jit
def matched_gates(
    gates: Float[ArrayLike, "*time n_gates"], matching: Int[ArrayLike, " n_teacher_rows"], n_teachers: int
) -> Float[Array, "*time M d_out"]:
    """Gates of the matched per-neuron rows, c_{i*(m, r)}, grouped by matched teacher (§7.9).

    Args:
        gates: flattened per-neuron gates, shape (..., P·d_out), entry i = p·d_out + r (the order of
            ``PerNeuronStudent.gate_vector``), i.e. the same index as the student rows.
        matching: i*, shape (M·d_out,).
        n_teachers: M (static).

    Returns:
        Shape (..., M, d_out).
    """
    gates = jnp.asarray(gates)
    picked = jnp.take(gates, jnp.asarray(matching), axis=-1)
    return picked.reshape(*gates.shape[:-1], n_teachers, -1)


@eqx.filter_jit
def second_layer_block_means(
    w2: Float[ArrayLike, "*time d_out hidden"], matching: Int[ArrayLike, " n_teacher_rows"], n_teachers: int
) -> Float[Array, "*time M"]:
    """FC "gate" traces: the mean over all entries of each sorted block W̆2_m (§7.9, Fig. A4)."""
    return jnp.mean(sorted_second_layer(w2, matching, n_teachers), axis=(-2, -1))
