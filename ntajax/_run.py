"""Running simulations: one seed (:func:`simulate`) and a batch of seeds (:func:`run`).

Keys (MODEL §5.4): ``run`` splits its key into a teacher key and a seed root; seed n gets
``split(seed_root, n_seeds)[n]``, which splits into an init key and a data key; step i
draws its batch from ``fold_in(data_key, i)``. Two configs run with the same key therefore
share their seed keys (common random numbers), and chunked or resumed runs stay
bit-identical.
"""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._compile import COMPILER_OPTIONS
from ._precision import pin_matmul_precision
from ._simulation import Simulation
from ._warnings import deriving
from ._students.base import Student
from ._trajectory import Trajectory


def _as_key(key) -> PRNGKeyArray:
    if isinstance(key, int):
        raise TypeError(f"key={key!r} is an int; pass jax.random.key({key}) instead.")
    if jnp.issubdtype(jnp.asarray(key).dtype, jax.dtypes.prng_key):
        return key
    return jax.random.wrap_key_data(key)


@pin_matmul_precision
def simulate(
    config: Simulation,
    key: PRNGKeyArray,
    *,
    teachers: Float[Array, "n_targets d_out d_in"],
    init: Student | None = None,
    start_step=0,
) -> Trajectory:
    """Simulate ONE seed: pure and unjitted, for use under your own ``jit``/``vmap``.

    Args:
        config: the simulation config (float64 configs need ``jax.enable_x64(True)`` around
            the call; :func:`run` does this itself).
        key: this seed's key (split into init and data keys).
        teachers: (M + M_c, d_out, d_in) teacher matrices.
        init: initial student; default :meth:`Student.initialise` from the init key.
        start_step: absolute index of the first step (continuing a run chunk by chunk).

    Its matrix products are traced at full float32 precision whatever JAX's default (no TF32 on
    GPUs; :mod:`ntajax._precision`); the rest of your program keeps yours.
    """
    init_key, data_key = jax.random.split(_as_key(key))
    config = config.cast()
    dtype = config.float_dtype
    if init is None:
        init = _initial_state(config, init_key)
    init = jax.tree.map(lambda x: jnp.asarray(x, dtype) if eqx.is_inexact_array(x) else x, init)
    teachers = jnp.asarray(teachers, dtype)
    return config.engine.solve(config, teachers=teachers, init=init, data_key=data_key, start_step=start_step)


def _initial_state(config: Simulation, key: PRNGKeyArray) -> Student:
    return config.student.initialise(key, d_in=config.d_in, d_out=config.d_out, n_teachers=config.n_teachers)


def seed_keys(key: PRNGKeyArray, n_seeds: int) -> tuple[PRNGKeyArray, PRNGKeyArray]:
    """(teacher_key, per-seed keys of shape (n_seeds,)) from a root key (MODEL §5.4)."""
    teacher_key, seed_root = jax.random.split(_as_key(key))
    return teacher_key, jax.random.split(seed_root, n_seeds)


def make_teachers(config: Simulation, key: PRNGKeyArray) -> Float[Array, "..."]:
    """The config's teachers from the root key: (M_total, d_out, d_in), or with a leading
    seed axis when the teacher set is drawn per seed."""
    # (the output noise is no part of the matrices, and a traced σ cannot be a static argument)
    return _make_teachers(config.teachers.without_noise(), _as_key(key), config.n_seeds, config.n_teachers,
                          config.d_out, config.d_in)


@functools.partial(jax.jit, static_argnums=(0, 2, 3, 4, 5), compiler_options=COMPILER_OPTIONS)
@pin_matmul_precision
def _make_teachers(teacher_set, key, n_seeds, n_teachers, d_out, d_in):
    # one compiled program instead of a dozen op-by-op dispatches (each compiles on first use)
    teacher_key, _ = seed_keys(key, n_seeds)
    return teacher_set.make_for_seeds(key=teacher_key, n_seeds=n_seeds, n_teachers=n_teachers, d_out=d_out, d_in=d_in)


def _check_start_step(config: Simulation, start_step) -> None:
    if isinstance(start_step, bool) or not isinstance(start_step, int) or start_step < 0:
        raise ValueError(f"start_step={start_step!r} must be a non-negative integer.")
    if start_step and config.curriculum.is_state_dependent:
        raise ValueError(
            f"start_step={start_step}: curriculum={type(config.curriculum).__name__}() carries a state (block, time "
            "below the threshold) that Trajectory.final does not hold, so a run cannot be continued; simulate the "
            "whole span in one call (start_step=0, no chunks)."
        )


