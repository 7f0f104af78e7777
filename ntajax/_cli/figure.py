"""Running figure scripts: the context they get, how they are found, and the command-line driver.

Figure scripts live outside the library. A package of them registers itself under the entry-point
group ``ntajax.figures``: each entry resolves to a dict ``{figure name: Figure}``, one
:class:`Figure` per figure naming its plotting module and where its stores come from, e.g. the
repository's ``figures`` package declares ``paper = "figures:FIGURES"`` in ``pyproject.toml``
with ``FIGURES = {"fig2": Figure("figures.fig2", compute="sweeps.fig2:compute"), ...}``.
:func:`registered_figures` collects them; the library never imports a figure package by name,
and a figure's modules are imported only when it is drawn (or listed with its title).

A plotting module defines

* ``TITLE``: one line, e.g. ``"Fig. 2 — flexible vs forgetful learning"``;
* ``plot(data, ctx) -> list[pathlib.Path]``: reads the stores, never trains, and writes the
  figure with :meth:`FigureContext.save` (PNG and PDF);
* ``headline(data) -> str``: one line with the figure's headline number;
* ``compute(ctx) -> dict[str, xarray.Dataset]`` only when its entry names no other ``compute``:
  runs (or reuses, via ``ctx.cached``) the simulations and returns labelled stores; it never plots.

``ntajax figure NAME``, ``python -m figures NAME`` (:func:`figure_main`) and ``python -m sweeps
NAME`` (:func:`sweeps_main`, stores only) all go through the registry; the command lines set the
non-interactive plotting backend, :func:`make_figure` itself does not.
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

from .options import add_compile_cache_option, start_compile_cache

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
        explain: plan only: :meth:`cached` and :meth:`sweep` record what they would compute or
            reuse in :attr:`plan` (a list of :class:`PlannedStore`) and return empty stores;
            nothing is simulated or written.
    """

    out: Path
    size: str = "paper"
    progress: bool = True
    seed: int = 0
    explain: bool = False
    plan: list = dataclasses.field(default_factory=list, compare=False, repr=False)

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

    def cached(self, name: str, description, compute: Callable[[], xr.Dataset], *, work: str = "") -> xr.Dataset:
        """A store keyed by the content hash of ``description`` (see :func:`ntajax._store.cache.cached_dataset`).

        ``work`` says in a few words what ``compute`` simulates (``"2 variants × 10 seeds × 20000
        steps"``), for :attr:`explain` plans. In explain mode nothing is computed: the store is
        recorded in :attr:`plan` and an empty Dataset is returned."""
        from .._store.cache import cached_dataset, content_hash

        if self.explain:
            path = self.data_dir / f"{name}-{content_hash(description)[:16]}.zarr"
            self.plan.append(PlannedStore(name=name, path=path, reused=path.exists(), work=work))
            return xr.Dataset()
        return cached_dataset(self.data_dir, name, description, compute)

    def sweep(self, name: str, sweep) -> xr.Dataset:
        """Run ``sweep`` (a :class:`ntajax.Sweep`) into the resumable store
        ``data/<name>-<fingerprint[:16]>.zarr`` and return it; in explain mode record its
        :class:`~ntajax._sweep.plan.SweepPlan` in :attr:`plan` instead and return an empty Dataset."""
        from .._sweep.execute import run_sweep

        path = self.data_dir / f"{name}-{sweep.fingerprint()[:16]}.zarr"
        if self.explain:
            plan = run_sweep(sweep, path, explain=True)
            self.plan.append(PlannedStore(name=name, path=path, reused=plan.n_pending == 0, work=str(plan)))
            return xr.Dataset()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return run_sweep(sweep, path, progress=self.progress)

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
class PlannedStore:
    """One store a figure would compute or reuse (:attr:`FigureContext.explain`).

    Attributes:
        name: the store's readable name.
        path: where it is (or would be) stored.
        reused: whether a complete store is already there (nothing to compute).
        work: what computing it simulates (may be empty), or a sweep's full plan.
    """

    name: str
    path: Path
    reused: bool
    work: str = ""

    def __str__(self) -> str:
        head = f"  {'reuse  ' if self.reused else 'compute'}  {self.name:<28} {self.path}"
        if not self.work or self.reused:
            return head
        return head + "\n" + "\n".join("      " + line for line in self.work.splitlines())


