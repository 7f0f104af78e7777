"""Metrics act on one seed; jax.vmap over a seed axis must equal a Python loop over seeds."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntajax.metrics import (
    column_cosine,
    gate_separation,
    gate_speed,
    normalised_weight_speed,
    order_parameters,
    peak_gate_speed_per_block,
    post_switch_losses,
    similarity_matrix,
    specialisation,
    svd_projections,
    total_alignment,
)

N_SEEDS, T = 3, 40
RNG = np.random.default_rng(0)
TIMES = (np.arange(T) * 0.1).astype(np.float32)
STARTS = np.array([0.0, 1.0, 2.0, 3.0, 4.0], dtype=np.float32)
ENDS = STARTS + 1.0
TEACHERS = RNG.normal(size=(2, 3, 5)).astype(np.float32)
TASK = (np.floor(TIMES + 1e-4).astype(np.int32)) % 2

CASES = {
    "similarity_matrix": (lambda w: similarity_matrix(TEACHERS, w), (T, 3, 3, 5)),
    "total_alignment": (lambda s: total_alignment(s, jnp.array([2, 0])), (T, 2, 3)),
    "specialisation": (lambda s: specialisation(s, jnp.array([1, 0])), (T, 2, 3)),
    "gate_separation": (lambda g: gate_separation(g, TASK, jnp.array([1, 0])), (T, 2)),
    "gate_speed": (lambda g: gate_speed(g, 0.1), (T, 2)),
    "normalised_weight_speed": (lambda w: normalised_weight_speed(w, 0.1), (T, 3, 3, 5)),
    "peak_gate_speed": (lambda g: peak_gate_speed_per_block(TIMES, g, STARTS, ENDS, 0.1), (T, 2)),
    "post_switch_losses": (lambda loss: post_switch_losses(TIMES, loss, STARTS[1:], n_after=3), (T,)),
    "svd_projections": (lambda w: svd_projections(w, TEACHERS, n_modes=2), (T, 3, 3, 5)),
    "order_parameters": (
        lambda w: order_parameters(w, w[:, 0], jnp.array([0.0, 1.0]), jnp.array([1.0, 0.0]), 0),
        (T, 2, 2),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_vmap_over_seeds_equals_loop(name):
    fn, shape = CASES[name]
    batch = RNG.normal(size=(N_SEEDS,) + shape).astype(np.float32)
    batched = jax.vmap(fn)(batch)
    for i in range(N_SEEDS):
        single = fn(batch[i])
        for got, want in zip(jax.tree.leaves(batched), jax.tree.leaves(single)):
            np.testing.assert_allclose(np.asarray(got)[i], np.asarray(want), rtol=1e-5, atol=1e-6)


def test_similarity_matrix_with_column_cosine_for_the_toy():
    # Toy teachers are the 2x1 targets e₁, e₂ (§2.4); paths are 2x1 columns.
    targets = jnp.eye(2)[:, :, None]
    paths = jnp.array([[[3.0], [4.0]], [[0.0], [-2.0]]])
    sim = np.asarray(similarity_matrix(targets, paths, cosine=functools.partial(column_cosine, eps=1e-9)))
    np.testing.assert_allclose(sim, [[0.6, 0.0], [0.8, -1.0]], atol=1e-6)

