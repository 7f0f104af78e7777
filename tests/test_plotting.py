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


def test_interval_band_is_the_student_t_interval_around_the_sem_band():
    """``band(..., interval=True)`` shades mean ± SEM and, lighter, the 95 % Student-t interval
    over the finite seeds, checked against scipy.stats.t on each time point."""
    from scipy import stats

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4))  # (seed, t)
    x[1, 2] = np.nan  # a diverged seed at one time point: 4 seeds there
    fig, ax = plt.subplots()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        band(ax, np.arange(4), x, interval=True)
    sem_band, t_band = ax.collections
    plt.close(fig)

    def limits(collection):  # the filled polygon: lower edge forward, upper edge back
        vertices = collection.get_paths()[0].vertices[:, 1]
        lower, upper = vertices[1:5], vertices[6:10][::-1]
        return lower, upper

    for j in range(4):
        finite = x[np.isfinite(x[:, j]), j]
        mean, sem = finite.mean(), stats.sem(finite)
        low, high = stats.t.interval(0.95, len(finite) - 1, loc=mean, scale=sem)
        np.testing.assert_allclose([limits(t_band)[0][j], limits(t_band)[1][j]], [low, high], rtol=1e-10)
        np.testing.assert_allclose([limits(sem_band)[0][j], limits(sem_band)[1][j]], [mean - sem, mean + sem], rtol=1e-10)
