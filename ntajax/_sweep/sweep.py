"""Sweeps: a base simulation plus named axes, run as chunks of one compiled ``vmap`` program.

A :class:`Sweep` is a base :class:`~ntajax.Simulation`, an ordered tuple of :class:`Axis`
objects and a seed count. Its points are the Cartesian product of the axes (axes named in
``zipped`` groups advance together). Every axis sets traced leaves of the simulation, addressed
by path (``"student.tau_c"``, ``"curriculum.block_length"``, ``"engine.penalty.lambda_ewc"``, or
the leaf's unique last name such as ``"tau_c"``), so all points of a sweep share one compiled
program: the points of a chunk are stacked into one simulation whose traced leaves have a
leading point axis, and ``jit(vmap(run + summarise))`` runs them. Per run only summary metrics
are kept, so memory does not grow with the time axis.

Axes are applied in order, and each one sees the values set by the axes before it
(``BlockOverTauW`` after a ``tau_w`` axis uses that point's τ_w).
"""

import abc
import dataclasses
import functools
import hashlib
import itertools
import json
import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import Array, Float, Int

from .._curricula.clock import count_blocks
from .._compile import COMPILER_OPTIONS
from .._provenance import VERSION, source_digest
from .._run import make_teachers, seed_keys, simulate
from .._warnings import deriving
from .._simulation import Simulation
from .._summary import summarise_one
from ..metrics import total_alignment


@dataclasses.dataclass(frozen=True, kw_only=True)
class Axis(abc.ABC):
    """Abstract sweep axis: a name, its values, and the traced fields a value sets."""

    name: str
    values: tuple[float, ...]

    def __post_init__(self):
        if len(self.values) == 0:
            raise ValueError(f"sweep axis {self.name!r} has no values.")
        bad = [v for v in self.values if not math.isfinite(float(v))]
        if bad:
            raise ValueError(f"sweep axis {self.name!r} has non-finite values {bad}.")

    @abc.abstractmethod
    def fields(self, value: float, current: dict[str, float]) -> dict[str, float]:
        """Updates of traced leaves (by path or unique short name) for one value, given the
        point's values so far (by full path)."""

    def describe(self) -> dict:
        return {"type": type(self).__name__, "name": self.name, "values": [float(v) for v in self.values]}


@dataclasses.dataclass(frozen=True, kw_only=True)
class FieldAxis(Axis):
    """Sweep one traced leaf directly: ``FieldAxis(name="tau_c", values=(0.02, 0.05))``.

    ``path`` is the leaf's path in the simulation (e.g. ``"student.tau_c"``); by default the
    axis ``name``, resolved against the base simulation (a unique last name such as ``"tau_c"``
    works). The axis is labelled ``name`` in the results.
    """

    path: str | None = None

    def fields(self, value, current):
        return {self.path or self.name: float(value)}

    def describe(self) -> dict:
        return super().describe() | {"path": self.path or self.name}


@dataclasses.dataclass(frozen=True, kw_only=True)
class TauRatio(Axis):
    """τ_w/τ_c: sets τ_c = τ_w / value (FIGURES.md Fig. 5a x-axis)."""

    name: str = "tau_ratio"

    def fields(self, value, current):
        return {"student.tau_c": current["student.tau_w"] / float(value)}


@dataclasses.dataclass(frozen=True, kw_only=True)
class BlockOverTauW(Axis):
    """τ_B/τ_w: sets block_length = value · τ_w (FIGURES.md Fig. 5 y-axis)."""

    name: str = "block_over_tau_w"

    def fields(self, value, current):
        return {"curriculum.block_length": float(value) * current["student.tau_w"]}


@dataclasses.dataclass(frozen=True, kw_only=True)
class OriginalLambda(Axis):
    """The original global regulariser strength λ with fixed term weights (MODEL §4.3).

    ``nonneg_per_lambda`` and ``norm_per_lambda`` are the clean coefficients per unit λ,
    e.g. 5/3 and 25/3 for the Fig. 5b weights nonneg : L1 = 1 : 5.
    """

    name: str = "lambda"
    nonneg_per_lambda: float = 5.0 / 3.0
    norm_per_lambda: float = 25.0 / 3.0

    def fields(self, value, current):
        return {"regulariser.lambda_nonneg": self.nonneg_per_lambda * float(value),
                "regulariser.lambda_norm": self.norm_per_lambda * float(value)}

    def describe(self) -> dict:
        return super().describe() | {"nonneg_per_lambda": self.nonneg_per_lambda, "norm_per_lambda": self.norm_per_lambda}


