"""The continual-learning comparison: baseline configs, per-run summaries with retention, sweeps.

**Methods** (:func:`baselines`), all on the same student, teachers, curriculum and engine family
(MODEL §9, §6.3). "Boundaries" marks the methods that are told where tasks end — oracle
knowledge that the NTA model does not get:

| key | method | boundaries |
|---|---|---|
| ``flexible`` | flexible NTA (the given config) | no |
| ``forgetful`` | forgetful NTA: τ_c = τ_w, every regulariser coefficient 0 | no |
| ``ewc`` | online EWC (analytic Fisher) on the forgetful config | yes |
| ``l2`` | L2 pull to the previous solution on the forgetful config | yes |
| ``oracle`` | oracle gating: gates one-hot on the current task (upper bound) | yes |
| ``single_path`` | ungated single-path student ŷ = Wx (P = 1, gate held at 1) | no |
| ``ewc_single_path`` | online EWC on the single path (≈ L2 pull, MODEL §9) | yes |
| ``interleaved`` | the forgetful config on an interleaved curriculum (multitask reference) | no blocks |

**Per-run summary** (:func:`summarise_continual`, traceable and vmappable): adaptation time per
block (MODEL §7.6; undefined, NaN, for the interleaved curriculum), retention — the expected loss
on the *previous* task at the end of each block, with the student as it is — and re-gated
retention (the same after re-setting only the gates, see :mod:`ntajax.metrics._continual`), the
final and time-mean total alignment (for P < M teachers without a path count 0), the final loss,
the loss on every base task at the end, and the status. Retention needs the student at block ends:
:func:`continual_sweep` records the full weights on a grid that contains every block end.

For the interleaved curriculum the blocks of ``reference`` (default A, B, A, B, …) define the
times and the "previous task" of retention, so it is read at the same times as the blocked runs.
"""

import dataclasses
import json
from collections.abc import Mapping
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array, Float

from .._curricula.clock import block_bounds
from .._curricula.curriculum import Blocked, Interleaved
from .._engines.continual import ContinualScan, FrozenGates, L2Pull, LearnedGates, OnlineEWC, OracleGates
from .._simulation import Simulation
from .._store.sweep_store import field_names
from .._students.linear import Gated, GatedStudent, PerNeuronStudent, TwoLayerStudent
from .._summary import Summary, summarise_one
from .._trajectory import Trajectory
from .execute import run_sweep
from .reducers import Reducer, Variable
from .sweep import Sweep
from ..metrics._continual import (
    best_gate_loss,
    best_readout_loss,
    best_row_gate_loss,
    previous_task_loss,
)


# ------------------------------------------------------------------------------------------ methods
class Baseline(NamedTuple):
    """One method of the comparison.

    Attributes:
        config: the simulation (its engine carries the method).
        label: a short name for legends.
        needs_task_boundaries: whether the method is told where tasks end (oracle knowledge).
    """

    config: Simulation
    label: str
    needs_task_boundaries: bool


def forgetful_config(config: Simulation) -> Simulation:
    """The forgetful control of ``config``: τ_c = τ_w and every regulariser coefficient 0 (FIGURES §0, Fig. 2)."""
    return config.replace(
        student=config.student.replace(tau_c=config.student.tau_w),
        regulariser=config.regulariser.replace(lambda_norm=0.0, lambda_nonneg=0.0, lambda_w=0.0),
    )


