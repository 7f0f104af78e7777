"""Griffe extension: Sphinx cross-reference roles in ntajax's docstrings as mkdocs cross-references.

ntajax's docstrings write references the Sphinx way (``:class:`ntajax.Gated```,
``:func:`~ntajax._sweep.sweep.compute_chunk```) and end a paragraph before a literal block
with ``::``. This extension rewrites them before the docstrings are parsed: each role becomes an
*optional* autoref (a link where the target is documented on the site, plain code otherwise,
never a warning), ``~`` keeps only the last name as the title (as in Sphinx), a trailing
``::`` becomes ``:``, and an argument entry that documents several parameters at once
(``d_in, d_out: input and output dimension``) becomes one entry per parameter with the same text,
as the Google style that griffe parses has one name per entry.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|data|obj|exc|const):`(?P<body>[^`]+)`")
_EXPLICIT = re.compile(r"(?P<title>.*?)\s*<(?P<target>[^>]+)>$")
_LITERAL = re.compile(r"(?<=\S)::$", flags=re.M)


def _reference(match: re.Match) -> str:
    body = match["body"].strip().lstrip("!")
    explicit = _EXPLICIT.fullmatch(body)
    if explicit:
        title, target = explicit["title"], explicit["target"]
    else:
        target = body.lstrip("~")
        title = target.rsplit(".", 1)[-1] if body.startswith("~") else target
    target = target.rstrip("()")
    return f'<autoref identifier="{target}" optional><code>{title}</code></autoref>'


_SECTION = re.compile(r"^(?P<indent>\s*)(?:Args|Arguments|Parameters|Attributes|Other Parameters):\s*$")
_SHARED = re.compile(r"^(?P<indent>\s+)(?P<names>\w+(?:\s*,\s*\w+)+)(?P<rest>\s*(?:\([^)]*\))?:.*)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def split_shared_entries(text: str) -> str:
    """One entry per parameter where an argument entry names several (``a, b: text``)."""
    lines, out, i = text.split("\n"), [], 0
    section = None  # indent of the current argument-like section header
    while i < len(lines):
        line = lines[i]
        header = _SECTION.match(line)
        if header:
            section = len(header["indent"])
        elif line.strip() and section is not None and _indent(line) <= section:
            section = None
        shared = _SHARED.match(line) if section is not None else None
        if shared is None:
            out.append(line)
            i += 1
            continue
        j = i + 1  # the entry's continuation lines: blank or indented deeper than the entry
        while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > _indent(line)):
            j += 1
        while j > i + 1 and not lines[j - 1].strip():
            j -= 1
        for name in re.split(r"\s*,\s*", shared["names"]):
            out.append(f"{shared['indent']}{name}{shared['rest']}")
            out.extend(lines[i + 1:j])
        i = j
    return "\n".join(out)


def rewrite(text: str) -> str:
    """``text`` with Sphinx roles as optional autorefs, ``::`` literal markers as ``:`` and shared
    argument entries split."""
    return split_shared_entries(_LITERAL.sub(":", _ROLE.sub(_reference, text)))


def _walk(obj, seen: set[str]) -> None:
    if obj.path in seen:
        return
    seen.add(obj.path)
    if obj.docstring is not None:
        obj.docstring.value = rewrite(obj.docstring.value)
    for member in list(obj.members.values()):
        if not member.is_alias:
            _walk(member, seen)


class SphinxRoles(griffe.Extension):
    """Rewrites the docstrings of every object of the loaded package (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:  # noqa: ARG002
        _walk(pkg, set())
