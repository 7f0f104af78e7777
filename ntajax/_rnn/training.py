"""Training a gated RNN on trials: BPTT through each trial, minibatches, one compiled scan.

An :class:`RNNExperiment` holds the objects of one training run — the student
(:class:`ntajax.GatedRNN`), the tasks (a tuple of :class:`ntajax.Task`), the output constraint
(a :class:`ntajax.Readout`), the curriculum (:class:`ntajax.BlockedTasks` or
:class:`ntajax.InterleavedTasks`) and the gate regulariser (:class:`ntajax.Regulariser`, MODEL
§4.2) — plus the static sizes of the run. Its traced leaves (``student.tau_c``,
``student.tau_w``, ``regulariser.lambda_norm``, ``curriculum.block_length``, …) are addressed by
dotted paths (:meth:`RNNExperiment.traced_paths`, :meth:`RNNExperiment.set`), so one compiled
program serves every value (:func:`ntajax.rnn_sweep` vmaps over them and over seeds).

The objective of a minibatch of B trials (inputs u, targets y*, mask m, each (T, d_out) per trial):

    L̂ = (1/B) Σ_b ½ (1/T) Σ_k Σ_o m_bko (ŷ_bko − y*_bko)²,       ŷ_bk = W_out h_{b,k+1},

(summed over outputs, averaged over the batch as MODEL §4.1, and over the trial's steps), plus
R(θ) of MODEL §4.2 on the gates c and the module weights [W_rec^p, W_in^p]. Its gradient is taken
by backpropagation through time (``jax.grad`` through the ``lax.scan`` of the trial), and each
parameter group takes the Euler step of MODEL §5.2,

    θ_{i+1} = θ_i − (dt/τ_θ) ∇_θ (L̂ + R),      τ = τ_w for W_rec, W_in, b, W_out; τ_c for c,

on fresh trials at every step i (keys fold_in(data_key, i)), inside one ``lax.scan`` over the
steps (never a Python loop per step). Training time is t = i·dt, so a block of duration τ_B
takes τ_B/dt steps.

Randomness (MODEL §5.4): the run's key splits into (init, data, evaluation) keys. The evaluation
trials (``eval_size`` per task) are drawn once and fixed for the run.

What :func:`ntajax.train_rnn` returns (an :class:`RNNRun`; shapes for one run):

* ``step_loss`` (n_steps,) the minibatch loss L̂ at each step (pre-update), ``step_task``
  (n_steps,) the task of the step (blocked curricula; −1 when interleaved);
* every ``record_every`` steps (n_rec = n_steps/record_every + 1 records, from step 0 to the end):
  ``record_step``, ``gates`` (n_rec, P) and ``eval_loss`` (n_rec, M), the loss of each task on
  its fixed evaluation trials (masked to that task's outputs), ``weight_speed`` (n_rec,) the
  speed ‖Δθ_w‖/Δt of the weights (not the gates) over the interval before each record (NaN at 0);
* per block k < ``max_blocks`` (blocked curricula): ``block_task`` and ``adaptation_time``, the
  training time from the block's start to the first step whose minibatch loss is below
  ``adaptation_threshold`` (NaN where not reached within the block, or no such block), and
  ``block_start_loss`` / ``block_end_loss``, the mean step loss over the first / last 10 % of
  the block's steps (at least one step; the switch cost and the loss reached);
* ``final``, the state at the end, and ``task_final``, per task the state after the last step
  of that task (leading axis M: "the network in task m", the end of its last block);
* ``status`` (0 ok, 1 diverged).
"""

import dataclasses
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._compile import COMPILER_OPTIONS
from .._losses import Regulariser
from .._parameters import PathAddressed, check_size, concrete, traced
from .._precision import pin_matmul_precision
from .curricula import BlockedTasks, TaskCurriculum
from .readouts import Readout, SharedReadout, check_tasks
from .student import GatedRNN, GatedRNNState
from .tasks import Task, Trial


def _getter(path: str):
    names = path.split(".") if path else []

    def get(obj):
        for name in names:
            obj = obj[int(name)] if isinstance(obj, tuple) else getattr(obj, name)
        return obj

    return get


