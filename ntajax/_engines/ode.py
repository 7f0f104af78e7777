"""The expected-gradient flow as an ODE solved by diffrax (MODEL §5.2, mode 3).

Block switches are jump times of the step-size controller (no step straddles a switch); the
solver and the controller are diffrax objects. Kept in a module of its own so that diffrax is
imported only when this engine is used.
"""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp

from .._curricula.clock import block_of_time, switch_times
from .._dynamics import ode_vector_field
from .base import INT_RECORDS as _INT_RECORDS, Engine, all_finite, to_trajectory
from .._recording import record
from .._trajectory import Status


class Diffrax(Engine):
    """The expected-gradient flow as an ODE solved by diffrax (MODEL §5.2, mode 3).

    Args:
        solver: a diffrax solver (default ``Tsit5()``).
        stepsize_controller: a diffrax controller (default ``PIDController(rtol=1e-4,
            atol=1e-6)``; tighter tolerances make the steps collapse where a gate sits at the
            kink c = 0 of the L1/non-negativity terms, MODEL §5.2). Adaptive controllers are wrapped in a
            ``ClipStepSizeController`` with the block switches as jump times.
            ``ConstantStepSize()`` steps on the Euler grid t_i = i·dt instead, which with
            ``Euler()`` reproduces the scan engine.
        max_steps: solver step limit; a run that hits it gets status SOLVER_FAILED.
    """

    supports_sampled = False
    supports_stochastic_curriculum = False
    supports_teacher_noise = True  # the expected flow: the gradient is unchanged, the records gain the floor
    stackable = False  # adaptive steps: stacking variants makes every variant take the smallest steps
    solver: diffrax.AbstractSolver = eqx.field(static=True, default=diffrax.Tsit5())
    stepsize_controller: diffrax.AbstractStepSizeController = eqx.field(
        static=True, default=diffrax.PIDController(rtol=1e-4, atol=1e-6))
    max_steps: int = eqx.field(static=True, default=1_000_000)

    def solve(self, config, *, teachers, init, data_key, start_step=0):
        del data_key
        start_step = jnp.asarray(start_step, jnp.int32)
        n_targets = teachers.shape[0]
        schedule = config.schedule
        switches = switch_times(schedule.block_length, config.block_count)
        steps = start_step + jnp.arange(config.grid.n_save, dtype=jnp.int32) * config.save_every
        save_times = steps.astype(config.float_dtype) * config.grid.dt
        t0 = save_times[0]
        t_total = save_times[-1]

        def weights_in(t, block):
            return schedule.weights(t=t, block=block, step=jnp.int32(0), key=jax.random.key(0), n_targets=n_targets)

        def save_fn(t, student, args):
            block = block_of_time(t, switches)
            # the block that ends at t: strictly earlier switches only
            closing = jnp.sum(t > switches).astype(jnp.int32)
            rec = record(student, t=t, block=block, weights=weights_in(t, block), previous_weights=weights_in(t, closing),
                         teachers=teachers, input_covariance=None, n_teachers=config.n_teachers, dtype=config.float_dtype,
                         noise=config.teachers.noise)
            # diffrax pre-fills its output buffers with inf, which cannot be cast to int:
            # carry the integer records as floats through the solve.
            return {k: v.astype(config.float_dtype) if k in _INT_RECORDS else v for k, v in rec.items()}

        subs = [diffrax.SubSaveAt(ts=save_times, fn=save_fn), diffrax.SubSaveAt(t1=True)]
        if config.recording.weights:
            subs.append(diffrax.SubSaveAt(ts=save_times[:: config.recording.weights_every]))
        if isinstance(self.stepsize_controller, diffrax.ConstantStepSize):
            grid = (start_step + jnp.arange(config.n_steps + 1, dtype=jnp.int32)).astype(config.float_dtype) * config.grid.dt
            controller, dt0 = diffrax.StepTo(ts=grid), None
        else:
            controller = diffrax.ClipStepSizeController(self.stepsize_controller, jump_ts=switches)
            dt0 = config.grid.dt
        solution = diffrax.diffeqsolve(
            diffrax.ODETerm(ode_vector_field),
            self.solver,
            t0=t0,
            t1=t_total,
            dt0=dt0,
            y0=init,
            args=(config.student, config.regulariser, schedule, teachers, switches),
            saveat=diffrax.SaveAt(subs=subs),
            stepsize_controller=controller,
            max_steps=self.max_steps,
            throw=False,
        )
        records, final, *weights = solution.ys
        weights = weights[0] if weights else None
        failed = solution.result != diffrax.RESULTS.successful
        # diffrax leaves the save points it never reached at inf; mark them missing instead.
        records = {
            k: v.astype(jnp.int32) if k in _INT_RECORDS else jnp.where(failed & jnp.isinf(v), jnp.nan, v)
            for k, v in records.items()
        }
        final = jax.tree.map(lambda x: x[0], final)
        ok = all_finite(records["loss"])
        status = jnp.where(
            solution.result == diffrax.RESULTS.successful,
            jnp.where(ok, Status.OK, Status.DIVERGED),
            Status.SOLVER_FAILED,
        ).astype(jnp.int32)
        if not schedule.is_blocked:
            records["block"] = jnp.full_like(records["block"], -1)
        return to_trajectory(records, final, status, weights)
