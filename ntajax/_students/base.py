"""The student protocol: a parameter state (:class:`Student`) and the model that owns it
(:class:`StudentModel`).

A **student state** is an Equinox module whose array leaves are the trained parameters of ONE
example network (the Euler scan steps every inexact leaf; trajectories store it as ``final`` and
``weights``). A **student model** is an Equinox module holding what does not train: the
architecture (static fields such as the number of paths) and the hyperparameters a sweep
varies, as float array leaves (time constants, initial scale). The model builds initial states
and says how fast each leaf learns.

What each engine needs (the extension protocol):

* every engine: ``StudentModel.initialise``, ``StudentModel.time_constants`` and the state's
  ``__call__`` (one input vector → one output vector);
* the closed-form engines (Wishart-sampled and expected gradients, ``EulerScan``,
  ``SubspaceScan``, ``Diffrax``) need a *linear* student: ``effective_map``, ``task_gradient``,
  ``gate_vector`` and ``path_weights`` of :class:`LinearStudent`. A linear student's minibatch
  loss depends on the batch only through Σ̂ = XᵀX/B (MODEL §4.1), so those engines never draw X;
* ``MinibatchScan`` trains any state on explicit minibatches with autodiff gradients.

A user's own student is two small classes in the user's own file; nothing in ntajax changes.
"""

import abc
import dataclasses

import jax.numpy as jnp

import equinox as eqx
import jax
from jaxtyping import Array, Float, PRNGKeyArray

from .._parameters import check_positive, scalar_field_names, scalar_fields


class Student(eqx.Module):
    """Abstract student state: the trained parameters of one network."""

    @abc.abstractmethod
    def __call__(self, x: Float[Array, " d_in"]) -> Float[Array, " d_out"]:
        """Prediction ŷ(x) for one input vector."""

    def gate_vector(self) -> Float[Array, " n_gates"]:
        """All gate entries flattened: the c of the gate regulariser (MODEL §4.2).

        Students without gates return an empty vector (no gate regulariser acts)."""
        return jnp.zeros((0,))

    def path_weights(self) -> Float[Array, "paths rows d_in"] | None:
        """Per-path weight blocks, compared with the teachers by the similarity matrix, and the
        target of the W column penalty; ``None`` where paths are not defined."""
        return None


class LinearStudent(Student):
    """Abstract linear student: ŷ = W_eff x, with the closed-form task gradient of MODEL §4.1."""

    @abc.abstractmethod
    def effective_map(self) -> Float[Array, "d_out d_in"]:
        """The input–output map W_eff of the student."""

    @abc.abstractmethod
    def gate_vector(self) -> Float[Array, " n_gates"]:
        """All gate entries flattened: the c of the regulariser (MODEL §4.2)."""

    @abc.abstractmethod
    def path_weights(self) -> Float[Array, "paths rows d_in"]:
        """Per-path weight blocks, compared with the teachers by the similarity matrix."""

    def task_gradient(self, residual_covariance: Float[Array, "d_out d_in"]) -> "LinearStudent":
        """∇_θ L̂_task given G = E Σ̂ (MODEL §4.1).

        The minibatch loss depends on the batch only through Σ̂, and every gradient of §4.1 is
        linear in G = (W* − W_eff) Σ̂: ∇_θ L̂ = −(∂W_eff/∂θ)ᵀ G, one vector–Jacobian product of
        :meth:`effective_map`. That is the default here, exact for any linear student; the
        built-in students override it with the spec's closed forms.
        """
        _, pullback = jax.vjp(lambda student: student.effective_map(), self)
        (gradient,) = pullback(-residual_covariance)
        return gradient

    def __call__(self, x: Float[Array, " d_in"]) -> Float[Array, " d_out"]:
        return self.effective_map() @ x


_TIME_CONSTANTS: dict[type, tuple[str, ...]] = {}


class StudentModel(eqx.Module):
    """Abstract student model: architecture plus the hyperparameters of one student kind.

    Subclasses hold their time constants and initial scale as float array leaves (converted
    with :func:`ntajax.traced`), so ``student.tau_c`` can be swept without recompiling, and the
    architecture as static fields. Scalar float fields whose names start with ``tau`` are the
    time constants: they must be positive and are checked against the Euler step.
    """

    def __check_init__(self):
        self.check_values(scalar_fields(self))

    def check_values(self, values: dict[str, float | None]) -> None:
        """Check concrete values of the traced fields (a sweep point's, or this model's own):
        by default, every time constant is positive and finite."""
        for name in self.time_constant_names:
            check_positive(type(self).__name__, name, values.get(name))

    @abc.abstractmethod
    def initialise(self, key: PRNGKeyArray, *, d_in: int, d_out: int, n_teachers: int) -> Student:
        """The default initial state (MODEL §5.3) for a task of these sizes."""

    @abc.abstractmethod
    def time_constants(self, state: Student) -> Student:
        """A state-shaped pytree whose leaves are the time constant τ of each leaf (MODEL §5.1)."""

    def replace(self, **changes) -> "StudentModel":
        """A copy with some fields changed (re-validated)."""
        return dataclasses.replace(self, **changes)

    def path_gates(self, gates: Float[Array, "T G"]) -> Float[Array, "T P"] | None:
        """The recorded gate vectors (``Trajectory.gates`` of one seed) as one gate per path,
        (time, path), for ntajax's regime classifier; ``None`` when the student has no single gate
        per path (then its regime is "undefined"). Default: ``None``."""
        del gates
        return None

    @property
    def time_constant_names(self) -> tuple[str, ...]:
        """The fields of this model that are time constants (checked against dt): by default the
        scalar float fields named ``tau…``."""
        cls = type(self)
        if cls not in _TIME_CONSTANTS:  # a property of the class's fields: computed once per class
            _TIME_CONSTANTS[cls] = tuple(name for name in scalar_field_names(self) if name.startswith("tau"))
        return _TIME_CONSTANTS[cls]