@dataclasses.dataclass(frozen=True)
class FigureResult:
    """What :func:`make_figure` produced: files, the headline line and wall times (s)."""

    name: str
    files: list[Path]
    headline: str
    compute_s: float
    plot_s: float


ENTRY_POINT_GROUP = "ntajax.figures"
"""The entry-point group under which figure packages register ``{name: Figure}``."""


def _import(module_name: str, what: str):
    """``importlib.import_module`` with a clear error when the module itself is missing."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        raise ValueError(f"{what} {module_name} is missing (no such module).") from None


@dataclasses.dataclass(frozen=True, init=False)
class Figure:
    """One figure of the registry: its plotting module and where its stores come from.

    ``Figure("figures.fig2", compute="sweeps.fig2:compute")`` draws with the module
    ``figures.fig2`` (``TITLE``, ``plot``, ``headline``) from the stores returned by
    ``sweeps.fig2.compute(ctx)``; without ``compute`` the plotting module's own ``compute`` is
    used. Nothing is imported until an attribute is asked for.

    Attributes:
        script: dotted name of the plotting module.
        source: ``"module:function"`` returning the stores, or None for ``script``'s ``compute``.
    """

    script: str
    source: str | None

    def __init__(self, script: str, compute: str | None = None):
        if not isinstance(script, str) or not script or ":" in script:
            raise ValueError(f"Figure(script={script!r}): the plotting module must be a dotted module name, "
                             "e.g. Figure('figures.fig2', compute='sweeps.fig2:compute').")
        if compute is not None:
            module, sep, function = compute.partition(":") if isinstance(compute, str) else ("", "", "")
            if not (sep and module and function.isidentifier()):
                raise ValueError(f"Figure({script!r}, compute={compute!r}): compute must be 'module:function', "
                                 "e.g. compute='sweeps.fig2:compute' (or left out to use the plotting module's compute).")
        object.__setattr__(self, "script", script)
        object.__setattr__(self, "source", compute)

    def __repr__(self) -> str:
        extra = "" if self.source is None else f", compute={self.source!r}"
        return f"Figure({self.script!r}{extra})"

    @property
    def module(self):
        """The plotting module (imported now)."""
        return _import(self.script, "figure script")

    @property
    def title(self) -> str:
        return self.module.TITLE

    def _attribute(self, module, name: str, fix: str):
        try:
            return getattr(module, name)
        except AttributeError:
            raise ValueError(f"{module.__name__} has no {name}(); {fix}") from None

    @property
    def compute_function(self) -> Callable[[FigureContext], dict]:
        """The function that returns the figure's stores (its modules imported now)."""
        if self.source is None:
            return self._attribute(self.module, "compute",
                                   f"give the registry entry a source: Figure({self.script!r}, compute='module:function').")
        module_name, _, function = self.source.partition(":")
        return self._attribute(_import(module_name, f"store module of {self.script} ({self.source})"), function,
                               f"fix the registry entry Figure({self.script!r}, compute={self.source!r}).")

    def compute(self, ctx: FigureContext) -> dict[str, xr.Dataset]:
        """Compute (or reuse) the figure's stores."""
        return self.compute_function(ctx)

    def plot(self, data: dict, ctx: FigureContext) -> list[Path]:
        """Draw the figure from its stores."""
        return self._attribute(self.module, "plot", "a plotting module defines plot(data, ctx).")(data, ctx)

    def headline(self, data: dict) -> str:
        """The figure's headline line."""
        return self._attribute(self.module, "headline", "a plotting module defines headline(data).")(data)