def baselines(flexible: Simulation, *, lambda_ewc: float, ewc_decay: float = 1.0) -> dict[str, Baseline]:
    """The methods of the module docstring's table, built from the flexible NTA simulation.

    Args:
        flexible: the flexible NTA simulation (a :class:`ntajax.Gated` student with M = P and a
            blocked curriculum).
        lambda_ewc, ewc_decay: λ_EWC and γ of the EWC and L2 penalties (MODEL §9); they become the
            penalties' ``lambda_ewc`` and ``ewc_decay`` (paths ``engine.penalty.lambda_ewc`` and
            ``engine.penalty.ewc_decay``).

    Returns:
        ``{key: Baseline}`` in the table's order.
    """
    if not isinstance(flexible.student, Gated):
        raise ValueError(
            f"baselines() builds gated-student methods; got student={type(flexible.student).__name__}(...): "
            "pass a simulation with student=ntajax.Gated(...)."
        )
    if not flexible.schedule.is_blocked:
        raise ValueError("baselines() needs the flexible simulation on a Blocked curriculum (the interleaved one is derived).")
    forgetful = forgetful_config(flexible)
    single = forgetful.replace(student=forgetful.student.replace(n_paths=1), engine=ContinualScan(gates=FrozenGates(1.0)))
    penalty = dict(lambda_ewc=lambda_ewc, ewc_decay=ewc_decay)
    per = "step" if flexible.gradient.is_sampled else "sample"
    tasks = tuple(range(flexible.n_teachers))
    interleaved = Interleaved(tasks=tasks, per=per, block_length=forgetful.curriculum.block_length)

    def method(config, label):
        engine = config.engine
        boundaries = isinstance(engine, ContinualScan) and engine.needs_task_boundaries
        return Baseline(config=config, label=label + (" (boundaries)" if boundaries else ""), needs_task_boundaries=boundaries)

    return {
        "flexible": method(flexible, "flexible NTA"),
        "forgetful": method(forgetful, "forgetful NTA"),
        "ewc": method(forgetful.replace(engine=ContinualScan(penalty=OnlineEWC(**penalty))), "online EWC"),
        "l2": method(forgetful.replace(engine=ContinualScan(penalty=L2Pull(**penalty))), "L2 pull"),
        "oracle": method(forgetful.replace(engine=ContinualScan(gates=OracleGates())), "oracle gating"),
        "single_path": method(single, "single path"),
        "ewc_single_path": method(
            single.replace(engine=ContinualScan(penalty=OnlineEWC(**penalty), gates=FrozenGates(1.0))), "EWC single path"
        ),
        "interleaved": method(forgetful.replace(curriculum=interleaved), "interleaved"),
    }


# ------------------------------------------------------------------------------------------ summary
CONTINUAL_FIELDS = ("adaptation_time", "censored", "retention", "regated_retention", "final_alignment", "mean_alignment",
                    "final_loss", "end_task_loss", "status")
"""The :class:`ntajax.Summary` fields the comparison keeps per run."""


def _gate_policy(config: Simulation):
    engine = config.engine
    return engine.gates if isinstance(engine, ContinualScan) else LearnedGates()


def regated_loss(config: Simulation, student, target: Float[Array, "d_out d_in"], task_weights) -> Float[Array, ""]:
    """Expected loss on ``target`` after re-setting only the gates of ``student`` (weights frozen).

    Learned gates: the best gates (least squares, see :mod:`ntajax.metrics._continual`). A gate
    policy that fixes the gates (frozen, oracle) uses its own gates for that task.
    """
    gates = _gate_policy(config).gates_for(student, task_weights)
    if gates is not None:
        return previous_task_loss(eqx.tree_at(lambda s: s.c, student, gates).effective_map(), target)
    if isinstance(student, GatedStudent):
        return best_gate_loss(student.W, target)
    if isinstance(student, PerNeuronStudent):
        return best_row_gate_loss(student.W, target)
    if isinstance(student, TwoLayerStudent):
        return best_readout_loss(student.W1, target)
    raise TypeError(f"regated_loss has no rule for {type(student).__name__}.")


def _index(tree, i):
    return jax.tree.map(lambda x: x[i], tree)


def reference_schedule(config: Simulation, reference: Blocked | None = None) -> Blocked:
    """The blocks that define retention: ``reference``, the config's blocked curriculum, or A, B, A, B, …"""
    if reference is not None:
        return reference
    if isinstance(config.schedule, Blocked):
        return config.schedule
    return Blocked(((0, tuple(range(config.n_teachers))),), block_length=config.curriculum.block_length)