DERIVED_AXES = {"tau_ratio": TauRatio, "block_over_tau_w": BlockOverTauW, "lambda": OriginalLambda}


def make_axis(name: str, values: Sequence[float], **options) -> Axis:
    """An axis by name: a traced leaf (path or unique short name), or one of the derived axes in
    :data:`DERIVED_AXES`."""
    values = tuple(float(v) for v in values)
    if name in DERIVED_AXES:
        return DERIVED_AXES[name](name=name, values=values, **options)
    return FieldAxis(name=name, values=values)


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A base simulation, named axes and a seed count.

    Args:
        base: the simulation every point starts from (its ``n_seeds`` is replaced).
        axes: the axes, applied in order.
        n_seeds: seeds per point; all points use the same seed keys (common random numbers).
        zipped: groups of axis names whose values advance together (equal lengths).
        seed: root random seed of the sweep.
        n_blocks_total: total-time rule. ``None`` (default): every point runs the base's
            ``t_total``. An integer N: every point runs N of its own blocks, t_end = N·τ_B;
            all points are simulated to the longest t_end in one program and each is read at
            its own t_end (which must lie on the base's recording grid).
        traces: time series to keep per run besides the summaries, any of :data:`TRACE_FIELDS`
            ("loss", "alignment" — total alignment on the assigned paths —, "context_alignment",
            "gates"), decimated to every ``trace_every``-th recorded point.
    """

    base: Simulation
    axes: tuple[Axis, ...]
    n_seeds: int = 10
    zipped: tuple[tuple[str, ...], ...] = ()
    seed: int = 0
    n_blocks_total: int | None = None
    traces: tuple[str, ...] = ()
    trace_every: int = 1

    def __post_init__(self):
        names = [a.name for a in self.axes]
        if len(set(names)) != len(names):
            raise ValueError(f"sweep axes must have distinct names, got {names}.")
        if self.n_seeds < 1:
            raise ValueError(f"n_seeds={self.n_seeds} must be at least 1.")
        for group in self.zipped:
            missing = [n for n in group if n not in names]
            if missing:
                raise ValueError(f"zipped axes {missing} are not sweep axes ({names}).")
            lengths = {len(self.axis(n).values) for n in group}
            if len(lengths) != 1:
                raise ValueError(f"zipped axes {group} must have equal lengths, got {sorted(lengths)}.")
        unknown = [t for t in self.traces if t not in TRACE_FIELDS]
        if unknown:
            raise ValueError(f"traces {unknown} are not available; choose from {', '.join(TRACE_FIELDS)}.")
        if self.trace_every < 1:
            raise ValueError(f"trace_every={self.trace_every} must be a positive integer.")
        if self.n_blocks_total is not None and self.n_blocks_total < 1:
            raise ValueError(f"n_blocks_total={self.n_blocks_total} must be a positive number of blocks or None.")
        for axis in self.axes:  # every field an axis names must exist in the simulation
            if isinstance(axis, FieldAxis):
                self.base.resolve_path(axis.path or axis.name)
        # Validate every point now: a bad value is rejected before anything runs.
        reference = self.base.concrete_values()
        for point in self._point_fields:
            changed = {path: value for path, value in point.items() if value != reference.get(path)}
            self.base.check_point(changed, reference=reference)
        if self.n_blocks_total is not None:
            spacing = self.base.save_every * self.base.grid.dt
            for t_end in self.end_times():
                if abs(t_end / spacing - round(t_end / spacing)) > 1e-6 * max(1.0, t_end / spacing):
                    raise ValueError(
                        f"with n_blocks_total={self.n_blocks_total}, a point ends at t = {t_end:.6g}, which is not on the "
                        f"recording grid of spacing {spacing:.6g}; choose block lengths that are multiples of it or a finer n_save."
                    )

    def axis(self, name: str) -> Axis:
        return next(a for a in self.axes if a.name == name)

    @property
    def dims(self) -> tuple[str, ...]:
        """Dimension names of the result grid: unzipped axes, then one per zipped group."""
        grouped = {n for g in self.zipped for n in g}
        out = [a.name for a in self.axes if a.name not in grouped]
        out += ["+".join(g) for g in self.zipped]
        return tuple(out)

    @property
    def shape(self) -> tuple[int, ...]:
        grouped = {n for g in self.zipped for n in g}
        out = [len(a.values) for a in self.axes if a.name not in grouped]
        out += [len(self.axis(g[0]).values) for g in self.zipped]
        return tuple(out)

    @property
    def n_points(self) -> int:
        return int(np.prod(self.shape))

    def axis_values(self) -> list[dict[str, float]]:
        """The axis values of every point, in C order over :attr:`dims`."""
        grouped = {n for g in self.zipped for n in g}
        factors = [[{a.name: v} for v in a.values] for a in self.axes if a.name not in grouped]
        for group in self.zipped:
            n = len(self.axis(group[0]).values)
            factors.append([{name: self.axis(name).values[i] for name in group} for i in range(n)])
        return [dict(itertools.chain.from_iterable(d.items() for d in combo)) for combo in itertools.product(*factors)]

    def point_fields(self) -> list[dict[str, float]]:
        """Every traced leaf's value (by full path) at every point (axes applied in order)."""
        return [dict(p) for p in self._point_fields]

    @functools.cached_property
    def _point_fields(self) -> tuple[dict[str, float], ...]:
        base_values = {path: float(self.base.get(path)) for path in self.base.traced_paths()}
        resolve = functools.cache(self.base.resolve_path)
        out = []
        for values in self.axis_values():
            current = dict(base_values)
            for axis in self.axes:
                current.update({resolve(k): v for k, v in axis.fields(values[axis.name], current).items()})
            out.append(current)
        return tuple(out)

    def end_times(self) -> list[float]:
        """The time at which each point is read: t_total, or N·τ_B under ``n_blocks_total``."""
        if self.n_blocks_total is None:
            return [self.base.grid.t_total] * self.n_points
        return [self.n_blocks_total * p["curriculum.block_length"] for p in self._point_fields]

    @functools.cached_property
    def config(self) -> Simulation:
        """The static simulation shared by every point: this sweep's seed count, a span covering
        the longest point, and a block count covering every point (computed once)."""
        base = self.base
        if self.n_blocks_total is not None:
            spacing = base.save_every * base.grid.dt
            n_intervals = max(1, math.ceil(max(self.end_times()) / spacing - 1e-6))
            with deriving():
                base = base.replace(grid=base.grid.replace(t_total=n_intervals * spacing, n_save=n_intervals + 1))
        n_blocks = max(count_blocks(base.grid.t_total, p["curriculum.block_length"]) for p in self._point_fields)
        with deriving():
            return base.replace(n_seeds=self.n_seeds, recording=base.recording.replace(n_blocks=n_blocks))

    def describe(self) -> dict:
        """Everything that determines the results, for provenance and resume checks."""
        return {
            "base": self.base.to_dict(),
            "axes": [a.describe() for a in self.axes],
            "zipped": [list(g) for g in self.zipped],
            "n_seeds": self.n_seeds,
            "seed": self.seed,
            "n_blocks_total": self.n_blocks_total,
            "traces": list(self.traces),
            "trace_every": self.trace_every,
        }

    def fingerprint(self) -> str:
        """sha256 of :meth:`describe`, the ntajax version and the digest of ntajax's source: a
        store made by other settings or other code has another fingerprint."""
        text = json.dumps(self.describe(), sort_keys=True) + VERSION + source_digest()
        return hashlib.sha256(text.encode()).hexdigest()


TRACE_FIELDS = ("loss", "alignment", "context_alignment", "gates")


def run_traces(trajectory, assignment, names: tuple[str, ...], every: int) -> dict:
    """The requested time series of one run, every ``every``-th record."""
    series = {
        "loss": lambda: trajectory.loss,
        "alignment": lambda: total_alignment(trajectory.similarity, assignment),
        "context_alignment": lambda: trajectory.context_alignment,
        "gates": lambda: trajectory.gates,
    }
    return {name: series[name]()[::every] for name in names}


class RunSummary(eqx.Module):
    """Summary metrics of one run (one point, one seed); a sweep stores these per point × seed.

    Attributes:
        final_alignment: A_tot(t_total) on the assigned paths (MODEL §7.5).
        mean_alignment: time mean of A_tot.
        final_loss: expected loss at t_total.
        adaptation_time: (K,) time to loss < 0.1 per block (§7.6); NaN beyond the point's blocks.
        gate_separation: ntajax's gate one-hotness measure at the end of the last blocks.
        gate_contrast: C̄ = c_{π(current)} − mean of the other gates, at t_total (high-dim analogue of §7.7).
        specialisation: W̄ analogue: mean matched minus mean |mismatched| similarity at t_total.
        regime: 1 flexible / 0 forgetful (ntajax's own classifier, not the paper's).
        status: 0 ok, 1 diverged, 2 solver failed.
        assignment: (M,) path assigned to each teacher (MODEL §7.4).
    """

    final_alignment: Float[Array, ""]
    mean_alignment: Float[Array, ""]
    final_loss: Float[Array, ""]
    adaptation_time: Float[Array, " K"]
    gate_separation: Float[Array, ""]
    gate_contrast: Float[Array, ""]
    specialisation: Float[Array, ""]
    regime: Int[Array, ""]
    status: Int[Array, ""]
    assignment: Int[Array, " M"]


def summarise_run(config: Simulation, trajectory, t_end=None) -> RunSummary:
    """Reduce one seed's trajectory to a :class:`RunSummary` (traceable, vmappable), read at
    ``t_end`` (default t_total)."""
    summary = summarise_one(config, trajectory, t_end=t_end)
    pi = summary.assignment
    last = -1 if t_end is None else jnp.clip(jnp.round(t_end / (trajectory.t[1] - trajectory.t[0])).astype(jnp.int32), 0, trajectory.t.shape[0] - 1)
    similarity = trajectory.similarity[last]
    n_teachers, n_paths = similarity.shape
    matched_mask = jnp.zeros((n_teachers, n_paths), bool).at[jnp.arange(n_teachers), pi].set(True)
    matched = jnp.sum(jnp.where(matched_mask, similarity, 0.0)) / n_teachers
    n_mismatched = max(n_teachers * n_paths - n_teachers, 1)
    mismatched = jnp.sum(jnp.where(matched_mask, 0.0, jnp.abs(similarity))) / n_mismatched
    path_gates = config.student.path_gates(trajectory.gates)  # (T, P) or None (no single gate per path)
    if path_gates is not None:
        gates = path_gates[last]
        # the task of the block that the read-out record closes
        task_record = -1 if t_end is None else jnp.maximum(last - 1, 0)
        task = jnp.clip(trajectory.task[task_record], 0, n_teachers - 1)
        on = gates[pi[task]]
        others = (jnp.sum(gates) - on) / max(n_paths - 1, 1)
        contrast = on - others
    else:
        contrast = jnp.float32(jnp.nan)
    diverged = trajectory.status != 0
    nan = jnp.float32(jnp.nan)

    def guard(x):
        return jnp.where(diverged, nan, x)

    return RunSummary(
        final_alignment=guard(summary.final_alignment),
        mean_alignment=guard(summary.mean_alignment),
        final_loss=guard(summary.final_loss),
        adaptation_time=jnp.where(diverged, nan, summary.adaptation_time),
        gate_separation=guard(summary.gate_separation),
        gate_contrast=guard(contrast),
        specialisation=guard(matched - mismatched),
        regime=jnp.where(diverged, -1, summary.regime).astype(jnp.int32),
        status=trajectory.status,
        assignment=pi,
    )


@eqx.filter_jit(compiler_options=COMPILER_OPTIONS)
@eqx.debug.assert_max_traces(max_traces=None)
def run_points(config: Simulation, key, teachers, t_end=None, traces: tuple[str, ...] = (), trace_every: int = 1):
    """Run a stacked simulation (traced leaves with a leading point axis) for all seeds.

    Args:
        t_end: optional (points,) read-out times (fixed-number-of-blocks sweeps).
        traces, trace_every: time series to return as well (see :class:`Sweep`).

    Returns:
        (RunSummary, traces dict), every array with leading axes (point, seed).
    """
    _, keys = seed_keys(key, config.n_seeds)
    teacher_axis = 0 if teachers.ndim == 4 else None

    def one_point(point_config, end):
        def one_seed(k, t):
            trajectory = simulate(point_config, k, teachers=t)
            summary = summarise_run(point_config, trajectory, end)
            return summary, run_traces(trajectory, summary.assignment, traces, trace_every)

        return jax.vmap(one_seed, in_axes=(0, teacher_axis))(keys, teachers)

    in_axes = jax.tree.map(lambda x: 0 if eqx.is_array(x) else None, config)
    return jax.vmap(one_point, in_axes=(in_axes, None if t_end is None else 0))(config, t_end)


def stack_points(config: Simulation, points: list[dict[str, float]]) -> Simulation:
    """``config`` with every traced leaf replaced by an array over ``points`` (leading axis);
    ``points`` map full paths to values (missing paths keep the base value)."""
    paths = config.traced_paths()
    values = [jnp.asarray([p.get(path, float(config.get(path))) for p in points], jnp.float32) for path in paths]
    return eqx.tree_at(lambda c: [c.get(path) for path in paths], config, values)


def sweep_teachers(sweep: Sweep):
    """The teachers every point shares (drawn from the sweep's root key)."""
    return make_teachers(sweep.config, jax.random.key(sweep.seed))


SUMMARY_FIELDS = tuple(RunSummary.__dataclass_fields__)
"""The per-run summary variables of a sweep (one per :class:`RunSummary` field)."""


def program_width(chunk_size: int, n_devices: int) -> int:
    """Points of one compiled call for a chunk of ``chunk_size`` points on ``n_devices``
    devices: ``chunk_size`` rounded up to a multiple of ``n_devices``, so that every device
    holds the same number of points (the extra points repeat the chunk's last point and
    their results are dropped)."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size} must be at least 1.")
    if n_devices < 1:
        raise ValueError(f"n_devices={n_devices} must be at least 1.")
    return -(-chunk_size // n_devices) * n_devices


def point_sharding(n_devices: int) -> NamedSharding:
    """Arrays with a leading point axis split over the first ``n_devices`` local devices."""
    available = jax.devices()
    if n_devices > len(available):
        raise ValueError(f"n_devices={n_devices} but only {len(available)} devices are available.")
    mesh = Mesh(np.asarray(available[:n_devices]), ("points",))
    return NamedSharding(mesh, PartitionSpec("points"))


def chunk_inputs(sweep: Sweep, index: int, chunk_size: int, n_devices: int = 1):
    """The inputs of chunk ``index``: (stacked simulation, read-out times or None, number of
    real points). The program width is :func:`program_width` (``chunk_size`` padded to a
    multiple of ``n_devices`` by repeating the chunk's last point); with several devices every
    stacked leaf and the read-out times are sharded over them along the point axis."""
    width = program_width(chunk_size, n_devices)
    chunk = slice(index * chunk_size, (index + 1) * chunk_size)
    points = sweep.point_fields()[chunk]
    if not points:
        raise IndexError(f"sweep chunk {index} of size {chunk_size} has no points (the sweep has {sweep.n_points}).")
    padded = points + [points[-1]] * (width - len(points))
    config = stack_points(sweep.config, padded)
    t_end = None
    if sweep.n_blocks_total is not None:
        ends = sweep.end_times()[chunk]
        t_end = jnp.asarray(ends + [ends[-1]] * (width - len(ends)), jnp.float32)
    if n_devices > 1:
        sharding = point_sharding(n_devices)
        config = jax.tree.map(lambda x: jax.device_put(x, sharding) if eqx.is_array(x) else x, config)
        t_end = None if t_end is None else jax.device_put(t_end, sharding)
    return config, t_end, len(points)


def run_chunk(sweep: Sweep, index: int, chunk_size: int, n_devices: int = 1):
    """Run chunk ``index`` and return (RunSummary, traces dict, number of real points) as device
    arrays of the full program width (leading axes point, seed), sharded like the inputs."""
    config, t_end, n = chunk_inputs(sweep, index, chunk_size, n_devices)
    summary, traces = run_points(config, jax.random.key(sweep.seed), sweep_teachers(sweep), t_end, sweep.traces,
                                 sweep.trace_every)
    return summary, traces, n


def compute_chunk(sweep: Sweep, index: int, chunk_size: int, n_devices: int | None = None) -> dict[str, np.ndarray]:
    """Summaries (and requested traces, as ``trace_<name>``) of chunk ``index`` as numpy arrays
    with leading axes (point, seed).

    Pure in (sweep, index, chunk_size): a dask worker, a resumed run and an uninterrupted run
    compute identical values. ``n_devices`` (default: every local device) devices share the
    chunk's points; a chunk size they do not divide is padded up to a multiple of it (see
    :func:`program_width`), never run on fewer devices.
    """
    n_devices = len(jax.devices()) if n_devices is None else n_devices
    summary, traces, n = run_chunk(sweep, index, chunk_size, n_devices)
    out = {name: np.asarray(getattr(summary, name))[:n] for name in SUMMARY_FIELDS}
    out |= {f"trace_{name}": np.asarray(value)[:n] for name, value in traces.items()}
    return out
