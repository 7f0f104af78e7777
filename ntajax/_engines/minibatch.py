"""Training any student on explicit minibatches with autodiff gradients (MODEL §5.2, sampled mode).

:class:`MinibatchScan` takes the Euler steps of MODEL §5.2 for every parameter group θ,

    θ_{i+1} = θ_i − (dt/τ_θ) ∇_θ [L̂(θ_i; X_i, t_i) + R(θ_i)],
    L̂ = ½ · (1/B) Σ_b ‖ŷ(x_b) − W*(t_i) x_b‖²,

with a fresh batch X_i (B × d_in, i.i.d. N(0, 1)) drawn at every step from the key
``fold_in(batch_key, i)`` — the key and the draw of :class:`~ntajax.EulerScan` with
``SampledGradient(method="batch")``, so results do not depend on chunking, a resumed run is
exact, and a linear student takes the same steps as under ``EulerScan`` up to rounding. The
gradient is ``jax.grad`` of the minibatch loss plus the regulariser (:class:`ntajax.Regulariser`:
gate terms on ``gate_vector()``, column penalty on ``path_weights()`` when not ``None``); τ_θ
come from :meth:`StudentModel.time_constants`. Any :class:`~ntajax.Student` works, linear or not.

What is recorded (the fields of :class:`ntajax.Trajectory`, same shapes and dtypes as the other
engines). Every run draws ONE evaluation batch X_ev (``eval_size`` × d_in, N(0, 1)) from its data
key; at each save point (the state before that step's update, §5.5):

* ``W_lin`` — the student's best linear approximation E[ŷ(x) xᵀ] (= argmin_A E‖ŷ(x) − A x‖²
  for x ~ N(0, I)), estimated by least squares on X_ev: W_lin = Ŷᵀ X_ev (X_evᵀ X_ev)⁻¹. For a
  linear student this is W_eff exactly (up to rounding), whatever the batch.
* ``loss`` — the expected task loss. Because E[(ŷ(x) − W_lin x) xᵀ] = 0 for x ~ N(0, I), it
  splits exactly into a linear and a nonlinear part, and the record estimates each on X_ev:

      L = ½ ‖W*(t) − W_lin‖²_F + ½ E‖ŷ(x) − W_lin x‖²  ≈  ½ ‖W*(t) − Ŵ_lin‖²_F + ½ mean_n ‖ŷ(x_n) − Ŵ_lin x_n‖².

  Unlike the plain estimate ½ mean_n ‖ŷ(x_n) − W* x_n‖², this has no error from the linear
  part: for a linear student the record is the exact ½‖E‖²_F of the other engines (up to
  rounding); for a nonlinear one only the nonlinear residual and the estimate of W_lin carry
  Monte-Carlo error, O(N^{-1/2}), plus an O(d_in/N) least-squares bias. The batch is fixed for
  the whole run, so the error is smooth in time (not noise from record to record).
* ``closing_loss`` — the same against the target of the preceding step.
* ``minibatch_loss`` — L̂ on the minibatch X_i of that step (the batch the update of step i
  uses; at the final record, the batch of the step that would follow, as ``EulerScan``).
* ``gates`` — ``gate_vector()``.
* per-path maps A_p (rows × d_in): for a student with ``path_outputs(x) → (P, d_out)`` (e.g.
  :class:`ntajax.GatedTanhStudent`, whose path p outputs V_p tanh(W_p x)), the least-squares
  linear map of each path's ungated output on X_ev — the analogue of the gated student's W_p
  (W_lin = Σ_p c_p A_p, and like W_p it does not change with the size or sign of the gate);
  otherwise ``path_weights()`` (a linear student's own path
  weights, as in the other engines); otherwise W_lin as one path.
  ``path_norms`` = ‖A_p‖_F, ``similarity`` = row cosines S_mp = cos_row(W*_m, A_p) with the M
  base teachers (§7.1), ``context_alignment`` = cos_row(W*(t), W_lin) (§7.3).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._dynamics import target_from_weights
from .._gradient import SampledGradient
from .._losses import Regulariser
from .._students.base import Student, StudentModel
from .._trajectory import Status
from .._recording import make_record
from ..metrics import similarity_matrix
from .base import Engine, all_finite, to_trajectory, write_at

EVAL_KEY_TAG = 0x65766C  # fold_in(data_key, EVAL_KEY_TAG) draws the evaluation batch ("evl")


def minibatch_loss(
    student: Student, inputs: Float[Array, "batch d_in"], target: Float[Array, "d_out d_in"]
) -> Float[Array, ""]:
    """L̂ = ½ · (1/B) Σ_b ‖ŷ(x_b) − W* x_b‖² on the explicit batch ``inputs`` (MODEL §4.1)."""
    prediction = jax.vmap(student)(inputs)
    return 0.5 * jnp.mean(jnp.sum((prediction - inputs @ target.T) ** 2, axis=-1))


def minibatch_velocity(
    student: Student,
    inputs: Float[Array, "batch d_in"],
    target: Float[Array, "d_out d_in"],
    model: StudentModel,
    regulariser: Regulariser,
) -> Student:
    """dθ/dt = −∇_θ [L̂ + R] / τ_θ per leaf, the gradient by autodiff (what :class:`MinibatchScan` steps)."""
    gradient = jax.grad(lambda s: minibatch_loss(s, inputs, target) + regulariser(s))(student)
    return jax.tree.map(lambda g, tau: -g / tau, gradient, model.time_constants(student))


def least_squares_projector(inputs: Float[Array, "n d_in"]) -> Float[Array, "n d_in"]:
    """Z = X (XᵀX)⁻¹, so that Yᵀ Z is the least-squares linear map of outputs Y on inputs X."""
    return jnp.linalg.solve(inputs.T @ inputs, inputs.T).T


def linear_readout(student: Student, inputs: Float[Array, "n d_in"], projector: Float[Array, "n d_in"]):
    """(W_lin, nonlinear residual loss ½ mean_n ‖ŷ_n − W_lin x_n‖², per-path maps A) on an
    evaluation batch (module docstring)."""
    prediction = jax.vmap(student)(inputs)  # (n, d_out)
    w_lin = prediction.T @ projector
    residual = 0.5 * jnp.mean(jnp.sum((prediction - inputs @ w_lin.T) ** 2, axis=-1))
    path_outputs = getattr(student, "path_outputs", None)
    if path_outputs is not None:
        paths = jnp.einsum("npo,nj->poj", jax.vmap(path_outputs)(inputs), projector)
    elif (weights := student.path_weights()) is not None:
        paths = weights
    else:
        paths = w_lin[None]
    return w_lin, residual, paths


class MinibatchScan(Engine):
    """Euler steps on explicit minibatches with autodiff gradients, for any student (module docstring).

    Needs ``gradient=ntajax.SampledGradient(batch_size=B)`` (B inputs per step; its ``method``
    does not matter here: the batch is always drawn explicitly).

    Args:
        eval_size: N, inputs of the fixed evaluation batch that the records use (static;
            must exceed d_in, which the least-squares map needs; the records' Monte-Carlo
            error of a nonlinear student is O(N^{-1/2})).
        unroll: steps unrolled per scan iteration (speed only; results are identical).
    """

    eval_size: int = eqx.field(static=True, default=1024)
    unroll: int = eqx.field(static=True, default=1)

    def __check_init__(self):
        for name in ("eval_size", "unroll"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MinibatchScan: {name}={value!r} must be a positive integer.")

    def check(self, simulation):
        if not isinstance(simulation.gradient, SampledGradient):
            raise ValueError(
                "MinibatchScan() trains on explicit minibatches and needs "
                f"gradient=ntajax.SampledGradient(batch_size=...), got gradient={type(simulation.gradient).__name__}(); "
                "for the expected-gradient flow of a linear student use engine=ntajax.EulerScan()."
            )
        if self.eval_size <= simulation.d_in:
            raise ValueError(
                f"MinibatchScan(eval_size={self.eval_size}) must exceed d_in={simulation.d_in}: the records fit a "
                f"linear map on the evaluation batch. Use eval_size ≥ {max(1024, 10 * simulation.d_in)}."
            )

    def solve(self, config, *, teachers, init, data_key, start_step=0):
        start_step = jnp.asarray(start_step, jnp.int32)
        # the split of EulerScan: the same curriculum key and the same per-step batches
        schedule_key, batch_key = jax.random.split(data_key)
        dtype = config.float_dtype
        dt = config.grid.dt
        mode = config.gradient
        schedule = config.schedule
        n_targets = teachers.shape[0]
        every = config.save_every
        n_intervals = config.grid.n_save - 1
        last_step = start_step + config.n_steps - 1
        eval_key = jax.random.fold_in(data_key, EVAL_KEY_TAG)
        eval_inputs = jax.random.normal(eval_key, (self.eval_size, config.d_in), dtype)
        projector = least_squares_projector(eval_inputs)

        def step_time(i):
            return i.astype(dtype) * dt

        def weights_at(i):
            block = schedule.block_of_step(i, dt)
            return block, schedule.weights(t=step_time(i), block=block, step=i, key=schedule_key, n_targets=n_targets)

        def batch_at(i):
            return mode.inputs(jax.random.fold_in(batch_key, i), config.d_in).astype(dtype)

        def expected_loss(w_lin, residual, target):
            return 0.5 * jnp.sum((target - w_lin) ** 2) + residual

        def record_at(state, i):
            # the final record (i = last_step + 1) closes the last simulated block (as EulerScan)
            block, w = weights_at(jnp.minimum(i, last_step))
            _, previous = weights_at(jnp.maximum(i - 1, 0))
            target = target_from_weights(w, teachers)
            w_lin, residual, paths = linear_readout(state, eval_inputs, projector)
            return make_record(
                t=step_time(i), block=block, weights=w, previous_weights=previous, teachers=teachers,
                loss_against=lambda weights: expected_loss(w_lin, residual, target_from_weights(weights, teachers)),
                effective_map=w_lin,
                gates=state.gate_vector(),
                path_norms=jnp.sqrt(jnp.sum(paths**2, axis=(1, 2))),
                similarity=similarity_matrix(teachers[: config.n_teachers], paths),
                minibatch_loss=minibatch_loss(state, batch_at(i), target),
                dtype=dtype,
            )

        def euler_step(state, i):
            _, w = weights_at(i)
            target = target_from_weights(w, teachers)
            v = minibatch_velocity(state, batch_at(i), target, config.student, config.regulariser)
            return jax.tree.map(lambda y, dy: y + dt * dy, state, v), None

        record_weights = config.recording.weights
        weights_every = config.recording.weights_every
        n_weight_saves = len(config.weight_save_times)

        def interval(carry, index):
            state, weights = carry
            first = start_step + index * every
            if record_weights:
                weights = jax.lax.cond(index % weights_every == 0, lambda b: write_at(b, index // weights_every, state),
                                       lambda b: b, weights)
            rec = record_at(state, first)
            steps = first + jnp.arange(every, dtype=jnp.int32)
            state, _ = jax.lax.scan(euler_step, state, steps, unroll=min(self.unroll, every))
            return (state, weights), rec

        weight_buffer = (
            jax.tree.map(lambda x: jnp.zeros((n_weight_saves, *x.shape), x.dtype), init) if record_weights else None
        )
        (final, weight_buffer), records = jax.lax.scan(interval, (init, weight_buffer),
                                                       jnp.arange(n_intervals, dtype=jnp.int32))
        last = record_at(final, start_step + config.n_steps)
        records = jax.tree.map(lambda r, x: jnp.concatenate([r, x[None]]), records, last)
        if weight_buffer is not None:
            weight_buffer = write_at(weight_buffer, n_weight_saves - 1, final)
        ok = all_finite(final) & jnp.all(jnp.isfinite(records["loss"]))
        status = jnp.where(ok, Status.OK, Status.DIVERGED).astype(jnp.int32)
        if not schedule.is_blocked:
            records["block"] = jnp.full_like(records["block"], -1)
        return to_trajectory(records, final, status, weight_buffer)