def _check_teachers(config: Simulation, teachers) -> int | None:
    shape = (config.n_targets, config.d_out, config.d_in)
    teachers = jnp.asarray(teachers)
    if teachers.shape == shape:
        return None
    if teachers.shape == (config.n_seeds, *shape):
        return 0
    raise ValueError(
        f"teachers has shape {teachers.shape}; expected {shape} (shared) or {(config.n_seeds, *shape)} (per seed) "
        f"for n_targets={config.n_targets}, d_out={config.d_out}, d_in={config.d_in}, n_seeds={config.n_seeds}."
    )


def _check_init(config: Simulation, init: Student) -> int | None:
    reference = config.state_shape()
    if type(init) is not type(reference):
        raise TypeError(f"init is a {type(init).__name__}, but student={type(config.student).__name__}(...) needs a "
                        f"{type(reference).__name__}.")
    ref_shapes = [x.shape for x in jax.tree.leaves(reference)]
    shapes = [jnp.shape(x) for x in jax.tree.leaves(init)]
    if shapes == ref_shapes:
        return None
    if shapes == [(config.n_seeds, *s) for s in ref_shapes]:
        return 0
    raise ValueError(f"init has leaf shapes {shapes}; expected {ref_shapes} (shared) or with a leading n_seeds axis.")


def _seeds(config, key, teachers, init, teacher_axis, init_axis, start_step):
    _, keys = seed_keys(key, config.n_seeds)

    def one(k, t, i):
        return simulate(config, k, teachers=t, init=i, start_step=start_step)

    return jax.vmap(one, in_axes=(0, teacher_axis, init_axis))(keys, teachers, init)


@eqx.filter_jit(compiler_options=COMPILER_OPTIONS)
@eqx.debug.assert_max_traces(max_traces=None)  # counts traces: eqx.debug.get_num_traces(_run)
@pin_matmul_precision
def _run(config, key, teachers, init, teacher_axis, init_axis, start_step):
    return _seeds(config, key, teachers, init, teacher_axis, init_axis, start_step)


@eqx.filter_jit(compiler_options=COMPILER_OPTIONS)
@eqx.debug.assert_max_traces(max_traces=None)
@pin_matmul_precision
def _run_stacked(config, key, teachers, init, teachers_stacked, start_step):
    """Simulations stacked along a leading variant axis (traced leaves), all seeds of each."""
    config_axes = jax.tree.map(lambda x: 0 if eqx.is_array(x) else None, config)

    def variant(c, t, i):
        return _seeds(c, key, t, i, None, None if i is None else 0, start_step)

    return jax.vmap(variant, in_axes=(config_axes, 0 if teachers_stacked else None, 0))(config, teachers, init)


def run_stacked(
    configs,
    key: PRNGKeyArray,
    *,
    teachers=None,
    init=None,
    start_step: int = 0,
) -> list[Trajectory]:
    """Several configs with the same static structure in ONE compiled call (a leading variant
    axis on their traced fields, e.g. the flexible and forgetful variants of a figure).

    All variants use the same root key, hence the same seed keys (common random numbers), and
    each result equals ``run(configs[v], key, ...)`` up to floating-point rounding.

    Args:
        configs: the configs; they may differ only in traced fields.
        key: root key.
        teachers: ``None`` (each config's own teacher set) or a list with one entry per
            config (``None`` or explicit arrays as for :func:`run`).
        init: ``None`` or a list with one entry per config (``None``, a shared student or one
            with a leading seed axis).
        start_step: absolute index of the first step.

    Returns:
        One :class:`Trajectory` per config (leading seed axis).
    """
    configs = [c.with_block_count() for c in configs]
    if not configs:
        raise ValueError("run_stacked needs at least one config.")
    statics = [eqx.partition(c, eqx.is_array)[1] for c in configs]
    if not all(eqx.tree_equal(statics[0], other) for other in statics[1:]):
        raise ValueError("run_stacked: the configs differ in static structure (sizes, time grid, engine, curriculum, ...); "
                         "only traced fields may differ. Run them separately with ntajax.run.")
    key = _as_key(key)
    n = len(configs)
    teachers = [None] * n if teachers is None else list(teachers)
    init = [None] * n if init is None else list(init)
    if len(teachers) != n or len(init) != n:
        raise ValueError(f"run_stacked: teachers and init need one entry per config ({n}).")
    arrays = [jnp.asarray(make_teachers(c, key) if t is None else t) for c, t in zip(configs, teachers)]
    for c, t in zip(configs, arrays):
        _check_teachers(c, t)
    if len({a.shape for a in arrays}) != 1:
        raise ValueError("run_stacked: the teachers of the configs differ in shape; run them separately.")
    shared = all(bool(jnp.array_equal(arrays[0], a)) for a in arrays[1:])
    stacked_teachers = arrays[0] if shared else jnp.stack(arrays)
    if all(i is None for i in init):
        stacked_init = None
    else:
        per_seed = [initial_students(c, key) if i is None else _per_seed(c, i) for c, i in zip(configs, init)]
        stacked_init = jax.tree.map(lambda *xs: jnp.stack(xs), *per_seed)
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs) if eqx.is_array(xs[0]) else xs[0], *configs)
    _check_start_step(configs[0], start_step)
    with precision(configs[0]):
        out = _run_stacked(stacked, key, stacked_teachers, stacked_init, not shared, jnp.int32(start_step))
        return _unstack(out, n)


