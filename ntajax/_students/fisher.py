"""Analytic diagonal Fisher information of the students (MODEL §9).

The model-based (true) Fisher of the Gaussian output model y ~ N(ŷ(x; θ), σ²I) with
x ~ N(0, I) and σ = 1 (σ² is absorbed into λ_EWC):

    F(θ) = E_x E_{y|x} [s sᵀ],   s = ∇_θ log p(y | x, θ) = J(x)ᵀ (y − ŷ(x)),

so F = E_x[J(x)ᵀ J(x)] with J = ∂ŷ/∂θ. Its diagonal needs no sampling, does not depend on
the labels and costs O(#params). Per student (MODEL §9):

* gated (§2.1):        F[(W_p)_ij] = c_p²,           F[c_p] = ‖W_p‖²_F;
* per-neuron (§2.2):   F[(W_p)_ij] = c_{p,i}²,       F[c_{p,i}] = ‖(W_p)_{i,:}‖²;
* two-layer (§2.3):    F[(W1)_kj] = ‖W2[:, k]‖²,     F[(W2)_ik] = ‖W1[k, :]‖²;
* a gated student with one path and its gate held at 1 is the ungated student ŷ = Wx, whose
  Fisher is 1 for every weight: diagonal EWC is then an isotropic L2 pull (MODEL §9).

The diagonal drops the cross terms (e.g. F[c_p, c_q] = ⟨W_p, W_q⟩_F). This is *not* the
empirical Fisher (squared gradients of the loss on teacher labels), which vanishes at a
perfect fit in noise-free teacher–student settings and silently switches EWC off.

New student kinds register their own closed form with ``analytic_fisher.register``.
"""

import functools

import jax.numpy as jnp

from .base import Student
from .linear import GatedStudent, PerNeuronStudent, TwoLayerStudent


@functools.singledispatch
def analytic_fisher(student: Student) -> Student:
    """Diagonal of the analytic Gaussian Fisher at ``student`` (MODEL §9).

    Args:
        student: any registered student (one example, no seed axis; ``jax.vmap`` for seeds).

    Returns:
        A student of the same type and shapes whose leaves are F_i ≥ 0 for every parameter.

    Raises:
        TypeError: for a student type without a registered closed form.
    """
    raise TypeError(
        f"analytic_fisher has no closed form for {type(student).__name__}; register one with "
        "@ntajax.analytic_fisher.register (MODEL §9 gives the gated, per-neuron and two-layer forms)."
    )


@analytic_fisher.register
def _gated(student: GatedStudent) -> GatedStudent:
    # ∂ŷ/∂(W_p)_ij = c_p x_j e_i  →  E‖·‖² = c_p²;   ∂ŷ/∂c_p = W_p x  →  E‖·‖² = ‖W_p‖²_F.
    W, c = student.W, student.c
    return GatedStudent(W=jnp.broadcast_to((c**2)[:, None, None], W.shape), c=jnp.sum(W**2, axis=(1, 2)))


@analytic_fisher.register
def _per_neuron(student: PerNeuronStudent) -> PerNeuronStudent:
    # ∂ŷ_i/∂(W_p)_ij = c_{p,i} x_j  →  c_{p,i}²;   ∂ŷ_i/∂c_{p,i} = (W_p)_{i,:}·x  →  ‖(W_p)_{i,:}‖².
    W, c = student.W, student.c
    return PerNeuronStudent(W=jnp.broadcast_to((c**2)[:, :, None], W.shape), c=jnp.sum(W**2, axis=-1))


@analytic_fisher.register
def _two_layer(student: TwoLayerStudent) -> TwoLayerStudent:
    # ∂ŷ/∂(W1)_kj = W2[:, k] x_j  →  ‖W2[:, k]‖²;   ∂ŷ_i/∂(W2)_ik = (W1 x)_k  →  ‖W1[k, :]‖².
    W1, W2 = student.W1, student.W2
    return TwoLayerStudent(
        W1=jnp.broadcast_to(jnp.sum(W2**2, axis=0)[:, None], W1.shape),
        W2=jnp.broadcast_to(jnp.sum(W1**2, axis=1)[None, :], W2.shape),
    )
