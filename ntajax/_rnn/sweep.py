"""Sweeps of gated-RNN experiments: every traced hyperparameter and every seed under one ``vmap``.

:func:`rnn_sweep` runs an :class:`ntajax.RNNExperiment` at n points — values of any of its traced
leaves by dotted path (``"student.tau_c"``, ``"student.tau_w"``, ``"regulariser.lambda_norm"``,
``"curriculum.block_length"``, …; unique last components such as ``"tau_c"`` work too) — times
n_seeds seeds, as ONE compiled program per structure: ``jit(vmap_points(vmap_seeds(train)))``,
run in chunks of ``chunk_size`` points (the last chunk padded, so every chunk reuses the program).
Seeds use common random numbers across points (the same seed keys at every point, MODEL §5.4).
:func:`rnn_grid` builds the points of a Cartesian grid.

ntajax's :class:`ntajax.Sweep` / ``run_sweep`` and their stores are built around a
:class:`ntajax.Simulation` (teachers, a time grid, the linear students' records), which a
recurrent student trained on trials does not have; this module is the small vmapped sweep for
RNN grids that the figures use (``figures/rnn_phase.py`` labels its result with xarray).
"""

import itertools
from collections.abc import Mapping, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from .._compile import COMPILER_OPTIONS
from .._parameters import check_size
from .._precision import pin_matmul_precision
from .training import RNNExperiment, RNNRun, TRACES, seed_keys, train_one


def rnn_grid(axes: Mapping[str, Sequence[float]]) -> dict[str, np.ndarray]:
    """The points of the Cartesian product of ``axes`` ({path: values}), the first axis slowest:
    {path: (n_points,) array}."""
    names = list(axes)
    if not names:
        raise ValueError("rnn_grid: give at least one axis, e.g. {'student.tau_c': [0.01, 0.1]}.")
    combos = list(itertools.product(*[list(np.asarray(axes[n], dtype=float).ravel()) for n in names]))
    return {n: np.array([c[j] for c in combos]) for j, n in enumerate(names)}


@eqx.filter_jit(compiler_options=COMPILER_OPTIONS)
@pin_matmul_precision
def _sweep_chunk(experiment: RNNExperiment, values: dict, keys: PRNGKeyArray) -> RNNRun:
    TRACES["sweep"] = TRACES.get("sweep", 0) + 1

    def at_point(point):
        ex = experiment.set(point, check=False)
        return jax.vmap(lambda k: train_one(ex, k))(keys)

    return jax.vmap(at_point)(values)


def rnn_sweep(
    experiment: RNNExperiment,
    points: Mapping[str, Sequence[float]],
    key: PRNGKeyArray | int,
    *,
    n_seeds: int = 1,
    chunk_size: int | None = None,
) -> RNNRun:
    """Train ``experiment`` at every point and seed (module docstring).

    Args:
        experiment: the base :class:`ntajax.RNNExperiment` (its structure is fixed).
        points: {path: (n_points,) values}, all of equal length (e.g. from :func:`rnn_grid`).
        key: the root key (or an int); seed keys ``jax.random.split(key, n_seeds)``, the same at
            every point.
        n_seeds: seeds per point.
        chunk_size: points per compiled call (default: all at once).

    Returns:
        An :class:`ntajax.RNNRun` whose arrays (and state leaves) lead with (n_points, n_seeds).
    """
    check_size("rnn_sweep", "n_seeds", n_seeds)
    if not points:
        raise ValueError("rnn_sweep: points is empty; give {path: values}, "
                         "e.g. rnn_grid({'student.tau_c': [0.01, 0.1]}).")
    resolved = {experiment.resolve_path(name): np.asarray(v, dtype=float).ravel() for name, v in points.items()}
    lengths = {p: len(v) for p, v in resolved.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"rnn_sweep: every axis needs the same number of points, got {lengths}.")
    n_points = next(iter(lengths.values()))
    for j in range(n_points):  # the checks a new experiment would run, at every point
        experiment.check_point({p: float(v[j]) for p, v in resolved.items()})
    chunk = n_points if chunk_size is None else chunk_size
    check_size("rnn_sweep", "chunk_size", chunk)
    keys = seed_keys(key, n_seeds)
    dtypes = {p: jnp.result_type(experiment.get(p)) for p in resolved}
    outs = []
    for start in range(0, n_points, chunk):
        idx = np.minimum(np.arange(start, start + chunk), n_points - 1)  # pad with the last point
        values = {p: jnp.asarray(v[idx], dtype=dtypes[p]) for p, v in resolved.items()}
        out = _sweep_chunk(experiment, values, keys)
        outs.append(jax.tree.map(lambda x: x[: min(chunk, n_points - start)], out))
    return jax.tree.map(lambda *xs: jnp.concatenate(xs), *outs) if len(outs) > 1 else outs[0]
