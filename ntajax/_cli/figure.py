"""Running figure scripts: the context they get, how they are found, and the command-line driver.

Figure scripts live outside the library. A package of them registers itself under the entry-point
group ``ntajax.figures``: each entry resolves to a dict ``{figure name: script module name}``
(relative to the entry's package), e.g. the repository's ``figures`` package declares
``paper = "figures:FIGURES"`` in ``pyproject.toml``. :func:`registered_figures` collects them;
the library never imports a figure package by name.

A figure script defines

* ``TITLE``: one line, e.g. ``"Fig. 2 — flexible vs forgetful learning"``;
* ``compute(ctx) -> dict[str, xarray.Dataset]``: runs (or reuses, via ``ctx.cached``) the
  simulations and returns labelled stores; it never plots;
* ``plot(data, ctx) -> list[pathlib.Path]``: reads the stores, never trains, and writes the
  figure with :meth:`FigureContext.save` (PNG and PDF);
* ``headline(data) -> str``: one line with the figure's headline number;
* ``main(argv=None)``: ``return ntajax._cli.figure.figure_main(__name__, argv)``.

``ntajax figure NAME`` and ``python -m figures.NAME`` both go through :func:`make_figure`; the
command lines set the non-interactive plotting backend, :func:`make_figure` itself does not.
"""

import argparse
import dataclasses
import importlib
import importlib.metadata
import sys
import time
from collections.abc import Callable
from pathlib import Path

import xarray as xr

SIZES = ("paper", "quick", "tiny")
"""Figure sizes: the paper's settings; fewer seeds and less time for a fast look; the
smallest run that exercises every code path (tests)."""


@dataclasses.dataclass(frozen=True)
class FigureContext:
    """What a figure script needs to know about its run.

    Attributes:
        out: directory for the figure files; stores go to ``out/data``.
        size: ``"paper"``, ``"quick"`` or ``"tiny"`` (see :data:`SIZES`).
        progress: show progress bars.
        seed: root random seed.
    """

    out: Path
    size: str = "paper"
    progress: bool = True
    seed: int = 0

    def __post_init__(self):
        if self.size not in SIZES:
            raise ValueError(f"size={self.size!r} is not a figure size; use one of {', '.join(SIZES)}.")
        object.__setattr__(self, "out", Path(self.out))

    @property
    def quick(self) -> bool:
        """True for the reduced sizes (``quick`` and ``tiny``)."""
        return self.size != "paper"

    def pick(self, paper, quick, tiny=None):
        """The value for this size (``tiny`` defaults to ``quick``)."""
        return {"paper": paper, "quick": quick, "tiny": quick if tiny is None else tiny}[self.size]

    @property
    def data_dir(self) -> Path:
        return self.out / "data"

    def cached(self, name: str, description, compute: Callable[[], xr.Dataset]) -> xr.Dataset:
        """A store keyed by the content hash of ``description`` (see :func:`ntajax._cache.cached_dataset`)."""
        from .._store.cache import cached_dataset

        return cached_dataset(self.data_dir, name, description, compute)

    def save(self, fig, name: str) -> list[Path]:
        """Write ``fig`` as ``out/<name>.png`` and ``out/<name>.pdf`` and close it."""
        import matplotlib.pyplot as plt

        self.out.mkdir(parents=True, exist_ok=True)
        paths = [self.out / f"{name}.png", self.out / f"{name}.pdf"]
        fig.savefig(paths[0], dpi=150)
        fig.savefig(paths[1])
        plt.close(fig)
        return paths


@dataclasses.dataclass(frozen=True)
class FigureResult:
    """What :func:`make_figure` produced: files, the headline line and wall times (s)."""

    name: str
    files: list[Path]
    headline: str
    compute_s: float
    plot_s: float


ENTRY_POINT_GROUP = "ntajax.figures"
"""The entry-point group under which figure packages register ``{name: script module}``."""


