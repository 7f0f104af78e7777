"""Flat command-line names → simulation objects (the only name tables of the package).

The library takes objects (``gradient=ntajax.ExpectedGradient()``, ``engine=ntajax.SubspaceScan()``);
the command line and its TOML specs keep the flat names of the old configuration
(``--set tau_c=0.05``, ``--set gradient=expected``, ``t_total = 7.0``). This module maps them:

* a traced hyperparameter is addressed by its path or its unique last component, resolved with
  :meth:`ntajax.Simulation.resolve_path` (``"tau_c"`` → ``"student.tau_c"``) and changed with
  :meth:`ntajax.Simulation.set`;
* the static options of :data:`STATIC_OPTIONS` (sizes, the time grid, the gradient mode, the
  engine, ...; by short name or path, ``t_total`` or ``grid.t_total``) rebuild the object that
  holds them;
* any other static field of the simulation (``weights_every``, ``unroll``, ``composites``, ...)
  is refused with an error that names its path.
"""

import dataclasses
from collections.abc import Callable, Iterable, Mapping

from .._engines.euler import EulerScan, SubspaceScan
from .._gradient import ExpectedGradient, GradientMode, SampledGradient
from .._simulation import Simulation, describe
from .._engines.base import Engine


def _diffrax() -> Engine:
    from .._engines.ode import Diffrax  # diffrax is heavy: imported only when named

    return Diffrax()


GRADIENTS: dict[str, Callable[[], GradientMode]] = {"sampled": SampledGradient, "expected": ExpectedGradient}
"""``--set gradient=NAME``."""

ENGINES: dict[str, Callable[[], Engine]] = {"scan": EulerScan, "subspace": SubspaceScan, "diffrax": _diffrax}
"""``--set engine=NAME``."""

# name → (value type, the object holding it: "" for the simulation itself)
STATIC_OPTIONS: dict[str, tuple[type, str]] = {
    "d_in": (int, ""), "d_out": (int, ""), "n_teachers": (int, ""), "n_seeds": (int, ""), "dtype": (str, ""),
    "n_paths": (int, "student"),
    "dt": (float, "grid"), "t_total": (float, "grid"), "n_save": (int, "grid"),
    "batch_size": (int, "gradient"),
    "norm_order": (int, "regulariser"),
    "n_blocks": (int, "recording"),
    "gradient": (str, "gradient"),
    "engine": (str, "engine"),
}
"""Static options the command line can change (each changes the compiled program)."""


def traced_names(simulation: Simulation) -> list[str]:
    """The short names of the traced leaves of ``simulation`` (their last path component)."""
    return [path.rsplit(".", 1)[-1] for path in simulation.traced_paths()]


def settable_names(simulation: Simulation) -> list[str]:
    return sorted(set(traced_names(simulation)) | set(STATIC_OPTIONS))


def static_fields(simulation: Simulation) -> dict[str, list[str]]:
    """Short name → full paths of every field of the simulation's objects that is not traced."""
    traced = set(simulation.traced_paths())
    out: dict[str, list[str]] = {}

    def walk(value, path):
        if isinstance(value, dict):
            for key, item in value.items():
                if key != "type":
                    walk(item, f"{path}.{key}" if path else key)
        elif path and path not in traced:
            out.setdefault(path.rsplit(".", 1)[-1], []).append(path)

    walk(describe(simulation), "")
    return out


def parse_value(name: str, raw: str, kind: type, source: str = "--set"):
    """``raw`` as a ``kind``; a bad value names where it came from (``--set`` or a TOML table)."""
    try:
        return kind(raw)
    except ValueError:
        example = {"float": "0.05", "int": "4", "str": "expected"}.get(kind.__name__, "...")
        raise ValueError(
            f"{source} {name}={raw!r}: expected a value of type {kind.__name__} (e.g. {name}={example})."
        ) from None


