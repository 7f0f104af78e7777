"""Griffe extension: the ``__init__`` signature of Equinox modules, for the API reference.

An ``equinox.Module`` subclass is a dataclass made by a metaclass, not by a ``@dataclass``
decorator, so griffe's static analysis sees no ``__init__`` and the ``Args:`` section of a
module's docstring would name parameters "not in the signature". This extension gives every
Equinox module without an ``__init__`` of its own (in its class or its bases) the signature the
dataclass machinery builds: its annotated fields in MRO order, with the defaults of
``eqx.field(default=...)``, leaving out class variables, abstract attributes
(``AbstractVar``), properties and ``field(init=False)``.
"""

from __future__ import annotations

from typing import Any

import griffe

_FIELD_CALLS = {"equinox.field", "equinox._module.field", "dataclasses.field"}
_NOT_FIELDS = ("equinox.AbstractVar", "equinox.AbstractClassVar", "typing.ClassVar", "dataclasses.KW_ONLY")


def _path(expr) -> str:
    return expr.canonical_path if isinstance(expr, griffe.Expr) else str(expr)


def _is_equinox_module(cls: griffe.Class, seen: set[str]) -> bool:
    if cls.path in seen:
        return False
    seen.add(cls.path)
    if any(_path(base) in {"equinox.Module", "equinox._module.Module"} for base in cls.bases):
        return True
    try:
        parents = cls.resolved_bases
    except Exception:  # noqa: BLE001 - a base griffe cannot resolve (a third-party class) is not ours
        return False
    return any(_is_equinox_module(parent, seen) for parent in parents)


def _field_call(attribute: griffe.Attribute) -> dict[str, Any] | None:
    """The keyword arguments of ``eqx.field(...)`` / ``dataclasses.field(...)``, or None."""
    value = attribute.value
    if isinstance(value, griffe.ExprCall) and _path(value.function) in _FIELD_CALLS:
        return {arg.name: arg.value for arg in value.arguments if isinstance(arg, griffe.ExprKeyword)}
    return None


def _fields(cls: griffe.Class) -> list[griffe.Parameter]:
    parameters: dict[str, griffe.Parameter] = {}
    for member in cls.members.values():
        if member.is_alias or not member.is_attribute or member.annotation is None:
            continue
        labels = member.labels
        if "property" in labels or ("class-attribute" in labels and "instance-attribute" not in labels):
            continue  # properties and class variables are not fields
        annotation = member.annotation
        if _path(annotation).startswith(_NOT_FIELDS) or str(annotation).startswith(("AbstractVar", "ClassVar")):
            continue
        call = _field_call(member)
        if call is not None and str(call.get("init", "True")) == "False":
            continue
        if call is None:
            default = member.value
        elif "default_factory" in call:
            default = griffe.ExprCall(function=call["default_factory"], arguments=[])
        else:
            default = call.get("default")
        parameters[member.name] = griffe.Parameter(
            member.name, annotation=member.annotation, kind=griffe.ParameterKind.positional_or_keyword,
            default=default, docstring=member.docstring,
        )
    return list(parameters.values())


def _set_init(cls: griffe.Class) -> None:
    try:
        mro = cls.mro()
    except ValueError:
        mro = []
    if any("__init__" in c.members and "equinox-module" not in c.labels for c in [cls, *mro]):
        return  # a hand-written __init__ documents itself (those made here are labelled)
    parameters: dict[str, griffe.Parameter] = {}
    for parent in [*reversed(mro), cls]:
        for parameter in _fields(parent):
            # a redeclared field keeps its first position (as in a dataclass) with the subclass's default
            parameters[parameter.name] = parameter
    ordered = list(parameters.values())
    init = griffe.Function("__init__", lineno=0, endlineno=0, parent=cls, returns="None", parameters=griffe.Parameters(
        griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword), *ordered))
    cls.set_member("__init__", init)
    cls.labels.add("equinox-module")


def _walk(obj, seen: set[str]) -> None:
    if obj.path in seen:
        return
    seen.add(obj.path)
    for member in list(obj.members.values()):
        if member.is_alias:
            continue
        if member.is_class:
            if _is_equinox_module(member, set()):
                _set_init(member)
            _walk(member, seen)
        elif member.is_module:
            _walk(member, seen)


class EquinoxFields(griffe.Extension):
    """Builds the dataclass ``__init__`` of every Equinox module of the loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:  # noqa: ARG002
        _walk(pkg, set())
