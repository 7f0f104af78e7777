"""Curricula and the block clock (MODEL §6)."""

from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntajax
from ntajax._curricula.clock import block_of_step, original_block_steps


@pytest.mark.parametrize(
    "tau_b, dt",
    [("1", "0.001"), ("0.8", "0.001"), ("0.6", "0.001"), ("0.1", "0.001"), ("0.6", "0.01"), ("1", "0.03"), ("0.35", "0.01")],
)
def test_block_k_starts_at_step_round_k_tau_b_over_dt(tau_b, dt):
    """Clean clock: block k starts at step round(k·τ_B/dt), computed here in exact rationals."""
    r = Fraction(tau_b) / Fraction(dt)
    n_steps = 4000
    steps = jnp.arange(n_steps)
    blocks = np.asarray(jax.jit(lambda s: block_of_step(s, jnp.float32(float(tau_b)), float(dt)))(steps))
    starts = [round(k * r) for k in range(int(n_steps / r) + 2)]
    reference = np.searchsorted(np.asarray(starts), np.arange(n_steps), side="right") - 1
    np.testing.assert_array_equal(blocks, reference)


@pytest.mark.parametrize(
    "tau_b, dt, expected",
    [(1, 1e-3, 999), (1, 0.01, 99), (0.8, 1e-3, 800), (0.6, 1e-3, 599), (0.4, 1e-3, 400), (0.1, 1e-3, 100),
     (0.5, 1e-3, 499), (0.25, 1e-3, 249), (0.6, 0.01, 59), (1, 0.03, 33), (5, 1e-4, 49999)],
)
def test_original_float_floor_block_steps_match_spec_table(tau_b, dt, expected):
    assert original_block_steps(tau_b, dt) == expected


def test_original_clock_is_opt_in_and_drifts(key):
    clean = ntajax.Simulation(
        curriculum=ntajax.Blocked(block_length=1.0), gradient=ntajax.ExpectedGradient(),
        grid=ntajax.TimeGrid(t_total=3.0, n_save=3001), n_seeds=1,
    )
    compat = clean.replace(curriculum=clean.curriculum.with_original_clock(clean.grid.dt))
    for config, expected in [(clean, [1.0, 2.0]), (compat, [0.999, 1.998, 2.997])]:  # compat: one step early per block
        trajectory = ntajax.run(config, key)
        t, block = np.asarray(trajectory.t[0]), np.asarray(trajectory.block[0])
        np.testing.assert_allclose(t[1:][np.diff(block) != 0], expected, atol=1e-6)


def _tasks(schedule, n_targets, n_blocks=12):
    return [int(jnp.argmax(schedule.task_of_block(jnp.int32(k), n_targets))) for k in range(n_blocks)]


def test_spec_schedule_table():
    """Task index per block for every schedule string of MODEL §6.1, from the table's formulas."""
    S = 5
    table = {
        ("A_B__", 2): lambda k: k % 2,
        ("B_AB__A_B_AB__", 2): lambda k: (k % 2) + 1 if k < S else k % 3,
        ("B_AB__A_B__", 2): lambda k: (k % 2) + 1 if k < S else k % 2,
        ("A_B__AB__", 2): lambda k: k % 2 if k < S else 2,
        ("AB_BC__", 3): lambda k: (k % 2) + 3,
        ("A_B_C__AB_BC_CA__", 3): lambda k: k % 3 if k < S else (k % 3) + 3,
        ("AB_BC_CA__", 3): lambda k: (k % 3) + 3,
        ("AB_BC_CA__A_B_C__", 3): lambda k: (k % 3) + 3 if k < S else k % 3,
        ("AB_CD__AD__", 4): lambda k: (4 if k % 2 == 0 else 6) if k < S else 7,
        ("AB_BC_CD_DA__AC_BD__", 4): lambda k: (k % 4) + 4 if k < S else (k % 2) + 8,
    }
    assert set(name for name, _ in table) == set(ntajax.SCHEDULE_NAMES)
    for (name, M), rule in table.items():
        schedule = ntajax.schedule(name, M, switch_block=S)
        assert _tasks(schedule, n_targets=10) == [rule(k) for k in range(12)], name


def test_first_composite_block_of_fig3_is_ca():
    """Fig. 3: S = 23, blocks from 23 cycle by absolute index ((k mod 3) + 3): 23 → CA (index 5)."""
    schedule = ntajax.schedule("A_B_C__AB_BC_CA__", 3, switch_block=ntajax.original_switch_block(30.0, 1.0))
    assert ntajax.original_switch_block(30.0, 1.0) == 23
    assert _tasks(schedule, 6, n_blocks=26)[22:26] == [1, 5, 3, 4]


def test_smooth_curriculum_windows():
    """N = 2: context 0 is on during [0, t_ctx), context 1 during [t_ctx, 2 t_ctx), ... (§6.2)."""
    smooth = ntajax.Smooth(n_contexts=2, sharpness=100.0, block_length=jnp.float32(1.0))
    t = jnp.linspace(0.0, 4.0, 4001)[:-1]
    w = jax.vmap(lambda s: smooth.weights(t=s, block=0, step=0, key=None, n_targets=2))(t)
    w = np.asarray(w)
    inside = np.abs(np.asarray(t) - np.round(np.asarray(t))) > 0.05
    active = np.floor(np.asarray(t)).astype(int) % 2
    np.testing.assert_array_less(0.98, w[inside, :][np.arange(inside.sum()), active[inside]])
    np.testing.assert_array_less(w[inside, :][np.arange(inside.sum()), 1 - active[inside]], 0.02)
    # the switch (crossing of ½) sits within about 10⁻⁴·t_ctx of each multiple of t_ctx
    crossings = np.asarray(t)[1:][np.diff(np.sign(w[:, 0] - 0.5)) != 0]
    np.testing.assert_allclose(crossings, [1.0, 2.0, 3.0], atol=2e-3)
    assert np.all(w.max(axis=1) > 0.5)  # at least one context is always on
    order = ntajax.Smooth(n_contexts=2, sharpness=100.0, order=(1, 0), block_length=jnp.float32(1.0))
    w10 = order.weights(t=jnp.float32(0.5), block=0, step=0, key=None, n_targets=2)
    assert float(w10[1]) > 0.99


def test_interleaved_per_step_is_uniform_and_per_sample_is_the_mixture():
    inter = ntajax.Interleaved(tasks=(0, 1, 2), per="step")
    key = jax.random.key(5)
    draws = jax.vmap(lambda i: inter.weights(t=0.0, block=0, step=i, key=key, n_targets=3))(jnp.arange(6000))
    freq = np.asarray(draws).mean(axis=0)
    np.testing.assert_allclose(freq, 1 / 3, atol=0.03)
    mix = ntajax.Interleaved(tasks=(0, 1), per="sample").weights(t=0.0, block=0, step=0, key=key, n_targets=3)
    np.testing.assert_allclose(np.asarray(mix), [0.5, 0.5, 0.0])
