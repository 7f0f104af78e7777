"""Structural sweeps: static fields by path, and one result layout for several structures.

A *static* field is a number of the simulation that is part of the compiled program's
structure rather than a traced array leaf: the sizes ``d_in``, ``d_out``, ``n_teachers``, the
student's ``n_paths``, the gradient's ``batch_size``, the grid's ``dt``, ``t_total`` and
``n_save``, a correlated teacher set's ``overlap`` ξ (MODEL §3.5), an engine's ``unroll``, ….
Changing one compiles a new program. :class:`~ntajax.StaticAxis` sweeps one of them; every
distinct combination of static values (a *structure*) runs as its own sub-sweep with its own
compiled program, and all structures are written into one store
(:mod:`ntajax._sweep.sweep`, :mod:`ntajax._store.sweep_store`).

This module holds what involves no sweep: finding static fields by path
(:func:`static_paths`, :func:`resolve_static`), building a simulation with some of them
changed (:func:`replace_static`, through the objects' own constructors, so every structure is
validated like a simulation the user built), and merging the per-structure result layouts
(:func:`merge_layouts`, :func:`pad_results`).

Shape rule (documented in :class:`~ntajax.StaticAxis`): a stored variable whose own dimension
has a size that depends on the structure (``teacher`` with M, ``gate`` with P, ``block`` with
the block count) is stored at the largest size over the structures; a structure's entries
beyond its own size hold the fill value (NaN for floats, −2 for integers, False for booleans)
and the coordinate ``size_<dim>`` on the structural dimensions holds each structure's real
size. A dimension whose coordinate *values* differ between structures (``trace_t`` when the
recording times differ) cannot be labelled on one axis, and such a sweep is refused.
"""

import dataclasses
from typing import NamedTuple

import equinox as eqx
import numpy as np

from .._parameters import match_path

SWEEP_OWNED = {
    "n_seeds": "the sweep sets the seed count: use Sweep(..., n_seeds=N)",
    "recording.n_blocks": "the sweep derives the block count of every structure itself",
}
"""Static fields a static axis may not set, and why."""


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def static_paths(obj, prefix: str = "") -> tuple[str, ...]:
    """The dotted paths of every static numeric field of ``obj`` (a simulation or one of its
    objects), e.g. ``("d_in", "d_out", "n_teachers", "student.n_paths", "grid.dt", ...)``: every
    dataclass field that holds a Python int or float (not a traced array leaf), found through
    the nested Equinox objects. Fields the sweep sets itself (:data:`SWEEP_OWNED`) are left out."""
    out = []
    for f in dataclasses.fields(obj):
        if f.name.startswith("_") or not f.init:
            continue
        value = getattr(obj, f.name, None)
        path = f"{prefix}{f.name}"
        if isinstance(value, eqx.Module):
            out.extend(static_paths(value, f"{path}."))
        elif _is_number(value) and path not in SWEEP_OWNED:
            out.append(path)
    return tuple(out)


def resolve_static(simulation, name: str) -> str:
    """The full path of a static numeric field given its path or its unique last name
    (``"n_paths"`` → ``"student.n_paths"``, ``"dt"`` → ``"grid.dt"``).

    Raises:
        ValueError: ``name`` is a field the sweep sets itself, a traced parameter (sweep it with
            an ordinary axis), ambiguous, or not a static numeric field; the message lists them.
    """
    if name in SWEEP_OWNED:
        raise ValueError(f"static axis {name!r}: {SWEEP_OWNED[name]}.")
    paths = static_paths(simulation)
    try:
        found = match_path(name, paths)
    except ValueError as error:
        raise ValueError(f"static axis {error}") from None
    if found is not None:
        return found
    try:
        traced = match_path(name, simulation.traced_paths())
    except ValueError:  # the last component of several traced paths: still a traced parameter
        traced = name
    if traced is not None:
        raise ValueError(
            f"static axis {name!r} names a traced parameter, which every point of one compiled program can vary: "
            f"sweep it with an ordinary axis, ntajax.make_axis({name!r}, values) (or under [axes] in a TOML spec)."
        )
    raise ValueError(
        f"static axis {name!r} is not a static numeric field of this simulation; static fields: {', '.join(paths)}."
    )


def static_value(simulation, path: str):
    """The current value of the static field at ``path``."""
    obj = simulation
    for name in path.split("."):
        obj = getattr(obj, name)
    return obj


def replace_static(obj, changes: dict[str, object]):
    """``obj`` with the static fields at the given dotted paths changed, every object on the way
    rebuilt once with all of its changes (``dataclasses.replace``, so each object's own checks and
    the simulation's cross-object checks run as for an object the user built)."""
    top, nested = {}, {}
    for path, value in changes.items():
        head, _, rest = path.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            top[head] = value
    for head, sub in nested.items():
        top[head] = replace_static(getattr(obj, head), sub)
    return dataclasses.replace(obj, **top)


