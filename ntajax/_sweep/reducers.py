"""What a sweep keeps of each run: reducers.

The sweep executor (:func:`ntajax._sweep.sweep.run_points`) simulates every point × seed of a
chunk inside one compiled program and hands each run to a :class:`Reducer`, which maps it to a
few named arrays; only those leave the device. A reducer is an Equinox module, so its options
(which traces, the retention reference, …) are part of the compiled program's static structure
and of the sweep's fingerprint.

* :class:`Summaries` — the phase-diagram summaries (a selection of :class:`ntajax.Summary`) and
  optional decimated time series; the default of every :class:`~ntajax.Sweep`.
* ``ContinualSummaries`` (:mod:`ntajax._sweep.baselines`) — the continual-learning comparison.
* Users (and the A7 script) write their own: subclass :class:`Reducer`, implement
  :meth:`~Reducer.__call__` and, to write a store, :meth:`~Reducer.variables`.
"""

import abc
from typing import NamedTuple

import equinox as eqx
import jax
import numpy as np
from jaxtyping import Array, Float

from .._simulation import Simulation, describe
from .._summary import summarise_one
from .._trajectory import Trajectory


class Variable(NamedTuple):
    """One per-run output of a reducer as a store holds it.

    Attributes:
        dims: its own dimensions after (grid…, seed), e.g. ``("block",)``.
        dtype: numpy dtype it is stored in (float32, int32 or bool).
        description: the ``description`` attribute of the stored variable.
    """

    dims: tuple[str, ...] = ()
    dtype: type = np.float32
    description: str = ""


def fill_value(dtype) -> object:
    """What a not-yet-computed entry holds: NaN for floats, −2 for integers, False for booleans."""
    kind = np.dtype(dtype).kind
    return np.nan if kind == "f" else (-2 if kind in "iu" else False)


class Reducer(eqx.Module):
    """Maps one run to named arrays (traceable; vmapped over seeds and points by the executor)."""

    @abc.abstractmethod
    def __call__(self, config: Simulation, trajectory: Trajectory, teachers: Float[Array, "n_targets d_out d_in"],
                 t_end: Float[Array, ""] | None) -> dict[str, Array]:
        """Reduce ONE run.

        Args:
            config: the point's simulation (its traced leaves are this point's values).
            trajectory: one seed's trajectory (no seed axis).
            teachers: the run's teachers (M_total, d_out, d_in).
            t_end: the point's read-out time, or None for t_total (see ``Sweep.n_blocks_total``).

        Returns:
            ``{name: array}``; the same names and shapes for every run.
        """

    def variables(self, config: Simulation) -> dict[str, Variable]:
        """The outputs as a store holds them (names in :meth:`__call__`'s order)."""
        raise NotImplementedError(
            f"{type(self).__name__} does not define variables(); a sweep store needs it to lay out the results: "
            "return {name: Variable(dims, dtype)} for every output."
        )

    def sizes(self, config: Simulation) -> dict[str, int]:
        """Size of every dimension that :meth:`variables` names."""
        return {"block": config.block_count, "teacher": config.n_teachers}

    def coords(self, config: Simulation) -> dict:
        """Coordinates of those dimensions."""
        return {"block": np.arange(config.block_count), "teacher": np.arange(config.n_teachers)}

    def describe(self) -> dict:
        """JSON-ready description (part of the sweep's fingerprint)."""
        return describe(self)


SUMMARY_FIELDS = ("final_alignment", "mean_alignment", "final_loss", "adaptation_time", "gate_separation",
                  "gate_contrast", "specialisation", "regime", "status", "assignment")
"""The :class:`ntajax.Summary` fields a phase-diagram sweep stores per run."""

TRACE_FIELDS = ("loss", "alignment", "context_alignment", "gates")
"""The time series a sweep can keep besides the summaries."""

_SUMMARY_VARIABLES = {
    "adaptation_time": Variable(("block",), description="time to expected loss < 0.1 after each block start (MODEL §7.6)"),
    "regime": Variable(dtype=np.int32, description=(
        "ntajax's own classifier: 1 flexible, 0 forgetful, -1 diverged, -2 undefined (no gate criterion) (not the paper's)")),
    "status": Variable(dtype=np.int32, description="0 ok, 1 diverged, 2 solver failed, -2 not yet computed"),
    "assignment": Variable(("teacher",), np.int32, "path assigned to each teacher (MODEL §7.4); -1 when P < M"),
}


def n_gates(config: Simulation) -> int:
    """Number of gate entries of the simulation's student (the length of its gate vector)."""
    student = jax.eval_shape(
        lambda k: config.student.initialise(k, d_in=config.d_in, d_out=config.d_out, n_teachers=config.n_teachers),
        jax.random.key(0),
    )
    return int(jax.eval_shape(lambda s: s.gate_vector(), student).shape[0])


class Summaries(Reducer):
    """The phase-diagram summaries of :data:`SUMMARY_FIELDS` and, as ``trace_<name>``, the time
    series ``traces`` (any of :data:`TRACE_FIELDS`: "loss", "alignment" — total alignment on the
    assigned paths —, "context_alignment", "gates") every ``trace_every``-th record."""

    traces: tuple[str, ...] = ()
    trace_every: int = 1

    def __check_init__(self):
        unknown = [t for t in self.traces if t not in TRACE_FIELDS]
        if unknown:
            raise ValueError(f"traces {unknown} are not available; choose from {', '.join(TRACE_FIELDS)}.")
        if self.trace_every < 1:
            raise ValueError(f"trace_every={self.trace_every} must be a positive integer.")

    def __call__(self, config, trajectory, teachers, t_end):
        summary = summarise_one(config, trajectory, t_end=t_end)
        out = {name: getattr(summary, name) for name in SUMMARY_FIELDS}
        series = {
            "loss": lambda: trajectory.loss,
            "alignment": lambda: summary.total_alignment,
            "context_alignment": lambda: trajectory.context_alignment,
            "gates": lambda: trajectory.gates,
        }
        return out | {f"trace_{name}": series[name]()[:: self.trace_every] for name in self.traces}

    def variables(self, config):
        out = {name: _SUMMARY_VARIABLES.get(name, Variable()) for name in SUMMARY_FIELDS}
        for name in self.traces:
            out[f"trace_{name}"] = Variable(("trace_t", "gate") if name == "gates" else ("trace_t",))
        return out

    def sizes(self, config):
        out = super().sizes(config)
        if self.traces:
            out["trace_t"] = len(config.save_times[:: self.trace_every])
        if "gates" in self.traces:
            out["gate"] = n_gates(config)
        return out

    def coords(self, config):
        out = super().coords(config)
        if self.traces:
            out["trace_t"] = config.save_times[:: self.trace_every]
        return out
