"""MNIST readout metrics (MODEL §7.14), computed from recorded arrays with numpy.

* :func:`steps_to_threshold` — per block, the steps from the block start until test
  accuracy on the block's task first exceeds the threshold (0.85), read on the recording
  grid (resolution ``record_every`` steps); NaN when it is not reached within the block.
* :func:`gate_inspecificity` — at that record, ‖sort↓(c) − e₁‖₂ and cos(sort↓(c), e₁) with
  e₁ = (1, 0, …): 0 and 1 for a perfectly one-hot gate vector.
* :func:`sort_paths_by_final_gates` — per seed, the path order by the mean gate over the
  last records (the Fig. 7b gate panel); a view, the raw gates are never permuted.

All functions accept arrays with or without a leading seed axis of the trajectory.
"""

import numpy as np

from ._readout import ReadoutConfig, ReadoutTrajectory


def block_table(config: ReadoutConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start step, end step, task) of every block; the last block ends at n_steps."""
    starts = config.block_starts()
    ends = np.append(starts[1:], config.n_steps)
    schedule = config.schedule
    tasks = np.asarray([int(np.argmax(np.asarray(schedule.task_of_block(k, config.n_tasks)))) for k in range(len(starts))])
    return starts, ends, tasks


def steps_to_threshold(
    trajectory: ReadoutTrajectory, config: ReadoutConfig, threshold: float = 0.85
) -> tuple[np.ndarray, np.ndarray]:
    """Steps from each block's start until test accuracy on its task first exceeds ``threshold``.

    The records of block k are those with start_k ≤ step ≤ end_k (the record at end_k is
    the state after the block's last update). Accuracy is that of the block's own task.

    Returns:
        (steps, record_index), each (..., n_blocks): steps as float (NaN if not reached),
        and the index of the record where it was reached (−1 if not).
    """
    step = np.asarray(trajectory.step)
    accuracy = np.asarray(trajectory.accuracy)
    step_1d = step.reshape(-1, step.shape[-1])[0]
    starts, ends, tasks = block_table(config)
    lead = accuracy.shape[:-2]
    steps = np.full(lead + (len(starts),), np.nan)
    where = np.full(lead + (len(starts),), -1, np.int64)
    for k, (a, b, task) in enumerate(zip(starts, ends, tasks)):
        rows = np.flatnonzero((step_1d >= a) & (step_1d <= b))
        if rows.size == 0:
            continue
        above = accuracy[..., rows, task] > threshold  # (..., rows)
        hit = above.any(axis=-1)
        first = np.argmax(above, axis=-1)
        steps[..., k] = np.where(hit, step_1d[rows][first] - a, np.nan)
        where[..., k] = np.where(hit, rows[first], -1)
    return steps, where


def inspecificity(gates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(‖sort↓(c) − e₁‖₂, cos(sort↓(c), e₁)) over the last axis of ``gates`` (MODEL §7.14)."""
    c = -np.sort(-np.asarray(gates, float), axis=-1)
    e1 = np.zeros(c.shape[-1])
    e1[0] = 1.0
    distance = np.linalg.norm(c - e1, axis=-1)
    norm = np.linalg.norm(c, axis=-1)
    cosine = np.where(norm > 0, c[..., 0] / np.where(norm > 0, norm, 1.0), np.nan)
    return distance, cosine


def gate_inspecificity(
    trajectory: ReadoutTrajectory, config: ReadoutConfig, threshold: float = 0.85
) -> tuple[np.ndarray, np.ndarray]:
    """Gate inspecificity at each block's threshold time: (distance, cosine), each (..., n_blocks);
    NaN where the threshold is not reached."""
    _, where = steps_to_threshold(trajectory, config, threshold)
    gates = np.asarray(trajectory.gates)  # (..., T, P)
    idx = np.clip(where, 0, None)
    at = np.take_along_axis(gates, idx[..., None], axis=-2)  # (..., n_blocks, P)
    distance, cosine = inspecificity(at)
    missing = where < 0
    return np.where(missing, np.nan, distance), np.where(missing, np.nan, cosine)


def sort_paths_by_final_gates(gates: np.ndarray, last: int = 100) -> np.ndarray:
    """Path order per seed, descending by the mean gate over the last ``last`` records.

    Args:
        gates: (seed, T, P).
        last: how many final records to average (all if fewer).

    Returns:
        (seed, P) int: ``order[s, 0]`` is the path with the largest late gate of seed s.
    """
    gates = np.asarray(gates)
    late = gates[:, -min(last, gates.shape[1]):, :].mean(axis=1)
    return np.argsort(-late, axis=-1, kind="stable")


def sorted_gates(gates: np.ndarray, last: int = 100) -> np.ndarray:
    """A (seed, T, P) view of ``gates`` with each seed's paths in :func:`sort_paths_by_final_gates` order."""
    gates = np.asarray(gates)
    order = sort_paths_by_final_gates(gates, last)
    return np.stack([gates[s][:, order[s]] for s in range(gates.shape[0])])
