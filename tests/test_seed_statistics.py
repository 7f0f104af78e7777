"""Seed statistics against SciPy: the Student-t interval, the SEM, and honest counts of the seeds
that entered (diverged seeds are left out and counted, never silently averaged over)."""

import numpy as np
import pytest
from scipy import stats

from ntajax.metrics import format_statistic, seed_statistics


def test_t_interval_equals_scipy_on_the_same_seeds():
    rng = np.random.default_rng(3)
    x = rng.normal(0.8, 0.1, size=(4, 7))  # 4 cells × 7 seeds
    s = seed_statistics(x, axis=-1)
    for i in range(4):
        low, high = stats.t.interval(0.95, df=6, loc=x[i].mean(), scale=stats.sem(x[i]))
        np.testing.assert_allclose([s.low[i], s.high[i]], [low, high], rtol=1e-12)
        np.testing.assert_allclose(s.sem[i], stats.sem(x[i]), rtol=1e-12)
    assert np.all(s.n == 7) and not s.incomplete.any()
    wide = seed_statistics(x, axis=-1, confidence=0.99)
    assert np.all(wide.high - wide.low > s.high - s.low)


def test_diverged_seeds_are_left_out_and_counted():
    x = np.array([[0.9, np.nan, 0.7, 0.8], [np.nan, np.nan, np.nan, 0.5], [np.nan] * 4])
    s = seed_statistics(x)
    np.testing.assert_array_equal(s.n, [3, 1, 0])
    np.testing.assert_array_equal(s.incomplete, [True, True, True])
    finite = np.array([0.9, 0.7, 0.8])
    low, high = stats.t.interval(0.95, df=2, loc=finite.mean(), scale=stats.sem(finite))
    np.testing.assert_allclose([s.mean[0], s.low[0], s.high[0]], [finite.mean(), low, high], rtol=1e-12)
    assert s.mean[1] == 0.5 and np.isnan(s.sem[1]) and np.isnan(s.low[1])  # one seed: no interval
    assert np.isnan(s.mean[2])
    assert format_statistic(s, 0).endswith("(3/4)!") and format_statistic(s, 1) == "0.500 (n=1/4)!"


def test_seed_axis_anywhere_and_bad_confidence():
    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(seed_statistics(x, axis=0).mean, x.mean(axis=0))
    with pytest.raises(ValueError, match="confidence=1.5"):
        seed_statistics(x, confidence=1.5)