class RNNExperiment(PathAddressed):
    """One training run of a gated RNN on trials (module docstring).

    Args:
        student: the :class:`ntajax.GatedRNN` model.
        tasks: the M tasks (a tuple of :class:`ntajax.Task`, equal ``n_steps``).
        readout: the output constraint (default :class:`ntajax.SharedReadout`).
        curriculum: which task each trial is (default :class:`ntajax.BlockedTasks` with τ_B = 1).
        regulariser: the gate regulariser of MODEL §4.2 (default: none).
        dt: the learning step; learning rate dt/τ per group (static, default 0.01).
        n_steps: training steps (static, default 1000); t_total = n_steps·dt.
        batch_size: trials per step (static, default 16).
        record_every: steps between records (static, default 10; must divide n_steps).
        eval_size: fixed evaluation trials per task (static, default 64).
        max_blocks: blocks with an adaptation time recorded (static, default 64).
        adaptation_threshold: the loss level of the adaptation time (traced, default 0.05).
    """

    student: GatedRNN
    tasks: tuple[Task, ...] = eqx.field(converter=tuple)
    readout: Readout = SharedReadout()
    curriculum: TaskCurriculum = BlockedTasks()
    regulariser: Regulariser = Regulariser()
    dt: float = eqx.field(static=True, default=0.01)
    n_steps: int = eqx.field(static=True, default=1000)
    batch_size: int = eqx.field(static=True, default=16)
    record_every: int = eqx.field(static=True, default=10)
    eval_size: int = eqx.field(static=True, default=64)
    max_blocks: int = eqx.field(static=True, default=64)
    adaptation_threshold: Float[Array, ""] = eqx.field(default=0.05, converter=traced)

    def __check_init__(self):
        if not isinstance(self.student, GatedRNN):
            raise TypeError(f"RNNExperiment: student={self.student!r} must be an ntajax.GatedRNN.")
        check_tasks(self.tasks)
        if not isinstance(self.readout, Readout):
            raise TypeError(f"RNNExperiment: readout={self.readout!r} must be a Readout object, e.g. "
                            "ntajax.SharedReadout(), ntajax.GatedReadout(), ntajax.OrthogonalReadout(), "
                            "ntajax.ParallelReadout().")
        if not isinstance(self.curriculum, TaskCurriculum):
            raise TypeError(f"RNNExperiment: curriculum={self.curriculum!r} must be ntajax.BlockedTasks(...) or "
                            "ntajax.InterleavedTasks(...).")
        if not isinstance(self.regulariser, Regulariser):
            raise TypeError(f"RNNExperiment: regulariser={self.regulariser!r} must be an ntajax.Regulariser.")
        order = getattr(self.curriculum, "order", None)
        if order is not None and max(order) >= len(self.tasks):
            raise ValueError(f"RNNExperiment: curriculum order={order} names a task ≥ the {len(self.tasks)} "
                             "tasks given.")
        if isinstance(self.dt, bool) or not isinstance(self.dt, (int, float)) or not self.dt > 0:
            raise ValueError(f"RNNExperiment: dt={self.dt!r} must be a positive number (the learning rate is dt/τ).")
        for name in ("n_steps", "batch_size", "record_every", "eval_size", "max_blocks"):
            check_size("RNNExperiment", name, getattr(self, name))
        if self.n_steps % self.record_every:
            raise ValueError(f"RNNExperiment: record_every={self.record_every} must divide n_steps={self.n_steps}; "
                             f"e.g. n_steps={self.record_every * (self.n_steps // self.record_every + 1)}.")
        self.check_point({path: v for path, v in self.concrete_values().items() if v is not None})

    def check_point(self, values: dict[str, float]) -> None:
        """Validate traced values by full path, as a new experiment would be."""
        student = {p.removeprefix("student."): v for p, v in values.items() if p.startswith("student.")}
        self.student.check_values(student)
        reg = {p.removeprefix("regulariser."): v for p, v in values.items() if p.startswith("regulariser.")}
        self.regulariser.check_values(reg)
        for name in ("tau_w", "tau_c"):
            tau = values.get(f"student.{name}")
            if tau is not None and tau > 0 and self.dt / tau >= 1:
                raise ValueError(f"RNNExperiment: dt/{name} = {self.dt / tau:.3g} ≥ 1 overshoots every Euler step "
                                 f"(MODEL §5.2); lower dt below {tau:.3g} or raise student.{name}.")
        if (tau_b := values.get("curriculum.block_length")) is not None and tau_b < self.dt:
            raise ValueError(f"RNNExperiment: curriculum.block_length={tau_b:.7g} is shorter than one step "
                             f"dt={self.dt}.")

    def get(self, path: str):
        """The leaf (or object) at a dotted path; integer components index the task tuple
        (``"tasks.0.strength"``)."""
        return _getter(path)(self)

    def set(self, values: dict[str, float], *, check: bool = True) -> "RNNExperiment":
        """A copy with traced leaves changed by path (``{"student.tau_c": 0.05}``; unique last
        components such as ``"tau_c"`` work too); concrete values are validated like a new
        experiment's (``check=False`` skips that)."""
        resolved = {self.resolve_path(name): value for name, value in values.items()}
        if check:
            concrete_values = {p: concrete(v) for p, v in resolved.items() if concrete(v) is not None}
            if concrete_values:
                self.check_point(concrete_values)
        out = self
        for path, value in resolved.items():
            out = eqx.tree_at(_getter(path), out, jnp.asarray(value, dtype=jnp.result_type(self.get(path))))
        return out

    def replace(self, **changes) -> "RNNExperiment":
        """A copy with some fields changed (re-validated)."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------------- sizes
    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    @property
    def d_in(self) -> int:
        """Input channels: the readout's layout plus the task cue."""
        return self.readout.layout(self.tasks)[0] + self.curriculum.cue_size(self.n_tasks)

    @property
    def d_out(self) -> int:
        return self.readout.layout(self.tasks)[1]

    @property
    def n_trial_steps(self) -> int:
        """T, steps per trial."""
        return self.tasks[0].n_steps

    @property
    def n_records(self) -> int:
        return self.n_steps // self.record_every + 1

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tasks)

    # ------------------------------------------------------------------------- trials
    def trial(self, key: PRNGKeyArray, task: Int[Array, ""]) -> Trial:
        """One trial of task ``task`` on the experiment's channels (readout layout, then the cue)."""
        return self.curriculum.with_cue(self.readout.trial(self.tasks, key, task), task, self.n_tasks)

    def task_output_mask(self, task: int) -> Float[Array, " d_out"]:
        """1 on the outputs that belong to task ``task`` (all outputs for a shared readout)."""
        blocks = getattr(self.readout, "output_blocks", None)
        if blocks is None:
            return jnp.ones((self.d_out,))
        return jnp.zeros((self.d_out,)).at[blocks(self.tasks)[task]].set(1.0)

    def task_trials(self, key: PRNGKeyArray, n_trials: int) -> Trial:
        """``n_trials`` trials of every task, leading axes (M, n_trials); the mask of task m is
        restricted to its own outputs (what ``eval_loss`` scores)."""
        def of_task(m):
            keys = jax.random.split(jax.random.fold_in(key, m), n_trials)
            trials = jax.vmap(lambda k: self.trial(k, jnp.int32(m)))(keys)
            return Trial(inputs=trials.inputs, targets=trials.targets, mask=trials.mask * self.task_output_mask(m))

        return jax.tree.map(lambda *xs: jnp.stack(xs), *[of_task(m) for m in range(self.n_tasks)])


