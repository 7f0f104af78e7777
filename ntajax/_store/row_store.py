"""Row matching for stores of FC and per-neuron runs (MODEL §7.9), as labelled variables.

:func:`ntajax._store.to_dataset` assigns whole paths to teachers (§7.4). That is right for the
gated student, but the two-layer network (§2.3) and the per-neuron student (§2.2) specialise
row by row. :func:`add_row_matching` reads the recorded weights of such a store and adds the
row-matched views of §7.9, computed per variant and seed.

* The matching i*(m, r) is the linear assignment on the time mean (over the recorded weight
  grid ``t_weights``, i.e. the whole simulation) of the signed row cosines. The original used an
  independent argmax per teacher row, which can pick a student row twice.
* Everything derived from it is a view; the recorded arrays are not modified (§7.4, §8.5).

Added variables (dimension ``teacher_row`` k = m·d_out + r, ``student_row`` i, ``sorted_block`` n):

* ``row_match`` (variant, seed, teacher_row): i*(k).
* ``mean_rowcos`` (variant, seed, teacher_row, student_row): the matrix that was matched.
* ``row_alignment`` (variant, seed, t_weights): A_tot on the matched rows (§7.5).
* ``final_row_alignment``, ``mean_row_alignment`` (variant, seed): at t_total and time mean.
* ``sorted_similarity`` (variant, seed, t_weights, teacher, sorted_block): S^sorted_{mn}.
* per-neuron: ``matched_gates`` (variant, seed, t, teacher, output) and ``same_output_fraction``
  (variant, seed), the fraction of matches on their own output index (§7.9 asks to report it).
* FC: ``w2_block_mean`` (variant, seed, t_weights, sorted_block), the "gate" traces of Fig. A4;
  ``speed_W1``/``speed_W2`` (variant, seed, t_weights), the per-layer row speed of §7.8 with a
  running maximum over ``speed_window`` recorded samples; and the second layer at the end of the
  last block of each base task, ``w2_end`` (variant, seed, ctx, output, hidden) unsorted and
  ``w2_sorted_end`` (variant, seed, ctx, output, sorted_column) with columns ordered by the
  teacher row they match (column m·d_out + r = hidden unit i*(m, r)), at the times ``t_end``
  (dimension ``ctx``: the base task m whose last block ends there).
"""

import json

import numpy as np
import xarray as xr

from .. import metrics
from ..metrics import _rows


# Student models whose runs are row-matched, by the class name the stored config records
# (``config[variant]["student"]["type"]``, see :func:`ntajax._simulation.describe`).
_TWO_LAYER, _PER_NEURON = "TwoLayer", "PerNeuron"


def _student_rows(ds: xr.Dataset, kind: str, variant) -> np.ndarray:
    if kind == _TWO_LAYER:
        return ds["weights_W1"].sel(variant=variant).values  # (seed, T_w, hidden, d_in)
    if kind == _PER_NEURON:
        return np.asarray(_rows.per_neuron_rows(ds["weights_W"].sel(variant=variant).values))
    raise ValueError(f"row matching is defined for TwoLayer and PerNeuron students, got student={kind}.")


def end_of_last_blocks(ds: xr.Dataset, variant, n_teachers: int) -> tuple[np.ndarray, np.ndarray]:
    """For each base task m, the end time of the last block that trains it and the index of the
    record of the weights at that time (the state after the block's last update; for the final
    block, the final state). NaN / −1 where a task never has a block.

    Block k covers [k·τ_B, (k+1)·τ_B) cut at t_total; its task is the recorded context at its
    first record.
    """
    config = json.loads(ds.attrs["config"])[str(variant)]
    block_length = float(config["curriculum"]["block_length"])
    t = ds["t"].values
    t_w = ds["t_weights"].values
    context = ds["context"].sel(variant=variant).isel(seed=0).values
    starts = ds["block_start"].values
    tol = 0.01 * float(np.min(np.diff(t)))
    times = np.full(n_teachers, np.nan)
    index = np.full(n_teachers, -1, dtype=np.int64)
    for start in starts:
        if start >= t[-1] - tol:
            continue
        first = int(np.searchsorted(t, start - tol))
        task = int(context[first])
        if task < n_teachers:
            end = min(start + block_length, float(t[-1]))
            j = int(np.argmin(np.abs(t_w - end)))
            if abs(t_w[j] - end) > tol:
                raise ValueError(f"no weight record at the end t = {end:.6g} of the block starting at {start:.6g}; "
                                 "record the weights on a grid that contains every block end.")
            times[task], index[task] = end, j
    return times, index