@eqx.filter_jit
def _unstack(tree, n: int) -> list:
    """The ``n`` entries of a leading axis of every leaf, as ``n`` trees: one compiled program
    (slicing each leaf eagerly compiles a program per leaf shape)."""
    return [jax.tree.map(lambda x: x[v], tree) for v in range(n)]


def run(
    config: Simulation,
    key: PRNGKeyArray,
    *,
    teachers: Float[Array, "..."] | None = None,
    init: Student | None = None,
    start_step: int = 0,
) -> Trajectory:
    """Simulate ``config.n_seeds`` seeds side by side (one compiled program).

    Args:
        config: the simulation config; traced fields may change without recompiling.
        key: root key, e.g. ``jax.random.key(0)``.
        teachers: explicit teachers, (M_total, d_out, d_in) shared or
            (n_seeds, M_total, d_out, d_in) per seed; default: built from
            ``config.teachers`` and the teacher key.
        init: initial student, shared or with a leading seed axis (e.g. the ``final``
            field of a previous trajectory, to continue a simulation).
        start_step: absolute index of the first step. Continuing a run from its final
            state with ``start_step=n_steps`` gives exactly the steps an uninterrupted run
            would have taken (same block clock, same per-step data keys).

    Returns:
        A :class:`Trajectory` whose arrays have a leading seed axis.
    """
    if not isinstance(config, Simulation):
        raise TypeError(f"config must be an ntajax.Simulation, got {type(config).__name__}.")
    key = _as_key(key)
    config = config.with_block_count()
    if teachers is None:
        teachers = make_teachers(config, key)
    teacher_axis = _check_teachers(config, teachers)
    init_axis = None if init is None else _check_init(config, init)
    _check_start_step(config, start_step)
    with precision(config):
        return _run(config, key, jnp.asarray(teachers), init, teacher_axis, init_axis, jnp.int32(start_step))


def initial_students(config: Simulation, key: PRNGKeyArray) -> Student:
    """The default initial state of every seed (leading seed axis), exactly as :func:`run`
    draws it: seed n initialises from the first half of its key (MODEL §5.3, §5.4)."""
    _, keys = seed_keys(_as_key(key), config.n_seeds)
    with precision(config):
        config = config.cast()
        return _initialise(config.student, keys, config.d_in, config.d_out, config.n_teachers, config.float_dtype)


@eqx.filter_jit
@pin_matmul_precision
def _initialise(student, keys, d_in, d_out, n_teachers, float_dtype):
    # the student and the sizes only, not the whole simulation: simulations that differ in their
    # engine, curriculum or regulariser structure share this program
    def one(k):
        return student.initialise(jax.random.split(k)[0], d_in=d_in, d_out=d_out, n_teachers=n_teachers)

    students = jax.vmap(one)(keys)
    # strong dtypes, as the states the engine returns (a weak type would retrace the next chunk)
    return jax.tree.map(lambda x: x.astype(float_dtype), students)


def _per_seed(config: Simulation, init: Student) -> Student:
    """``init`` with a leading seed axis (a shared state is broadcast to every seed)."""
    if _check_init(config, init) == 0:
        return init
    return jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (config.n_seeds, *jnp.shape(x))), init)


def precision(config: Simulation):
    """Context manager enabling 64-bit JAX for a float64 config (a no-op context for float32)."""
    return jax.enable_x64(config.dtype == "float64")


