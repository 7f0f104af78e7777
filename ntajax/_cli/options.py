"""Options shared by the command lines (``ntajax`` and ``python -m figures`` / ``python -m sweeps``)."""

import sys


def add_compile_cache_option(parser) -> None:
    """``--no-compile-cache``: the option of every command that compiles."""
    parser.add_argument("--no-compile-cache", action="store_true",
                        help="do not reuse or store compiled programs in the per-user compilation cache "
                             "(default: on; NTAJAX_COMPILE_CACHE=off or =DIR also turn it off or move it)")


def start_compile_cache(args) -> None:
    """Turn on JAX's persistent compilation cache (:mod:`ntajax._compile_cache`) unless the command
    line or the environment opt out; a folder that cannot be created is reported and skipped."""
    from .._compile_cache import cache_disabled_by_environment, enable_compilation_cache

    if getattr(args, "no_compile_cache", True) or cache_disabled_by_environment():
        return
    try:
        enable_compilation_cache()
    except (OSError, ValueError) as error:
        print(f"ntajax: note: compilation cache off ({error})", file=sys.stderr)
