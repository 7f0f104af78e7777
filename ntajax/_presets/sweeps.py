"""Sweep presets (FIGURES.md Fig. 5) and TOML sweep specs.

* ``fig5a`` / ``fig5b`` — the paper's exact 5 × 5 grids in its sampled dynamics (B = 200,
  dt = 1e-3, t_tot = 7, 10 seeds, common random numbers across cells).
* ``phase_a`` / ``phase_b`` — the dense panels of ``ntajax phase-diagram`` (16 × 16 by
  default, expected-gradient flow), with ranges wide enough to show both regimes.

The gradient mode is passed as an object (``ntajax.SampledGradient()`` or
``ntajax.ExpectedGradient()``); the expected-gradient flow runs on the exact reduced-coordinate
engine :class:`ntajax.SubspaceScan`, sampled gradients on :class:`ntajax.EulerScan`.
"""

import dataclasses
import tomllib
import typing
from collections.abc import Callable, Mapping

import equinox as eqx
import numpy as np

from .._engines.euler import EulerScan, SubspaceScan
from .._gradient import ExpectedGradient, GradientMode, SampledGradient
from .._losses import Regulariser
from .._simulation import Simulation
from .._students.linear import Gated
from .._sweep.sweep import OriginalLambda, StaticAxis, Sweep, make_axis
from .._time_grid import TimeGrid

FIG5A_LAMBDA_NONNEG, FIG5A_LAMBDA_NORM = 0.5, 2.5  # original λ = 0.3, nonneg : L1 = 1 : 5 (MODEL §4.3)
FIG5_BLOCK_OVER_TAU_W = (1.0, 4.0, 6.0, 8.0, 10.0)  # τ_B ∈ {0.1, 0.4, 0.6, 0.8, 1} with τ_w = 0.1


def _gradient(gradient: GradientMode | None, default: GradientMode) -> GradientMode:
    gradient = default if gradient is None else gradient
    if not isinstance(gradient, GradientMode):
        raise TypeError(f"gradient={gradient!r} must be a gradient mode: ntajax.SampledGradient(batch_size=200) or "
                        "ntajax.ExpectedGradient().")
    return gradient


def fig5_base(gradient: GradientMode | None = None, n_save: int = 1001) -> Simulation:
    """Fig. 5 base: d_in 20, d_out 10, M = P = 2, τ_w = 0.1, dt = 1e-3, B = 200, t_tot = 7.

    Args:
        gradient: default ``SampledGradient(batch_size=200)``. The expected-gradient flow runs on
            the exact reduced-coordinate engine (:class:`ntajax.SubspaceScan`).
        n_save: recorded points.
    """
    gradient = _gradient(gradient, SampledGradient(batch_size=200))
    return Simulation(
        d_in=20, d_out=10, n_teachers=2,
        student=Gated(n_paths=2, tau_w=0.1, tau_c=0.02),
        regulariser=Regulariser(lambda_nonneg=FIG5A_LAMBDA_NONNEG, lambda_norm=FIG5A_LAMBDA_NORM, norm_order=1),
        gradient=gradient,
        engine=EulerScan() if gradient.is_sampled else SubspaceScan(),
        grid=TimeGrid(dt=1e-3, t_total=7.0, n_save=n_save),
    )


def fig5a(gradient: GradientMode | None = None) -> Sweep:
    """Fig. 5a: τ_B/τ_w ∈ {1, 4, 6, 8, 10} × τ_w/τ_c ∈ {1, 1.25, 5/3, 2.5, 5}, λ = 0.3 (1 : 5)."""
    return Sweep(
        fig5_base(gradient),
        (make_axis("block_over_tau_w", FIG5_BLOCK_OVER_TAU_W), make_axis("tau_ratio", (1.0, 1.25, 5 / 3, 2.5, 5.0))),
        n_seeds=10,
    )


def fig5b(gradient: GradientMode | None = None) -> Sweep:
    """Fig. 5b: τ_B/τ_w ∈ {1, 4, 6, 8, 10} × original λ ∈ {0, 0.05, …, 0.2} (1 : 5), τ_c = 0.005."""
    return Sweep(
        fig5_base(gradient).set({"student.tau_c": 0.005}),
        (make_axis("block_over_tau_w", FIG5_BLOCK_OVER_TAU_W), OriginalLambda(values=(0.0, 0.05, 0.1, 0.15, 0.2))),
        n_seeds=10,
    )


def phase_a(resolution: int = 16, n_seeds: int = 10, gradient: GradientMode | None = None) -> Sweep:
    """Dense panel (a): τ_B/τ_w ∈ geomspace(1, 16) × τ_w/τ_c ∈ geomspace(1, 40), Fig. 5a regulariser
    (default ``ExpectedGradient()``)."""
    return Sweep(
        fig5_base(_gradient(gradient, ExpectedGradient()), n_save=101),
        (make_axis("block_over_tau_w", np.geomspace(1, 16, resolution)), make_axis("tau_ratio", np.geomspace(1, 40, resolution))),
        n_seeds=n_seeds,
    )