def summarise_continual(
    config: Simulation, trajectory: Trajectory, teachers: Float[Array, "n_targets d_out d_in"], t_end=None,
    reference: Blocked | None = None, threshold: float = 0.1,
) -> Summary:
    """Reduce ONE seed's trajectory to a :class:`ntajax.Summary` with the retention fields
    filled in (traceable, vmappable).

    The run is read as a run of N blocks is (:func:`ntajax.summarise_one` with ``t_end``): the
    final loss is the loss of the block that the read-out record closes.

    Args:
        config: the run's simulation (``recording=Recording(weights=True)`` with every block end on the
            weight grid).
        trajectory: one seed's trajectory (no seed axis).
        teachers: the teachers of the run (M_total, d_out, d_in).
        t_end: optional read-out time ≤ t_total on the recording grid (default t_total).
        reference: blocks defining retention for non-blocked curricula (see :func:`reference_schedule`).
        threshold: loss threshold of the adaptation time.
    """
    if trajectory.weights is None:
        raise ValueError("summarise_continual needs recorded weights: set recording=ntajax.Recording(weights=True, "
                         "weights_every=...) with every block end on the weight grid (continual_sweep does this).")
    if config.curriculum.is_state_dependent:
        raise ValueError(f"curriculum={type(config.curriculum).__name__}(): retention is measured at clock block ends, "
                         "and this curriculum's blocks follow the learner; use the default reducer ntajax.Summaries().")
    config = config.with_block_count()
    if t_end is None:
        t_end = jnp.asarray(config.grid.t_total, trajectory.t.dtype)
    summary = summarise_one(config, trajectory, threshold, t_end=t_end)
    schedule = reference_schedule(config, reference)
    spacing = trajectory.t[1] - trajectory.t[0]
    n_blocks = config.block_count
    _, ends = block_bounds(config.curriculum.block_length, n_blocks, t_end, config.grid.dt)

    # Students at the block ends, read from the weight grid (spacing weights_every · Δ).
    n_targets = teachers.shape[0]
    weight_spacing = spacing * config.recording.weights_every
    n_weights = jax.tree.leaves(trajectory.weights)[0].shape[0]
    end_index = jnp.clip(jnp.round(jnp.nan_to_num(ends) / weight_spacing).astype(jnp.int32), 0, n_weights - 1)
    students = _index(trajectory.weights, end_index)  # K students
    blocks = jnp.arange(n_blocks)
    previous_weights = jax.vmap(lambda k: schedule.task_of_block(jnp.maximum(k - 1, 0), n_targets))(blocks)
    previous_targets = jnp.tensordot(previous_weights.astype(teachers.dtype), teachers, axes=1)
    effective = jax.vmap(lambda s: s.effective_map())(students)
    defined = (blocks >= 1) & jnp.isfinite(ends)
    retention = jnp.where(defined, previous_task_loss(effective, previous_targets), jnp.nan)
    regated = jax.vmap(lambda s, target, w: regated_loss(config, s, target, w))(students, previous_targets, previous_weights)
    regated = jnp.where(defined, regated, jnp.nan)

    final_student = _index(trajectory.weights, jnp.clip(jnp.round(t_end / weight_spacing).astype(jnp.int32), 0, n_weights - 1))
    end_task_loss = previous_task_loss(final_student.effective_map()[None], teachers[: config.n_teachers])

    diverged = trajectory.status != 0

    def guard(x):
        return jnp.where(diverged, jnp.nan, x)

    return dataclasses.replace(summary, retention=guard(retention), regated_retention=guard(regated),
                               end_task_loss=guard(end_task_loss))


class ContinualSummaries(Reducer):
    """The reducer of the comparison: the :data:`CONTINUAL_FIELDS` of :func:`summarise_continual`.

    Attributes:
        reference: blocks defining retention for a non-blocked curriculum (default A, B, A, B, …).
    """

    reference: Blocked | None = None

    def __call__(self, config, trajectory, teachers, t_end):
        summary = summarise_continual(config, trajectory, teachers.astype(trajectory.loss.dtype), t_end, self.reference)
        return {name: getattr(summary, name) for name in CONTINUAL_FIELDS}

    def variables(self, config):
        return {
            "adaptation_time": Variable(("block",), description="time to expected loss < 0.1 after each block start (MODEL §7.6)"),
            "censored": Variable(("block",), np.bool_, "the loss never fell below the threshold in the block"),
            "retention": Variable(("block",), description=(
                "expected loss on the previous block's task at the end of each block (student as is)")),
            "regated_retention": Variable(("block",), description="retention after re-setting only the gates (weights frozen)"),
            "final_alignment": Variable(),
            "mean_alignment": Variable(),
            "final_loss": Variable(),
            "end_task_loss": Variable(("teacher",), description="expected loss on every base task at the end"),
            "status": Variable(dtype=np.int32, description="0 ok, 1 diverged, 2 solver failed"),
        }


# -------------------------------------------------------------------------------------------- sweep
def _on_grid(x: float, spacing: float) -> bool:
    r = x / spacing
    return abs(r - round(r)) <= 1e-6 * max(1.0, r)


def with_block_end_weights(sweep: Sweep) -> Sweep:
    """``sweep`` with full weights recorded on the coarsest grid that holds every block end and
    every read-out time (needed by retention).

    Raises:
        ValueError: if some block end is not on the recording grid at all.
    """
    config = sweep.config
    spacing = config.save_every * config.grid.dt
    intervals = config.grid.n_save - 1
    base_intervals = sweep.base.grid.n_save - 1
    lengths = sorted({p["curriculum.block_length"] for p in sweep.point_fields()})
    times = lengths + sorted(set(sweep.end_times()))
    for x in times:
        if not _on_grid(x, spacing):
            raise ValueError(
                f"block length or read-out time {x:.6g} is not on the recording grid (spacing {spacing:.6g}); "
                "retention reads the student at every block end: choose n_save so that block lengths are multiples of "
                "the spacing."
            )
    every = max(w for w in range(1, intervals + 1)
                if intervals % w == 0 and base_intervals % w == 0 and all(_on_grid(x, w * spacing) for x in times))
    recording = sweep.base.recording.replace(weights=True, weights_every=every)
    return dataclasses.replace(sweep, base=sweep.base.replace(recording=recording))