def registered_figures() -> dict[str, Figure]:
    """Every registered figure: ``{name: Figure}``, in registration order (nothing of a figure is
    imported yet).

    Raises:
        ValueError: no figure package is installed, an entry does not resolve to a dict of
            names → :class:`Figure`, or two packages register the same figure name differently.
    """
    entries = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    if not entries:
        raise ValueError(
            f"no figure package is installed: figure scripts register under the entry-point group "
            f"{ENTRY_POINT_GROUP!r} (the repository's 'figures' package does; run pip install -e . in the repository)."
        )
    out: dict[str, Figure] = {}
    for ep in entries:
        try:
            table = ep.load()
        except ImportError as error:
            raise ValueError(f"figure entry point {ep.name!r} = {ep.value!r} cannot be loaded: {error}") from error
        if not isinstance(table, dict):
            raise ValueError(f"figure entry point {ep.name!r} = {ep.value!r} is a {type(table).__name__}; "
                             "it must be a dict {figure name: ntajax._cli.figure.Figure}.")
        for name, entry in table.items():
            if not isinstance(entry, Figure):
                raise ValueError(f"figure entry point {ep.name!r} = {ep.value!r} maps {name!r} to {entry!r}; "
                                 f"it must map it to a Figure, e.g. {name!r}: Figure('package.{name}', "
                                 "compute='module:function').")
            if name in out and out[name] != entry:
                raise ValueError(f"figure {name!r} is registered twice: {out[name]!r} and {entry!r}.")
            out[name] = entry
    return out


def load_figure(name: str) -> Figure:
    """The registry entry of figure ``name`` (see :func:`registered_figures`); its modules are
    imported when its attributes are used."""
    registry = registered_figures()
    if name not in registry:
        raise ValueError(f"unknown figure {name!r}; choose one of: {', '.join(registry)} (or 'all').")
    return registry[name]


def make_figure(name: str, ctx: FigureContext) -> FigureResult:
    """Compute (or reuse) the stores of figure ``name`` and draw it (with the current matplotlib
    backend: the command lines choose Agg)."""
    entry = load_figure(name)
    start = time.perf_counter()
    data = entry.compute(ctx)
    compute_s = time.perf_counter() - start
    start = time.perf_counter()
    files = entry.plot(data, ctx)
    plot_s = time.perf_counter() - start
    return FigureResult(name=name, files=list(files), headline=entry.headline(data), compute_s=compute_s, plot_s=plot_s)


