"""Differentiable outcomes of a run: scalars of one seed's :class:`ntajax.Trajectory` whose
derivatives with respect to the simulation's traced leaves exist and are exact (MODEL §7).

The summary metrics of :class:`ntajax.Summary` that a phase diagram reads are piecewise
constant in every parameter where they involve a discrete choice: the assignment π of paths to
teachers is an argmax (§7.4), the adaptation time is a first crossing of a threshold on the
recording grid (§7.6), the regime is a label. Each has a counterpart here that is
differentiable:

* :class:`FinalLoss`, :class:`MeanLoss` — the expected loss at the read-out time, and its mean
  over the save points (§5.5);
* :class:`FinalAlignment`, :class:`MeanAlignment` — total alignment A_tot = (1/M)Σ_m S_{m,π(m)}
  (§7.5) against a FIXED assignment π given by the caller (e.g. ``summary.assignment`` of a
  reference run), final and time-mean;
* :class:`CrossingTime` — the time after ``after`` at which the recorded loss first falls below
  a threshold, linearly interpolated between the two save points around the crossing (the
  spec's adaptation time, §7.6, reads the save point itself and so is piecewise constant).

:data:`NOT_DIFFERENTIABLE` names the summary fields without a derivative and their
counterparts; :func:`ntajax.outcome_gradient` refuses them with that message.
"""

import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._trajectory import Trajectory


class Outcome(eqx.Module):
    """Abstract differentiable outcome: a scalar of ONE seed's trajectory (no seed axis).

    ``continuous_in_switch_times``: whether the outcome is continuous in the block switch
    times (and so has a τ_B derivative with ``Blocked(fractional_switches=True)``). Outcomes
    that read the loss at many save points are not: the recorded loss is against the target of
    the save point's block, which jumps when a switch crosses a save point.
    """

    continuous_in_switch_times = True

    @abc.abstractmethod
    def __call__(self, config, trajectory: Trajectory) -> Float[Array, ""]:
        """The outcome of one seed's ``trajectory`` (records of shape (T, …)) of ``config``."""

    def check(self, simulation) -> None:
        """Raise for a simulation this outcome cannot be read from (default: none)."""
        del simulation


class FinalLoss(Outcome):
    """The expected loss at t_total, ``trajectory.loss[-1]`` (§5.5; the task of the block that
    the last step belongs to), as :attr:`ntajax.Summary.final_loss`."""

    def __call__(self, config, trajectory):
        del config
        return trajectory.loss[-1]


class MeanLoss(Outcome):
    """The mean of the recorded expected loss over the save points, (1/T)Σ_k L(t_k).

    Differentiable in every leaf except ``curriculum.block_length``: the recorded loss jumps
    when a switch crosses a save point, and that jump is not part of its derivative
    (:func:`ntajax.outcome_gradient` refuses the combination).
    """

    continuous_in_switch_times = False

    def __call__(self, config, trajectory):
        del config
        return jnp.mean(trajectory.loss)


def _check_assignment(name, assignment, simulation):
    n_teachers = simulation.n_teachers
    n_paths = simulation.student.n_paths if hasattr(simulation.student, "n_paths") else None
    if len(assignment) != n_teachers or len(set(assignment)) != n_teachers or min(assignment) < 0 or (
        n_paths is not None and max(assignment) >= n_paths
    ):
        raise ValueError(
            f"{name}(assignment={assignment}) must give a distinct path in 0 … {(n_paths or 1) - 1} for each of the "
            f"{n_teachers} teachers, e.g. the assignment of a reference run: tuple(ntajax.summarise(config, "
            "trajectory).assignment[0].tolist())."
        )


def _alignment(similarity: Float[Array, "T M P"], assignment: tuple[int, ...]) -> Float[Array, " T"]:
    """A_tot(t) = (1/M) Σ_m S_{m,π(m)}(t) for the fixed π (§7.5)."""
    m = jnp.arange(len(assignment))
    return jnp.mean(similarity[:, m, jnp.asarray(assignment)], axis=-1)


