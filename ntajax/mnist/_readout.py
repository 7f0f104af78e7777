"""The gated softmax readout on frozen CNN features, learning blocked label maps (MODEL §2.5).

Model (one feature vector h ∈ R^{d_in}; no bias):

    ℓ(h) = log_softmax(Σ_p c_p W_p h),   W ∈ R^{P×10×d_in}, c ∈ R^P.

Minibatch loss of task m on a batch {(h_b, y_b)} of the task's stream (§2.5, §4.2):

    L̂ = −(1/B) Σ_b ℓ(h_b)[π_m(y_b)] + λ_norm·½(‖c‖_k − 1)² + λ_nonneg·Σ_p max(0, −c_p),

with π_m the label map of task m (A: identity; B: y ↦ ⌊y/2⌋ + 5(y mod 2)). Dynamics: Euler
steps of gradient flow with time constants, i.e. SGD with per-group learning rates (§5.2),

    W ← W − (dt/τ_w) ∇_W L̂,   c ← c − (dt/τ_c) ∇_c L̂,

gradients by automatic differentiation (§4.1, MNIST). Initialisation: W entries
N(0, (0.01·σ₀/√d_in)²), gates 0.5 (§5.3). The task of step i is that of its block
⌈(i + ½)/(τ_B/dt)⌉ − 1 (exact clean clock, §6.4); each task draws its batches from its own
stream without replacement (:mod:`ntajax.mnist._stream`).

One seed is one ``lax.scan`` (:func:`simulate_readout`); :func:`run_readout` is
``jit(vmap(...))`` over the seeds. :class:`ReadoutConfig` composes the library's objects,
each carrying its own parameters: the student :class:`ntajax.Gated` (P, τ_w, τ_c, σ₀), the
:class:`ntajax.Regulariser` (λ_norm, λ_nonneg, k), the :class:`ntajax.Blocked` curriculum (τ_B)
and the :class:`ntajax.TimeGrid` (dt, t_total, records). The float parameters are traced
leaves, so the flexible and forgetful presets share one compiled program. Test accuracy on
the whole test part is recorded every ``record_every`` = n_steps/(n_save − 1) steps.
"""

import abc
import dataclasses
import json
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._curricula import clock
from .._curricula.curriculum import Blocked
from .._losses import Regulariser
from .._parameters import PathAddressed, check_size, concrete, scalar_fields, traced
from .._simulation import describe
from .._students.linear import Gated, weight_std
from .._time_grid import TimeGrid
from ._features import Features
from ._stream import StreamState, next_batch

N_CLASSES = 10


# ------------------------------------------------------------------------------- label maps
class LabelMap(eqx.Module):
    """A task: a bijection of the ten digit labels (MODEL §2.5, tasks)."""

    @property
    @abc.abstractmethod
    def table(self) -> tuple[int, ...]:
        """The new label of each digit 0…9."""

    def __call__(self, y: Int[Array, ""]) -> Int[Array, ""]:
        """The task's label of digit ``y``."""
        return jnp.asarray(self.table, jnp.int32)[y]


class OriginalLabels(LabelMap):
    """Task A: the digit itself."""

    @property
    def table(self) -> tuple[int, ...]:
        return tuple(range(N_CLASSES))