def continual_sweep(
    sweep: Sweep, *, reference: Blocked | None = None, chunk_size: int | None = None, progress: bool = False,
    description: str = "continual",
) -> xr.Dataset:
    """Run ``sweep`` (any engine, e.g. :class:`ContinualScan`) and return the continual summaries.

    The sweep executor with the :class:`ContinualSummaries` reducer, in memory: every chunk of
    points runs as one compiled ``jit(vmap)`` program (padded to equal size, so the whole sweep
    compiles once). The result is laid out like a sweep store (:func:`ntajax.open_sweep`):
    one dimension per axis, then ``seed`` (and ``block``, ``teacher`` where needed); coordinates
    hold the axis values and every traced leaf per point (``field_tau_c``, ``field_lambda_ewc``, …,
    each with its full path as attribute ``path``); attributes hold provenance, the sweep's
    description and its fingerprint.

    Args:
        sweep: base config, axes and seeds (full weights are recorded at the block ends
            automatically, see :func:`with_block_end_weights`).
        reference: blocks defining retention for a non-blocked curriculum.
        chunk_size: points per compiled call (default: all points).
        progress: show a progress bar over chunks.
    """
    if sweep.reduce is not None or sweep.traces:
        raise ValueError("continual_sweep sets the sweep's reducer itself: pass a Sweep without reduce= or traces=.")
    sweep = dataclasses.replace(with_block_end_weights(sweep), reduce=ContinualSummaries(reference))
    size = sweep.n_points if chunk_size is None else max(1, min(chunk_size, sweep.n_points))
    ds = run_sweep(sweep, None, chunk_size=size, progress=progress, description=description)
    ds.attrs["needs_task_boundaries"] = int(isinstance(sweep.base.engine, ContinualScan)
                                            and sweep.base.engine.needs_task_boundaries)
    return ds


def compare_methods(
    methods: Mapping[str, Baseline], axes, *, n_seeds: int, seed: int = 0, reference: Blocked | None = None,
    progress: bool = False,
) -> xr.Dataset:
    """One :func:`continual_sweep` per method over the same axes and seed keys (common random
    numbers), stacked along a ``baseline`` dimension (not "method", which ``Dataset.sel`` reserves).

    Args:
        methods: ``{key: Baseline}`` (e.g. :func:`baselines`); every simulation must share the
            recording grid and block count.
        axes: the sweep axes shared by every method (e.g. ``(make_axis("block_length", [...]),)``).
        n_seeds, seed: seeds per point and the root seed.
    """
    results = []
    for name, method in methods.items():
        sweep = Sweep(method.config, tuple(axes), n_seeds=n_seeds, seed=seed)
        results.append(continual_sweep(sweep, reference=reference, progress=progress, description=name))
    sizes = {tuple(r.sizes.items()) for r in results}
    if len(sizes) != 1:
        raise ValueError(f"methods {list(methods)} give different result grids {sizes}: give them the same t_total, "
                         "n_save and block lengths.")
    out = xr.concat([r.drop_vars([c for c in r.coords if c.startswith("field_")]) for r in results], dim="baseline",
                    combine_attrs="drop_conflicts")
    out = out.assign_coords(baseline=list(methods), label=("baseline", [m.label for m in methods.values()]),
                            needs_task_boundaries=("baseline", [m.needs_task_boundaries for m in methods.values()]))
    # Every traced leaf of any method, by path; NaN for the methods that do not have it (e.g. λ_EWC
    # without a penalty).
    by_path = [{r[c].attrs["path"]: r[c].reset_coords(drop=True) for c in r.coords if c.startswith("field_")}
               for r in results]
    union = list(dict.fromkeys(path for fields in by_path for path in fields))
    for path, name in field_names(union).items():
        template = next(fields[path] for fields in by_path if path in fields)
        parts = [fields.get(path, xr.full_like(template, np.nan)).drop_attrs() for fields in by_path]
        out.coords[name] = xr.concat(parts, dim="baseline").assign_attrs(path=path)
    out.attrs["methods"] = json.dumps({k: m.config.to_dict() for k, m in methods.items()}, sort_keys=True, default=str)
    out.attrs["task_boundaries"] = ("EWC, L2 pull and oracle gating are told the task boundaries (oracle knowledge); "
                                    "the NTA model is not.")
    return out