class RNNRun(eqx.Module):
    """The record of one training run (module docstring; :func:`ntajax.rnn_sweep` adds leading
    (point, seed) axes to every array and to the leaves of the states)."""

    step_loss: Float[Array, " n_steps"]
    step_task: Int[Array, " n_steps"]
    record_step: Int[Array, " n_rec"]
    gates: Float[Array, "n_rec P"]
    eval_loss: Float[Array, "n_rec M"]
    weight_speed: Float[Array, " n_rec"]
    block_task: Int[Array, " max_blocks"]
    adaptation_time: Float[Array, " max_blocks"]
    block_start_loss: Float[Array, " max_blocks"]
    block_end_loss: Float[Array, " max_blocks"]
    final: GatedRNNState
    task_final: GatedRNNState
    status: Int[Array, ""]


# ----------------------------------------------------------------------------- loss and gradient
def trial_loss(model: GatedRNN, state: GatedRNNState, trial: Trial) -> Float[Array, ""]:
    """½ (1/T) Σ_k Σ_o m_ko (ŷ_ko − y*_ko)² for one trial (module docstring)."""
    prediction = model.predict(state, trial.inputs)
    return 0.5 * jnp.sum(trial.mask * (prediction - trial.targets) ** 2) / trial.inputs.shape[0]


