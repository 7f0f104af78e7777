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

Structural sweeps: a :class:`StaticAxis` sweeps a static field (``d_in``, ``student.n_paths``,
``gradient.batch_size``, ``grid.dt``, ``teachers.overlap``, …), which changes the compiled
program. Static axes come first; every combination of their values is a *structure*
(:attr:`Sweep.structures`, each an ordinary sweep over the traced axes), run as its own chunks
of its own compiled program (one per distinct structure) and written into the same store, with
the structural axes as the leading dimensions of the grid.
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

from .._compile import COMPILER_OPTIONS
from .._provenance import VERSION, source_digest
from .._precision import pin_matmul_precision
from .._run import make_teachers, precision, seed_keys, simulate
from .._warnings import deriving
from .._simulation import Simulation
from .reducers import TRACE_FIELDS, Reducer, Summaries, fill_value
from .structure import Layout, coerce_static, merge_layouts, pad_results, replace_static, resolve_static, static_paths, static_value


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


@dataclasses.dataclass(frozen=True, kw_only=True)
class StaticAxis(Axis):
    """Sweep a static field: ``StaticAxis(name="d_in", values=(20, 40))``.

    A static field is a number that fixes the compiled program's structure (MODEL §2–§5):
    ``d_in``, ``d_out``, ``n_teachers`` (M), ``student.n_paths`` (P), ``gradient.batch_size``
    (B), ``grid.dt``, ``grid.t_total``, ``grid.n_save``, ``teachers.overlap`` (ξ of
    :class:`ntajax.CorrelatedTeachers`), … (:func:`ntajax._sweep.structure.static_paths` lists a
    simulation's). ``path`` is its dotted path; by default the axis ``name``, resolved against the
    base simulation (a unique last name such as ``"n_paths"`` or ``"dt"`` works).

    In a :class:`Sweep`, static axes come before the traced axes and may be zipped only with
    each other. Every combination of their values is one *structure*: the base simulation with
    those fields replaced (rebuilt through the objects' constructors, so a bad value is
    refused when the sweep is built, naming the axis, the value and the fix). Each structure
    compiles its own program, once, for all of its traced points.

    Keys: every structure uses the sweep's root key ``jax.random.key(seed)``, exactly as a
    separate sweep of that structure would (same teacher key, same seed keys; common random
    numbers across structures as across traced points). Point (structure s, traced point i,
    seed n) therefore equals point (i, n) of ``Sweep(structure_s, traced_axes, seed=seed)``
    run with the same chunk size, bit for bit.

    Shapes: a stored variable whose own dimension depends on the structure (``teacher`` with M,
    ``gate`` with P, ``block`` with the block count) is stored at the largest size; a structure's
    entries beyond its own size hold the fill value (NaN for floats, −2 for integers, False for
    booleans), and the coordinate ``size_<dim>`` (on the structural dimensions) holds each
    structure's real size. A dimension whose coordinate values differ between structures (e.g.
    ``trace_t`` with different recording times) is refused.

    Values are numbers: integers for integer fields (sizes), floats for float fields.
    """

    values: tuple[int | float, ...]
    path: str | None = None

    def __post_init__(self):
        values = []
        for v in tuple(self.values):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise TypeError(
                    f"static axis {self.name!r}: value {v!r} is a {type(v).__name__}; a static axis takes numbers "
                    "(integers for sizes such as d_in, n_paths or batch_size; floats for dt or teachers.overlap)."
                )
            values.append(int(v) if isinstance(v, (int, np.integer)) else float(v))
        object.__setattr__(self, "values", tuple(values))
        super().__post_init__()

    def fields(self, value, current):
        del value, current
        return {}  # sets no traced leaf: it selects the structure

    def describe(self) -> dict:
        return {"type": type(self).__name__, "name": self.name, "values": list(self.values), "path": self.path or self.name}


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
        axes: the axes, applied in order: first any :class:`StaticAxis` (static fields, one
            compiled program per structure), then the traced axes (one program for all of them).
        n_seeds: seeds per point; all points use the same seed keys (common random numbers),
            in every structure (see :class:`StaticAxis`).
        zipped: groups of axis names whose values advance together (equal lengths; static axes
            only with static axes).
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

    The grid's dimensions (:attr:`dims`) are the structural ones (unzipped static axes, then
    zipped static groups), then the traced ones (unzipped traced axes, then zipped traced
    groups); points are in C order over them, so the points of one structure are consecutive.
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
        if self.n_blocks_total is not None and self.base.curriculum.is_state_dependent:
            raise ValueError(f"n_blocks_total={self.n_blocks_total} reads each point after N blocks of length block_length, "
                             f"but curriculum={type(self.base.curriculum).__name__}() switches when the learner does; "
                             "leave n_blocks_total=None (every point runs grid.t_total).")
        if self.static_axes:
            self._check_static_axes()
            self.layout  # builds and checks every structure and its points, and their common layout
            return
        for axis in self.axes:  # every field an axis names must exist in the simulation
            if isinstance(axis, FieldAxis):
                self._resolve_traced(axis.path or axis.name)
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

    def _resolve_traced(self, name: str) -> str:
        try:
            return self.base.resolve_path(name)
        except ValueError:
            if name in static_paths(self.base) or any(p.rsplit(".", 1)[-1] == name for p in static_paths(self.base)):
                raise ValueError(
                    f"sweep axis {name!r} names a static field, which changes the compiled program: sweep it with "
                    f"ntajax.StaticAxis(name={name!r}, values=...) (or under [static_axes] in a TOML spec), one compiled "
                    "program per value."
                ) from None
            raise

    def _check_static_axes(self) -> None:
        """Static axes first, zipped only with static axes, each naming a distinct static field."""
        first_traced = next((i for i, a in enumerate(self.axes) if not isinstance(a, StaticAxis)), len(self.axes))
        late = [a.name for a in self.axes[first_traced:] if isinstance(a, StaticAxis)]
        if late:
            raise ValueError(
                f"static axes {late} come after the traced axis {self.axes[first_traced].name!r}; list the static axes "
                "first: they are the outer dimensions of the grid (one compiled program per structure)."
            )
        static = {a.name for a in self.static_axes}
        for group in self.zipped:
            kinds = {name in static for name in group}
            if len(kinds) > 1:
                raise ValueError(
                    f"zipped group {group} mixes static axes {[n for n in group if n in static]} with traced axes "
                    f"{[n for n in group if n not in static]}; zip static axes only with static axes."
                )
        paths = {}
        for axis in self.static_axes:
            path = resolve_static(self.base, axis.path or axis.name)
            if path in paths:
                raise ValueError(f"static axes {paths[path]!r} and {axis.name!r} both set {path}; give each field one axis.")
            paths[path] = axis.name

    @property
    def reducer(self) -> Reducer:
        """What the sweep keeps of each run: ``reduce``, or the summaries with ``traces``."""
        return Summaries(self.traces, self.trace_every) if self.reduce is None else self.reduce

    def axis(self, name: str) -> Axis:
        return next(a for a in self.axes if a.name == name)

    # ------------------------------------------------------------------ the grid
    @property
    def static_axes(self) -> tuple[Axis, ...]:
        """The :class:`StaticAxis` axes (the structural dimensions)."""
        return tuple(a for a in self.axes if isinstance(a, StaticAxis))

    @property
    def traced_axes(self) -> tuple[Axis, ...]:
        """The axes over traced leaves (every structure's own sweep)."""
        return tuple(a for a in self.axes if not isinstance(a, StaticAxis))

    def _factors(self, axes) -> list[tuple[str, list[dict]]]:
        """(dimension, values of each index) of the given axes: unzipped ones, then zipped groups."""
        names = {a.name for a in axes}
        groups = [g for g in self.zipped if g[0] in names]
        grouped = {n for g in groups for n in g}
        out = [(a.name, [{a.name: v} for v in a.values]) for a in axes if a.name not in grouped]
        for group in groups:
            n = len(self.axis(group[0]).values)
            out.append(("+".join(group), [{name: self.axis(name).values[i] for name in group} for i in range(n)]))
        return out

    @property
    def structure_dims(self) -> tuple[str, ...]:
        """The structural dimensions (empty without static axes)."""
        return tuple(d for d, _ in self._factors(self.static_axes))

    @property
    def structure_shape(self) -> tuple[int, ...]:
        return tuple(len(v) for _, v in self._factors(self.static_axes))

    @property
    def traced_dims(self) -> tuple[str, ...]:
        """The dimensions of every structure's own grid (the traced axes)."""
        return tuple(d for d, _ in self._factors(self.traced_axes))

    @property
    def traced_shape(self) -> tuple[int, ...]:
        return tuple(len(v) for _, v in self._factors(self.traced_axes))

    @property
    def dims(self) -> tuple[str, ...]:
        """Dimension names of the result grid: the structural dimensions, then the traced ones
        (each: unzipped axes, then one per zipped group)."""
        return self.structure_dims + self.traced_dims

    @property
    def shape(self) -> tuple[int, ...]:
        return self.structure_shape + self.traced_shape

    @property
    def n_points(self) -> int:
        return int(np.prod(self.shape))

    @property
    def n_structures(self) -> int:
        """Number of structures (1 without static axes)."""
        return int(np.prod(self.structure_shape))

    @property
    def points_per_structure(self) -> int:
        return int(np.prod(self.traced_shape))

    def axis_values(self) -> list[dict[str, float]]:
        """The axis values of every point, in C order over :attr:`dims`."""
        factors = [v for _, v in self._factors(self.static_axes) + self._factors(self.traced_axes)]
        return [dict(itertools.chain.from_iterable(d.items() for d in combo)) for combo in itertools.product(*factors)]

    def structure_values(self) -> list[dict]:
        """The static axes' values of every structure, in C order over :attr:`structure_dims`."""
        factors = [v for _, v in self._factors(self.static_axes)]
        return [dict(itertools.chain.from_iterable(d.items() for d in combo)) for combo in itertools.product(*factors)]

    @property
    def structures(self) -> tuple["Sweep", ...]:
        """One ordinary sweep per structure (C order over :attr:`structure_dims`): the base with
        that structure's static fields, the traced axes, and every other setting of this sweep.
        Without static axes: ``(self,)``."""
        return self._structures if self.static_axes else (self,)

    @functools.cached_property
    def _structures(self) -> tuple["Sweep", ...]:
        paths = {a.name: resolve_static(self.base, a.path or a.name) for a in self.static_axes}
        zipped = tuple(g for g in self.zipped if not isinstance(self.axis(g[0]), StaticAxis))
        out = []
        for values in self.structure_values():
            label = ", ".join(f"{name}={value!r}" for name, value in values.items())
            try:
                changes = {paths[name]: coerce_static(name, paths[name], static_value(self.base, paths[name]), value)
                           for name, value in values.items()}
                base = replace_static(self.base, changes)
                out.append(Sweep(base, self.traced_axes, n_seeds=self.n_seeds, zipped=zipped, seed=self.seed,
                                 n_blocks_total=self.n_blocks_total, traces=self.traces, trace_every=self.trace_every,
                                 reduce=self.reduce))
            except (ValueError, TypeError) as error:
                raise type(error)(
                    f"sweep structure {label} (static axes {', '.join(f'{n} → {p}' for n, p in paths.items())}): {error}"
                ) from None
        traced = {s.base.traced_paths() for s in out}
        if len(traced) != 1:
            raise ValueError(f"the structures of this sweep have different traced parameters {sorted(traced)}; a static axis "
                             "may change sizes and options, not which hyperparameters the simulation has.")
        return tuple(out)

    def structure_labels(self) -> list[str]:
        return [", ".join(f"{k}={v!r}" for k, v in values.items()) or "(the base)" for values in self.structure_values()]

    @functools.cached_property
    def layout(self) -> Layout:
        """How the results are stored: the reducer's variables and the sizes and coordinates of
        their own dimensions, the same for every structure (padded to the largest, see
        :class:`StaticAxis`)."""
        return merge_layouts(self.structure_labels(), self.reducer, [s.config for s in self.structures])

    def point_fields(self) -> list[dict[str, float]]:
        """Every traced leaf's value (by full path) at every point (axes applied in order)."""
        return [dict(p) for p in self._point_fields]

    @functools.cached_property
    def _point_fields(self) -> tuple[dict[str, float], ...]:
        if self.static_axes:
            return tuple(p for s in self.structures for p in s._point_fields)
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
        if self.static_axes:
            return [t for s in self.structures for t in s.end_times()]
        if self.n_blocks_total is None:
            return [self.base.grid.t_total] * self.n_points
        return [self.n_blocks_total * p["curriculum.block_length"] for p in self._point_fields]

    # ------------------------------------------------------------------ chunks
    def n_chunks(self, chunk_size: int) -> int:
        """Chunks of at most ``chunk_size`` points; a chunk never spans two structures."""
        return self.n_structures * -(-self.points_per_structure // chunk_size)

    def chunk(self, index: int, chunk_size: int) -> tuple[int, int, slice]:
        """(structure, chunk index within that structure's sweep, slice of the grid's points in C
        order) of chunk ``index``: the chunks of structure 0, then those of structure 1, …"""
        per = -(-self.points_per_structure // chunk_size)
        if not 0 <= index < self.n_structures * per:
            raise IndexError(f"sweep chunk {index} of size {chunk_size} does not exist (the sweep has "
                             f"{self.n_structures * per} chunks of that size).")
        structure, inner = divmod(index, per)
        start = structure * self.points_per_structure + inner * chunk_size
        stop = structure * self.points_per_structure + min((inner + 1) * chunk_size, self.points_per_structure)
        return structure, inner, slice(start, stop)

    @functools.cached_property
    def config(self) -> Simulation:
        """The static simulation shared by every point: this sweep's seed count, a span covering
        the longest point, and a block count covering every point (computed once). A structural
        sweep has one per structure: ``sweep.structures[s].config``."""
        if self.static_axes:
            raise ValueError(f"this sweep has {self.n_structures} structures (static axes "
                             f"{[a.name for a in self.static_axes]}), each with its own simulation: use "
                             "sweep.structures[s].config.")
        base = self.base
        if self.n_blocks_total is not None:
            spacing = base.save_every * base.grid.dt
            n_intervals = max(1, math.ceil(max(self.end_times()) / spacing - 1e-6))
            with deriving():
                base = base.replace(grid=base.grid.replace(t_total=n_intervals * spacing, n_save=n_intervals + 1))
        n_blocks = max(base.block_count_at(p) for p in self._point_fields)  # ⌈t_total/τ_B⌉ for clock curricula
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
@pin_matmul_precision
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

    Matrix products are traced at full float32 precision (no TF32 on GPUs; :mod:`ntajax._precision`).
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
    """The teachers every point shares (drawn from the sweep's root key; a structural sweep's
    structures each draw theirs from the same key: ``sweep_teachers(sweep.structures[s])``)."""
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
    """The inputs of chunk ``index`` (:meth:`Sweep.chunk`): (stacked simulation of that chunk's
    structure, read-out times or None, number of real points). The program width is
    :func:`program_width` (``chunk_size`` padded to a multiple of ``n_devices`` by repeating the
    chunk's last point), the same for every structure; with several devices every
    stacked leaf and the read-out times are sharded over them along the point axis."""
    structure, inner, _ = sweep.chunk(index, chunk_size)
    part = sweep.structures[structure]
    width = program_width(chunk_size, n_devices)
    chunk = slice(inner * chunk_size, (inner + 1) * chunk_size)
    points = part.point_fields()[chunk]
    padded = points + [points[-1]] * (width - len(points))
    config = stack_points(part.config, padded)
    t_end = None
    if part.n_blocks_total is not None:
        ends = part.end_times()[chunk]
        t_end = jnp.asarray(ends + [ends[-1]] * (width - len(ends)), jnp.float32)
    if n_devices > 1:
        sharding = point_sharding(n_devices)
        config = jax.tree.map(lambda x: jax.device_put(x, sharding) if eqx.is_array(x) else x, config)
        t_end = None if t_end is None else jax.device_put(t_end, sharding)
    return config, t_end, len(points)


def run_chunk(sweep: Sweep, index: int, chunk_size: int, n_devices: int = 1):
    """Run chunk ``index`` and return (the reducer's dict, number of real points) as device arrays
    of the full program width (leading axes point, seed), sharded like the inputs. The key and
    teachers are those of the chunk's structure (the sweep's root key, see :class:`StaticAxis`)."""
    config, t_end, n = chunk_inputs(sweep, index, chunk_size, n_devices)
    part = sweep.structures[sweep.chunk(index, chunk_size)[0]]
    return run_points(config, jax.random.key(part.seed), sweep_teachers(part), part.reducer, t_end), n


def compute_chunk(sweep: Sweep, index: int, chunk_size: int, n_devices: int | None = None) -> dict[str, np.ndarray]:
    """What the sweep's reducer keeps of chunk ``index`` (by default the summaries and requested
    traces, as ``trace_<name>``) as numpy arrays with leading axes (point, seed); in a structural
    sweep padded to the sweep's :attr:`Sweep.layout` (see :class:`StaticAxis`).

    Pure in (sweep, index, chunk_size): a dask worker, a resumed run and an uninterrupted run
    compute identical values. ``n_devices`` (default: every local device) devices share the
    chunk's points; a chunk size they do not divide is padded up to a multiple of it (see
    :func:`program_width`), never run on fewer devices.
    """
    n_devices = len(jax.devices()) if n_devices is None else n_devices
    part = sweep.structures[sweep.chunk(index, chunk_size)[0]]
    with precision(part.config):  # a float64 simulation runs in float64, as ntajax.run does
        values, n = run_chunk(sweep, index, chunk_size, n_devices)
        out = {name: np.asarray(value)[:n] for name, value in values.items()}
    return pad_results(out, sweep.layout, fill_value) if sweep.static_axes else out