class EvenOddLabels(LabelMap):
    """Task B: y ↦ ⌊y/2⌋ + 5·(y mod 2); evens 0,2,4,6,8 → 0…4 and odds → 5…9 (the original's
    'standard' and 'upper_lower' permutation)."""

    @property
    def table(self) -> tuple[int, ...]:
        return tuple(y // 2 + 5 * (y % 2) for y in range(N_CLASSES))


class PermutedLabels(LabelMap):
    """Any explicit permutation of the ten labels, ``labels[y]`` being the label of digit y."""

    labels: tuple[int, ...] = eqx.field(static=True)

    def __check_init__(self):
        if sorted(self.labels) != list(range(N_CLASSES)):
            raise ValueError(f"PermutedLabels(labels={self.labels!r}) must be a permutation of 0…9.")

    @property
    def table(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.labels)


# ------------------------------------------------------------------------------- the model
class GatedReadout(eqx.Module):
    """ℓ(h) = log_softmax(Σ_p c_p W_p h): the gated student of §2.1 with a softmax, on one h.

    Attributes:
        W: path weights, (P, 10, d_in).
        c: gates, (P,); plain real numbers, bounded only by the regulariser.
    """

    W: Float[Array, "paths 10 d_in"]
    c: Float[Array, " paths"]

    def effective_map(self) -> Float[Array, "10 d_in"]:
        """W_eff = Σ_p c_p W_p."""
        return jnp.einsum("p,pij->ij", self.c, self.W)

    def __call__(self, h: Float[Array, " d_in"]) -> Float[Array, " 10"]:
        """Log-probabilities of the ten classes for one feature vector."""
        return jax.nn.log_softmax(self.effective_map() @ h)

    @classmethod
    def initialise(cls, config: "ReadoutConfig", d_in: int, *, key: PRNGKeyArray) -> "GatedReadout":
        """W ~ N(0, (init_factor·σ₀/√d_in)²), c = 0.5 (MODEL §2.5, §5.3)."""
        n_paths = config.student.n_paths
        std = weight_std(config.init_factor * config.student.init_scale, d_in)
        W = std * jr.normal(key, (n_paths, N_CLASSES, d_in))
        return cls(W=W, c=jnp.full((n_paths,), 0.5))


# ------------------------------------------------------------------------------- the config
def _flexible_student() -> Gated:
    return Gated(n_paths=2, tau_w=1000.0, tau_c=0.5, init_scale=0.01)


def _flexible_regulariser() -> Regulariser:
    return Regulariser(lambda_norm=0.5, lambda_nonneg=0.5, norm_order=1)


_COMPONENTS = {
    "student": (Gated, "ntajax.Gated(n_paths=2, tau_w=1000.0, tau_c=0.5, init_scale=0.01)"),
    "regulariser": (Regulariser, "ntajax.Regulariser(lambda_norm=0.5, lambda_nonneg=0.5, norm_order=1)"),
    "curriculum": (Blocked, "ntajax.Blocked(block_length=100.0) (phases over task indices, or None for A, B, A, B, …)"),
    "grid": (TimeGrid, "ntajax.TimeGrid(dt=0.1, t_total=1000.0, n_save=1001)"),
}


class ReadoutConfig(PathAddressed):
    """Everything that defines a readout simulation except the features and the key.

    Composed of the library's objects, each carrying its own parameters; defaults are the
    Fig. 7 flexible setting (FIGURES.md Fig. 7), and :func:`flexible` and :func:`forgetful`
    are the two presets.

    Args:
        student: the §2.1 gated student, :class:`ntajax.Gated` — P (``n_paths``, static),
            τ_w, τ_c (1000, 0.5: learning rates 1e-4 and 0.2 at dt = 0.1) and σ₀ (0.01).
        regulariser: the clean gate regulariser, :class:`ntajax.Regulariser` — λ_norm,
            λ_nonneg (0.5, 0.5) and k = ``norm_order`` (1). The readout loss has only the gate
            terms (MODEL §2.5), so ``lambda_w`` must be 0.
        curriculum: a :class:`ntajax.Blocked` schedule over task indices (position in
            ``tasks``) with its block length τ_B (100, i.e. 1000 steps per block); phases
            ``None`` is A, B, A, B, ….
        grid: the :class:`ntajax.TimeGrid` (static): Euler step dt (0.1), span t_total (1000,
            round(t_total/dt) steps) and ``n_save`` records including t = 0 and t_total
            (1001: every 10 steps); the recording stride is :attr:`record_every`.
        batch_size: B, examples per minibatch of a task's stream (100, static).
        n_seeds: seeds per :func:`run_readout` call (10, static).
        tasks: the label maps, task index = position (static; A = :class:`OriginalLabels`,
            B = :class:`EvenOddLabels`).
        init_factor: the MNIST extra factor on the weight std (0.01, traced; MODEL §2.5).

    Every float leaf (τ_w, τ_c, σ₀, λ_norm, λ_nonneg, λ_W, τ_B, init_factor) is traced:
    changing one does not recompile. Address them by path with :meth:`set`, e.g.
    ``config.set({"student.tau_w": 200.0})`` (or the unique short name ``"tau_w"``).
    """

    student: Gated = eqx.field(default_factory=_flexible_student)
    regulariser: Regulariser = eqx.field(default_factory=_flexible_regulariser)
    curriculum: Blocked = eqx.field(default_factory=lambda: Blocked(block_length=100.0))
    grid: TimeGrid = eqx.field(static=True, default_factory=lambda: TimeGrid(dt=0.1, t_total=1000.0, n_save=1001))
    batch_size: int = eqx.field(static=True, default=100)
    n_seeds: int = eqx.field(static=True, default=10)
    tasks: tuple[LabelMap, ...] = eqx.field(static=True, default=(OriginalLabels(), EvenOddLabels()))
    init_factor: Float[Array, ""] = eqx.field(default=0.01, converter=traced)

    def __check_init__(self):
        for name, (kind, example) in _COMPONENTS.items():
            value = getattr(self, name)
            if not isinstance(value, kind):
                raise TypeError(f"ReadoutConfig: {name}={value!r} is a {type(value).__name__}; pass {example}.")
        for name in ("batch_size", "n_seeds"):
            check_size("ReadoutConfig", name, getattr(self, name))
        if not self.tasks or not all(isinstance(t, LabelMap) for t in self.tasks):
            raise TypeError(f"ReadoutConfig: tasks={self.tasks!r} must be a non-empty tuple of LabelMap objects "
                            "(OriginalLabels(), EvenOddLabels(), PermutedLabels(...)).")
        if self.curriculum.phases is not None:
            for start, seq in self.curriculum.phases:
                for item in seq:
                    if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item < len(self.tasks):
                        raise ValueError(f"ReadoutConfig: curriculum phase at block {start} uses task {item!r}; "
                                         f"the readout needs task indices 0…{len(self.tasks) - 1} (no mixtures).")
        self._check_values(self.concrete_values())

    def _check_values(self, values: dict[str, float | None]) -> None:
        """The checks across objects on concrete values by path (None: traced, skipped)."""
        dt = self.grid.dt
        block = values.get("curriculum.block_length")
        if block is not None and block < dt * (1 - 1e-6):
            raise ValueError(f"ReadoutConfig: curriculum.block_length={block:.7g} is shorter than one step "
                             f"grid.dt={dt}; use block_length ≥ dt.")
        lambda_w = values.get("regulariser.lambda_w")
        if lambda_w is not None and lambda_w != 0:
            raise ValueError(f"ReadoutConfig: regulariser.lambda_w={lambda_w:.7g}, but the readout loss has only the "
                             "gate regulariser (MODEL §2.5); use lambda_w=0.")
        for name in self.student.time_constant_names:
            tau = values.get(f"student.{name}")
            if tau is not None and dt / tau > 2.0 * (1 + 1e-6):
                raise ValueError(f"ReadoutConfig: grid.dt={dt} is too large for student.{name}={tau:.6g}: "
                                 f"dt/{name} = {dt / tau:.3g} > 2 makes the Euler step unstable; use dt ≤ {tau / 2:.3g}.")

    # ------------------------------------------------------------------ derived values
    @property
    def n_steps(self) -> int:
        """Euler steps, round(t_total/dt)."""
        return self.grid.n_steps

    @property
    def record_every(self) -> int:
        """Steps between two records (the grid's save interval)."""
        return self.grid.save_every

    @property
    def n_records(self) -> int:
        """Recorded points, t = 0 and t_total included (``grid.n_save``)."""
        return self.grid.n_save

    @property
    def record_steps(self) -> np.ndarray:
        """Step index of every record, (n_records,)."""
        return np.arange(self.n_records) * self.record_every

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    @property
    def schedule(self) -> Blocked:
        """The curriculum in force (phases ``None``: A, B, A, B, … over the tasks)."""
        return self.curriculum.resolve(self.n_tasks)

    @property
    def label_tables(self) -> np.ndarray:
        """(n_tasks, 10) int32: row m is the label map of task m."""
        return np.asarray([t.table for t in self.tasks], np.int32)

    def block_starts(self) -> np.ndarray:
        """First step of every block, round(k·τ_B/dt) (or k·``clock_steps`` with the original's
        clock), for the blocks that start before t_total (needs a concrete τ_B)."""
        if self.curriculum.clock_steps is not None:
            steps = int(np.asarray(self.curriculum.clock_steps))
            return np.arange(max(1, -(-self.n_steps // steps))) * steps
        block = concrete(self.curriculum.block_length)
        if block is None:
            raise ValueError("block_starts() needs a concrete curriculum.block_length (call it outside jit/vmap).")
        n_blocks = clock.count_blocks(self.grid.t_total, block)
        return np.round(np.arange(n_blocks) * block / self.grid.dt).astype(np.int64)

    def task_of_step(self, step: Int[Array, ""]) -> Int[Array, ""]:
        """Index of the task active during Euler step ``step``."""
        schedule = self.schedule
        block = schedule.block_of_step(step, self.grid.dt)
        return jnp.argmax(schedule.task_of_block(block, self.n_tasks)).astype(jnp.int32)

    # ------------------------------------------------------------------ changing fields
    def replace(self, **changes) -> "ReadoutConfig":
        """A copy with some top-level fields changed (re-validated), e.g. ``grid=TimeGrid(...)``;
        use :meth:`set` for a single hyperparameter."""
        return dataclasses.replace(self, **changes)


    def check_point(self, values: dict[str, float]) -> None:
        """Check traced values given by full path as constructing the changed config would."""
        values = {path: float(v) for path, v in values.items()}
        by_owner: dict[str, dict[str, float]] = {}
        for path, value in values.items():
            owner, _, leaf = path.rpartition(".")
            by_owner.setdefault(owner, {})[leaf] = value
        for owner, changes in by_owner.items():
            component = self.get(owner) if owner else self
            check = getattr(component, "check_values", None)
            if check is not None:
                check(scalar_fields(component) | changes)
        self._check_values(self.concrete_values() | values)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        """JSON-ready description of every field, nested by object (:func:`ntajax._simulation.describe`)."""
        return describe(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def flexible(**changes) -> ReadoutConfig:
    """Fig. 7 flexible: τ_w = 1000, τ_c = 0.5, λ_nonneg = λ_norm = 0.5 (k = 1) [λ = 0.1, 1 : 1].

    ``changes`` replace top-level fields shared by both variants (``grid=``, ``curriculum=``,
    ``n_seeds=``, …); change one hyperparameter of the preset with ``.set({"tau_w": 200.0})``.
    """
    return ReadoutConfig(student=Gated(n_paths=2, tau_w=1000.0, tau_c=0.5, init_scale=0.01),
                         regulariser=Regulariser(lambda_norm=0.5, lambda_nonneg=0.5, norm_order=1)).replace(**changes)


def forgetful(**changes) -> ReadoutConfig:
    """Fig. 7 forgetful: τ_c = τ_w = 1000 and the original's λ = machine ε, i.e. both
    coefficients 1.1e-15 ≈ 0 (MODEL §4.3, last row). ``changes`` as in :func:`flexible`."""
    return ReadoutConfig(student=Gated(n_paths=2, tau_w=1000.0, tau_c=1000.0, init_scale=0.01),
                         regulariser=Regulariser(lambda_norm=1.1e-15, lambda_nonneg=1.1e-15, norm_order=1)
                         ).replace(**changes)


# ------------------------------------------------------------------------------- data and output
class ReadoutData(eqx.Module):
    """Features and digit labels as device arrays (traced arguments, never baked-in constants).

    Attributes:
        train: (n_train, d_in) float32. train_labels: (n_train,) int32.
        test: (n_test, d_in) float32. test_labels: (n_test,) int32.
    """

    train: Float[Array, "n_train d_in"]
    train_labels: Int[Array, " n_train"]
    test: Float[Array, "n_test d_in"]
    test_labels: Int[Array, " n_test"]

    @classmethod
    def from_features(cls, features: Features) -> "ReadoutData":
        return cls(jnp.asarray(features.train, jnp.float32), jnp.asarray(features.train_labels, jnp.int32),
                   jnp.asarray(features.test, jnp.float32), jnp.asarray(features.test_labels, jnp.int32))


class ReadoutTrajectory(eqx.Module):
    """What a readout run records every ``record_every`` steps (and at t_total).

    Shapes are for one seed; :func:`run_readout` adds a leading seed axis to every leaf.
    Records hold the state at that step, before its update (MODEL §5.5).

    Attributes:
        step: (T,) int32 step index. t: (T,) step·dt.
        task: (T,) int32 active task (of the step about to be taken; the final record
            keeps the last block's task).
        accuracy: (T, n_tasks) test accuracy on each task's labels (whole test part).
        test_loss: (T, n_tasks) test cross-entropy on each task's labels.
        batch_loss: (T,) minibatch loss L̂ (with regulariser) of the recorded step; NaN at t_total.
        gates: (T, P). path_norms: (T, P) ‖W_p‖_F.
        final: the final :class:`GatedReadout`.
    """

    step: Int[Array, " T"]
    t: Float[Array, " T"]
    task: Int[Array, " T"]
    accuracy: Float[Array, "T tasks"]
    test_loss: Float[Array, "T tasks"]
    batch_loss: Float[Array, " T"]
    gates: Float[Array, "T paths"]
    path_norms: Float[Array, "T paths"]
    final: GatedReadout

    @property
    def current_accuracy(self) -> Float[Array, "... T"]:
        """Test accuracy on the active task, (T,) (or (seed, T))."""
        return jnp.take_along_axis(self.accuracy, self.task[..., None], axis=-1)[..., 0]


def readout_loss(readout: GatedReadout, h: Float[Array, "b d_in"], y: Int[Array, " b"],
                 config: ReadoutConfig) -> Float[Array, ""]:
    """L̂ = mean cross-entropy of ``readout`` on the batch + the gate regulariser (MODEL §2.5, §4.2)."""
    logp = jax.vmap(readout)(h)
    ce = -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))
    return ce + config.regulariser.gates(readout.c)


def _evaluate(readout: GatedReadout, data: ReadoutData, tables: Int[Array, "tasks 10"]):
    logits = data.test @ readout.effective_map().T  # (n_test, 10)
    labels = tables[:, data.test_labels]  # (tasks, n_test)
    accuracy = jnp.mean(jnp.argmax(logits, axis=1)[None] == labels, axis=1)
    logp = jax.nn.log_softmax(logits)
    loss = -jnp.mean(jnp.take_along_axis(logp[None], labels[..., None], axis=-1)[..., 0], axis=1)
    return accuracy, loss


def simulate_readout(
    config: ReadoutConfig, data: ReadoutData, *, key: PRNGKeyArray, init: GatedReadout | None = None
) -> ReadoutTrajectory:
    """One seed of the blocked readout simulation (pure; one ``lax.scan``).

    Args:
        config: the simulation (static sizes, traced hyperparameters).
        data: features and labels.
        key: the seed key; split into an init key and a data key, the data key folded with
            the task index gives each task's stream key (MODEL §5.4).
        init: an explicit initial readout (default :meth:`GatedReadout.initialise`).

    Returns:
        The :class:`ReadoutTrajectory` of this seed.
    """
    init_key, data_key = jr.split(key)
    d_in = data.train.shape[1]
    stream_keys = jax.vmap(lambda m: jr.fold_in(data_key, m))(jnp.arange(config.n_tasks))
    tables = jnp.asarray(config.label_tables)
    readout = GatedReadout.initialise(config, d_in, key=init_key) if init is None else init
    streams = StreamState.initial(config.n_tasks, data.train.shape[0])
    rate_w = config.grid.dt / config.student.tau_w
    rate_c = config.grid.dt / config.student.tau_c

    def step(carry, i):
        readout, streams = carry
        task = config.task_of_step(i)
        idx, streams = next_batch(streams, task, stream_keys, config.batch_size)
        y = tables[task][data.train_labels[idx]]
        loss, grad = jax.value_and_grad(readout_loss)(readout, data.train[idx], y, config)
        readout = GatedReadout(W=readout.W - rate_w * grad.W, c=readout.c - rate_c * grad.c)
        return (readout, streams), loss

    def record(readout, i):
        accuracy, test_loss = _evaluate(readout, data, tables)
        task = config.task_of_step(jnp.minimum(i, config.n_steps - 1))
        norms = jnp.sqrt(jnp.sum(readout.W**2, axis=(1, 2)))
        return dict(step=jnp.asarray(i, jnp.int32), task=task, accuracy=accuracy, test_loss=test_loss,
                    gates=readout.c, path_norms=norms)

    def interval(carry, j):
        first = j * config.record_every
        rec = record(carry[0], first)
        carry, losses = jax.lax.scan(step, carry, first + jnp.arange(config.record_every))
        return carry, (rec, losses[0])

    (readout, _), (recs, batch_loss) = jax.lax.scan(interval, (readout, streams), jnp.arange(config.n_records - 1))
    last = record(readout, config.n_steps)
    recs = jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]]), recs, last)
    batch_loss = jnp.concatenate([batch_loss, jnp.full((1,), jnp.nan, batch_loss.dtype)])
    return ReadoutTrajectory(step=recs["step"], t=recs["step"] * jnp.float32(config.grid.dt), task=recs["task"],
                             accuracy=recs["accuracy"], test_loss=recs["test_loss"], batch_loss=batch_loss,
                             gates=recs["gates"], path_norms=recs["path_norms"], final=readout)


