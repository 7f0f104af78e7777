"""Seed statistics of plots: diverged seeds (NaN) are left out without numpy warnings."""

import warnings

import matplotlib
import numpy as np

from ntajax._plotting import band, mean_sem, nan_mean_std

matplotlib.use("Agg")  # tests draw off-screen
import matplotlib.pyplot as plt  # noqa: E402


def test_statistics_skip_diverged_seeds_silently():
    x = np.array([[1.0, np.nan, 5.0], [3.0, np.nan, np.nan], [np.nan, np.nan, np.nan]])  # (seed, t)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any RuntimeWarning fails the test
        mean, sem = mean_sem(x)
        mean2, std = nan_mean_std(x)
        fig, ax = plt.subplots()
        band(ax, np.arange(3), x)
        band(ax, np.arange(3), x, kind="std")
        plt.close(fig)
    np.testing.assert_allclose(mean, [2.0, np.nan, 5.0])
    np.testing.assert_allclose(std, [np.std([1.0, 3.0], ddof=1), np.nan, np.nan])
    np.testing.assert_allclose(sem, [np.std([1.0, 3.0], ddof=1) / np.sqrt(2), np.nan, np.nan])
    np.testing.assert_array_equal(mean2, mean)