def compile_count() -> int:
    """How many times :func:`run` has been traced (compiled) in this process."""
    return eqx.debug.get_num_traces(_run)


def run_chunked(
    config: Simulation,
    key: PRNGKeyArray,
    *,
    n_chunks: int,
    teachers: Float[Array, "..."] | None = None,
    init: Student | None = None,
    progress=None,
) -> Trajectory:
    """:func:`run` in ``n_chunks`` consecutive pieces of equal length, concatenated.

    The result equals ``run(config, key, ...)`` (one compile serves every chunk); use it
    to report progress or to bound the memory of the records of one call.

    Args:
        n_chunks: must divide ``n_save − 1`` (and ``(n_save − 1)/weights_every`` when weights
            are recorded).
        progress: optional callable ``progress(chunk_index)`` called after each chunk.
    """
    intervals = (config.grid.n_save - 1) // (config.recording.weights_every if config.recording.weights else 1)
    if n_chunks < 1 or intervals % n_chunks:
        raise ValueError(f"n_chunks={n_chunks} must be a positive divisor of {intervals} (the recording intervals"
                         + (" of the weights)." if config.recording.weights else ")."))
    chunk = _chunk(config, n_chunks)
    if teachers is None:
        teachers = make_teachers(config, key)
    # Every chunk gets a per-seed initial state, so all chunks share one compiled program.
    init = initial_students(config, key) if init is None else _per_seed(config, init)
    pieces = []
    for i in range(n_chunks):
        piece = run(chunk, key, teachers=teachers, init=init, start_step=i * chunk.n_steps)
        init = piece.final
        pieces.append(piece)
        if progress is not None:
            progress(i)
    with precision(config):
        return _concatenate(pieces)


def run_stacked_chunked(configs, key, *, n_chunks: int, teachers=None, init=None, progress=None) -> list[Trajectory]:
    """:func:`run_stacked` in ``n_chunks`` consecutive pieces (as :func:`run_chunked`)."""
    configs = [c.with_block_count() for c in configs]
    first = configs[0]
    intervals = (first.grid.n_save - 1) // (first.recording.weights_every if first.recording.weights else 1)
    if n_chunks < 1 or intervals % n_chunks:
        raise ValueError(f"n_chunks={n_chunks} must be a positive divisor of {intervals} (the recording intervals).")
    chunks = [_chunk(c, n_chunks) for c in configs]
    key = _as_key(key)
    teachers = [None] * len(configs) if teachers is None else list(teachers)
    teachers = [make_teachers(c, key) if t is None else t for c, t in zip(configs, teachers)]
    init = [None] * len(configs) if init is None else list(init)
    init = [initial_students(c, key) if i is None else _per_seed(c, i) for c, i in zip(configs, init)]
    pieces = []
    for i in range(n_chunks):
        piece = run_stacked(chunks, key, teachers=teachers, init=init, start_step=i * chunks[0].n_steps)
        init = [p.final for p in piece]
        pieces.append(piece)
        if progress is not None:
            progress(i)
    with precision(first):
        return [_concatenate([p[v] for p in pieces]) for v in range(len(configs))]


def _chunk(config: Simulation, n_chunks: int) -> Simulation:
    """One of ``n_chunks`` equal consecutive pieces of ``config``'s time grid."""
    grid = config.grid.replace(t_total=config.n_steps * config.grid.dt / n_chunks, n_save=(config.grid.n_save - 1) // n_chunks + 1)
    with deriving():
        return config.replace(grid=grid, recording=config.recording.replace(n_blocks=config.block_count))


@eqx.filter_jit  # one program per trajectory structure instead of an eager op per leaf shape
def _concatenate(pieces: list[Trajectory]) -> Trajectory:
    """Join chunk trajectories along time. Consecutive chunks share one time point; the
    later chunk's record of it is kept, because only the run's very last record is
    labelled with the block that ends there."""

    def join(*leaves):
        return jnp.concatenate([x[:, :-1] for x in leaves[:-1]] + [leaves[-1]], axis=1)

    last = pieces[-1]
    fields = ("t", "block", "task", "loss", "closing_loss", "minibatch_loss", "gates", "path_norms", "similarity", "context_alignment")
    joined = {f: join(*[getattr(p, f) for p in pieces]) for f in fields}
    weights = None
    if last.weights is not None:
        weights = jax.tree.map(join, *[p.weights for p in pieces])
    status = jnp.max(jnp.stack([p.status for p in pieces]), axis=0)
    return Trajectory(weights=weights, final=last.final, status=status, **joined)
