"""The multi-head linear student (see :mod:`ntajax._engines.multi_head` for output modes and the engine).

    h(x) = [c_1 W_1 x; …; c_P W_P x] ∈ R^{P·H},     ŷ_m(x) = V_m h(x),   m = 0 … M − 1,

with W_p ∈ R^{H×d_in} (H = d_out, MODEL §1), gates c ∈ R^P and one head V_m ∈ R^{d_out×P·H} per
task. :class:`MultiHead` is its model, with its analytic Fisher (MODEL §9 applied to all heads'
outputs). It only trains under :class:`ntajax.MultiHeadScan`: its ``effective_map`` stacks every
head's map (M·d_out rows), which the plain engine cannot compare with a d_out-row target.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .fisher import analytic_fisher
from .base import LinearStudent
from .linear import _PathModel, weight_std
from .._parameters import traced


class MultiHeadStudent(LinearStudent):
    """Gated hidden layer with one linear head per task (module docstring).

    Attributes:
        W: path weights, shape (P, H, d_in) with H = d_out.
        c: gates, shape (P,).
        V: heads, shape (M, d_out, P·H).
    """

    W: Float[Array, "paths hidden d_in"]
    c: Float[Array, " paths"]
    V: Float[Array, "heads d_out units"]

    def hidden_map(self) -> Float[Array, "units d_in"]:
        """A with h = A x: the gated hidden layer [c_p W_p]_p, shape (P·H, d_in)."""
        return (self.c[:, None, None] * self.W).reshape(-1, self.W.shape[-1])

    def head_maps(self) -> Float[Array, "heads d_out d_in"]:
        """The input–output map V_m A of every head, shape (M, d_out, d_in)."""
        return jnp.einsum("mou,uj->moj", self.V, self.hidden_map())

    def effective_map(self):
        """All heads stacked, shape (M·d_out, d_in): x ↦ [ŷ_0; …; ŷ_{M−1}]."""
        maps = self.head_maps()
        return maps.reshape(-1, maps.shape[-1])

    def gate_vector(self):
        return self.c

    def path_weights(self):
        return self.W

    def task_gradient(self, residual_covariance):
        """∇ of ½ Σ_m tr(E_m Σ̂ E_mᵀ) given the stacked G = [E_m Σ̂]_m, shape (M·d_out, d_in)."""
        n_heads, d_out, _ = self.V.shape
        G = residual_covariance.reshape(n_heads, d_out, -1)
        A = self.hidden_map()
        dV = -jnp.einsum("moj,uj->mou", G, A)
        dA = -jnp.einsum("mou,moj->uj", self.V, G).reshape(self.W.shape)  # ∂L/∂(c_p W_p)
        return MultiHeadStudent(W=self.c[:, None, None] * dA, c=jnp.einsum("pij,pij->p", self.W, dA), V=dV)



class MultiHead(_PathModel):
    """The multi-head student's model (states: :class:`MultiHeadStudent`): P gated paths of
    width d_out and one head per base teacher.

    Args:
        n_paths: P.
        tau_w: time constant of the first layer and of the heads.
        tau_c: time constant of the gates.
        init_scale: σ₀; W and V start with std σ₀/√d_in (both layers, as for the two-layer
            network, MODEL §5.3), gates at 0.5.
    """

    n_paths: int = eqx.field(static=True, default=2)
    tau_w: Float[Array, ""] = eqx.field(default=1.3, converter=traced)
    tau_c: Float[Array, ""] = eqx.field(default=0.03, converter=traced)
    init_scale: Float[Array, ""] = eqx.field(default=0.01, converter=traced)

    def time_constants(self, state):
        return MultiHeadStudent(W=self.tau_w, c=self.tau_c, V=self.tau_w)

    def initialise(self, key, *, d_in, d_out, n_teachers):
        k1, k2 = jax.random.split(key)
        std = weight_std(self.init_scale, d_in)
        units = self.n_paths * d_out
        return MultiHeadStudent(
            W=std * jax.random.normal(k1, (self.n_paths, d_out, d_in)),
            c=jnp.full((self.n_paths,), 0.5),
            V=std * jax.random.normal(k2, (n_teachers, d_out, units)),
        )


@analytic_fisher.register
def _multi_head(student: MultiHeadStudent) -> MultiHeadStudent:
    """Gaussian Fisher over all M·d_out outputs (MODEL §9 applied to ŷ = [V_m A x]_m):
    F[(W_p)_kj] = c_p² Σ_m ‖V_m[:, (p, k)]‖², F[c_p] = Σ_m ‖V_m[:, p-block] W_p‖²_F,
    F[(V_m)_{i,(p,k)}] = c_p² ‖(W_p)_{k,:}‖²."""
    P, H, _ = student.W.shape
    column = jnp.sum(student.V**2, axis=(0, 1)).reshape(P, H)  # Σ_m Σ_i V_m[i, (p, k)]²
    blocks = student.V.reshape(student.V.shape[0], student.V.shape[1], P, H)
    through = jnp.einsum("mipk,pkj->mpij", blocks, student.W)
    unit = (student.c[:, None] ** 2 * jnp.sum(student.W**2, axis=-1)).reshape(-1)
    return MultiHeadStudent(
        W=jnp.broadcast_to((student.c[:, None] ** 2 * column)[:, :, None], student.W.shape),
        c=jnp.sum(through**2, axis=(0, 2, 3)),
        V=jnp.broadcast_to(unit[None, None, :], student.V.shape),
    )
