"""JAX's persistent compilation cache, in a per-user folder keyed by the host.

A compiled XLA CPU program is machine code for the CPU that compiled it: a cache folder shared
by a mixed cluster (one node with AVX-512, one without) would hand a node programs it cannot
run. The folder is therefore named by a key of everything that must match to reuse an entry:
the CPU's instruction-set flags, the machine type, and the jax and jaxlib versions
(:func:`host_key`). JAX's own cache key adds the program, its compile options and the devices.

The command line turns the cache on by default (``ntajax … --no-compile-cache`` or
``NTAJAX_COMPILE_CACHE=off`` turn it off; ``NTAJAX_COMPILE_CACHE=DIR`` moves it); library
code never changes JAX's configuration at import: call :func:`enable_compilation_cache` from
your own script to get the same.
"""

import hashlib
import os
import platform
from pathlib import Path

CACHE_VARIABLE = "NTAJAX_COMPILE_CACHE"
"""Environment variable: a folder for the cache, or ``off`` / ``0`` / ``false`` to disable it."""

DEFAULT_MIN_COMPILE_TIME_S = 0.1
"""Programs that compile faster than this are not cached (JAX's default is 1 s; most of
ntajax's programs compile in 0.2–5 s on a 2-core CPU)."""

_OFF = ("off", "0", "false", "no")


def _cpu_flags() -> str:
    """The CPU's instruction-set flags (``/proc/cpuinfo`` on Linux, else the processor name)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):  # x86, ARM
                    return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return platform.processor() or "unknown"


def host_key() -> str:
    """12 hex digits naming what a cached program depends on besides itself: the CPU's
    instruction-set flags, the machine type and the jax/jaxlib versions."""
    import jax
    import jaxlib

    text = "|".join([platform.machine(), _cpu_flags(), jax.__version__, jaxlib.__version__])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def default_cache_dir() -> Path:
    """``$NTAJAX_COMPILE_CACHE`` if it names a folder, else ``$XDG_CACHE_HOME/ntajax/xla-<host key>``
    (``~/.cache/ntajax/xla-<host key>`` without ``XDG_CACHE_HOME``)."""
    chosen = os.environ.get(CACHE_VARIABLE, "")
    if chosen and chosen.lower() not in _OFF:
        return Path(chosen).expanduser()
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "ntajax" / f"xla-{host_key()}"


def cache_disabled_by_environment() -> bool:
    """Whether ``NTAJAX_COMPILE_CACHE`` turns the cache off."""
    return os.environ.get(CACHE_VARIABLE, "").lower() in _OFF


def enable_compilation_cache(path: str | os.PathLike | None = None, *,
                             min_compile_time_s: float = DEFAULT_MIN_COMPILE_TIME_S) -> Path:
    """Store compiled programs in ``path`` (default :func:`default_cache_dir`) and reuse them in
    later processes: a second run of the same command skips most of its compilation.

    This sets JAX's process-wide configuration (``jax_compilation_cache_dir`` and the minimum
    compile time worth caching); call it once, before the first compilation, from a script or
    command line, never from library code.

    Args:
        path: the cache folder (created if missing).
        min_compile_time_s: programs that compile faster are not stored.

    Returns:
        The folder used.

    Raises:
        ValueError: ``min_compile_time_s`` is negative, or ``path`` exists and is not a folder.
    """
    import jax

    if not min_compile_time_s >= 0:
        raise ValueError(f"min_compile_time_s={min_compile_time_s!r} must be ≥ 0 (seconds; 0 caches every program).")
    folder = Path(path).expanduser() if path is not None else default_cache_dir()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"compilation cache path {str(folder)!r} exists and is not a folder; give a folder "
                         f"(or set {CACHE_VARIABLE}=off).")
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_s))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
