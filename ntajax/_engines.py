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


_INT_RECORDS = ("block", "task")


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


def _finite(tree) -> Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves))


def _to_trajectory(records: dict, final, status, weights=None) -> Trajectory:
    return Trajectory(weights=weights, final=final, status=status, **records)


class EulerScan(Engine):
    """Euler steps in a ``lax.scan`` (MODEL §5.2): sampled or expected gradients.

    Args:
        unroll: steps unrolled per scan iteration (speed only; results are identical).
        rng_batch: steps per scan block; in sampled mode the random inputs of a block are
            drawn in one vectorised call (speed only: every step still uses its own key
            ``fold_in(data_key, i)``, so results do not depend on it).
    """

    unroll: int = 8
    rng_batch: int = 64

    def solve(self, config, *, teachers, init, data_key, start_step=0):
        start_step = jnp.asarray(start_step, jnp.int32)
        schedule_key, batch_key = jax.random.split(data_key)
        n_targets = teachers.shape[0]
        dt = config.dt
        mode = config.gradient
        every = config.save_every
        last_step = start_step + config.n_steps - 1

        def step_time(i):
            return i.astype(config.float_dtype) * dt

        def weights_at(i):
            block = block_of_step(i, config.block_length, dt, config.compat_block_steps)
            w = curriculum_weights(config, t=step_time(i), block=block, step=i, key=schedule_key, n_targets=n_targets)
            return block, w

        def covariance_at(i):
            return mode.input_covariance(jax.random.fold_in(batch_key, i), config.d_in, config.batch_size)

        def record_at(student, i, covariance):
            # The final record (i = last_step + 1) closes the last simulated block: label it
            # with that block's task rather than with a block that is never simulated.
            block, w = weights_at(jnp.minimum(i, last_step))
            _, previous = weights_at(jnp.maximum(i - 1, 0))
            return record(
                student, t=step_time(i), block=block, weights=w, previous_weights=previous, teachers=teachers,
                input_covariance=covariance, config=config,
            )

        def write(buffer, index, rec):
            return jax.tree.map(lambda b, r: jax.lax.dynamic_update_index_in_dim(b, r, index, 0), buffer, rec)

        weights_every = every * config.weights_every  # steps between full-weight records

        def euler_step(carry, step_and_covariance):
            student, buffer = carry
            i, covariance = step_and_covariance
            offset = i - start_step
            # Record the state before this step's update every `every` steps. The predicate
            # is the same for all seeds, so under vmap this stays a real branch.
            records, weights = buffer
            records = jax.lax.cond(
                offset % every == 0,
                lambda b: write(b, offset // every, record_at(student, i, covariance)),
                lambda b: b,
                records,
            )
            if weights is not None:
                weights = jax.lax.cond(
                    offset % weights_every == 0,
                    lambda b: write(b, offset // weights_every, student),
                    lambda b: b,
                    weights,
                )
            buffer = (records, weights)
            _, w = weights_at(i)
            v = velocity(student, target_from_weights(w, teachers), covariance, config)
            return (jax.tree.map(lambda y, dy: y + dt * dy, student, v), buffer), None

        def steps_block(size):
            # The random inputs of `size` consecutive steps are drawn in one vectorised call;
            # each step still uses its own key fold_in(batch_key, i), so the stream does not
            # depend on the blocking.
            def run_block(carry, first):
                steps = first + jnp.arange(size, dtype=jnp.int32)
                covariances = jax.vmap(covariance_at)(steps) if mode.is_sampled else None
                carry, _ = jax.lax.scan(euler_step, carry, (steps, covariances), unroll=min(self.unroll, size))
                return carry, None

            return run_block

        template = jax.eval_shape(lambda s: record_at(s, start_step, covariance_at(start_step)), init)
        buffer = jax.tree.map(lambda x: jnp.zeros((config.n_save, *x.shape), x.dtype), template)
        n_weight_saves = len(config.weight_save_times)
        weight_buffer = (
            jax.tree.map(lambda x: jnp.zeros((n_weight_saves, *x.shape), x.dtype), init) if config.record_weights else None
        )
        buffer = (buffer, weight_buffer)
        size = min(self.rng_batch, config.n_steps)
        n_full, remainder = divmod(config.n_steps, size)
        carry = (init, buffer)
        carry, _ = jax.lax.scan(steps_block(size), carry, start_step + size * jnp.arange(n_full, dtype=jnp.int32))
        if remainder:
            carry, _ = steps_block(remainder)(carry, start_step + size * n_full)
        final, (buffer, weight_buffer) = carry
        end = start_step + config.n_steps
        records = write(buffer, config.n_save - 1, record_at(final, end, covariance_at(end)))
        if weight_buffer is not None:
            weight_buffer = write(weight_buffer, n_weight_saves - 1, final)
        ok = _finite(final) & jnp.all(jnp.isfinite(records["loss"]))
        status = jnp.where(ok, Status.OK, Status.DIVERGED).astype(jnp.int32)
        if not config.schedule.is_blocked:
            records["block"] = jnp.full_like(records["block"], -1)
        return _to_trajectory(records, final, status, weight_buffer)


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

    solver: diffrax.AbstractSolver = diffrax.Tsit5()
    stepsize_controller: diffrax.AbstractStepSizeController = diffrax.PIDController(rtol=1e-4, atol=1e-6)
    max_steps: int = 1_000_000

    def solve(self, config, *, teachers, init, data_key, start_step=0):
        del data_key
        start_step = jnp.asarray(start_step, jnp.int32)
        n_targets = teachers.shape[0]
        switches = switch_times(config.block_length, config.block_count)
        steps = start_step + jnp.arange(config.n_save, dtype=jnp.int32) * config.save_every
        save_times = steps.astype(config.float_dtype) * config.dt
        t0 = save_times[0]
        t_total = save_times[-1]

        def weights_in(t, block):
            return curriculum_weights(config, t=t, block=block, step=jnp.int32(0), key=jax.random.key(0), n_targets=n_targets)

        def save_fn(t, student, args):
            block = block_of_time(t, switches)
            # the block that ends at t: strictly earlier switches only
            closing = jnp.sum(t > switches).astype(jnp.int32)
            rec = record(student, t=t, block=block, weights=weights_in(t, block), previous_weights=weights_in(t, closing),
                         teachers=teachers, input_covariance=None, config=config)
            # diffrax pre-fills its output buffers with inf, which cannot be cast to int:
            # carry the integer records as floats through the solve.
            return {k: v.astype(config.float_dtype) if k in _INT_RECORDS else v for k, v in rec.items()}

        subs = [diffrax.SubSaveAt(ts=save_times, fn=save_fn), diffrax.SubSaveAt(t1=True)]
        if config.record_weights:
            subs.append(diffrax.SubSaveAt(ts=save_times[:: config.weights_every]))
        if isinstance(self.stepsize_controller, diffrax.ConstantStepSize):
            grid = (start_step + jnp.arange(config.n_steps + 1, dtype=jnp.int32)).astype(config.float_dtype) * config.dt
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
        ok = _finite(records["loss"])
        status = jnp.where(
            solution.result == diffrax.RESULTS.successful,
            jnp.where(ok, Status.OK, Status.DIVERGED),
            Status.SOLVER_FAILED,
        ).astype(jnp.int32)
        if not config.schedule.is_blocked:
            records["block"] = jnp.full_like(records["block"], -1)
        return _to_trajectory(records, final, status, weights)


ENGINES: dict[str, Engine] = {"scan": EulerScan(), "diffrax": Diffrax()}
