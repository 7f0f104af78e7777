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
        raise ValueError(f"{owner}: {name}={value:.7g} must be finite.")


def check_positive(owner: str, name: str, value: float | None) -> None:
    check_finite(owner, name, value)
    if value is not None and value <= 0:
        raise ValueError(f"{owner}: {name}={value:.7g} must be positive.")


def check_non_negative(owner: str, name: str, value: float | None) -> None:
    check_finite(owner, name, value)
    if value is not None and value < 0:
        raise ValueError(f"{owner}: {name}={value:.7g} must be non-negative.")


def check_size(owner: str, name: str, value) -> None:
    """A static size: a positive Python integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: {name}={value!r} must be a positive integer.")


def scalar_fields(module) -> dict[str, float | None]:
    """The scalar float fields of one Equinox module by field name, as Python floats (``None``
    where traced): what a ``check_values`` method receives."""
    out = {}
    for f in dataclasses.fields(module):
        value = getattr(module, f.name, None)
        if eqx.is_inexact_array(value) and jnp.ndim(value) == 0:
            out[f.name] = concrete(value)
    return out