def batch_loss(model: GatedRNN, state: GatedRNNState, trials: Trial) -> Float[Array, ""]:
    """The mean of :func:`trial_loss` over a batch of trials (leading axis B)."""
    return jnp.mean(jax.vmap(lambda tr: trial_loss(model, state, tr))(trials))


def objective(model: GatedRNN, regulariser: Regulariser, state: GatedRNNState, trials: Trial) -> Float[Array, ""]:
    """L̂ + R(θ): the minibatch loss plus the gate regulariser (MODEL §4.2)."""
    return batch_loss(model, state, trials) + regulariser(state)


def euler_step(model: GatedRNN, regulariser: Regulariser, state: GatedRNNState, trials: Trial, dt: float):
    """(L̂ at ``state``, the state after θ ← θ − (dt/τ_θ) ∇_θ (L̂ + R)); held leaves do not move."""
    def total(s):
        loss = batch_loss(model, s, trials)
        return loss + regulariser(s), loss

    (_, loss), grad = jax.value_and_grad(total, has_aux=True)(state)
    taus, mask = model.time_constants(state), model.learning_mask(state)
    new = jax.tree.map(lambda x, g, tau, m: x - (dt / tau) * m * g, state, grad, taus, mask)
    return loss, new


def adaptation_times(
    step_loss: Float[Array, " n_steps"], blocks: Int[Array, " n_steps"], threshold, dt: float, max_blocks: int
) -> Float[Array, " max_blocks"]:
    """Per block k < ``max_blocks``: (first step of block k with loss < threshold − block start)·dt,
    NaN where not reached in the block or where block k does not occur."""
    n = step_loss.shape[0]
    steps = jnp.arange(n)
    start = jax.ops.segment_min(steps, blocks, num_segments=max_blocks)
    first = jax.ops.segment_min(jnp.where(step_loss < threshold, steps, n), blocks, num_segments=max_blocks)
    ok = (start < n) & (first < n)
    return jnp.where(ok, (first - start).astype(step_loss.dtype) * dt, jnp.nan)


def block_edge_losses(
    step_loss: Float[Array, " n_steps"], blocks: Int[Array, " n_steps"], max_blocks: int, fraction: float = 0.1
) -> tuple[Float[Array, " max_blocks"], Float[Array, " max_blocks"]]:
    """Per block k < ``max_blocks``: the mean step loss over its first and over its last
    max(1, ⌊fraction·n_k⌋) steps (n_k its steps; NaN for blocks that do not occur)."""
    n = step_loss.shape[0]
    steps = jnp.arange(n)
    start = jax.ops.segment_min(steps, blocks, num_segments=max_blocks)
    end = jax.ops.segment_max(steps, blocks, num_segments=max_blocks)
    valid = blocks < max_blocks
    b = jnp.minimum(blocks, max_blocks - 1)
    window = jnp.maximum(1, jnp.floor(fraction * (end - start + 1)).astype(jnp.int32))[b]
    first = valid & (steps - start[b] < window)
    last = valid & (end[b] - steps < window)

    def mean_over(selected):
        total = jax.ops.segment_sum(jnp.where(selected, step_loss, 0.0), b, num_segments=max_blocks)
        count = jax.ops.segment_sum(selected.astype(step_loss.dtype), b, num_segments=max_blocks)
        return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)

    return mean_over(first), mean_over(last)


