"""Coordinates in which the Euler engine integrates a student (MODEL §5.1–5.2).

A :class:`Frame` maps a student to the state the scan carries, computes the velocity and the
records in those coordinates, and maps the state back. Two kinds:

* :class:`FullFrame` — the student itself (every student, both gradient modes).
* :class:`SubspaceFrame` / :class:`RowSubspaceFrame` — exact reduced coordinates of the
  *expected*-gradient flow of the gated (§2.1) and per-neuron (§2.2) students.

Why the reduction is exact. In expected mode (Σ̂ = I) and without the W column penalty
(λ_W = 0), τ_w dW_p/dt = c_p E with E = W*(t) − Σ_q c_q W_q (§5.1). Every W_p therefore moves
inside the span of the target matrices {W*_m} and the initial weights {W_q(0)}; the same holds
for each Euler step. With an orthonormal basis Q of that span (K = M_total + P vectors of
R^{d_out·d_in}), W_p = Q a_p and the flow reads

    τ_w da_p/dt = c_p e,   τ_c dc_p/dt = a_p·e − ∂R/∂c_p,   e = t(t) − Σ_q c_q a_q,

where t(t) are the coefficients of the target. The Euler iterates are the same as in full
coordinates up to floating-point rounding, at K/(d_out·d_in) of the cost (8 numbers instead of
400 for the Fig. 2 sizes). Row-wise quantities (the row cosines of the similarity matrix, §7.1)
come from the per-row Gram tensor N[i, k, l] = ⟨Q_k[i, :], Q_l[i, :]⟩. For per-neuron gating
each output row moves in its own span {W*_m[i, :], W_q(0)[i, :]}, so the basis is per row.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._dynamics import target_from_weights, velocity
from .._gradient import NoisyBatch
from .._losses import task_loss
from .._recording import noisy_loss, record
from .._students.base import Student
from .._students.linear import Gated, GatedStudent, PerNeuron, PerNeuronStudent


class Frame(eqx.Module):
    """Abstract coordinates for the Euler scan.

    ``records_in_loop``: whether the scan computes each save-point record as it goes (needed
    when a record depends on the step's random inputs, or when the state is large), or stores
    the state at every save point and computes all records afterwards in one vectorised pass
    (cheaper for small reduced states).
    """

    records_in_loop = True

    @abc.abstractmethod
    def encode(self, student: Student):
        """The scan state of ``student``."""

    @abc.abstractmethod
    def decode(self, state) -> Student:
        """The student of a scan state."""

    @abc.abstractmethod
    def velocity(self, state, weights: Float[Array, " n_targets"], input_covariance, config):
        """dθ/dt in these coordinates for curriculum weights ``weights`` (MODEL §5.1)."""

    def before_step(self, state, *, block, previous_block, config):
        """Hook called before every Euler step with the step's block index and that of the
        previous step (they differ at a block switch); returns the state to step from.
        The default does nothing; continual-learning methods refresh anchors here (§9)."""
        del block, previous_block, config
        return state

    @abc.abstractmethod
    def record(self, state, *, t, block, weights, previous_weights, input_covariance, config) -> dict:
        """The save-point record of :func:`ntajax._recording.record`, from the scan state."""

    def expected_loss(self, state, weights: Float[Array, " n_targets"], config) -> Float[Array, ""]:
        """The ``loss`` a record at this state would hold: the expected loss against the target of
        ``weights``, teacher-noise floor included (what a :class:`ntajax.LossTriggered` curriculum
        compares with its threshold)."""
        raise NotImplementedError(f"{type(self).__name__} does not compute the expected loss in the scan.")


class FullFrame(Frame):
    """The student's own parameters (no reduction)."""

    teachers: Float[Array, "n_targets d_out d_in"]

    def encode(self, student):
        return student

    def decode(self, state):
        return state

    def velocity(self, state, weights, input_covariance, config):
        noise_term = None
        if isinstance(input_covariance, NoisyBatch):  # teacher output noise, sampled mode
            noise_term = config.teachers.noise * input_covariance.cross
            input_covariance = input_covariance.covariance
        return velocity(state, target_from_weights(weights, self.teachers), input_covariance, config.student,
                        config.regulariser, noise_term)

    def record(self, state, *, t, block, weights, previous_weights, input_covariance, config):
        return record(state, t=t, block=block, weights=weights, previous_weights=previous_weights, teachers=self.teachers,
                      input_covariance=input_covariance, n_teachers=config.n_teachers, dtype=config.float_dtype,
                      noise=config.teachers.noise)

    def expected_loss(self, state, weights, config):
        loss = task_loss(state.effective_map(), target_from_weights(weights, self.teachers))
        return noisy_loss(loss, config.teachers.noise, config.d_out)


def checked_teachers(teachers, regulariser):
    """``teachers``, with a run-time error if λ_W ≠ 0 (checked once per run, outside the scan:
    the W column penalty moves weights out of the invariant subspace)."""
    return eqx.error_if(
        teachers, regulariser.lambda_w != 0,
        "engine='subspace' needs lambda_w = 0 (the W column penalty leaves the invariant subspace); use engine='scan'.",
    )


_UNROLL_LIMIT = 16


def _sum(x, axis):
    """Σ along ``axis``. Short axes are summed as explicit slices: XLA then fuses the whole Euler
    step into a few elementwise loops, where a reduction would end a fusion (on CPU, each extra
    kernel costs more than the arithmetic of these tiny states)."""
    axis = axis % x.ndim
    n = x.shape[axis]
    if n > _UNROLL_LIMIT:
        return jnp.sum(x, axis=axis)
    parts = [jax.lax.index_in_dim(x, k, axis, keepdims=False) for k in range(n)]
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _dot(a, b, axis=-1):
    """Σ a·b along ``axis`` (broadcast product and :func:`_sum`)."""
    return _sum(a * b, axis)


def _gate_force_explicit(c, regulariser):
    """∂R/∂c of the gate regulariser (§4.2) written out with :func:`_sum`: the spec's subgradients
    λ_norm(‖c‖_k − 1)·∂‖c‖_k/∂c_j − λ_nonneg·1[c_j < 0], zero at the kinks (tested against
    autodiff of :func:`ntajax.gate_regulariser`)."""
    if regulariser.norm_order == 1:
        norm = _sum(jnp.abs(c), -1)
        direction = jnp.sign(c)
    else:
        norm = jnp.sqrt(_sum(c * c, -1))
        direction = jnp.where(norm > 0, c / jnp.where(norm > 0, norm, 1.0), 0.0)
    return regulariser.lambda_norm * (norm - 1.0) * direction - regulariser.lambda_nonneg * (c < 0)


def _row_cosines(dot, norm_a, norm_b, eps=1e-12):
    """Mean over rows of dot/(‖a‖‖b‖ + eps), as :func:`ntajax.metrics.row_cosine`."""
    return jnp.mean(dot / (norm_a * norm_b + eps), axis=-1)


class _Coefficients(eqx.Module):
    """Reduced gated state: path coefficients a (P, K) and gates c (P,)."""

    a: Float[Array, "paths K"]
    c: Float[Array, " paths"]


class SubspaceFrame(Frame):
    """Exact reduced coordinates of the gated student's expected flow (module docstring).

    The reduced state is a few numbers per seed, so records are computed after the scan.

    Attributes:
        basis: Q of shape (d_out·d_in, K), orthonormal columns spanning the targets and the
            initial path weights.
        targets: target coefficients (n_targets, K).
        gram: per-row Gram tensor N (d_out, K, K).
        teacher_rows: N_i t_m for the M base teachers, (M, d_out, K).
        teacher_row_norms: ‖W*_m[i, :]‖, (M, d_out).
        shape: (d_out, d_in).
    """

    records_in_loop = False
    basis: Float[Array, "D K"]
    targets: Float[Array, "n_targets K"]
    gram: Float[Array, "d_out K K"]
    teacher_rows: Float[Array, "M d_out K"]
    teacher_row_norms: Float[Array, "M d_out"]
    shape: tuple[int, int] = eqx.field(static=True)

    @classmethod
    def build(cls, config, teachers, init: GatedStudent) -> "SubspaceFrame":
        n_targets, d_out, d_in = teachers.shape
        spanning = jnp.concatenate([teachers.reshape(n_targets, -1), init.W.reshape(init.W.shape[0], -1)])
        basis, _ = jnp.linalg.qr(spanning.T)  # (D, K) orthonormal columns, K = min(D, n_targets + P)
        rows = basis.T.reshape(-1, d_out, d_in)  # (K, d_out, d_in)
        gram = jnp.einsum("kij,lij->ikl", rows, rows)
        targets = teachers.reshape(n_targets, -1) @ basis
        base = targets[: config.n_teachers]
        return cls(
            basis=basis, targets=targets, gram=gram, teacher_rows=jnp.einsum("ikl,ml->mik", gram, base),
            teacher_row_norms=jnp.sqrt(jnp.sum(teachers[: config.n_teachers] ** 2, axis=-1)), shape=(d_out, d_in),
        )

    def encode(self, student):
        return _Coefficients(a=student.W.reshape(student.W.shape[0], -1) @ self.basis, c=student.c)

    def decode(self, state):
        return GatedStudent(W=(state.a @ self.basis.T).reshape(state.a.shape[0], *self.shape), c=state.c)

    def _combine(self, weights, vectors):
        """Σ_j w_j v_j for weights (J,) and vectors (J, K)."""
        return _dot(weights[:, None], vectors, axis=0)

    def velocity(self, state, weights, input_covariance, config):
        del input_covariance  # expected gradient only
        residual = self._combine(weights, self.targets) - self._combine(state.c, state.a)
        da = state.c[:, None] * residual[None] / config.student.tau_w
        dc = (_dot(state.a, residual[None]) - _gate_force_explicit(state.c, config.regulariser)) / config.student.tau_c
        return _Coefficients(a=da, c=dc)

    def expected_loss(self, state, weights, config):
        residual = self._combine(weights, self.targets) - self._combine(state.c, state.a)
        return noisy_loss(0.5 * jnp.sum(residual**2), config.teachers.noise, config.d_out)

    def _row_dots(self, x, y):
        """⟨X[i, :], Y[i, :]⟩ per row for coefficient vectors x (..., K), y (..., K) → (..., d_out).

        Records are computed after the scan for all save points at once (vmapped), where this
        contraction with the fixed Gram tensor becomes one matrix product.
        """
        gx = jnp.einsum("...k,ikl->...il", x, self.gram)  # N_i x
        return jnp.sum(gx * y[..., None, :], axis=-1)

    def _row_norms(self, coefficients):
        """‖X[i, :]‖ per row for coefficient vectors (..., K) → (..., d_out)."""
        return jnp.sqrt(jnp.maximum(self._row_dots(coefficients, coefficients), 0.0))

    def record(self, state, *, t, block, weights, previous_weights, input_covariance, config):
        del input_covariance
        target = self._combine(weights, self.targets)
        effective = self._combine(state.c, state.a)
        path_rows = self._row_norms(state.a)  # (P, d_out)
        dots = jnp.einsum("mik,pk->mpi", self.teacher_rows, state.a)
        similarity = _row_cosines(dots, self.teacher_row_norms[:, None, :], path_rows[None])
        context_dot = self._row_dots(target, effective)
        return dict(
            t=jnp.asarray(t, config.float_dtype),
            block=jnp.asarray(block, jnp.int32),
            task=jnp.argmax(weights).astype(jnp.int32),
            loss=noisy_loss(0.5 * jnp.sum((target - effective) ** 2), config.teachers.noise, config.d_out),
            closing_loss=noisy_loss(0.5 * jnp.sum((self._combine(previous_weights, self.targets) - effective) ** 2),
                                    config.teachers.noise, config.d_out),
            minibatch_loss=jnp.asarray(jnp.nan, config.float_dtype),
            gates=state.c,
            path_norms=jnp.sqrt(jnp.sum(state.a**2, axis=-1)),
            similarity=similarity,
            context_alignment=_row_cosines(context_dot, self._row_norms(target), self._row_norms(effective)),
        )


class _RowCoefficients(eqx.Module):
    """Reduced per-neuron state: coefficients a (P, d_out, K) and gates c (P, d_out)."""

    a: Float[Array, "paths d_out K"]
    c: Float[Array, "paths d_out"]


class RowSubspaceFrame(Frame):
    """Exact reduced coordinates of the per-neuron student's expected flow: a basis per row.

    Attributes:
        basis: Q of shape (d_out, d_in, K), orthonormal columns per row.
        targets: target coefficients (n_targets, d_out, K).
        n_teachers: M, the base teachers compared by the similarity matrix.
    """

    records_in_loop = False
    basis: Float[Array, "d_out d_in K"]
    targets: Float[Array, "n_targets d_out K"]
    n_teachers: int = eqx.field(static=True)

    @classmethod
    def build(cls, config, teachers, init: PerNeuronStudent) -> "RowSubspaceFrame":
        spanning = jnp.concatenate([teachers, init.W])  # (n_targets + P, d_out, d_in)
        basis, _ = jnp.linalg.qr(jnp.transpose(spanning, (1, 2, 0)))  # per row: (d_in, K)
        targets = jnp.einsum("mij,ijk->mik", teachers, basis)
        return cls(basis=basis, targets=targets, n_teachers=config.n_teachers)

    def encode(self, student):
        return _RowCoefficients(a=jnp.einsum("pij,ijk->pik", student.W, self.basis), c=student.c)

    def decode(self, state):
        return PerNeuronStudent(W=jnp.einsum("pik,ijk->pij", state.a, self.basis), c=state.c)

    def velocity(self, state, weights, input_covariance, config):
        del input_covariance
        residual = jnp.tensordot(weights, self.targets, axes=1) - jnp.sum(state.c[..., None] * state.a, axis=0)
        da = state.c[..., None] * residual[None] / config.student.tau_w
        force = _gate_force_explicit(state.c.reshape(-1), config.regulariser).reshape(state.c.shape)
        dc = (jnp.sum(state.a * residual[None], axis=-1) - force) / config.student.tau_c
        return _RowCoefficients(a=da, c=dc)

    def expected_loss(self, state, weights, config):
        effective = jnp.sum(state.c[..., None] * state.a, axis=0)
        loss = task_loss(effective, jnp.tensordot(weights, self.targets, axes=1))
        return noisy_loss(loss, config.teachers.noise, config.d_out)

    def record(self, state, *, t, block, weights, previous_weights, input_covariance, config):
        del input_covariance
        target = jnp.tensordot(weights, self.targets, axes=1)  # (d_out, K)
        effective = jnp.sum(state.c[..., None] * state.a, axis=0)
        base = self.targets[: self.n_teachers]
        dots = jnp.einsum("mik,pik->mpi", base, state.a)
        norm = lambda x: jnp.sqrt(jnp.sum(x**2, axis=-1))  # noqa: E731
        return dict(
            t=jnp.asarray(t, config.float_dtype),
            block=jnp.asarray(block, jnp.int32),
            task=jnp.argmax(weights).astype(jnp.int32),
            loss=noisy_loss(task_loss(effective, target), config.teachers.noise, config.d_out),
            closing_loss=noisy_loss(task_loss(effective, jnp.tensordot(previous_weights, self.targets, axes=1)),
                                    config.teachers.noise, config.d_out),
            minibatch_loss=jnp.asarray(jnp.nan, config.float_dtype),
            gates=state.c.reshape(-1),
            path_norms=jnp.sqrt(jnp.sum(state.a**2, axis=(1, 2))),
            similarity=_row_cosines(dots, norm(base)[:, None], norm(state.a)[None]),
            context_alignment=_row_cosines(jnp.sum(target * effective, axis=-1), norm(target), norm(effective)),
        )


SUBSPACE_FRAMES = {Gated: SubspaceFrame, PerNeuron: RowSubspaceFrame}
"""The reduced frame of each student model that :class:`ntajax.SubspaceScan` supports."""
