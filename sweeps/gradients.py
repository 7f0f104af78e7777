"""Simulations behind ``ntajax figure gradients``: exact hyperparameter gradients checked against
central finite differences, the τ_B derivative's convergence in dt, and the gradient field over
a phase-diagram panel.

* ``gradient_check``: d(final loss)/dx for every traced leaf x of a small gated problem (float64,
  expected flow, fractional switch clock, τ_B/dt non-integer) by :func:`ntajax.outcome_gradient`
  against central differences (relative step 1e-5) of independent runs (``ntajax.run_stacked``).
* ``block_length_dt``: the exact d(final loss)/dτ_B of the discrete run at several dt (equal to
  its central difference, as ``gradient_check`` shows at dt = 0.01), against the continuous-time derivative: the central difference of the ODE
  solution (:class:`ntajax.Diffrax`, Tsit5, rtol 1e-10, switches as jump times).
* ``gradient_field``: the Fig. 5a panel (τ_B/τ_w × τ_w/τ_c, expected flow, subspace engine) with the
  seed mean of the final total alignment A_tot (each seed's own assignment,
  :class:`ntajax.AssignedAlignment`) and its exact gradient in (log τ_B, log τ_c), all cells in one
  vmapped, compiled gradient program.
"""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import ntajax
from ntajax._cli.figure import FigureContext
from ntajax._presets.sweeps import fig5_base

LEAVES = ("student.tau_w", "student.tau_c", "student.init_scale", "curriculum.block_length",
          "regulariser.lambda_norm", "regulariser.lambda_nonneg")
RELATIVE_STEP = 1e-5


def small(dt: float = 0.01, block_length: float = 0.7037, fractional: bool = True) -> ntajax.Simulation:
    """The gradient-check problem: d_in 8, d_out 3, M = P = 2, τ_w = 1.3, τ_c = 0.1, λ_nonneg 0.2,
    λ_norm 0.5, three switches in t_total = 2.4, 2 seeds, float64."""
    sim = ntajax.Simulation(
        d_in=8, d_out=3, n_teachers=2, student=ntajax.Gated(n_paths=2, tau_w=1.3, tau_c=0.1),
        regulariser=ntajax.Regulariser(lambda_nonneg=0.2, lambda_norm=0.5, norm_order=1),
        curriculum=ntajax.Blocked(block_length=block_length, fractional_switches=fractional),
        gradient=ntajax.ExpectedGradient(), grid=ntajax.TimeGrid(dt=dt, t_total=2.4, n_save=13),
        n_seeds=2, dtype="float64", engine=ntajax.EulerScan(unroll=1),
    )
    with jax.enable_x64(True):
        return sim.cast()


def _mean_final_loss(trajectories) -> list[float]:
    return [float(np.mean(np.asarray(tr.loss[:, -1]))) for tr in trajectories]


def central_differences(sim, paths, key, runner=None) -> dict[str, float]:
    """Central differences of the seed-mean final loss with relative step 1e-5 (runs stacked)."""
    configs, steps = [], []
    with jax.enable_x64(True):
        for path in paths:
            value = float(sim.get(path))
            h = RELATIVE_STEP * value
            steps.append(h)
            configs += [sim.set({path: value + h}), sim.set({path: value - h})]
    if runner is None:
        values = _mean_final_loss(ntajax.run_stacked(configs, key))
    else:
        values = _mean_final_loss([runner(c, key) for c in configs])
    return {p: (values[2 * k] - values[2 * k + 1]) / (2 * steps[k]) for k, p in enumerate(paths)}


def gradient_check(ctx: FigureContext) -> xr.Dataset:
    sim, key = small(), jax.random.key(ctx.seed + 3)

    def compute():
        _, exact = ntajax.outcome_gradient(sim, ntajax.FinalLoss(), LEAVES, key)
        fd = central_differences(sim, LEAVES, key)
        e = np.asarray([float(exact[p]) for p in LEAVES])
        f = np.asarray([fd[p] for p in LEAVES])
        error = np.where(f != 0, np.abs(e - f) / np.where(f != 0, np.abs(f), 1.0), np.abs(e - f))
        return xr.Dataset({"exact": ("parameter", e), "fd": ("parameter", f), "relative_error": ("parameter", error)},
                          coords={"parameter": list(LEAVES)}, attrs={"relative_step": RELATIVE_STEP})

    return ctx.cached("gradient_check", {"simulation": sim.to_dict(), "leaves": LEAVES, "step": RELATIVE_STEP,
                                         "seed": ctx.seed}, compute, work="13 runs of 240 steps")


