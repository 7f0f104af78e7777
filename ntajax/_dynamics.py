"""The learning dynamics: one vector field for every engine (MODEL §5.1).

Each parameter group θ follows gradient flow on L = L_task + R with its own time constant,

    τ_θ dθ/dt = −∇_θ L(θ; W*(t), Σ̂),

with Σ̂ = I for the expected flow and the minibatch covariance in sampled mode (§5.2). The
task gradient is the spec's closed form (§4.1) and the regulariser's comes from autodiff
of its definition (§4.2), so the field is exactly the spec's for every student kind.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from ._curricula.clock import block_of_time
from ._losses import Regulariser
from ._students.base import LinearStudent, StudentModel


def target_from_weights(weights: Float[Array, " n_targets"], teachers: Float[Array, "n_targets d_out d_in"]):
    """W*(t) = Σ_m w_m W*_m."""
    return jnp.tensordot(weights, teachers, axes=1)


def velocity(
    student: LinearStudent,
    target: Float[Array, "d_out d_in"],
    input_covariance: Float[Array, "d_in d_in"] | None,
    model: StudentModel,
    regulariser: Regulariser,
    noise_term: Float[Array, "d_out d_in"] | None = None,
) -> LinearStudent:
    """dθ/dt = −∇_θ L / τ_θ for every parameter group (a student-shaped pytree).

    The task gradient is the closed form of MODEL §4.1 (one product G = E Σ̂); the
    regulariser's gradient comes from autodiff of :class:`ntajax.Regulariser`, whose norms
    carry the spec's subgradients. The time constants are the model's
    (:meth:`StudentModel.time_constants`). Tests check the sum against autodiff of the full loss.

    ``noise_term``: σ·N, the teacher-noise part of the minibatch gradient (G = E Σ̂ + σ N with
    N = (1/B) Σ_b ε_b x_bᵀ, :class:`ntajax._gradient.NoisyBatch`); ``None`` without noise.
    """
    residual = target - student.effective_map()
    G = residual if input_covariance is None else residual @ input_covariance
    if noise_term is not None:
        G = G + noise_term
    task = student.task_gradient(G)
    reg = jax.grad(regulariser)(student)
    taus = model.time_constants(student)
    return jax.tree.map(lambda g, r, tau: -(g + r) / tau, task, reg, taus)


def ode_vector_field(t: Float[Array, ""], student: LinearStudent, args) -> LinearStudent:
    """f(t, y, args) in the form ``diffrax.ODETerm`` expects; expected gradient only.

    ``args = (model, regulariser, curriculum, teachers, switch_times)``; the block is read from
    ``t`` against the same switch times that the solver treats as jumps.
    """
    model, regulariser, curriculum, teachers, switches = args
    block: Int[Array, ""] = block_of_time(t, switches)
    weights = curriculum.weights(t=t, block=block, step=jnp.int32(0), key=jax.random.key(0), n_targets=teachers.shape[0])
    return velocity(student, target_from_weights(weights, teachers), None, model, regulariser)
