"""Summaries of gated-RNN runs for the switching and phase figures (numpy, after training).

* :func:`gate_separation` — how differently the gates are set in two tasks: for the gate vectors
  c̄_A, c̄_B of the network at the end of the last block of each task (``RNNRun.task_final.c``),

      S = ‖c̄_A − c̄_B‖₁ / (‖c̄_A‖₁ + ‖c̄_B‖₁)  ∈ [0, 1],

  0 when both tasks use the same gates (weights must be rewritten: forgetful), 1 when they use
  disjoint modules (one-hot gates (1, 0) vs (0, 1)); the recurrent analogue of the specialisation
  the paper reads from the gates (its Fig. 2).
* :func:`late_blocks` — the indices of the complete blocks in the last quarter of training.
"""

import numpy as np


def gate_separation(task_gates, a: int = 0, b: int = 1) -> np.ndarray:
    """S of the module docstring for gates (..., M, P) of tasks ``a`` and ``b`` → shape (...)."""
    c = np.asarray(task_gates, dtype=float)
    ca, cb = c[..., a, :], c[..., b, :]
    denominator = np.abs(ca).sum(-1) + np.abs(cb).sum(-1)
    return np.abs(ca - cb).sum(-1) / np.where(denominator > 0, denominator, np.nan)


def late_blocks(n_steps: int, block_steps: float, fraction: float = 0.25) -> np.ndarray:
    """Indices of the complete blocks (of ``block_steps`` steps) that start in the last
    ``fraction`` of ``n_steps`` training steps (at least the last complete block)."""
    n_complete = int(np.floor(n_steps / block_steps + 1e-9))
    if n_complete < 1:
        return np.zeros((0,), int)
    first = min(int(np.ceil((1 - fraction) * n_steps / block_steps - 1e-9)), n_complete - 1)
    return np.arange(first, n_complete)
