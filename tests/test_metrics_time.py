"""Time-based metrics: adaptation, post-switch losses, speeds, norms (MODEL.md §7.6, §7.8, §7.12, §7.13)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntajax.metrics import (
    adaptation_speed,
    adaptation_times,
    central_difference,
    gate_speed,
    layer_row_speed,
    normalised_weight_speed,
    path_norms,
    peak_gate_speed_per_block,
    post_switch_losses,
    running_max,
    stack_norm,
)

SPACING = 0.01


def _grid(t_tot, spacing=SPACING):
    return np.arange(round(t_tot / spacing) + 1) * spacing


def _blocks(n_blocks, tau_b, t_tot):
    starts = np.arange(n_blocks) * tau_b
    ends = np.minimum(starts + tau_b, t_tot)
    return starts, ends


# ----------------------------------------------------------------------------- adaptation (§7.6)


def _exponential_loss(t, starts, l0, taus):
    block = np.clip(np.searchsorted(starts, t + 1e-9, side="right") - 1, 0, len(starts) - 1)
    return l0[block] * np.exp(-(t - starts[block]) / taus[block])


def test_adaptation_times_on_exponential_losses():
    tau_b, t_tot, theta = 1.0, 5.0, 0.1
    t = _grid(t_tot)
    starts, ends = _blocks(5, tau_b, t_tot)
    l0 = np.array([1.0, 0.8, 2.0, 1.0, 0.5])
    taus = np.array([0.1, 0.2, 0.05, 0.5, 0.15])
    loss = _exponential_loss(t, starts, l0, taus)
    times, censored = adaptation_times(t, loss, starts, ends, threshold=theta)
    times, censored = np.asarray(times), np.asarray(censored)
    crossing = taus * np.log(l0 / theta)
    never = l0 * np.exp(-tau_b / taus) > theta
    np.testing.assert_array_equal(censored, never)
    assert never.tolist() == [False, False, False, True, False]
    # The first record below θ lies within one recording spacing after the exact crossing.
    ok = ~never
    assert np.all(times[ok] >= crossing[ok] - 1e-6)
    assert np.all(times[ok] <= crossing[ok] + SPACING + 1e-6)
    # Censored at the block length.
    np.testing.assert_allclose(times[never], tau_b)


def test_adaptation_times_cut_short_and_empty_blocks():
    theta = 0.1
    t_tot = 2.5
    t = _grid(t_tot)
    # Blocks 0, 1 full, block 2 cut at t_tot, block 3 starts at the final record t_tot (the
    # original's extra block), block 4 beyond the record, block 5 padded with NaN.
    starts = np.array([0.0, 1.0, 2.0, 2.5, 3.0, np.nan])
    ends = np.array([1.0, 2.0, 2.5, 3.5, 4.0, np.nan])
    taus = np.array([0.1, 0.1, 1.0])
    loss = _exponential_loss(t, starts[:3], np.ones(3), taus)
    loss[-1] = 0.0  # the final record alone must not make block 3 look adapted
    times, censored = adaptation_times(t, loss, starts, ends, threshold=theta)
    times, censored = np.asarray(times), np.asarray(censored)
    np.testing.assert_array_equal(censored, [False, False, True, False, False, False])
    assert times[2] == pytest.approx(0.5)  # cut-short block: censored at its own length
    assert np.all(np.isnan(times[3:]))
    assert times[0] == pytest.approx(0.1 * np.log(10), abs=SPACING + 1e-6)


def test_adaptation_times_tolerates_rounding_at_block_starts():
    # Recording times a rounding error below the nominal block start still belong to that block.
    t = np.arange(301) * np.float32(0.01)  # float32 grid: t[100] may differ from 1.0 by an ulp
    t = (t - 1e-7).astype(np.float32)
    loss = np.where(np.isclose(t, 1.0, atol=1e-5), 0.0, 1.0).astype(np.float32)
    times, censored = adaptation_times(t, loss, np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0]))
    assert float(times[1]) == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_array_equal(np.asarray(censored), [True, False, True])


def test_adaptation_times_jit_vmap_over_seeds():
    t = _grid(3.0)
    starts, ends = _blocks(3, 1.0, 3.0)
    taus = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1], [0.05, 0.5, 0.2]])
    losses = np.stack([_exponential_loss(t, starts, np.ones(3), tau) for tau in taus]).astype(np.float32)
    batched = jax.jit(jax.vmap(adaptation_times, in_axes=(None, 0, None, None)))(t, losses, starts, ends)
    for i in range(3):
        single = adaptation_times(t, losses[i], starts, ends)
        np.testing.assert_allclose(np.asarray(batched[0][i]), np.asarray(single[0]), atol=1e-6)
        np.testing.assert_array_equal(np.asarray(batched[1][i]), np.asarray(single[1]))


# ----------------------------------------------------------------------------- post-switch losses (§7.12)


def test_post_switch_losses_reads_nearest_record():
    t = _grid(2.0)
    loss = 3.0 * t + 1.0  # identifies the record it came from
    switches = np.array([0.5, 1.0, 1.97, np.nan])
    values = np.asarray(post_switch_losses(t, loss, switches, n_after=5))
    assert values.shape == (4, 5)
    n = np.arange(1, 6)
    for j in range(2):
        np.testing.assert_allclose(values[j], 3.0 * (switches[j] + n * SPACING) + 1.0, atol=1e-4)
    # 1.97 + 0.01·n: n = 1…3 lie on the record, n = 4, 5 beyond it.
    np.testing.assert_allclose(values[2, :3], 3.0 * (1.97 + n[:3] * SPACING) + 1.0, atol=1e-4)
    assert np.all(np.isnan(values[2, 3:]))
    assert np.all(np.isnan(values[3]))
    # A coarser Δ than the record and a switch off the grid: nearest record.
    coarse = np.asarray(post_switch_losses(t, loss, np.array([0.504]), n_after=2, spacing=0.1))
    np.testing.assert_allclose(coarse[0], 3.0 * np.array([0.60, 0.70]) + 1.0, atol=1e-4)


# ----------------------------------------------------------------------------- speeds (§7.8, §7.13)


def test_central_difference_exact_on_quadratics():
    dt = 0.1
    t = np.arange(20) * dt
    x = np.stack([2.0 * t**2 - 3.0 * t + 1.0, -t**2 + 0.5], axis=1)  # (T, 2)
    rate = np.asarray(central_difference(x, dt))
    exact = np.stack([4.0 * t - 3.0, -2.0 * t], axis=1)
    np.testing.assert_allclose(rate[1:-1], exact[1:-1], atol=1e-4)
    np.testing.assert_allclose(rate, np.gradient(x, dt, axis=0), atol=1e-4)
    # Non-uniform grid, passing the recorded times.
    rng = np.random.default_rng(0)
    t_nu = np.cumsum(rng.uniform(0.05, 0.15, size=20))
    x_nu = 2.0 * t_nu**2 - 3.0 * t_nu + 1.0
    rate_nu = np.asarray(central_difference(x_nu, t_nu))
    np.testing.assert_allclose(rate_nu[1:-1], 4.0 * t_nu[1:-1] - 3.0, atol=1e-3)
    np.testing.assert_allclose(rate_nu, np.gradient(x_nu, t_nu), atol=1e-3)
    with pytest.raises(ValueError, match="at least 2"):
        central_difference(np.zeros((1, 3)), dt)


def test_gate_speed_on_unit_circle():
    dt = 0.01
    t = np.arange(1000) * dt
    gates = np.stack([np.cos(t), np.sin(t)], axis=1)
    speed = np.asarray(gate_speed(gates, dt))
    np.testing.assert_allclose(speed[1:-1], 1.0, atol=1e-4)
    np.testing.assert_allclose(speed, 1.0, atol=dt)
    # Per-sample display option of the original: dt = 1.
    np.testing.assert_allclose(np.asarray(gate_speed(gates, 1.0))[1:-1], dt, rtol=1e-3)


def test_normalised_weight_speed_of_known_rotation():
    dt = 0.001
    t = np.arange(2001) * dt
    rng = np.random.default_rng(1)
    # Frobenius-orthonormal pairs (E1_p, E2_p) per path; angle φ_p(t) = ω_p t + β t².
    omegas, beta = np.array([1.0, 3.0]), 0.5
    weights = []
    for p in range(2):
        basis = np.linalg.qr(rng.normal(size=(12, 2)))[0].T.reshape(2, 3, 4)
        phase = omegas[p] * t + beta * t**2
        amplitude = 1.0 + 0.5 * np.sin(t)  # the norm changes, the direction speed does not see it
        weights.append(
            amplitude[:, None, None]
            * (np.cos(phase)[:, None, None] * basis[0] + np.sin(phase)[:, None, None] * basis[1])
        )
    weights = np.stack(weights, axis=1)  # (T, P, 3, 4)
    speed = np.asarray(normalised_weight_speed(weights, dt))
    raw = np.mean(omegas) + 2 * beta * t  # increasing, so the second-half maximum is at the end
    np.testing.assert_allclose(speed, raw / raw[-1], rtol=2e-3)


def _smooth_bump_gates(t, starts, tau_b, heights):
    # Rate h_k sin²(π(t − t_k)/τ_B) in block k: continuous, zero at the block edges, peak h_k.
    block = np.clip(np.searchsorted(starts, t + 1e-9, side="right") - 1, 0, len(starts) - 1)
    u = t - starts[block]
    before = np.concatenate([[0.0], np.cumsum(heights * tau_b / 2)])[block]
    c0 = before + heights[block] * (u / 2 - tau_b / (4 * np.pi) * np.sin(2 * np.pi * u / tau_b))
    return np.stack([c0, -0.5 * c0], axis=1)


def test_peak_gate_speed_per_block():
    tau_b, t_tot, tau_c = 1.0, 20.0, 0.03
    t = _grid(t_tot)
    starts, ends = _blocks(20, tau_b, t_tot)
    heights = np.linspace(1.0, 3.0, 20)
    gates = _smooth_bump_gates(t, starts, tau_b, heights)
    # An extra block starting at the final record t_tot gives NaN and is not among the "last 10 %".
    starts_x = np.append(starts, 20.0)
    ends_x = np.append(ends, 21.0)
    per_block, tail = peak_gate_speed_per_block(t, gates, starts_x, ends_x, tau_c)
    per_block = np.asarray(per_block)
    np.testing.assert_allclose(per_block[:20], tau_c * heights, rtol=1e-3)
    assert np.isnan(per_block[20])
    assert float(tail) == pytest.approx(tau_c * np.mean(heights[-2:]), rel=1e-3)
    _, tail_half = peak_gate_speed_per_block(t, gates, starts, ends, tau_c, last_fraction=0.5)
    assert float(tail_half) == pytest.approx(tau_c * np.mean(heights[10:]), rel=1e-3)


def test_adaptation_speed_per_block():
    t = _grid(3.0)
    starts, ends = _blocks(3, 1.0, 3.0)
    slopes = np.array([-2.0, -0.5, -1.0])
    # Loss with rate −slope_k·sin²(π(t − t_k)): peak |dL/dt| is |slope_k|.
    loss = 5.0 + _smooth_bump_gates(t, starts, 1.0, slopes)[:, 0]
    per_block, mean = adaptation_speed(t, loss, starts, ends)
    np.testing.assert_allclose(np.asarray(per_block), np.abs(slopes), rtol=1e-3)
    assert float(mean) == pytest.approx(np.mean(np.abs(slopes)), rel=1e-3)


def test_norms():
    rng = np.random.default_rng(2)
    weights = rng.normal(size=(5, 3, 4, 6))
    expected_paths = np.array([[np.linalg.norm(w) for w in ws] for ws in weights])
    np.testing.assert_allclose(np.asarray(path_norms(weights)), expected_paths, rtol=1e-5)
    np.testing.assert_allclose(
        np.asarray(stack_norm(weights)), [np.linalg.norm(ws.ravel()) for ws in weights], rtol=1e-5
    )


def test_running_max_and_layer_row_speed():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 2))
    for window in (1, 2, 5):
        expected = np.stack([x[max(0, i - window + 1) : i + 1].max(axis=0) for i in range(30)])
        np.testing.assert_allclose(np.asarray(running_max(x, window)), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="window"):
        running_max(x, 0)
    dt = 0.1
    w = rng.normal(size=(25, 4, 3)).cumsum(axis=0)
    rate = np.gradient(w, dt, axis=0)
    row_speed = np.linalg.norm(rate, axis=-1).mean(axis=-1)
    expected = np.maximum(row_speed, np.concatenate([[row_speed[0]], row_speed[:-1]]))
    np.testing.assert_allclose(np.asarray(layer_row_speed(w, dt)), expected, rtol=1e-5)
    assert jnp.asarray(layer_row_speed(w, dt, window=3)).shape == (25,)


def test_block_metrics_ignore_nan_padded_records():
    t = _grid(3.0)
    starts, ends = _blocks(3, 1.0, 3.0)
    loss = _exponential_loss(t, starts, np.ones(3), np.array([0.1, 0.2, 0.3]))
    pad = np.full(50, np.nan)
    trimmed = adaptation_times(t, loss, starts, ends)
    padded = adaptation_times(np.concatenate([t, pad]), np.concatenate([loss, pad]), starts, ends)
    for a, b in zip(trimmed, padded):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
