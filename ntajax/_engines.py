"""Engines that integrate the learning dynamics and fill a :class:`Trajectory` (MODEL §5.2).

* :class:`EulerScan` — θ_{i+1} = θ_i + dt·f(t_i, θ_i) as a ``lax.scan`` over steps, with
  t_i = i·dt from the integer step index; sampled or expected gradients. The scan is
  nested (save intervals × steps), so memory does not grow with the number of steps.
* :class:`Diffrax` — the expected-gradient ODE integrated by diffrax; block switches are
  jump times (no step straddles a switch), solver and step-size controller are diffrax
  objects.

Both engines return the same :class:`Trajectory` on the same recording grid.
"""

import abc
from typing import TYPE_CHECKING

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._clock import block_of_step, block_of_time, switch_times
from ._dynamics import curriculum_weights, ode_vector_field, target_from_weights, velocity
from ._recording import record
from ._trajectory import Status, Trajectory

if TYPE_CHECKING:
    from ._config import Config
    from ._students import Student


class Engine(eqx.Module):
    """Abstract engine: integrates one seed from ``init`` over [0, t_total]."""

    @abc.abstractmethod
    def solve(
        self,
        config: "Config",
        *,
        teachers: Float[Array, "n_targets d_out d_in"],
        init: "Student",
        data_key: PRNGKeyArray,
        start_step=0,
    ) -> Trajectory:
        """Simulate one seed over steps [start_step, start_step + n_steps) (times from
        start_step·dt); the block clock and the data keys use the absolute step index."""


def _stack_records(head: dict, last: dict) -> dict:
    return jax.tree.map(lambda h, l: jnp.concatenate([h, l[None]], axis=0), head, last)


def _finite(tree) -> Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves))


def _to_trajectory(records: dict, final, status) -> Trajectory:
    return Trajectory(weights=records.pop("weights", None), final=final, status=status, **records)


class EulerScan(Engine):
    """Euler steps in a ``lax.scan`` (MODEL §5.2): sampled or expected gradients.

    Args:
        unroll: steps unrolled per scan iteration (speed only; results are identical).
    """

    unroll: int = 8

    def solve(self, config, *, teachers, init, data_key, start_step=0):
        schedule_key, batch_key = jax.random.split(data_key)
        n_targets = teachers.shape[0]
        dt = config.dt
        mode = config.gradient

        def step_time(i):
            return i.astype(jnp.float32) * dt

        def weights_at(i):
            block = block_of_step(i, config.block_length, dt, config.compat_block_steps)
            w = curriculum_weights(config, t=step_time(i), block=block, step=i, key=schedule_key, n_targets=n_targets)
            return block, w

        def covariance_at(i):
            return mode.input_covariance(jax.random.fold_in(batch_key, i), config.d_in, config.batch_size)

        def euler_step(student, i):
            _, w = weights_at(i)
            v = velocity(student, target_from_weights(w, teachers), covariance_at(i), config)
            return jax.tree.map(lambda y, dy: y + dt * dy, student, v), None

        last_step = start_step + config.n_steps - 1

        def record_at(student, i):
            # The final record (i = last_step + 1) closes the last simulated block: label it
            # with that block's task rather than with a block that is never simulated.
            block, w = weights_at(jnp.minimum(i, last_step))
            return record(
                student, t=step_time(i), block=block, weights=w, teachers=teachers,
                input_covariance=covariance_at(i), config=config,
            )

        every = config.save_every

        def interval(student, j):
            first = start_step + j * every
            rec = record_at(student, first)
            steps = first + jnp.arange(every, dtype=jnp.int32)
            student, _ = jax.lax.scan(euler_step, student, steps, unroll=min(self.unroll, every))
            return student, rec

        final, head = jax.lax.scan(interval, init, jnp.arange(config.n_save - 1, dtype=jnp.int32))
        records = _stack_records(head, record_at(final, start_step + config.n_steps))
        ok = _finite(final) & jnp.all(jnp.isfinite(records["loss"]))
        status = jnp.where(ok, Status.OK, Status.DIVERGED).astype(jnp.int32)
        if not config.schedule.is_blocked:
            records["block"] = jnp.full_like(records["block"], -1)
        return _to_trajectory(records, final, status)


class Diffrax(Engine):
    """The expected-gradient flow as an ODE solved by diffrax (MODEL §5.2, mode 3).

    Args:
        solver: a diffrax solver (default ``Tsit5()``).
        stepsize_controller: a diffrax controller (default ``PIDController(rtol=1e-6,
            atol=1e-8)``). Adaptive controllers are wrapped in a
            ``ClipStepSizeController`` with the block switches as jump times.
            ``ConstantStepSize()`` steps on the Euler grid t_i = i·dt instead, which with
            ``Euler()`` reproduces the scan engine.
        max_steps: solver step limit; a run that hits it gets status SOLVER_FAILED.
    """

    solver: diffrax.AbstractSolver = diffrax.Tsit5()
    stepsize_controller: diffrax.AbstractStepSizeController = diffrax.PIDController(rtol=1e-6, atol=1e-8)
    max_steps: int = 200_000

    def solve(self, config, *, teachers, init, data_key, start_step=0):
        del data_key
        n_targets = teachers.shape[0]
        switches = switch_times(config.block_length, config.block_count)
        steps = start_step + jnp.arange(config.n_save, dtype=jnp.int32) * config.save_every
        save_times = steps.astype(jnp.float32) * config.dt
        t0 = save_times[0]
        t_total = save_times[-1]

        def save_fn(t, student, args):
            block = block_of_time(t, switches)
            w = curriculum_weights(config, t=t, block=block, step=jnp.int32(0), key=jax.random.key(0), n_targets=n_targets)
            return record(student, t=t, block=block, weights=w, teachers=teachers, input_covariance=None, config=config)

        if isinstance(self.stepsize_controller, diffrax.ConstantStepSize):
            grid = (start_step + jnp.arange(config.n_steps + 1, dtype=jnp.int32)).astype(jnp.float32) * config.dt
            controller, dt0 = diffrax.StepTo(ts=grid), None
        else:
            controller = diffrax.ClipStepSizeController(self.stepsize_controller, jump_ts=switches)
            dt0 = config.dt
        solution = diffrax.diffeqsolve(
            diffrax.ODETerm(ode_vector_field),
            self.solver,
            t0=t0,
            t1=t_total,
            dt0=dt0,
            y0=init,
            args=(config, teachers, switches),
            saveat=diffrax.SaveAt(subs=[diffrax.SubSaveAt(ts=save_times, fn=save_fn), diffrax.SubSaveAt(t1=True)]),
            stepsize_controller=controller,
            max_steps=self.max_steps,
            throw=False,
        )
        records, final = solution.ys
        final = jax.tree.map(lambda x: x[0], final)
        ok = _finite(records["loss"])
        status = jnp.where(
            solution.result == diffrax.RESULTS.successful,
            jnp.where(ok, Status.OK, Status.DIVERGED),
            Status.SOLVER_FAILED,
        ).astype(jnp.int32)
        if not config.schedule.is_blocked:
            records["block"] = jnp.full_like(records["block"], -1)
        return _to_trajectory(records, final, status)


ENGINES: dict[str, Engine] = {"scan": EulerScan(), "diffrax": Diffrax()}