def weight_distance(a: GatedRNNState, b: GatedRNNState) -> Float[Array, ""]:
    """‖θ_a − θ_b‖ over the weights W_rec, W_in, b, W_out (not the gates)."""
    return jnp.sqrt(sum(jnp.sum((x - y) ** 2) for x, y in
                        ((a.W_rec, b.W_rec), (a.W_in, b.W_in), (a.b, b.b), (a.W_out, b.W_out))))


# ----------------------------------------------------------------------------- the run
def train_one(experiment: RNNExperiment, key: PRNGKeyArray) -> RNNRun:
    """One training run (not jitted; :func:`train_rnn` and the sweeps compile it)."""
    ex = experiment
    model, M, B = ex.student, ex.n_tasks, ex.batch_size
    init_key, data_key, eval_key = jax.random.split(key, 3)
    state0 = model.initialise(init_key, d_in=ex.d_in, d_out=ex.d_out)
    eval_trials = ex.task_trials(eval_key, ex.eval_size)  # (M, n_eval, ...)

    def tasks_at(i):
        k_task, k_trials = jax.random.split(jax.random.fold_in(data_key, i))
        return ex.curriculum.tasks_of_step(i, k_task, n_tasks=M, batch_size=B, dt=ex.dt), k_trials

    def step(carry, i):
        state, per_task = carry
        tasks, k_trials = tasks_at(i)
        trials = jax.vmap(ex.trial)(jax.random.split(k_trials, B), tasks)
        loss, state = euler_step(model, ex.regulariser, state, trials, ex.dt)
        current = tasks[0] if ex.curriculum.is_blocked else -1
        if ex.curriculum.is_blocked:
            per_task = jax.tree.map(lambda S, x: S.at[current].set(x), per_task, state)
        return (state, per_task), (loss, jnp.int32(current))

    def record(state, previous, i):
        losses = jax.vmap(lambda tr: batch_loss(model, state, tr))(eval_trials)
        return dict(record_step=i, gates=state.c, eval_loss=losses,
                    weight_speed=weight_distance(state, previous) / (ex.record_every * ex.dt))

    def interval(carry, index):
        state, per_task, previous = carry
        rec = record(state, previous, index * ex.record_every)
        steps = index * ex.record_every + jnp.arange(ex.record_every, dtype=jnp.int32)
        (new, per_task), per_step = jax.lax.scan(step, (state, per_task), steps)
        return (new, per_task, state), (rec, per_step)

    per_task0 = jax.tree.map(lambda x: jnp.broadcast_to(x, (M, *x.shape)), state0)
    n_intervals = ex.n_steps // ex.record_every
    (final, per_task, previous), (recs, (step_loss, step_task)) = jax.lax.scan(
        interval, (state0, per_task0, state0), jnp.arange(n_intervals, dtype=jnp.int32))
    last = record(final, previous, jnp.int32(ex.n_steps))
    recs = jax.tree.map(lambda r, x: jnp.concatenate([r, x[None]]), recs, last)
    recs["weight_speed"] = recs["weight_speed"].at[0].set(jnp.nan)  # no interval before the first record
    step_loss, step_task = step_loss.reshape(-1), step_task.reshape(-1)
    if not ex.curriculum.is_blocked:
        per_task = jax.tree.map(lambda x: jnp.broadcast_to(x, (M, *x.shape)), final)
    all_steps = jnp.arange(ex.n_steps, dtype=jnp.int32)
    blocks = ex.curriculum.block_of_step(all_steps, ex.dt)
    if ex.curriculum.is_blocked:
        block_ids = jnp.arange(ex.max_blocks, dtype=jnp.int32)
        block_task = ex.curriculum.task_of_block(block_ids, M).astype(jnp.int32)
        exists = jax.ops.segment_min(all_steps, blocks, num_segments=ex.max_blocks) < ex.n_steps
        block_task = jnp.where(exists, block_task, -1)
        adaptation = adaptation_times(step_loss, blocks, ex.adaptation_threshold, ex.dt, ex.max_blocks)
        start_loss, end_loss = block_edge_losses(step_loss, blocks, ex.max_blocks)
    else:
        block_task = jnp.full((ex.max_blocks,), -1, jnp.int32)
        adaptation = start_loss = end_loss = jnp.full((ex.max_blocks,), jnp.nan, step_loss.dtype)
    finite = jnp.all(jnp.isfinite(step_loss)) & jnp.all(
        jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(final)]))
    return RNNRun(
        step_loss=step_loss, step_task=step_task, record_step=recs["record_step"], gates=recs["gates"],
        eval_loss=recs["eval_loss"], weight_speed=recs["weight_speed"], block_task=block_task,
        adaptation_time=adaptation, block_start_loss=start_loss, block_end_loss=end_loss, final=final,
        task_final=per_task, status=jnp.where(finite, 0, 1).astype(jnp.int32),
    )