class FinalAlignment(Outcome):
    """Total alignment at t_total against a FIXED assignment π (§7.5).

    Args:
        assignment: π(m), the path of teacher m (static; M distinct paths). With the argmax
            assignment of the run itself this is :attr:`ntajax.Summary.final_alignment`
            wherever that assignment does not change.
    """

    assignment: tuple[int, ...] = eqx.field(static=True)

    def check(self, simulation):
        _check_assignment(type(self).__name__, self.assignment, simulation)

    def __call__(self, config, trajectory):
        del config
        return _alignment(trajectory.similarity[-1:], self.assignment)[0]


class MeanAlignment(Outcome):
    """Time mean of the total alignment over the save points against a FIXED assignment π
    (§7.5; :attr:`ntajax.Summary.mean_alignment` with π held fixed).

    Args:
        assignment: π(m), the path of teacher m (static).
    """

    assignment: tuple[int, ...] = eqx.field(static=True)

    def check(self, simulation):
        _check_assignment(type(self).__name__, self.assignment, simulation)

    def __call__(self, config, trajectory):
        del config
        return jnp.mean(_alignment(trajectory.similarity, self.assignment))


class CrossingTime(Outcome):
    """Time from ``after`` until the recorded loss first falls below ``threshold``, linearly
    interpolated between the save points around the crossing (a smooth counterpart of the
    adaptation time of §7.6).

    With k the first save point at or after ``after`` whose loss is below θ, and k − 1 the one
    before it (also at or after ``after``), the crossing time is
    t_{k−1} + (L_{k−1} − θ)/(L_{k−1} − L_k)·(t_k − t_{k−1}) − after; t_k − after if the loss
    is below θ at the first save point; NaN if it never falls below θ (a censored crossing has
    no derivative). Its derivative is exact wherever the index k does not change.

    Args:
        threshold: θ (static, default 0.1 as §7.6).
        after: the time from which the crossing is sought (static), e.g. a block start k·τ_B.
    """

    threshold: float = eqx.field(static=True, default=0.1)
    after: float = eqx.field(static=True, default=0.0)
    continuous_in_switch_times = False

    def __call__(self, config, trajectory):
        del config
        t, loss = trajectory.t, trajectory.loss
        valid = t >= self.after - 1e-9 * jnp.maximum(1.0, abs(self.after))
        below = valid & (loss < self.threshold)
        k = jnp.argmax(below)
        previous = jnp.maximum(k - 1, 0)
        interpolate = (k > 0) & valid[previous]
        drop = loss[previous] - loss[k]
        safe = jnp.where(interpolate, drop, 1.0)  # no division by zero in the branch not taken
        fraction = jnp.where(interpolate, (loss[previous] - self.threshold) / safe, 0.0)
        crossing = t[previous] + fraction * (t[k] - t[previous])
        crossing = jnp.where(interpolate, crossing, t[k])
        return jnp.where(jnp.any(below), crossing - self.after, jnp.nan)


NOT_DIFFERENTIABLE: dict[str, str] = {
    "assignment": "the assignment π is an argmax over path permutations (MODEL §7.4), piecewise constant in every "
                  "parameter; differentiate ntajax.FinalAlignment(assignment=π) or ntajax.MeanAlignment(assignment=π) "
                  "with π held fixed instead",
    "final_alignment": "it uses the argmax assignment π of the run (MODEL §7.4); differentiate "
                       "ntajax.FinalAlignment(assignment=π) with π held fixed instead",
    "mean_alignment": "it uses the argmax assignment π of the run (MODEL §7.4); differentiate "
                      "ntajax.MeanAlignment(assignment=π) with π held fixed instead",
    "total_alignment": "it uses the argmax assignment π of the run (MODEL §7.4); differentiate "
                       "ntajax.FinalAlignment(assignment=π) or ntajax.MeanAlignment(assignment=π) instead",
    "adaptation_time": "it is the first save point below the threshold (MODEL §7.6), piecewise constant; "
                       "differentiate ntajax.CrossingTime(threshold, after=block_start), which interpolates "
                       "the crossing between save points, instead",
    "censored": "it is a flag; differentiate ntajax.CrossingTime(threshold, after=block_start) instead",
    "regime": "it is a label (a threshold on the final alignment and the gate separation); differentiate "
              "ntajax.FinalAlignment(assignment=π), the quantity the regime thresholds, instead",
}
"""Summary fields (:class:`ntajax.Summary`) without a derivative, and why, naming the
differentiable counterpart."""
