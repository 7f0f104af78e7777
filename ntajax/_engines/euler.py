"""Engines that integrate the learning dynamics and fill a :class:`Trajectory` (MODEL §5.2).

* :class:`EulerScan` — θ_{i+1} = θ_i + dt·f(t_i, θ_i) as a ``lax.scan`` over steps, with
  t_i = i·dt from the integer step index; sampled or expected gradients. The scan is
  nested (save intervals × steps), so memory does not grow with the number of steps.
* :class:`SubspaceScan` — the same Euler scan of the expected flow in exact reduced
  coordinates (:mod:`ntajax._engines.frames`).
* :class:`ntajax.Diffrax` (in :mod:`ntajax._engines.ode`) — the expected-gradient ODE
  integrated by diffrax; block switches are jump times.

Both engines return the same :class:`Trajectory` on the same recording grid.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from .base import Engine, all_finite, to_trajectory, write_at
from .frames import SUBSPACE_FRAMES, Frame, FullFrame, checked_teachers
from .._trajectory import Status


def _largest_divisor(n: int, limit: int) -> int:
    """The largest divisor of ``n`` that is ≤ ``limit`` (at least 1)."""
    return max(d for d in range(1, max(1, min(n, limit)) + 1) if n % d == 0)


class EulerScan(Engine):
    """Euler steps in a ``lax.scan`` (MODEL §5.2): sampled or expected gradients.

    Also runs curricula that react to the learner (:class:`ntajax.LossTriggered`: the curriculum
    state is carried next to the student's, and each step's expected loss advances it) and teacher
    output noise (``TeacherSet.noise``: in sampled mode each step draws its batch's noise
    statistics, :meth:`ntajax.SampledGradient.noisy_batch`).

    The scan runs over recording intervals: each interval records the state before its
    first step (MODEL §5.5) and then takes ``save_every`` steps, so no step carries a
    branch and memory does not grow with the number of steps.

    Args:
        unroll: steps unrolled per scan iteration (speed only; results are identical).
        rng_batch: in sampled mode, the random inputs of up to this many consecutive steps
            are drawn in one vectorised call (speed only: every step still uses its own key
            ``fold_in(data_key, i)``, so results do not depend on it).
        checkpoint: rematerialise under reverse-mode differentiation (``jax.checkpoint`` around
            each recording interval and around each group of intervals whose random inputs are
            drawn together): a gradient then keeps the carry at save points and one interval's
            steps at a time, O(n_save + save_every) states, instead of every step's state and
            random inputs, O(n_steps), for about one more forward pass of compute. Forward
            results are unchanged (``ntajax.outcome_gradient`` switches it on).
    """

    supports_state_dependent_curriculum = True
    supports_teacher_noise = True
    supports_fractional_switches = True
    unroll: int = eqx.field(static=True, default=8)
    rng_batch: int = eqx.field(static=True, default=64)
    checkpoint: bool = eqx.field(static=True, default=False)

    def frame(self, config, teachers, init) -> Frame:
        """The coordinates the scan integrates in (the student itself here)."""
        del config, init
        return FullFrame(teachers=teachers)

    def solve(self, config, *, teachers, init, data_key, start_step=0):
        start_step = jnp.asarray(start_step, jnp.int32)
        schedule_key, batch_key = jax.random.split(data_key)
        frame = self.frame(config, teachers, init)
        n_targets = teachers.shape[0]
        dt = config.grid.dt
        mode = config.gradient
        schedule = config.schedule
        every = config.save_every
        n_intervals = config.grid.n_save - 1
        last_step = start_step + config.n_steps - 1
        # A state-dependent curriculum (e.g. LossTriggered) carries its state next to the
        # student's; a clock curriculum carries None, and its block comes from the step.
        triggered = schedule.is_state_dependent
        noisy = mode.is_sampled and config.teachers.noise is not None
        integrated = schedule.integrates_steps  # Blocked(fractional_switches=True)

        def step_time(i):
            return i.astype(config.float_dtype) * dt

        def weights_at(i):
            block = schedule.block_of_step(i, dt)
            w = schedule.weights(t=step_time(i), block=block, step=i, key=schedule_key, n_targets=n_targets)
            return block, w

        def weights_of(i, block):
            return schedule.weights(t=step_time(i), block=block, step=i, key=schedule_key, n_targets=n_targets)

        def covariance_at(i):
            key = jax.random.fold_in(batch_key, i)
            if noisy:
                return mode.noisy_batch(key, config.d_in, config.d_out)
            return mode.input_covariance(key, config.d_in)

        def draw(first, n):
            """Input covariances of steps first … first + n − 1, (n, d_in, d_in), or None."""
            if not mode.is_sampled:
                return None
            return jax.vmap(covariance_at)(first + jnp.arange(n, dtype=jnp.int32))

        def record_at(carry, i, covariance, final=False):
            state, cstate = carry
            if triggered:
                # the save point's block is the state's; the final record closes the last step's block
                block = cstate.last_block if final else cstate.block
                w, previous = weights_of(i, block), weights_of(i, cstate.last_block)
            else:
                # The final record (i = last_step + 1) closes the last simulated block: label it
                # with that block's task rather than with a block that is never simulated.
                block, w = weights_at(jnp.minimum(i, last_step))
                _, previous = weights_at(jnp.maximum(i - 1, 0))
            return frame.record(state, t=step_time(i), block=block, weights=w, previous_weights=previous,
                                input_covariance=covariance, config=config)

        def euler_step(carry, step_and_covariance):
            state, cstate = carry
            i, covariance = step_and_covariance
            if triggered:
                block, previous_block = cstate.block, cstate.last_block
                w = weights_of(i, block)
            else:
                block, w = weights_at(i)
                previous_block = schedule.block_of_step(i - 1, dt)
                if integrated:  # the target integrated over the step: switch times carry a derivative
                    w = schedule.step_weights(i, block, dt, n_targets)
            state = frame.before_step(state, block=block, previous_block=previous_block, config=config)
            v = frame.velocity(state, w, covariance, config)
            if triggered:  # the loss of this step's state decides whether the next step starts a new block
                cstate = schedule.advance(cstate, frame.expected_loss(state, w, config), dt)
            return (jax.tree.map(lambda y, dy: y + dt * dy, state, v), cstate), None

        def run_steps(carry, first, covariances, n):
            steps = first + jnp.arange(n, dtype=jnp.int32)
            carry, _ = jax.lax.scan(euler_step, carry, (steps, covariances), unroll=min(self.unroll, n))
            return carry

        # Intervals are grouped so that the random inputs of a group are drawn at once; an
        # interval longer than rng_batch draws its inputs in sub-blocks instead.
        if every <= self.rng_batch:
            group, sub = _largest_divisor(n_intervals, max(1, self.rng_batch // every)), every
        else:
            group, sub = 1, _largest_divisor(every, self.rng_batch)

        def save_point(carry, i, covariance, final=False):
            """What the scan stores for the save point at step i: the record itself, or the
            state (records then come from one vectorised pass after the scan)."""
            if frame.records_in_loop:
                return record_at(carry, i, covariance, final)
            state, cstate = carry
            if triggered and final:
                cstate = eqx.tree_at(lambda c: c.block, cstate, cstate.last_block)
            return state, cstate

        def interval(carry, first, covariances):
            if sub == every:  # the interval's inputs were drawn with its group
                first_covariance = None if covariances is None else jax.tree.map(lambda x: x[0], covariances)
                return run_steps(carry, first, covariances, every), save_point(carry, first, first_covariance)
            rec = save_point(carry, first, None if not mode.is_sampled or not frame.records_in_loop else covariance_at(first))

            def sub_block(carry, k):
                start = first + k * sub
                return run_steps(carry, start, draw(start, sub), sub), None

            carry, _ = jax.lax.scan(sub_block, carry, jnp.arange(every // sub, dtype=jnp.int32))
            return carry, rec

        if self.checkpoint:  # keep only save-point carries for the backward pass (see the class docstring)
            interval = jax.checkpoint(interval, prevent_cse=False)

        record_weights = config.recording.weights
        weights_every = config.recording.weights_every
        n_weight_saves = len(config.weight_save_times)

        def group_body(carry, g):
            first = start_step + g * (group * every)
            drawn = draw(first, group * every) if sub == every else None
            if drawn is not None:
                drawn = jax.tree.map(lambda x: x.reshape(group, every, *x.shape[1:]), drawn)

            def one(carry, j):
                scan_state, weights = carry
                index = g * group + j
                if record_weights:
                    weights = jax.lax.cond(
                        index % weights_every == 0,
                        lambda b: write_at(b, index // weights_every, frame.decode(scan_state[0])),
                        lambda b: b,
                        weights,
                    )
                scan_state, rec = interval(scan_state, first + j * every,
                                           None if drawn is None else jax.tree.map(lambda x: x[j], drawn))
                return (scan_state, weights), rec

            return jax.lax.scan(one, carry, jnp.arange(group, dtype=jnp.int32))

        if self.checkpoint:  # the group's random inputs are redrawn in the backward pass, not kept
            group_body = jax.checkpoint(group_body, prevent_cse=False)

        scan_state = (frame.encode(init), schedule.init_state() if triggered else None)
        weight_buffer = (
            jax.tree.map(lambda x: jnp.zeros((n_weight_saves, *x.shape), x.dtype), init) if record_weights else None
        )
        (scan_state, weight_buffer), records = jax.lax.scan(
            group_body, (scan_state, weight_buffer), jnp.arange(n_intervals // group, dtype=jnp.int32)
        )
        end = start_step + config.n_steps
        last = save_point(scan_state, end, None if not mode.is_sampled else covariance_at(end), final=True)
        records = jax.tree.map(
            lambda r, x: jnp.concatenate([r.reshape(n_intervals, *r.shape[2:]), x[None]]), records, last
        )
        if not frame.records_in_loop:
            steps = start_step + every * jnp.arange(config.grid.n_save, dtype=jnp.int32)
            # in batches of save points, so the transient memory does not grow with n_save
            records = jax.lax.map(lambda x: record_at(x[0], x[1], None), (records, steps),
                                  batch_size=min(config.grid.n_save, 512))
        final = frame.decode(scan_state[0])
        if weight_buffer is not None:
            weight_buffer = write_at(weight_buffer, n_weight_saves - 1, final)
        ok = all_finite(final) & jnp.all(jnp.isfinite(records["loss"]))
        status = jnp.where(ok, Status.OK, Status.DIVERGED).astype(jnp.int32)
        if not schedule.is_blocked:
            records["block"] = jnp.full_like(records["block"], -1)
        return to_trajectory(records, final, status, weight_buffer)


class SubspaceScan(EulerScan):
    """The Euler scan of the expected-gradient flow in exact reduced coordinates.

    For the gated and per-neuron students with λ_W = 0, every path stays in the span of the
    targets and the initial weights (see :mod:`ntajax._engines.frames`), so the scan integrates
    K = M_total + P coefficients per path (per row for per-neuron gating) instead of
    d_out·d_in weights. The iterates equal :class:`EulerScan`'s up to floating-point rounding
    and the :class:`Trajectory` is the same; only the expected gradient is supported.
    """

    supports_sampled = False

    def check(self, simulation):
        if type(simulation.student) not in SUBSPACE_FRAMES:
            raise ValueError(
                f"SubspaceScan() supports the students {sorted(k.__name__ for k in SUBSPACE_FRAMES)}, not "
                f"{type(simulation.student).__name__}; use engine=ntajax.EulerScan()."
            )

    def check_values(self, simulation, values):
        lambda_w = values.get("regulariser.lambda_w")
        if lambda_w not in (None, 0.0):
            raise ValueError(
                f"SubspaceScan() needs regulariser.lambda_w = 0, got {lambda_w:.6g}: the W column penalty moves weights "
                "out of the invariant subspace. Use engine=ntajax.EulerScan()."
            )

    def frame(self, config, teachers, init) -> Frame:
        return SUBSPACE_FRAMES[type(config.student)].build(config, checked_teachers(teachers, config.regulariser), init)