def phase_b(resolution: int = 16, n_seeds: int = 10, gradient: GradientMode | None = None) -> Sweep:
    """Dense panel (b): τ_B/τ_w ∈ geomspace(1, 16) × original λ ∈ geomspace(1e-5, 0.4) (1 : 5), τ_c = 0.005
    (default ``ExpectedGradient()``).

    At the paper's τ_w/τ_c = 20 the transition lies at very small λ (λ = 0 is forgetful), so the
    λ axis is logarithmic.
    """
    return Sweep(
        fig5_base(_gradient(gradient, ExpectedGradient()), n_save=101).set({"student.tau_c": 0.005}),
        (make_axis("block_over_tau_w", np.geomspace(1, 16, resolution)), OriginalLambda(values=tuple(np.geomspace(1e-5, 0.4, resolution)))),
        n_seeds=n_seeds,
    )


SWEEP_PRESETS: dict[str, Callable[[], Sweep]] = {"fig5a": fig5a, "fig5b": fig5b, "phase_a": phase_a, "phase_b": phase_b}


# ---------------------------------------------------------------------------------------------- TOML specs
def _subclass(kind: type, name: str, where: str) -> type:
    """The subclass of ``kind`` (or ``kind`` itself) whose class name is ``name``."""

    def find():
        seen, stack = [], [kind]
        while stack:
            cls = stack.pop()
            if cls.__name__ == name:
                return cls, seen
            seen.append(cls.__name__)
            stack.extend(cls.__subclasses__())
        return None, seen

    cls, seen = find()
    if cls is None:
        from .._engines import ode  # noqa: F401  (the one engine module imported lazily: ntajax.Diffrax)

        cls, seen = find()
    if cls is None:
        raise ValueError(f"{where}: type={name!r} is not a {kind.__name__}; choose one of {', '.join(sorted(set(seen)))}.")
    return cls


def _field_type(cls: type, name: str) -> type | None:
    """The class declared for field ``name`` of ``cls`` (the first class of a union)."""
    hint = typing.get_type_hints(cls).get(name)
    for candidate in (hint, *typing.get_args(hint)):
        if isinstance(candidate, type) and issubclass(candidate, eqx.Module):
            return candidate
    return None


def object_from_spec(kind: type, current, spec: Mapping, where: str):
    """An object from a table in the format of :func:`ntajax._simulation.describe`.

    ``type`` names the class (a subclass of ``kind``, by class name); without it the table
    changes ``current``. Other keys are the object's fields; a nested table builds a nested
    object (e.g. ``[base.engine.penalty]``); lists become tuples.
    """
    spec = dict(spec)
    name = spec.pop("type", None)
    if name is None and current is None:
        raise ValueError(f"{where}: give the object's type, e.g. type = \"{kind.__name__}\".")
    cls = type(current) if name is None else _subclass(kind, name, where)
    start = current if current is not None and type(current) is cls else None
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")}
    changes = {}
    for key, value in spec.items():
        if key not in fields:
            raise ValueError(f"{where}: {cls.__name__} has no field {key!r}; its fields are {', '.join(fields)}.")
        if isinstance(value, Mapping):
            nested_kind = _field_type(cls, key)
            if nested_kind is None:
                raise ValueError(f"{where}.{key}: {cls.__name__}.{key} is not an object; give a value, not a table.")
            value = object_from_spec(nested_kind, None if start is None else getattr(start, key), value, f"{where}.{key}")
        elif isinstance(value, list):
            value = tuple(value)
        changes[key] = value
    return dataclasses.replace(start, **changes) if start is not None else cls(**changes)


def simulation_from_spec(spec: Mapping, where: str = "[base]") -> Simulation:
    """A simulation from the ``[base]`` table of a sweep spec, starting from ``Simulation()``.

    * a sub-table is one of the simulation's objects in the format of
      :func:`ntajax._simulation.describe` (``[base.grid]``, ``[base.gradient]`` with
      ``type = "ExpectedGradient"``, ...; see :func:`object_from_spec`);
    * a plain key is either a top-level field (``d_in``, ``n_seeds``, ``dtype``, ...) or a traced
      hyperparameter by path or unique last name (``tau_c``, ``"regulariser.lambda_norm"``),
      set with :meth:`ntajax.Simulation.set`.
    """
    default = Simulation()
    fields = {f.name for f in dataclasses.fields(Simulation)}
    top, traced = {}, {}
    for key, value in spec.items():
        if isinstance(value, Mapping):
            if key not in fields or not isinstance(getattr(default, key), eqx.Module):
                raise ValueError(f"{where}.{key}: Simulation has no object field {key!r}.")
            top[key] = object_from_spec(_field_type(Simulation, key) or eqx.Module, getattr(default, key), value,
                                        f"{where}.{key}")
        elif key in fields:
            if isinstance(getattr(default, key), eqx.Module):
                raise ValueError(f"{where}: {key} is an object; give it as a table with its fields, e.g. [base.{key}].")
            top[key] = value
        else:
            traced[key] = value
    simulation = Simulation(**top)
    if traced:
        try:
            simulation = simulation.set(traced)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
    return simulation


