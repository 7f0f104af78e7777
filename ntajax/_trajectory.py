"""The record of one or many simulations (MODEL §5.5)."""

import enum

import equinox as eqx
from jaxtyping import Array, Float, Int

from ._students.base import Student


class Status(enum.IntEnum):
    """Per-run outcome, stored instead of raising so one bad run never stops a batch."""

    OK = 0
    DIVERGED = 1  # a non-finite state or loss
    SOLVER_FAILED = 2  # the ODE solver stopped early (e.g. max_steps reached)


class Trajectory(eqx.Module):
    """Decimated log of a simulation on the recording grid, plus the final state.

    Shapes are for one seed; :func:`ntajax.run` adds a leading ``seed`` axis to every
    array (and to the leaves of ``final``). T = n_save, M = n_teachers, P = n_paths,
    G = number of gate entries.

    Attributes:
        t: (T,) recorded times j·Δ, from 0 to t_total.
        block: (T,) index of the active block (−1 for non-blocked curricula).
        task: (T,) index of the dominant teacher in the target (argmax of the weights).
        loss: (T,) exact expected task loss ½‖W* − W_eff‖²_F (Gaussian inputs).
        closing_loss: (T,) expected loss against the target of the preceding step: equal to
            ``loss`` except at a block switch, where it is the loss of the block that ends.
        minibatch_loss: (T,) the minibatch loss of that step in sampled mode, else NaN.
        gates: (T, G) all gate entries (for the two-layer student, every entry of W2).
        path_norms: (T, P) ‖W_p‖_F per path.
        similarity: (T, M, P) row cosine S_mp between base teacher m and path p (§7.1).
        context_alignment: (T,) row cosine between W*(t) and W_eff(t) (§7.3).
        weights: the full student at every save point, or None unless
            ``record_weights=True``.
        final: the student at t_total (always returned; resume from it with ``init=``).
        status: () :class:`Status` code.
    """

    t: Float[Array, " T"]
    block: Int[Array, " T"]
    task: Int[Array, " T"]
    loss: Float[Array, " T"]
    closing_loss: Float[Array, " T"]
    minibatch_loss: Float[Array, " T"]
    gates: Float[Array, "T G"]
    path_norms: Float[Array, "T P"]
    similarity: Float[Array, "T M P"]
    context_alignment: Float[Array, " T"]
    weights: Student | None
    final: Student
    status: Int[Array, ""]