def block_length_dt(ctx: FigureContext) -> xr.Dataset:
    dts = ctx.pick((0.04, 0.02, 0.01, 0.005, 0.0025), (0.04, 0.02, 0.01, 0.005), (0.04, 0.02, 0.01))
    block_length, key = 0.71, jax.random.key(ctx.seed + 3)
    ode = small(dt=0.01, block_length=block_length, fractional=False).replace(
        engine=ntajax.Diffrax(stepsize_controller=diffrax.PIDController(rtol=1e-10, atol=1e-12)))

    def compute():
        exact = []
        for dt in dts:
            sim = small(dt=dt, block_length=block_length)
            _, g = ntajax.outcome_gradient(sim, ntajax.FinalLoss(), "curriculum.block_length", key)
            exact.append(float(g["curriculum.block_length"]))
        continuous = central_differences(ode, ("curriculum.block_length",), key, runner=ntajax.run)
        return xr.Dataset({"exact": ("dt", exact)}, coords={"dt": list(dts)},
                          attrs={"continuous": continuous["curriculum.block_length"], "block_length": block_length})

    return ctx.cached("block_length_dt", {"simulation": ode.to_dict(), "dts": dts, "seed": ctx.seed}, compute,
                      work=f"{len(dts)} gradients and 2 ODE runs")


def field_panel(ctx: FigureContext):
    """The Fig. 5a base (expected flow), fractional switch clock, and the panel's grid."""
    resolution, n_seeds, t_total = ctx.pick((12, 6, 7.0), (6, 4, 7.0), (3, 2, 1.4))
    base = fig5_base(ntajax.ExpectedGradient(), n_save=int(round(t_total / 0.07)) + 1)
    # τ_w/τ_c ≤ 10 (dt/τ_c ≤ 0.1): with faster gates the Euler map chatters at the kink c = 0 of
    # the non-negativity force, and the discrete run's derivatives grow without bound there
    block_over_tau_w = np.geomspace(1, ctx.pick(16, 16, 8), resolution)
    tau_ratio = np.geomspace(1, 10, resolution)
    tau_w = float(base.student.tau_w)
    base = base.replace(
        curriculum=ntajax.Blocked(block_length=tau_w, fractional_switches=True),
        grid=base.grid.replace(t_total=t_total), n_seeds=n_seeds,
        engine=ntajax.SubspaceScan(unroll=1),
    )
    return base, block_over_tau_w, tau_ratio


def gradient_field(ctx: FigureContext) -> xr.Dataset:
    base, block_over_tau_w, tau_ratio = field_panel(ctx)
    key = jax.random.key(ctx.seed)

    def compute():
        tau_w = float(base.student.tau_w)
        B, R = np.meshgrid(block_over_tau_w, tau_ratio, indexing="ij")
        points = {"curriculum.block_length": jnp.asarray((B * tau_w).ravel()),
                  "student.tau_c": jnp.asarray((tau_w / R).ravel())}
        value, grads = ntajax.outcome_gradient(base, ntajax.AssignedAlignment(final=True),
                                               tuple(points), key, points=points)
        shape = B.shape
        d_block = np.asarray(grads["curriculum.block_length"]).reshape(shape) * B * tau_w  # dA/d ln τ_B
        d_ratio = -np.asarray(grads["student.tau_c"]).reshape(shape) * tau_w / R  # dA/d ln(τ_w/τ_c)
        dims = ("block_over_tau_w", "tau_ratio")
        return xr.Dataset(
            {"alignment": (dims, np.asarray(value).reshape(shape)), "d_log_block": (dims, d_block),
             "d_log_ratio": (dims, d_ratio)},
            coords={"block_over_tau_w": block_over_tau_w, "tau_ratio": tau_ratio},
            attrs={"t_total": base.grid.t_total, "n_seeds": base.n_seeds},
        )

    return ctx.cached("gradient_field", {"simulation": base.to_dict(), "block": block_over_tau_w.tolist(),
                                         "ratio": tau_ratio.tolist(), "seed": ctx.seed}, compute,
                      work=f"value and gradient at {len(block_over_tau_w) * len(tau_ratio)} cells × {base.n_seeds} seeds")


def compute(ctx: FigureContext) -> dict:
    """Stores ``gradient_check``, ``block_length_dt`` and ``gradient_field``."""
    return {"gradient_check": gradient_check(ctx), "block_length_dt": block_length_dt(ctx),
            "gradient_field": gradient_field(ctx)}