def coerce_static(axis_name: str, path: str, current, value):
    """``value`` in the type of the field it replaces: an integer for integer fields (sizes such as
    ``d_in`` or ``n_paths``; a float with an integer value is accepted), a float for float fields."""
    if isinstance(current, (int, np.integer)):
        if float(value) != int(float(value)):
            raise ValueError(
                f"static axis {axis_name!r}: value {value!r} is not an integer, but {path} is an integer field "
                f"(now {current}); give whole numbers."
            )
        return int(float(value))
    return float(value)


class Layout(NamedTuple):
    """How a sweep's results are stored (the same for every structure).

    Attributes:
        variables: ``{name: Variable}`` (the reducer's, checked equal across structures).
        sizes: size of every own dimension (the largest over the structures).
        coords: coordinates of those dimensions (the largest structure's).
        structure_sizes: ``{dim: [size per structure]}`` for the dimensions whose size varies
            (stored as the coordinate ``size_<dim>`` on the structural dimensions).
    """

    variables: dict
    sizes: dict
    coords: dict
    structure_sizes: dict


def merge_layouts(labels: list[str], reducer, configs: list) -> Layout:
    """The one layout of the results of ``reducer`` over the simulations ``configs`` (one per
    structure, labelled ``labels`` in messages); see the module docstring for the shape rule.

    Raises:
        ValueError: the structures' variables differ in name, dimensions or dtype, or a
            dimension's coordinate values differ between structures.
    """
    variables = reducer.variables(configs[0])
    used = {d for v in variables.values() for d in v.dims}
    all_sizes = []
    all_coords = []
    for label, config in zip(labels, configs):
        own = reducer.variables(config)
        if own != variables:
            raise ValueError(
                f"the reducer {type(reducer).__name__} keeps different variables for structure {label} "
                f"({ {k: (v.dims, np.dtype(v.dtype).name) for k, v in own.items()} }) than for structure {labels[0]} "
                f"({ {k: (v.dims, np.dtype(v.dtype).name) for k, v in variables.items()} }); a structural sweep stores one "
                "set of variables: make the reducer's variables independent of the static fields."
            )
        sizes = reducer.sizes(config)
        all_sizes.append({d: int(sizes[d]) for d in used})
        coords = reducer.coords(config)
        all_coords.append({d: np.asarray(coords[d]) for d in used if d in coords})
    sizes = {d: max(s[d] for s in all_sizes) for d in used}
    structure_sizes = {d: [s[d] for s in all_sizes] for d in sorted(used) if len({s[d] for s in all_sizes}) > 1}
    coords = {}
    for d in sorted(used):
        present = [(label, c[d]) for label, c in zip(labels, all_coords) if d in c]
        if not present:
            continue
        widest = max(present, key=lambda item: len(item[1]))[1]
        for label, values in present:
            prefix = widest[: len(values)]
            same = values.shape == prefix.shape and (
                np.allclose(values, prefix, rtol=1e-9, atol=0.0) if np.issubdtype(values.dtype, np.number)
                else np.array_equal(values, prefix))
            if not same:
                raise ValueError(
                    f"the coordinate {d!r} differs between structures (structure {label}: {values[:4]}… vs "
                    f"{widest[:4]}…), so their results cannot share one labelled axis; sweep this static field in "
                    f"separate sweeps, or choose settings (e.g. t_total, n_save, trace_every) whose {d} values agree."
                )
        coords[d] = widest
    if all(c.dtype == "float64" for c in configs):  # a float64 simulation's results are kept in float64
        variables = {k: v._replace(dtype=np.float64) if np.dtype(v.dtype) == np.float32 else v
                     for k, v in variables.items()}
    return Layout(variables, sizes, coords, structure_sizes)


def pad_results(values: dict[str, np.ndarray], layout: Layout, fill_value) -> dict[str, np.ndarray]:
    """Every array of ``values`` ((points, seeds, own dims…)) cast to its variable's dtype and
    padded along its own dimensions to the layout's sizes with ``fill_value(dtype)``."""
    out = {}
    for name, variable in layout.variables.items():
        value = np.asarray(values[name]).astype(variable.dtype)
        target = value.shape[:2] + tuple(layout.sizes[d] for d in variable.dims)
        if value.shape != target:
            padded = np.full(target, fill_value(variable.dtype), variable.dtype)
            padded[tuple(slice(0, n) for n in value.shape)] = value
            value = padded
        out[name] = value
    return out
