"""Traced hyperparameters: the array leaves a sweep varies, and their construction-time checks.

Every hyperparameter that a sweep may vary (a time constant, a regulariser coefficient, the
block length, …) is stored as a float array leaf of the object it belongs to, so changing it
never recompiles and a stack of such objects can be ``vmap``-ped. :func:`traced` is the field
converter; :func:`concrete` reads a leaf back as a Python float where it is concrete (``None``
under tracing or for a stacked leaf), so the checks below run at construction and are skipped
inside ``jit``.

A check names the parameter as the user wrote it (``owner`` is e.g. ``"Gated"``), the value and
the fix (the brief: errors at construction time).
"""

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float


def traced(x) -> Float[Array, "..."]:
    """Field converter: a real number (or array of them) as a float32 array leaf.

    A JAX float array (or tracer) is kept as it is, so rebuilding an object inside a traced
    float64 computation keeps its precision."""
    if isinstance(x, bool) or not isinstance(x, (int, float, np.number, np.ndarray, jax.Array)):
        raise TypeError(f"expected a real number, got {x!r} of type {type(x).__name__}")
    if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jnp.floating):
        return x
    return jnp.asarray(x, dtype=jnp.float32)


def concrete(x) -> float | None:
    """The Python value of a scalar leaf, or ``None`` while it is traced (or not a scalar)."""
    if x is None or isinstance(x, jax.core.Tracer):
        return None
    arr = np.asarray(x)
    return float(arr) if arr.ndim == 0 else None


def check_finite(owner: str, name: str, value: float | None) -> None:
    if value is not None and not math.isfinite(value):
        raise ValueError(f"{owner}: {name}={value:.7g} must be finite; give a finite real number.")


def check_positive(owner: str, name: str, value: float | None) -> None:
    check_finite(owner, name, value)
    if value is not None and value <= 0:
        raise ValueError(f"{owner}: {name}={value:.7g} must be positive; give a number > 0.")


def check_non_negative(owner: str, name: str, value: float | None) -> None:
    check_finite(owner, name, value)
    if value is not None and value < 0:
        raise ValueError(f"{owner}: {name}={value:.7g} must be non-negative; give a number ≥ 0 (0 switches it off).")


def check_size(owner: str, name: str, value) -> None:
    """A static size: a positive Python integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: {name}={value!r} must be a positive integer.")


def scalar_field_names(module) -> tuple[str, ...]:
    """The names of the scalar float array fields of one Equinox module (no value is read)."""
    return tuple(f.name for f in dataclasses.fields(module)
                 if eqx.is_inexact_array(getattr(module, f.name, None)) and jnp.ndim(getattr(module, f.name)) == 0)


def scalar_fields(module) -> dict[str, float | None]:
    """The scalar float fields of one Equinox module by field name, as Python floats (``None``
    where traced): what a ``check_values`` method receives."""
    out = {}
    for f in dataclasses.fields(module):
        value = getattr(module, f.name, None)
        if eqx.is_inexact_array(value) and jnp.ndim(value) == 0:
            out[f.name] = concrete(value)
    return out


def match_path(name: str, paths) -> str | None:
    """The one path of ``paths`` that ``name`` addresses — itself, or the unique path whose last
    component it is (``"tau_c"`` → ``"student.tau_c"``) — or ``None`` when none does.

    Raises:
        ValueError: ``name`` is the last component of several paths (ambiguous).
    """
    if name in paths:
        return name
    matches = [p for p in paths if p.rsplit(".", 1)[-1] == name]
    if len(matches) > 1:
        raise ValueError(f"{name!r} is ambiguous: it names {matches}; give the full path.")
    return matches[0] if matches else None


def _dotted(path) -> str:
    return ".".join(str(getattr(k, "name", getattr(k, "key", getattr(k, "idx", k)))) for k in path)


def path_getter(path: str):
    names = path.split(".") if path else []

    def get(obj):
        for name in names:
            obj = getattr(obj, name)
        return obj

    return get


class PathAddressed(eqx.Module):
    """Base of objects whose traced leaves are addressed by dotted paths (``"student.tau_c"``):
    :class:`ntajax.Simulation` and the MNIST readout config. Subclasses validate changed values
    in :meth:`check_point`."""

    def traced_paths(self) -> tuple[str, ...]:
        """The dotted paths of every scalar float leaf, e.g. ``"student.tau_c"``: what a sweep
        axis or :meth:`set` can address."""
        leaves, _ = jax.tree_util.tree_flatten_with_path(self)
        return tuple(_dotted(path) for path, leaf in leaves if eqx.is_inexact_array(leaf) and jnp.ndim(leaf) == 0)

    def resolve_path(self, name: str) -> str:
        """The full path of a traced leaf given its path or its unique last component
        (``"tau_c"`` → ``"student.tau_c"``, as the command line's ``--set`` uses)."""
        paths = self.traced_paths()
        found = match_path(name, paths)
        if found is not None:
            return found
        raise ValueError(
            f"{name!r} is not a traced parameter of this {type(self).__name__}; traced paths: {', '.join(paths)}."
        )

    def get(self, path: str):
        """The leaf (or object) at a dotted path."""
        return path_getter(path)(self)

    def check_point(self, values: dict[str, float]) -> None:
        """Raise for traced values (by full path) that a new object could not be built with."""
        del values

    def set(self, values: dict[str, float], *, check: bool = True):
        """A copy with traced leaves changed by path, ``{"student.tau_c": 0.05}`` (short names
        as in :meth:`resolve_path` work too). Concrete values are validated like a new
        object's (``check=False`` skips that); traced values (under ``jit``/``vmap``) are not."""
        resolved = {self.resolve_path(name): value for name, value in values.items()}
        concrete_values = {path: v for path, v in resolved.items() if concrete(v) is not None}
        if check and concrete_values:
            self.check_point(concrete_values)
        out = self
        for path, value in resolved.items():
            out = eqx.tree_at(path_getter(path), out, jnp.asarray(value, dtype=jnp.result_type(self.get(path))))
        return out

    def concrete_values(self) -> dict[str, float | None]:
        """Every traced leaf's Python value by path (``None`` where traced)."""
        return {path: concrete(self.get(path)) for path in self.traced_paths()}
