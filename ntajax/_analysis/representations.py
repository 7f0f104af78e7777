"""Task representations of trained students: task variance per unit and hidden-state geometry.

The measures themselves are in :mod:`ntajax.metrics._representations`; this module reads them
off students. "The network during task m" is the student at the end of the last complete block
of task m (:func:`last_block_ends`), or a single state for every task when the tasks are trained
at once (parallel outputs, :mod:`ntajax._engines.multi_head`).

* :func:`unit_maps` — the activity map a_u of every unit (gated rows; two-layer hidden units
  weighted by their output weights ‖W2[:, k]‖; the gated hidden layer of the multi-head student).
* :func:`hidden_map` — the map x ↦ h of the hidden state compared across tasks.
* :func:`task_variances`, :func:`hidden_geometry` — TV_m(u) and the shared-vs-separate measures.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._students.multi_head import MultiHeadStudent
from .._students.base import Student
from .._students.linear import GatedStudent, PerNeuronStudent, TwoLayerStudent
from ..metrics._representations import (
    covariance_f_ratio,
    covariance_overlap,
    f_ratio,
    gated_row_maps,
    linear_separability,
    readout_weighted_maps,
    second_order_features,
    task_variance,
)


@functools.singledispatch
def unit_maps(student: Student) -> Float[Array, "units d_in"]:
    """Activity maps a_u of the units whose task variance is measured (one row per unit)."""
    raise TypeError(f"unit_maps has no rule for {type(student).__name__}.")


@unit_maps.register
def _(student: GatedStudent):
    return gated_row_maps(student.W, student.c)


@unit_maps.register
def _(student: PerNeuronStudent):
    return gated_row_maps(student.W, student.c)


@unit_maps.register
def _(student: TwoLayerStudent):
    return readout_weighted_maps(student.W1, student.W2)


@unit_maps.register
def _(student: MultiHeadStudent):
    return student.hidden_map()


@functools.singledispatch
def hidden_map(student: Student) -> Float[Array, "units d_in"]:
    """The map A with hidden state h = A x (two-layer: W1; gated students: the gated rows)."""
    return unit_maps(student)


@hidden_map.register
def _(student: TwoLayerStudent):
    return student.W1


def last_block_ends(
    weight_times: np.ndarray, block_length: float, t_total: float, task_of_block, n_tasks: int
) -> np.ndarray:
    """Index into ``weight_times`` of the end of the last complete block of every task.

    Args:
        weight_times: times of the recorded full weights, increasing.
        block_length: τ_B. t_total: the simulated span.
        task_of_block: callable k ↦ task index of block k.
        n_tasks: M.

    Raises:
        ValueError: if some task has no complete block, or a block end is not a recorded time.
    """
    n_complete = int(np.floor(t_total / block_length + 1e-9))
    out = np.full(n_tasks, -1)
    for k in range(n_complete):
        out[task_of_block(k)] = k
    if np.any(out < 0):
        raise ValueError(f"tasks {np.flatnonzero(out < 0).tolist()} have no complete block in [0, {t_total}].")
    ends = (out + 1) * block_length
    index = np.searchsorted(weight_times, ends - 1e-9 * max(1.0, t_total))
    if np.any(index >= len(weight_times)) or not np.allclose(weight_times[np.minimum(index, len(weight_times) - 1)], ends,
                                                               atol=1e-6 * max(1.0, t_total)):
        raise ValueError(f"block ends {ends.tolist()} are not all recorded weight times; record weights at every block end.")
    return index


def task_variances(students_by_task: list[Student]) -> Float[Array, "M units"]:
    """TV_m(u) = ‖a_u‖² of every unit in the state of each task (x ~ N(0, I))."""
    return jnp.stack([task_variance(unit_maps(s)) for s in students_by_task])


def hidden_geometry(
    maps_by_task: Float[Array, "M units d_in"], key: PRNGKeyArray, n_probe: int = 1000
) -> dict[str, Float[Array, ""]]:
    """Shared-vs-separate measures of the hidden states h = A_m x of the tasks.

    ``n_probe`` inputs x ~ N(0, I) per task (drawn from ``key``) give the sampled measures; the
    covariances Σ_m = A_m A_mᵀ give the exact ones.

    Returns:
        ``separability`` (held-out linear classifier accuracy on second-order features, see
        :mod:`ntajax.metrics._representations`), ``separability_first_order`` (the same on h
        itself: at most ¾ for centred states), ``f_ratio`` (exact, second-order features),
        ``f_ratio_sampled`` (its sample estimate), ``overlap`` (mean pairwise covariance overlap).
    """
    A = jnp.asarray(maps_by_task)
    n_tasks, _, d_in = A.shape
    k_inputs, k_split, k_split1 = jax.random.split(key, 3)
    x = jax.random.normal(k_inputs, (n_tasks, n_probe, d_in), A.dtype)
    h = jnp.einsum("muj,mnj->mnu", A, x).reshape(n_tasks * n_probe, -1)
    labels = jnp.repeat(jnp.arange(n_tasks), n_probe)
    z = second_order_features(h)
    covariances = jnp.einsum("muj,mvj->muv", A, A)
    pairs = [(a, b) for a in range(n_tasks) for b in range(a + 1, n_tasks)]
    return dict(
        separability=linear_separability(z, labels, n_tasks, k_split),
        separability_first_order=linear_separability(h, labels, n_tasks, k_split1),
        f_ratio=covariance_f_ratio(covariances),
        f_ratio_sampled=f_ratio(z, labels, n_tasks),
        overlap=jnp.mean(jnp.stack([covariance_overlap(covariances[a], covariances[b]) for a, b in pairs])),
    )
