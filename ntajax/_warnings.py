"""ntajax's warning category and a warning shown once, at the user's own line of code."""

import contextlib
import contextvars
import pathlib
import sys
import warnings


class NtajaxWarning(UserWarning):
    """Warnings about settings that are allowed but outside the gradient-flow regime."""


_PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
_LIBRARIES = ("equinox", "jax", "jaxlib")
_STDLIB_MACHINERY = ("dataclasses.py", "abc.py", "functools.py", "contextlib.py")


def _is_internal(filename: str) -> bool:
    """Whether a frame of this file belongs to ntajax or to the machinery that calls it."""
    if filename.startswith("<"):
        return True
    path = pathlib.Path(filename).resolve()
    if path.is_relative_to(_PACKAGE_DIR) or path.name in _STDLIB_MACHINERY:
        return True
    parts = path.parts
    for index, part in enumerate(parts[:-1]):
        if part in ("site-packages", "dist-packages"):
            return parts[index + 1] in _LIBRARIES
    return False


_DERIVING = contextvars.ContextVar("ntajax_deriving", default=False)


@contextlib.contextmanager
def deriving():
    """Context in which ntajax builds derived copies of a user's objects (filled-in defaults,
    time-grid chunks): their re-validation raises errors as usual but repeats no warning, which
    the user saw when building the original."""
    token = _DERIVING.set(True)
    try:
        yield
    finally:
        _DERIVING.reset(token)


def warn_at_caller(message: str, category: type[Warning] = NtajaxWarning) -> None:
    """Warn, attributed to the first frame outside ntajax, equinox, jax and the standard
    library's dataclass machinery — the user's own call.

    The default warning filter shows a warning once per location, so re-validations inside
    one user call (``replace``, filled-in defaults, …) show it once, at that call.
    """
    if _DERIVING.get():
        return
    frame = sys._getframe(1)
    while frame is not None and _is_internal(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is None:
        warnings.warn(message, category, stacklevel=2)
        return
    registry = frame.f_globals.setdefault("__warningregistry__", {})
    warnings.warn_explicit(message, category, frame.f_code.co_filename, frame.f_lineno,
                           module=frame.f_globals.get("__name__"), registry=registry)
