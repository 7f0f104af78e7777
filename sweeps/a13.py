"""Fig. A13 simulations: teacher correlation ξ (FIGURES.md A13, MODEL §3.5, §7.13).

Correlated teachers (seeded, rotated, s = 1/√20) with target overlap ξ ∈ {0, 0.25, 0.5, 0.75,
1}, drawn per seed (the construction is random); τ_w = τ_c = 1/60, λ_norm = 0.1 (k = 2),
λ_nonneg = 0; sampled B = 200, dt = 0.01 (dt/τ = 0.6: outside the gradient-flow regime,
reproduced and flagged), τ_B = 1, t_tot = 10, every step recorded, 10 seeds. All (ξ, seed) runs
share one compiled call (explicit per-run teachers). Per run the store keeps the two §7.13
metrics and the realised mean row overlap of its teachers.
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
from ntajax._teachers.matrices import mean_row_overlap


OVERLAPS = (0.0, 0.25, 0.5, 0.75, 1.0)


def settings(ctx: FigureContext) -> dict:
    n_seeds, t_total = ctx.pick((10, 10.0), (4, 10.0), (2, 3.0))
    return {"overlaps": OVERLAPS, "n_seeds": n_seeds, "t_total": t_total, "seed": ctx.seed}


def _config(t_total: float, n_runs: int) -> ntajax.Simulation:
    return ntajax.Simulation(
        d_in=20, d_out=10, n_teachers=2, student=ntajax.Gated(n_paths=2, tau_w=1 / 60, tau_c=1 / 60),
        regulariser=ntajax.Regulariser(lambda_nonneg=0.0, lambda_norm=0.1, norm_order=2),
        grid=ntajax.TimeGrid(dt=0.01, t_total=t_total, n_save=int(round(t_total / 0.01)) + 1),
        gradient=ntajax.SampledGradient(batch_size=200), n_seeds=n_runs,
        curriculum=ntajax.Blocked(block_length=1.0), teachers=ntajax.ExplicitTeachers(),
    )


def simulate(overlaps, n_seeds: int, t_total: float, seed: int) -> xr.Dataset:
    key = jax.random.key(seed)
    teacher_key = jax.random.fold_in(key, 1)
    sets = [ntajax.CorrelatedTeachers(overlap=xi, per_seed=True).make_for_seeds(
        key=teacher_key, n_seeds=n_seeds, n_teachers=2, d_out=10, d_in=20) for xi in overlaps]
    teachers = jnp.concatenate(sets)  # (ξ·seeds, M, d_out, d_in)
    config = _config(t_total, len(overlaps) * n_seeds)
    trajectory = ntajax.run(config, key, teachers=teachers)
    summary = ntajax.summarise(config, trajectory)
    t = np.asarray(trajectory.t[0])
    time_grid = config.grid
    starts, ends = ntajax.block_bounds(config.curriculum.block_length, config.block_count, time_grid.t_total, time_grid.dt)
    speed = [float(metrics.adaptation_speed(t, trajectory.loss[r], starts, ends)[1]) for r in range(config.n_seeds)]
    spec = [float(metrics.specialisation(trajectory.similarity[r], summary.assignment[r])) for r in range(config.n_seeds)]
    overlap = [mean_row_overlap(teachers[r]) for r in range(config.n_seeds)]
    shape = (len(overlaps), n_seeds)
    ds = xr.Dataset(
        {
            "adaptation_speed": (("xi", "seed"), np.asarray(speed).reshape(shape)),
            "specialisation": (("xi", "seed"), np.asarray(spec).reshape(shape)),
            "realised_overlap": (("xi", "seed"), np.asarray(overlap).reshape(shape)),
            "final_alignment": (("xi", "seed"), np.asarray(summary.final_alignment).reshape(shape)),
            "status": (("xi", "seed"), np.asarray(trajectory.status).reshape(shape)),
        },
        coords={"xi": list(overlaps), "seed": np.arange(n_seeds)},
    )
    ds["adaptation_speed"].attrs["description"] = "mean over blocks of max_t |dL/dt| (MODEL §7.13)"
    ds["specialisation"].attrs["description"] = "max_t of the smoothed matched − mismatched similarity over the last 1/8 (§7.13)"
    ds.attrs["config"] = json.dumps(describe(config), sort_keys=True)
    return ds


def compute(ctx: FigureContext) -> dict:
    s = settings(ctx)
    description = {"settings": s, "config": _config(s["t_total"], 1)}
    return {"a13": ctx.cached("a13", description, lambda: simulate(s["overlaps"], s["n_seeds"], s["t_total"], s["seed"]))}