def parse_flat(values: Mapping[str, object], base: Simulation, *, source: str = "--set") -> dict[str, object]:
    """Check flat ``{name: value}`` changes against ``base``: names are static options or traced
    leaves (path or unique short name); values are converted to the option's type. Unknown names
    and static fields the command line does not set are refused, naming what can be set."""
    changes = {}
    full_static = {f"{owner}.{short}": short for short, (_, owner) in STATIC_OPTIONS.items() if owner and owner != short}
    for name, value in values.items():
        name = full_static.get(name, name)  # "grid.t_total" is "t_total"
        if name in STATIC_OPTIONS:
            kind = STATIC_OPTIONS[name][0]
            if kind is str and name in ("gradient", "engine"):
                table = GRADIENTS if name == "gradient" else ENGINES
                if value not in table:
                    raise ValueError(f"{source} {name}={value!r}: choose one of {', '.join(table)}.")
            changes[name] = value if isinstance(value, kind) and not isinstance(value, bool) else parse_value(name, str(value), kind, source)
            continue
        try:
            base.resolve_path(name)
        except ValueError as error:
            if "ambiguous" in str(error):
                raise ValueError(f"{source} {name}: {error}") from None
            static = static_fields(base)
            paths = [name] if name in {p for ps in static.values() for p in ps} else static.get(name, [])
            if paths:
                raise ValueError(
                    f"{source} {name}: {' / '.join(paths)} is static structure of the simulation (fixed by the preset; "
                    f"changing it compiles a new program) and cannot be set here. Settable fields: "
                    f"{', '.join(settable_names(base))}."
                ) from None
            raise ValueError(
                f"{source} {name}: unknown field. Settable fields: {', '.join(settable_names(base))}."
            ) from None
        changes[name] = value if isinstance(value, float) else parse_value(name, str(value), float, source)
    return changes


def parse_assignment_strings(items: Iterable[str], base: Simulation) -> dict[str, object]:
    """``["tau_c=0.05", "gradient=expected"]`` → checked flat changes (see :func:`parse_flat`)."""
    raw = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set {item!r} must look like name=value, e.g. --set tau_c=0.05.")
        name, value = item.split("=", 1)
        raw[name.strip()] = value.strip()
    return parse_flat(raw, base)


def apply_flat(simulation: Simulation, changes: Mapping[str, object]) -> Simulation:
    """``simulation`` with flat changes (checked by :func:`parse_flat`) applied and validated.

    Traced values go in first (unchecked), then the static options rebuild their objects in one
    :meth:`~ntajax.Simulation.replace` (so e.g. ``t_total`` and ``n_save`` change together), and
    the traced values are finally checked like a new simulation's.
    """
    traced = {simulation.resolve_path(k): v for k, v in changes.items() if k not in STATIC_OPTIONS}
    static = {k: v for k, v in changes.items() if k in STATIC_OPTIONS}
    out = simulation.set(traced, check=False) if traced else simulation
    if static:
        by_owner: dict[str, dict[str, object]] = {}
        for name, value in static.items():
            by_owner.setdefault(STATIC_OPTIONS[name][1], {})[name] = value
        top = dict(by_owner.pop("", {}))
        gradient_changes = by_owner.pop("gradient", {})
        if gradient_changes:
            name = gradient_changes.get("gradient")
            gradient = out.gradient if name is None else GRADIENTS[name]()
            if isinstance(gradient, SampledGradient) and isinstance(out.gradient, SampledGradient):
                gradient = out.gradient  # sampled → sampled keeps the batch size and method
            if "batch_size" in gradient_changes:
                if not isinstance(gradient, SampledGradient):
                    raise ValueError(
                        f"--set batch_size={gradient_changes['batch_size']}: the batch size applies to sampled "
                        f"gradients only, and this simulation uses {type(gradient).__name__}(); add --set gradient=sampled."
                    )
                gradient = dataclasses.replace(gradient, batch_size=gradient_changes["batch_size"])
            top["gradient"] = gradient
        engine_changes = by_owner.pop("engine", {})
        if engine_changes:
            top["engine"] = ENGINES[engine_changes["engine"]]()
        for owner, fields in by_owner.items():
            top[owner] = getattr(out, owner).replace(**fields)
        out = out.replace(**top)
    if traced:
        out.check_point(traced)
    return out


def toml_base(spec: Mapping, where: str) -> Simulation:
    """The base simulation of a sweep TOML's ``[base]`` table, flat names allowed.

    Sub-tables (``[base.grid]``, ``[base.gradient]`` with ``type = "ExpectedGradient"``, ...) are
    read by :func:`ntajax._presets.sweeps.simulation_from_spec`; plain keys are the flat names of
    ``--set`` (``tau_w = 0.1``, ``t_total = 7.0``, ``gradient = "expected"``), applied on top.
    """
    from .._presets.sweeps import simulation_from_spec

    tables = {k: v for k, v in spec.items() if isinstance(v, Mapping)}
    flat = {k: v for k, v in spec.items() if not isinstance(v, Mapping)}
    base = simulation_from_spec(tables, where)
    return apply_flat(base, parse_flat(flat, base, source=where)) if flat else base
