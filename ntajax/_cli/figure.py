"""Running figure scripts: the context they get and the command-line driver.

A figure script (a module in the top-level ``figures`` package) defines

* ``TITLE``: one line, e.g. ``"Fig. 2 — flexible vs forgetful learning"``;
* ``compute(ctx) -> dict[str, xarray.Dataset]``: runs (or reuses, via ``ctx.cached``) the
  simulations and returns labelled stores; it never plots;
* ``plot(data, ctx) -> list[pathlib.Path]``: reads the stores, never trains, and writes the
  figure with :meth:`FigureContext.save` (PNG and PDF);
* ``headline(data) -> str``: one line with the figure's headline number;
* ``main(argv=None)``: ``return ntajax._figure.figure_main(__name__, argv)``.

``ntajax figure NAME`` and ``python -m figures.NAME`` both go through :func:`make_figure`.
"""

import argparse
import dataclasses
import importlib
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


def load_figure(name: str):
    """The figure script module registered as ``name`` (see ``figures.FIGURES``)."""
    try:
        import figures
    except ImportError as error:  # pragma: no cover - only outside a source install
        raise ValueError("the figure scripts (package 'figures') are not installed: pip install -e . from the repository") from error
    if name not in figures.FIGURES:
        raise ValueError(f"unknown figure {name!r}; choose one of: {', '.join(figures.FIGURES)} (or 'all').")
    module_name = f"figures.{figures.FIGURES[name]}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        raise ValueError(f"figure {name!r} is registered but its script {module_name} is missing.") from None


def make_figure(name: str, ctx: FigureContext) -> FigureResult:
    """Compute (or reuse) the stores of figure ``name`` and draw it."""
    import matplotlib

    matplotlib.use("Agg")
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
    import figures

    module = sys.modules[module_name]
    if module_name == "__main__":  # run as python -m figures.NAME: the module's import name
        module_name = module.__spec__.name
    name = next(key for key, value in figures.FIGURES.items() if f"figures.{value}" == module_name)
    parser = argparse.ArgumentParser(prog=f"python -m {module_name}", description=module.TITLE)
    add_figure_arguments(parser)
    args = parser.parse_args(argv)
    print(report(make_figure(name, context_from_args(args))))
    return 0