TRACES = {"train": 0}
"""How often the compiled entry points were traced (tests check one trace per structure)."""


@eqx.filter_jit(compiler_options=COMPILER_OPTIONS)
@pin_matmul_precision
def _train_seeds(experiment: RNNExperiment, keys: PRNGKeyArray) -> RNNRun:
    TRACES["train"] += 1
    return jax.vmap(lambda k: train_one(experiment, k))(keys)


def seed_keys(key: PRNGKeyArray | int, n_seeds: int) -> PRNGKeyArray:
    """The per-seed keys (n_seeds,) of a root key (an int seeds ``jax.random.key``)."""
    key = jax.random.key(key) if isinstance(key, int) else key
    return jax.random.split(key, n_seeds)


def train_rnn(experiment: RNNExperiment, key: PRNGKeyArray | int, *, n_seeds: int | None = None) -> RNNRun:
    """Train ``experiment`` (one compiled program per structure).

    Args:
        experiment: the :class:`RNNExperiment`.
        key: the root key (or an int).
        n_seeds: ``None`` (default): one run from ``key`` itself; an int: that many seeds
            (keys ``jax.random.split(key, n_seeds)``), vmapped, every array with a leading seed axis.

    Returns:
        An :class:`RNNRun` (module docstring for its fields).
    """
    if n_seeds is None:
        key = jax.random.key(key) if isinstance(key, int) else key
        run = _train_seeds(experiment, key[None])
        return jax.tree.map(lambda x: x[0], run)
    check_size("train_rnn", "n_seeds", n_seeds)
    return _train_seeds(experiment, seed_keys(key, n_seeds))


# ----------------------------------------------------------------------------- responses
class RNNResponses(eqx.Module):
    """Hidden-state responses to every task's trials (leading axes (M, n_trials)).

    Attributes:
        inputs: (M, n, T, d_in); targets, mask: (M, n, T, d_out) (mask restricted to task m's
        outputs); hidden: (M, n, T, N), h_1 … h_T from h_0 = 0; outputs: (M, n, T, d_out).
    """

    inputs: Float[Array, "M n T d_in"]
    targets: Float[Array, "M n T d_out"]
    mask: Float[Array, "M n T d_out"]
    hidden: Float[Array, "M n T N"]
    outputs: Float[Array, "M n T d_out"]


@eqx.filter_jit
def rnn_responses(
    experiment: RNNExperiment, state: GatedRNNState, key: PRNGKeyArray, n_trials: int = 64, *, per_task: bool = False
) -> RNNResponses:
    """The hidden states of a trained network on ``n_trials`` fresh trials of every task.

    Args:
        experiment: the experiment the network was trained in (its tasks, readout and cue).
        state: one network (:class:`ntajax.GatedRNNState`), or with ``per_task=True`` one per
            task stacked on a leading axis M (``run.task_final``: task m's trials are run by the
            network as it was at the end of task m).
        key: the trials' key; n_trials: trials per task (static).
    """
    trials = experiment.task_trials(key, n_trials)
    model = experiment.student

    def of_task(m):
        s = jax.tree.map(lambda x: x[m], state) if per_task else state
        hidden = jax.vmap(lambda u: model.hidden(s, u))(trials.inputs[m])
        return hidden, model.outputs(s, hidden)

    hidden, outputs = jax.tree.map(lambda *xs: jnp.stack(xs), *[of_task(m) for m in range(experiment.n_tasks)])
    return RNNResponses(inputs=trials.inputs, targets=trials.targets, mask=trials.mask, hidden=hidden, outputs=outputs)