def add_figure_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="figures_out", help="output directory (default: ./figures_out; stores in DIR/data)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="size", const="quick",
                      help="fewer seeds and shorter runs for a fast look (not the paper's settings)")
    size.add_argument("--size", choices=SIZES, default="paper", help="paper (default), quick or tiny (smoke test)")
    parser.add_argument("--seed", type=int, default=0, help="root random seed (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_compile_cache_option(parser)
    parser.add_argument("--data", default=None, metavar="DIR",
                        help="MNIST IDX files for fig7 (sets NTAJAX_MNIST_DIR; default: that variable or the shipped test split)")


def add_figure_command_arguments(parser: argparse.ArgumentParser) -> None:
    """``NAME ... | all``, ``--list`` and the options of :func:`add_figure_arguments`."""
    parser.add_argument("names", nargs="*", metavar="NAME", help="figure names, or 'all'")
    parser.add_argument("--list", action="store_true", help="list the figures and exit")
    parser.add_argument("--explain", action="store_true",
                        help="do not run: list the stores each figure would compute or reuse, with the plan of its "
                             "sweeps (points, runs, programs, chunks, memory, estimated time); nothing is written")
    add_figure_arguments(parser)


def context_from_args(args) -> FigureContext:
    if getattr(args, "data", None):
        import os

        os.environ["NTAJAX_MNIST_DIR"] = str(args.data)  # read by ntajax.mnist at the command-line edge
    return FigureContext(out=Path(args.out), size=args.size or "paper", progress=not args.no_progress, seed=args.seed,
                         explain=bool(getattr(args, "explain", False)))


def explain_figures(names: list[str], ctx: FigureContext) -> str:
    """The plan of ``names``: per figure, the stores it would compute or reuse (nothing is run)."""
    registry = registered_figures()
    lines = [f"figures at size {ctx.size!r}, stores in {ctx.data_dir} (not run):"]
    n_compute = 0
    for name in names:
        ctx.plan.clear()
        dependent = False
        try:
            registry[name].compute(ctx)
        except Exception:  # noqa: BLE001 - see below
            # A later store is built from an earlier store's results, which the plan does not
            # compute (it got an empty placeholder): say so rather than guess.
            if not any(not store.reused for store in ctx.plan):
                raise
            dependent = True
        lines.append(f"{name}: {registry[name].title}")
        lines.extend(str(store) for store in ctx.plan)
        if dependent:
            lines.append("  … and further stores built from the results above (planned once those exist)")
        if not ctx.plan:
            lines.append("  (no stored simulation: computed while drawing)")
        n_compute += sum(not store.reused for store in ctx.plan)
    lines.append(f"{n_compute} store(s) to compute; the others are reused.")
    return "\n".join(lines)


def report(result: FigureResult) -> str:
    files = ", ".join(str(f) for f in result.files)
    return (f"{result.name}: {result.headline}\n  computed in {result.compute_s:.1f} s, drawn in {result.plot_s:.1f} s → {files}")


def list_figures() -> str:
    """One line per registered figure: name and title (a script that cannot be imported says why)."""
    lines = []
    for name, entry in registered_figures().items():
        try:
            title = entry.title
        except ValueError:
            title = "(script missing)"
        except ImportError as error:  # list the others; say why this one cannot be drawn
            title = f"(script cannot be imported: {error})"
        lines.append(f"{name:<16} {title}")
    return "\n".join(lines)


def run_figure_command(args, *, draw: bool = True) -> int:
    """The figure command lines after parsing (:func:`add_figure_command_arguments`): list the
    figures, or compute the stores of each named figure (``all``: every one, in registry order)
    and, with ``draw``, plot it with the Agg backend."""
    registry = registered_figures()  # a clear error when no figure package is installed
    if args.list or not args.names:
        print(list_figures())
        return 0
    names = list(registry) if args.names == ["all"] else args.names
    for name in names:
        if name not in registry:
            raise ValueError(f"unknown figure {name!r}; choose from: {', '.join(registry)} or 'all'.")
    ctx = context_from_args(args)
    if ctx.explain:
        print(explain_figures(names, ctx))
        return 0
    start = time.perf_counter()
    if draw:
        import matplotlib

        matplotlib.use("Agg")  # a command line that writes files: the headless backend, set here
        for name in names:
            print(report(make_figure(name, ctx)), flush=True)
        print(f"{len(names)} figure(s) in {time.perf_counter() - start:.1f} s → {ctx.out}")
        return 0
    for name in names:
        stores = registry[name].compute(ctx)
        for key, ds in stores.items():
            print(f"{name}/{key}: {dict(ds.sizes)} (content hash {ds.attrs.get('content_hash', '?')[:16]})", flush=True)
    print(f"stores of {len(names)} figure(s) in {time.perf_counter() - start:.1f} s → {ctx.data_dir}")
    return 0


def _command_main(argv, *, prog: str, description: str, draw: bool) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_figure_command_arguments(parser)
    args = parser.parse_args(argv)
    start_compile_cache(args)
    try:
        return run_figure_command(args, draw=draw)
    except (ValueError, TypeError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2


def figure_main(argv=None, prog: str = "python -m figures") -> int:
    """``python -m figures NAME ... | all [--size tiny] [--out DIR]``: draw registered figures
    (``--list`` lists them)."""
    return _command_main(argv, prog=prog, draw=True,
                         description="Regenerate paper figures: compute (or reuse) their stores in DIR/data and "
                                     "plot PNG and PDF into DIR.")


def sweeps_main(argv=None, prog: str = "python -m sweeps") -> int:
    """``python -m sweeps NAME ... | all [--size tiny] [--out DIR]``: compute (or reuse) the stores
    of registered figures without drawing them (``--list`` lists the figures)."""
    return _command_main(argv, prog=prog, draw=False,
                         description="Compute (or reuse) the stores of paper figures in DIR/data without drawing them.")
