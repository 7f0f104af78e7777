"""Where results come from: the ntajax version, a digest of its source, and a provenance record.

A stored result is only as trustworthy as the record of what made it. :func:`source_digest`
hashes every source file of the installed ntajax package, so a store made by other code (a
changed engine, a changed random stream) is recognised and refused; :func:`provenance` records
the software, compiler settings, command line and code version of a run.
"""

import functools
import hashlib
import importlib.metadata
import os
import pathlib
import platform
import subprocess
import sys

from ._compile import COMPILER_OPTIONS

_PACKAGE_ROOT = pathlib.Path(__file__).resolve().parent


def _version() -> str:
    try:
        return importlib.metadata.version("ntajax")
    except importlib.metadata.PackageNotFoundError:  # a source tree used without installing it
        return "0+unknown"


VERSION: str = _version()
"""The installed ntajax version (from the package metadata)."""

_LIBRARIES = ("jax", "jaxlib", "equinox", "diffrax", "numpy", "xarray", "zarr")


@functools.cache
def source_digest() -> str:
    """sha256 of ntajax's own source files (every ``*.py`` under the package, with its path):
    results depend on the code as much as on the settings."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE_ROOT.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=_PACKAGE_ROOT, capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_state() -> dict:
    """The git commit of the checkout ntajax runs from and whether its tree was dirty (``None``
    for an installation outside a git checkout)."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": None, "git_dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": bool(status)}


def library_versions() -> dict[str, str | None]:
    """Versions of Python and of the libraries a result depends on."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def provenance(*, seed: int | None = None) -> dict:
    """A JSON-ready record of how a result is made: ntajax version and source digest, library
    versions, compiler options and XLA flags, the command line, the root ``seed`` and the git
    state. Stores write it as attributes."""
    import jax

    return {
        "ntajax_version": VERSION,
        "ntajax_source_digest": source_digest(),
        "versions": library_versions(),
        "compiler_options": dict(COMPILER_OPTIONS),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "device": str(jax.devices()[0]),
        "command_line": list(sys.argv),
        "seed": seed,
        **git_state(),
    }