def _run_seeds_impl(config: ReadoutConfig, data: ReadoutData, keys: PRNGKeyArray) -> ReadoutTrajectory:
    return jax.vmap(lambda k: simulate_readout(config, data, key=k))(keys)


# Counting traces (``eqx.debug.get_num_traces(_counted_run_seeds)``) lets a test check that
# presets differing only in traced hyperparameters share one compiled program.
_counted_run_seeds = eqx.debug.assert_max_traces(_run_seeds_impl, max_traces=None)
_run_seeds = eqx.filter_jit(_counted_run_seeds)


def seed_keys(key: PRNGKeyArray | int, n_seeds: int) -> PRNGKeyArray:
    """The per-seed keys (n_seeds,) of a root key (an int is turned into ``jax.random.key``)."""
    key = jr.key(key) if isinstance(key, int) else key
    return jr.split(key, n_seeds)


def run_readout(config: ReadoutConfig, features: Features | ReadoutData, *, key: PRNGKeyArray | int) -> ReadoutTrajectory:
    """All ``config.n_seeds`` seeds of the readout in one compiled, vmapped call.

    Args:
        config: the simulation.
        features: :class:`Features` (from :func:`ntajax.mnist.mnist_features`) or :class:`ReadoutData`.
        key: root key; seed n uses ``split(key, n_seeds)[n]``. Variants run with the same
            root key share their seed keys (common random numbers, MODEL §5.4).

    Returns:
        A :class:`ReadoutTrajectory` whose leaves have a leading seed axis.
    """
    data = features if isinstance(features, ReadoutData) else ReadoutData.from_features(features)
    n_train = data.train.shape[0]
    if config.batch_size > n_train:
        raise ValueError(f"ReadoutConfig: batch_size={config.batch_size} exceeds the {n_train} training examples; "
                         "use a smaller batch.")
    labels = np.asarray(data.train_labels)
    if labels.size and (labels.min() < 0 or labels.max() >= N_CLASSES):
        raise ValueError(f"training labels must be digits 0…9; found {labels.min()}…{labels.max()}.")
    return _run_seeds(config, data, seed_keys(key, config.n_seeds))