def registered_figures() -> dict[str, str]:
    """Every registered figure: ``{name: full module name of its script}``, in registration order.

    Raises:
        ValueError: no figure package is installed, an entry does not resolve to a dict of
            names, or two packages register the same figure name.
    """
    entries = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    if not entries:
        raise ValueError(
            f"no figure package is installed: figure scripts register under the entry-point group "
            f"{ENTRY_POINT_GROUP!r} (the repository's 'figures' package does; run pip install -e . in the repository)."
        )
    out: dict[str, str] = {}
    for ep in entries:
        try:
            table = ep.load()
        except ImportError as error:
            raise ValueError(f"figure entry point {ep.name!r} = {ep.value!r} cannot be loaded: {error}") from error
        if not isinstance(table, dict):
            raise ValueError(f"figure entry point {ep.name!r} = {ep.value!r} is a {type(table).__name__}; "
                             "it must be a dict {figure name: script module name}.")
        package = ep.module
        for name, module in table.items():
            full = f"{package}.{module}"
            if name in out and out[name] != full:
                raise ValueError(f"figure {name!r} is registered twice: {out[name]} and {full}.")
            out[name] = full
    return out


def load_figure(name: str):
    """The figure script module registered as ``name`` (see :func:`registered_figures`)."""
    registry = registered_figures()
    if name not in registry:
        raise ValueError(f"unknown figure {name!r}; choose one of: {', '.join(registry)} (or 'all').")
    module_name = registry[name]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        raise ValueError(f"figure {name!r} is registered but its script {module_name} is missing.") from None


def make_figure(name: str, ctx: FigureContext) -> FigureResult:
    """Compute (or reuse) the stores of figure ``name`` and draw it (with the current matplotlib
    backend: the command lines choose Agg)."""
    module = load_figure(name)
    start = time.perf_counter()
    data = module.compute(ctx)
    compute_s = time.perf_counter() - start
    start = time.perf_counter()
    files = module.plot(data, ctx)
    plot_s = time.perf_counter() - start
    return FigureResult(name=name, files=list(files), headline=module.headline(data), compute_s=compute_s, plot_s=plot_s)


def add_figure_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="figures_out", help="output directory (default: ./figures_out; stores in DIR/data)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="size", const="quick",
                      help="fewer seeds and shorter runs for a fast look (not the paper's settings)")
    size.add_argument("--size", choices=SIZES, default="paper", help="paper (default), quick or tiny (smoke test)")
    parser.add_argument("--seed", type=int, default=0, help="root random seed (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--data", default=None, metavar="DIR",
                        help="MNIST IDX files for fig7 (sets NTAJAX_MNIST_DIR; default: that variable or the shipped test split)")


def context_from_args(args) -> FigureContext:
    if getattr(args, "data", None):
        import os

        os.environ["NTAJAX_MNIST_DIR"] = str(args.data)  # read by ntajax.mnist at the command-line edge
    return FigureContext(out=Path(args.out), size=args.size or "paper", progress=not args.no_progress, seed=args.seed)


def report(result: FigureResult) -> str:
    files = ", ".join(str(f) for f in result.files)
    return (f"{result.name}: {result.headline}\n  computed in {result.compute_s:.1f} s, drawn in {result.plot_s:.1f} s → {files}")


def figure_main(module_name: str, argv=None) -> int:
    """``main()`` of a figure script: ``python -m figures.NAME [--quick] [--out DIR]``."""
    import matplotlib

    module = sys.modules[module_name]
    if module_name == "__main__":  # run as python -m figures.NAME: the module's import name
        module_name = module.__spec__.name
    names = [key for key, value in registered_figures().items() if value == module_name]
    if not names:
        raise SystemExit(f"{module_name} is not a registered figure script (entry-point group {ENTRY_POINT_GROUP!r}).")
    parser = argparse.ArgumentParser(prog=f"python -m {module_name}", description=module.TITLE)
    add_figure_arguments(parser)
    args = parser.parse_args(argv)
    matplotlib.use("Agg")  # a command line that writes files: the headless backend, set here
    print(report(make_figure(names[0], context_from_args(args))))
    return 0
