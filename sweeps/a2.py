"""Fig. A2 simulations: peak gate speed vs teacher rank (FIGURES.md A2, MODEL §3.4, §7.8).

d_in = d_out = 30, M = P = 2, SVD teachers with rotated bases and unit singular values, rank
r = min(d, 15) for d ∈ {2, 5, 8, 11, 14, 17, 20, 23, 26, 30}; τ_w = 0.5, τ_c = 0.1, λ_nonneg =
1/11, λ_norm = 10/11 (k = 1); sampled B = 200, dt = 1e-3, τ_B = 1, t_tot = 100, every step
recorded. All ranks run in one compiled call: the (rank, seed) runs are the seeds of one config
with explicit per-run teachers (one rotation shared by every rank). The store keeps the reduced
metrics per run and gate traces decimated for display, not the 10⁵-point records.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import ntajax
from ntajax import metrics
from ntajax._simulation import describe
from ntajax._cli.figure import FigureContext


RANK_GRID = tuple(int(d) for d in np.linspace(2, 30, 10))  # {2, 5, 8, 11, 14, 17, 20, 23, 26, 30}
MAX_RANK = 15  # d_out/M singular vectors per teacher


def settings(ctx: FigureContext) -> dict:
    grid = ctx.pick(RANK_GRID, RANK_GRID, (2, 8))
    t_total, n_seeds = ctx.pick((100.0, 3), (30.0, 2), (4.0, 1))
    return {"grid": grid, "t_total": t_total, "n_seeds": n_seeds, "seed": ctx.seed}


def _config(t_total: float, n_runs: int) -> ntajax.Simulation:
    return ntajax.Simulation(
        d_in=30, d_out=30, n_teachers=2, student=ntajax.Gated(n_paths=2, tau_w=0.5, tau_c=0.1),
        regulariser=ntajax.Regulariser(lambda_nonneg=1 / 11, lambda_norm=10 / 11, norm_order=1),
        grid=ntajax.TimeGrid(dt=1e-3, t_total=t_total, n_save=int(round(t_total / 1e-3)) + 1),
        gradient=ntajax.SampledGradient(batch_size=200), n_seeds=n_runs,
        curriculum=ntajax.Blocked(block_length=1.0), teachers=ntajax.ExplicitTeachers(),
    )


def simulate(grid, t_total: float, n_seeds: int, seed: int, progress: bool = True) -> xr.Dataset:
    ranks = sorted({min(d, MAX_RANK) for d in grid})
    key = jax.random.key(seed)
    teacher_key = jax.random.fold_in(key, 1)
    teacher_sets = [ntajax.SVDTeachers(rank=r, scale=1.0).make(key=teacher_key, n_teachers=2, d_out=30, d_in=30) for r in ranks]
    teachers = jnp.stack([t for t in teacher_sets for _ in range(n_seeds)])  # (ranks·seeds, M, d, d)
    config = _config(t_total, len(ranks) * n_seeds)
    trajectory = ntajax.run(config, key, teachers=teachers)
    summary = ntajax.summarise(config, trajectory)
    t = np.asarray(trajectory.t[0])
    time_grid = config.grid
    starts, ends = ntajax.block_bounds(config.curriculum.block_length, config.block_count, time_grid.t_total, time_grid.dt)
    peak_per_block, peak_tail, norm_sq = [], [], []
    for run in range(config.n_seeds):
        per_block, tail = metrics.peak_gate_speed_per_block(t, trajectory.gates[run], starts, ends, config.student.tau_c)
        peak_per_block.append(np.asarray(per_block))
        peak_tail.append(float(tail))
        path_a = int(summary.assignment[run, 0])
        norm_sq.append(float(np.mean(np.asarray(trajectory.path_norms[run, -3:, path_a]) ** 2)))
    shape = (len(ranks), n_seeds)
    stride = max(1, (len(t) - 1) // 2000)
    gates = np.asarray(trajectory.gates[:, ::stride]).reshape(*shape, -1, 2)
    index = [ranks.index(min(d, MAX_RANK)) for d in grid]
    ds = xr.Dataset(
        {
            "path_norm_sq": (("d", "seed"), np.asarray(norm_sq).reshape(shape)[index]),
            "peak_gate_speed": (("d", "seed"), np.asarray(peak_tail).reshape(shape)[index]),
            "peak_gate_speed_per_block": (("d", "seed", "block"), np.asarray(peak_per_block).reshape(*shape, -1)[index]),
            "teacher_sv_sum_sq": (("d",), np.asarray([float(min(d, MAX_RANK)) for d in grid])),
            "gates": (("d", "seed", "t_display", "path"), gates[index]),
            "status": (("d", "seed"), np.asarray(trajectory.status).reshape(shape)[index]),
        },
        coords={"d": list(grid), "rank": ("d", [min(d, MAX_RANK) for d in grid]), "seed": np.arange(n_seeds),
                "block": np.arange(config.block_count), "t_display": t[::stride]},
    )
    ds["path_norm_sq"].attrs["description"] = "‖W_p‖²_F of the path assigned to A, mean of the last 3 records (= Σ_α s_α² of the student)"
    ds["peak_gate_speed"].attrs["description"] = "τ_c·max_{t∈block,p}|dc_p/dt| per block, mean over the last 10 % of blocks (MODEL §7.8)"
    ds.attrs["config"] = json.dumps(describe(config), sort_keys=True)
    return ds


def compute(ctx: FigureContext) -> dict:
    s = settings(ctx)
    description = {"settings": s, "config": _config(s["t_total"], 1)}
    return {"a2": ctx.cached("a2", description, lambda: simulate(s["grid"], s["t_total"], s["n_seeds"], s["seed"], ctx.progress))}