def load_sweep_toml(path: str, *, build_base: Callable[[Mapping, str], Simulation] | None = None) -> Sweep:
    """A sweep from a TOML file.

    Example::

        [base]                      # traced hyperparameters by name or path; top-level fields
        tau_w = 0.1
        tau_c = 0.02
        lambda_nonneg = 0.5

        [base.grid]                 # objects as tables, in the format of Simulation.to_dict()
        t_total = 7.0
        n_save = 101

        [base.gradient]
        type = "ExpectedGradient"   # a class name; without it the table changes the default object

        [base.engine]
        type = "SubspaceScan"

        [static_axes]               # optional: static fields, one compiled program per structure
        d_in = [20, 40]             # by path or unique last name ("student.n_paths" or n_paths)

        [static_axes.student]       # a sub-table gives paths inside an object: student.n_paths,
        n_paths = [2, 3]            # labelled by its last name (n_paths)

        [axes]                      # traced fields or derived axes (tau_ratio, block_over_tau_w, lambda)
        block_over_tau_w = [1, 4, 10]
        tau_ratio = [1, 2, 5]

        [sweep]
        n_seeds = 10
        seed = 0
        zipped = []                 # e.g. [["tau_c", "tau_w"]]
        # n_blocks_total = 10       # optional: every point runs 10 of its own blocks
        # traces = ["loss", "alignment"]   # optional time series per run
        # trace_every = 10

    The static axes (:class:`ntajax.StaticAxis`) come first in the sweep, in the order written,
    then the ``[axes]``; either section may be empty, not both.

    Args:
        path: the TOML file.
        build_base: turns the ``[base]`` table (and a location for error messages) into the base
            simulation; default :func:`simulation_from_spec`. The command line passes its own
            flat-name reader here.
    """
    with open(path, "rb") as f:
        spec = tomllib.load(f)
    unknown = set(spec) - {"base", "axes", "static_axes", "sweep"}
    if unknown:
        raise ValueError(f"{path}: unknown sections {sorted(unknown)}; use [base], [static_axes], [axes] and [sweep].")
    if not spec.get("axes") and not spec.get("static_axes"):
        raise ValueError(f"{path}: the [axes] section is empty; name at least one axis with its values.")
    build_base = simulation_from_spec if build_base is None else build_base
    try:
        base = build_base(spec.get("base", {}), f"{path}: [base]")
    except TypeError as error:
        raise ValueError(f"{path}: [base]: {error}") from None
    static = tuple(_static_axis(path, name, values) for name, values in _flatten(spec.get("static_axes", {})).items())
    axes = static + tuple(make_axis(name, values) for name, values in spec.get("axes", {}).items())
    options = spec.get("sweep", {})
    allowed = {"n_seeds", "seed", "zipped", "n_blocks_total", "traces", "trace_every"}
    bad = set(options) - allowed
    if bad:
        raise ValueError(f"{path}: unknown [sweep] options {sorted(bad)}; allowed: {', '.join(sorted(allowed))}.")
    zipped = tuple(tuple(g) for g in options.get("zipped", ()))
    try:
        return Sweep(base, axes, n_seeds=int(options.get("n_seeds", 10)), seed=int(options.get("seed", 0)),
                     zipped=zipped, n_blocks_total=options.get("n_blocks_total"),
                     traces=tuple(options.get("traces", ())), trace_every=int(options.get("trace_every", 1)))
    except (ValueError, TypeError) as error:
        if not static:
            raise
        raise type(error)(f"{path}: {error}") from None


def _flatten(table: Mapping, prefix: str = "") -> dict:
    """``{"d_in": [...], "student": {"n_paths": [...]}}`` → ``{"d_in": [...], "student.n_paths": [...]}``."""
    out = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            out |= _flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def _static_axis(path: str, name: str, values) -> StaticAxis:
    if not isinstance(values, list):
        raise ValueError(f"{path}: [static_axes] {name} = {values!r} must be a list of values, e.g. {name} = [20, 40].")
    try:
        return StaticAxis(name=name.rsplit(".", 1)[-1], values=tuple(values), path=name if "." in name else None)
    except (ValueError, TypeError) as error:
        raise type(error)(f"{path}: [static_axes]: {error}") from None
