"""Running readout variants side by side and labelling the results (FIGURES.md Fig. 7).

:func:`readout_dataset` runs every variant (all seeds in one compiled call each, the same
root key for every variant: common random numbers) and returns an :class:`xarray.Dataset`
with dimensions ``variant``, ``seed``, ``t`` (records), ``task``, ``path`` and ``block``.
Raw recorded arrays are stored as recorded; the per-seed gate order (§7.14) is stored next
to them as ``gate_order`` and applied only when plotting.
"""

import json
import time
from collections.abc import Mapping

import jax
import numpy as np
import xarray as xr

from ._features import Features
from ._metrics import block_table, gate_inspecificity, sort_paths_by_final_gates, steps_to_threshold
from ._readout import ReadoutConfig, flexible, forgetful, run_readout

TASK_NAMES = "ABCDEFGH"


def fig7_presets(**changes) -> dict[str, ReadoutConfig]:
    """``{"flexible": ..., "forgetful": ...}`` of FIGURES.md Fig. 7, with ``changes`` (top-level
    fields such as ``grid=``, ``curriculum=``, ``n_seeds=``) applied to both."""
    return {"flexible": flexible(**changes), "forgetful": forgetful(**changes)}


def readout_dataset(
    configs: Mapping[str, ReadoutConfig],
    features: Features,
    *,
    key,
    threshold: float = 0.85,
    last_gate_records: int = 100,
) -> xr.Dataset:
    """Run each variant and stack the labelled results along ``variant``.

    Args:
        configs: ``{variant: ReadoutConfig}``; all must share the recording grid, tasks and
            seed count (they differ in traced hyperparameters, so they share one program).
        features: the frozen features.
        key: root key (or int) shared by the variants.
        threshold: accuracy threshold of :func:`steps_to_threshold` (0.85).
        last_gate_records: records averaged to order the gates (100, §7.14).

    Returns:
        The Dataset (see the module docstring); ``attrs`` hold every config as JSON, the
        feature provenance, the recording stride and wall times.
    """
    names = list(configs)
    first = configs[names[0]]
    for name in names[1:]:
        c = configs[name]
        if (c.n_records, c.record_every, c.n_seeds, c.tasks, c.student.n_paths) != (
                first.n_records, first.record_every, first.n_seeds, first.tasks, first.student.n_paths):
            raise ValueError(f"variant {name!r} differs from {names[0]!r} in its recording grid, seeds, tasks or "
                             "paths; readout_dataset stacks variants that share them.")
    key = jax.random.key(key) if isinstance(key, int) else key
    per_variant, wall = {}, {}
    for name in names:
        start = time.perf_counter()
        trajectory = jax.block_until_ready(run_readout(configs[name], features, key=key))
        wall[name] = time.perf_counter() - start
        per_variant[name] = jax.tree.map(np.asarray, trajectory)
    starts, ends, tasks = block_table(first)
    dt = first.grid.dt

    def stack(fn):
        return np.stack([fn(name, per_variant[name]) for name in names])

    accuracy = stack(lambda n, tr: tr.accuracy)
    current = stack(lambda n, tr: np.take_along_axis(tr.accuracy, tr.task[..., None], axis=-1)[..., 0])
    steps = stack(lambda n, tr: steps_to_threshold(tr, configs[n], threshold)[0])
    distance = stack(lambda n, tr: gate_inspecificity(tr, configs[n], threshold)[0])
    cosine = stack(lambda n, tr: gate_inspecificity(tr, configs[n], threshold)[1])
    gates = stack(lambda n, tr: tr.gates)
    order = np.stack([sort_paths_by_final_gates(g, last_gate_records) for g in gates])
    ref = per_variant[names[0]]
    seed_dims = ("variant", "seed")
    ds = xr.Dataset(
        {
            "accuracy": (seed_dims + ("t", "task"), accuracy),
            "current_accuracy": (seed_dims + ("t",), current),
            "test_loss": (seed_dims + ("t", "task"), stack(lambda n, tr: tr.test_loss)),
            "batch_loss": (seed_dims + ("t",), stack(lambda n, tr: tr.batch_loss)),
            "gates": (seed_dims + ("t", "path"), gates),
            "path_norms": (seed_dims + ("t", "path"), stack(lambda n, tr: tr.path_norms)),
            "gate_order": (seed_dims + ("path",), order),
            "steps_to_threshold": (seed_dims + ("block",), steps),
            "inspecificity": (seed_dims + ("block",), distance),
            "inspecificity_cos": (seed_dims + ("block",), cosine),
            "step": (("t",), ref.step[0]),
            "active_task": (("t",), ref.task[0]),
            "block_start": (("block",), starts * dt),
            "block_end": (("block",), ends * dt),
            "block_task": (("block",), tasks),
        },
        coords={
            "variant": names,
            "seed": np.arange(first.n_seeds),
            "t": ref.t[0].astype(np.float64),
            "task": [TASK_NAMES[m] for m in range(first.n_tasks)],
            "path": np.arange(first.student.n_paths),
            "block": np.arange(len(starts)),
        },
    )
    from .._store.dataset import provenance_attrs

    ds.attrs.update({
        "config": json.dumps({n: configs[n].to_dict() for n in names}, sort_keys=True),
        "features": json.dumps(features.info, sort_keys=True),
        "threshold": float(threshold),
        "record_every": int(first.record_every),
        "n_train": int(features.train.shape[0]),
        "n_test": int(features.test.shape[0]),
        "last_gate_records": int(last_gate_records),
        "wall_s": json.dumps(wall),
    })
    ds.attrs.update(provenance_attrs())  # the root key is the caller's: recorded by the sweep script
    return ds
