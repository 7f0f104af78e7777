"""Sweeps: a base simulation plus named axes, run as chunks of one compiled ``vmap`` program.

A :class:`Sweep` is a base :class:`~ntajax.Simulation`, an ordered tuple of :class:`Axis`
objects and a seed count. Its points are the Cartesian product of the axes (axes named in
``zipped`` groups advance together). Every axis sets traced leaves of the simulation, addressed
by path (``"student.tau_c"``, ``"curriculum.block_length"``, ``"engine.penalty.lambda_ewc"``, or
the leaf's unique last name such as ``"tau_c"``), so all points of a sweep share one compiled
program: the points of a chunk are stacked into one simulation whose traced leaves have a
leading point axis, and ``jit(vmap(run + reduce))`` runs them (:func:`run_points`, the one sweep
executor). Per run only what the sweep's :class:`~ntajax._sweep.reducers.Reducer` keeps leaves
the device (by default the summary metrics), so memory does not grow with the time axis.

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

from .._curricula.clock import count_blocks
from .._compile import COMPILER_OPTIONS
from .._provenance import VERSION, source_digest
from .._run import make_teachers, seed_keys, simulate
from .._warnings import deriving
from .._simulation import Simulation
from .reducers import TRACE_FIELDS, Reducer, Summaries


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
    """A base simulation, named axes, a seed count and what to keep of each run.

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
        reduce: what to keep of each run, a :class:`~ntajax._sweep.reducers.Reducer`. Default
            (None): :class:`~ntajax._sweep.reducers.Summaries` with ``traces`` and
            ``trace_every``; a reducer of your own replaces them (``traces`` must then be empty).
    """

    base: Simulation
    axes: tuple[Axis, ...]
    n_seeds: int = 10
    zipped: tuple[tuple[str, ...], ...] = ()
    seed: int = 0
    n_blocks_total: int | None = None
    traces: tuple[str, ...] = ()
    trace_every: int = 1
    reduce: Reducer | None = None

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
        if self.reduce is None:
            Summaries(self.traces, self.trace_every)  # checks the trace names and spacing
        elif not isinstance(self.reduce, Reducer):
            raise TypeError(f"reduce={self.reduce!r} must be an ntajax reducer (a subclass of ntajax.Reducer) or None.")
        elif self.traces or self.trace_every != 1:
            raise ValueError(f"traces={self.traces} and trace_every={self.trace_every} configure the default reducer; "
                             f"with reduce={type(self.reduce).__name__}(...) leave them at their defaults.")
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

    @property
    def reducer(self) -> Reducer:
        """What the sweep keeps of each run: ``reduce``, or the summaries with ``traces``."""
        return Summaries(self.traces, self.trace_every) if self.reduce is None else self.reduce

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
            "reduce": self.reducer.describe(),
        }

    def fingerprint(self) -> str:
        """sha256 of :meth:`describe`, the ntajax version and the digest of ntajax's source: a
        store made by other settings or other code has another fingerprint."""
        text = json.dumps(self.describe(), sort_keys=True) + VERSION + source_digest()
        return hashlib.sha256(text.encode()).hexdigest()


@eqx.filter_jit(compiler_options=COMPILER_OPTIONS)
@eqx.debug.assert_max_traces(max_traces=None)
def run_points(config: Simulation, key, teachers, reduce: Reducer, t_end=None) -> dict:
    """The sweep executor: run a stacked simulation (traced leaves with a leading point axis)
    for all seeds and reduce every run, in one compiled program.

    Args:
        config: the stacked simulation (:func:`stack_points`).
        key: root key; the seed keys are :func:`ntajax.seed_keys` of it (the same for every point).
        teachers: (M_total, d_out, d_in) shared, or (seeds, M_total, d_out, d_in) per seed.
        reduce: what to keep of each run (a :class:`~ntajax._sweep.reducers.Reducer`).
        t_end: optional (points,) read-out times (fixed-number-of-blocks sweeps).

    Returns:
        ``reduce``'s dict, every array with leading axes (point, seed).
    """
    _, keys = seed_keys(key, config.n_seeds)
    teacher_axis = 0 if teachers.ndim == 4 else None

    def one_point(point_config, end):
        def one_seed(k, t):
            return reduce(point_config, simulate(point_config, k, teachers=t), t, end)

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
    """Run chunk ``index`` and return (the reducer's dict, number of real points) as device arrays
    of the full program width (leading axes point, seed), sharded like the inputs."""
    config, t_end, n = chunk_inputs(sweep, index, chunk_size, n_devices)
    return run_points(config, jax.random.key(sweep.seed), sweep_teachers(sweep), sweep.reducer, t_end), n


def compute_chunk(sweep: Sweep, index: int, chunk_size: int, n_devices: int | None = None) -> dict[str, np.ndarray]:
    """What the sweep's reducer keeps of chunk ``index`` (by default the summaries and requested
    traces, as ``trace_<name>``) as numpy arrays with leading axes (point, seed).

    Pure in (sweep, index, chunk_size): a dask worker, a resumed run and an uninterrupted run
    compute identical values. ``n_devices`` (default: every local device) devices share the
    chunk's points; a chunk size they do not divide is padded up to a multiple of it (see
    :func:`program_width`), never run on fewer devices.
    """
    n_devices = len(jax.devices()) if n_devices is None else n_devices
    values, n = run_chunk(sweep, index, chunk_size, n_devices)
    return {name: np.asarray(value)[:n] for name, value in values.items()}
