"""Running the variants of a preset or figure side by side and labelling the results.

A *variant* (:class:`ntajax.Variant`) is a config plus optional explicit teachers and initial
state. :func:`run_variants` simulates each variant for all its seeds with the same root key
(so variants share their seed keys: common random numbers, MODEL §5.4), summarises it, and
:func:`variants_dataset` stacks the results along a ``variant`` dimension (see
:func:`ntajax._store.to_dataset`). The ``ntajax run`` command and the figure scripts use both.
"""

from collections.abc import Callable, Mapping

import equinox as eqx
import jax

from .._simulation import Simulation
from .runs import Variant
from .._run import make_teachers, precision, run_stacked_chunked
from .._summary import Summary, summarise
from .._trajectory import Trajectory


def progress_chunks(config: Simulation, target: int = 10) -> int:
    """How many pieces to run a config in for a progress bar: the largest divisor of the
    number of recording intervals that is ≤ ``target``."""
    intervals = (config.grid.n_save - 1) // (config.recording.weights_every if config.recording.weights else 1)
    return max(d for d in range(1, target + 1) if intervals % d == 0)


def _groups(variants: Mapping[str, Variant]) -> list[list[str]]:
    """Variant names grouped by static structure (variants that can share one compiled call)."""
    groups: list[tuple[object, list[str]]] = []
    for name, variant in variants.items():
        static = eqx.partition(variant.config.with_block_count(), eqx.is_array)[1]
        if not variant.config.engine.stackable:
            groups.append((static, [name]))
            continue
        for other, names in groups:
            if other.engine.stackable and eqx.tree_equal(static, other) is True:
                names.append(name)
                break
        else:
            groups.append((static, [name]))
    return [names for _, names in groups]


def run_variants(
    variants: Mapping[str, Variant],
    key,
    *,
    progress: bool = True,
    description: str = "ntajax",
    summarise_fn: Callable[[Simulation, Trajectory], Summary] | None = summarise,
) -> dict[str, tuple[Simulation, Trajectory, Summary | None]]:
    """Simulate every variant for all its seeds and summarise it.

    Variants that differ only in traced fields (e.g. flexible and forgetful) run together in one
    compiled call (:func:`ntajax._run.run_stacked`); the others run one call per static structure.

    Args:
        variants: ``{name: Variant}``.
        key: root key shared by all variants (common random numbers).
        progress: show a progress bar over pieces of the runs.
        description: label of the progress bar.
        summarise_fn: per-variant summary (default :func:`ntajax.summarise`); ``None`` skips it
            (e.g. for students with fewer paths than teachers).

    Returns:
        ``{name: (config, trajectory, summary, teachers)}`` in the order of ``variants``;
        ``teachers`` are the arrays the run used ((M_total, d_out, d_in), or per seed).
    """
    from tqdm.auto import tqdm

    key = jax.random.key(key) if isinstance(key, int) else key
    groups = _groups(variants)
    total = sum(progress_chunks(variants[names[0]].config) for names in groups)
    results = {}
    with tqdm(total=total, desc=description, unit="piece", disable=not progress, leave=False) as bar:
        for names in groups:
            bar.set_postfix_str(", ".join(names))
            configs = [variants[n].config for n in names]
            teachers = [variants[n].teachers if variants[n].teachers is not None else make_teachers(c, key)
                        for n, c in zip(names, configs)]
            trajectories = run_stacked_chunked(
                configs, key, n_chunks=progress_chunks(configs[0]), teachers=teachers,
                init=[variants[n].init for n in names], progress=lambda i: bar.update(1),
            )
            for name, config, trajectory, t in zip(names, configs, trajectories, teachers):
                with precision(config):
                    summary = summarise_fn(config, trajectory) if summarise_fn is not None else None
                results[name] = (config, trajectory, summary, t)
    return {name: results[name] for name in variants}


def variants_dataset(variants: Mapping[str, Variant], key, *, progress: bool = True, description: str = "ntajax"):
    """:func:`run_variants` followed by :func:`ntajax._store.to_dataset`: one labelled Dataset."""
    from .._store.dataset import to_dataset

    return to_dataset(run_variants(variants, key, progress=progress, description=description))