def add_row_matching(ds: xr.Dataset, *, speed_window: int = 2) -> xr.Dataset:
    """The store ``ds`` (from :func:`ntajax._store.to_dataset`, with teachers and recorded weights)
    with the row-matched variables listed in the module docstring added.

    Args:
        ds: store of :class:`ntajax.TwoLayer` or :class:`ntajax.PerNeuron` runs; every variant
            must use the same student model and sizes.
        speed_window: running-maximum window of the FC per-layer speed, in recorded samples.
    """
    configs = json.loads(ds.attrs["config"])
    variants = [str(v) for v in ds["variant"].values]
    kinds = {configs[v]["student"]["type"] for v in variants}
    if len(kinds) != 1:
        raise ValueError(f"add_row_matching needs one student kind per store, got {sorted(kinds)}.")
    (kind,) = kinds
    first = configs[variants[0]]
    n_teachers, d_out = int(first["n_teachers"]), int(first["d_out"])
    t_w = ds["t_weights"].values
    spacing = float(t_w[1] - t_w[0])
    out: dict[str, list] = {}

    def put(name, value):
        out.setdefault(name, []).append(np.asarray(value))

    for variant in variants:
        teachers = ds["teachers"].sel(variant=variant).values
        if teachers.ndim == 4:
            raise ValueError("add_row_matching expects teachers shared across seeds (MODEL §3.7 'shared').")
        base = teachers[:n_teachers]
        rows = _student_rows(ds, kind, variant)  # (seed, T_w, N, d_in)
        n_seeds = rows.shape[0]
        per_seed: dict[str, list] = {}
        for s in range(n_seeds):
            rowcos = np.asarray(_rows.row_cosines(base, rows[s]))  # (T_w, K, N)
            mean = rowcos.mean(axis=0)
            match = metrics.row_matching(mean)
            alignment = np.asarray(_rows.matched_row_alignment(rowcos, match))
            blocks = _rows.sorted_rows(rows[s], match, n_teachers)
            values = {
                "row_match": match,
                "mean_rowcos": mean,
                "row_alignment": alignment,
                "final_row_alignment": alignment[-1],
                "mean_row_alignment": alignment.mean(),
                "sorted_similarity": np.asarray(_rows.sorted_similarity(base, blocks)),
            }
            if kind == _PER_NEURON:
                gates = ds["gates"].sel(variant=variant).values[s]
                values["matched_gates"] = np.asarray(_rows.matched_gates(gates, match, n_teachers))
                values["same_output_fraction"] = float(metrics.same_output_fraction(match, d_out))
            else:
                w1 = ds["weights_W1"].sel(variant=variant).values[s]
                w2 = ds["weights_W2"].sel(variant=variant).values[s]
                values["w2_block_mean"] = np.asarray(_rows.second_layer_block_means(w2, match, n_teachers))
                values["speed_W1"] = np.asarray(metrics.layer_row_speed(w1, spacing, speed_window))
                values["speed_W2"] = np.asarray(metrics.layer_row_speed(w2, spacing, speed_window))
                _, index = end_of_last_blocks(ds, variant, n_teachers)
                ends = np.stack([w2[j] if j >= 0 else np.full(w2.shape[1:], np.nan) for j in index])
                values["w2_end"] = ends
                values["w2_sorted_end"] = np.take(ends, match, axis=-1)
            for name, value in values.items():
                per_seed.setdefault(name, []).append(value)
        for name, value in per_seed.items():
            put(name, np.stack(value))

    dims = {
        "row_match": ("teacher_row",),
        "mean_rowcos": ("teacher_row", "student_row"),
        "row_alignment": ("t_weights",),
        "final_row_alignment": (),
        "mean_row_alignment": (),
        "sorted_similarity": ("t_weights", "teacher", "sorted_block"),
        "matched_gates": ("t", "teacher", "output"),
        "same_output_fraction": (),
        "w2_block_mean": ("t_weights", "sorted_block"),
        "speed_W1": ("t_weights",),
        "speed_W2": ("t_weights",),
        "w2_end": ("ctx", "output", "hidden"),
        "w2_sorted_end": ("ctx", "output", "sorted_column"),
    }
    new = ds.copy()
    for name, value in out.items():
        new[name] = (("variant", "seed") + dims[name], np.stack(value))
    k = np.arange(n_teachers * d_out)
    new = new.assign_coords(
        teacher_row=k, row_teacher=("teacher_row", k // d_out), row_output=("teacher_row", k % d_out),
        student_row=np.arange(new.sizes["student_row"]), sorted_block=np.arange(n_teachers),
    )
    if kind == _TWO_LAYER:
        times, _ = end_of_last_blocks(ds, variants[0], n_teachers)
        new = new.assign_coords(ctx=np.arange(n_teachers), t_end=("ctx", times), sorted_column=k,
                                hidden=np.arange(new.sizes["hidden"]), output=np.arange(d_out))
    else:
        new = new.assign_coords(output=np.arange(d_out))
    new["row_match"].attrs["description"] = ("student row matched to teacher row k = m·d_out + r "
                                             "(linear assignment, MODEL §7.9)")
    new["row_alignment"].attrs["description"] = ("total alignment A_tot on the row-matched first-layer blocks "
                                                 "(MODEL §7.5, §7.9)")
    new["sorted_similarity"].attrs["description"] = "S^sorted_mn = cos_row(W*_m, sorted block n) (MODEL §7.9)"
    new.attrs["row_matching"] = ("linear assignment on the time mean of the signed row cosines over t_weights "
                                 "(MODEL §7.9)")
    return new
