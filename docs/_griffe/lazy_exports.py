"""Griffe extension: ntajax's lazily imported public names as members of ``ntajax``.

``ntajax/__init__.py`` imports a few heavy names on first use (``_LAZY``: ``run_sweep``,
``Diffrax``, ``open_sweep``, …) through a module ``__getattr__``, which static analysis cannot
see. This extension reads the ``_LAZY`` table and adds each entry to the ``ntajax`` package as an
alias of the object it names, so ``::: ntajax.run_sweep`` and ``[run_sweep][ntajax.run_sweep]``
work like every other public name.
"""

from __future__ import annotations

import ast
from typing import Any

import griffe


class LazyExports(griffe.Extension):
    """Adds the ``_LAZY`` names of the loaded ``ntajax`` package as aliases."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:  # noqa: ARG002
        if pkg.name != "ntajax" or "_LAZY" not in pkg.members:
            return
        table = pkg["_LAZY"].value
        if not isinstance(table, griffe.ExprDict):
            raise TypeError(f"ntajax._LAZY is not a dict literal: {table!r}")
        for key, value in zip(table.keys, table.values, strict=True):
            name, module = ast.literal_eval(str(key)), ast.literal_eval(str(value))
            if name in pkg.members:
                continue
            target = f"ntajax.{name}" if module is None else f"ntajax{module}.{name}"
            pkg.set_member(name, griffe.Alias(name, target, parent=pkg))
