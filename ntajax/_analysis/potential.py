"""Block-size effective potential of the toy model, a heuristic (FIGURES.md A9).

A position x = (x₁, x₂) (x₁ plays the role of the specialisation w̄) moves in a potential whose
frame flips with the task. With the tiled window F of the smooth curriculum (MODEL §6.2, here
with t_ctx = T, period 2T and sharpness g, evaluated at t itself: no context offset, no phase
shift), the frame angle is φ(t) = arccos(clip(2F(t) − 1, −1, 1)) and x′ = R(φ(t)) x. Then

* V_lin(x, t) = −(1/τ_w) x′₁,
* V_quad(x, t; τ_b) = −¼ τ_b C |x′₁|^{3/2},
* V_wall(x) = (tanh(30(‖x‖ − 1)) + 1) ‖x‖³,
* V_tot = V_lin + V_quad + V_wall,

with C = (1/τ_c)(1/τ_w)·(2·½)·(2·0.4)·‖(−½, ½)‖² (= 1.6 for τ_c = 0.05, τ_w = 5) and T = 2τ_b.
The flow is the anisotropic overdamped gradient flow ẋ₁ = −(1/τ_w) ∂V_tot/∂x₁,
ẋ₂ = −∂V_tot/∂x₂, integrated with diffrax (the frame flips are passed as jump times).

The effective block-averaged losses of panel C are the first-order
L⁽¹⁾(w̄) = ‖y − e₁‖² + ‖y − e₂‖² − 1 with y = (½ + w̄, ½ − w̄) (which equals 4w̄²) and the
second-order L⁽²⁾(w̄; τ_b) = V_tot((w̄, 0), 0; τ_b) + V_tot((w̄, 0), 1.1T; τ_b).

Everything is float64: call these functions inside ``jax.enable_x64(True)``.
"""

import dataclasses

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from .._curricula.curriculum import smooth_context_weight


@dataclasses.dataclass(frozen=True)
class PotentialModel:
    """Constants of the A9 potential (defaults: FIGURES.md A9)."""

    tau_w: float = 5.0
    tau_c: float = 0.05
    tau_b: float = 1.0
    sharpness: float = 1000.0

    @property
    def coupling(self) -> float:
        """C = (1/τ_c)(1/τ_w)·(2·½)·(2·0.4)·‖(−½, ½)‖²."""
        return (1 / self.tau_c) * (1 / self.tau_w) * (2 * 0.5) * (2 * 0.4) * float(np.sum(np.array([-0.5, 0.5]) ** 2))

    @property
    def period(self) -> float:
        """T = 2τ_b (the window F has t_ctx = T and period 2T)."""
        return 2 * self.tau_b

    def window(self, t):
        """F(t): the tiled curriculum window with t_ctx = T, period 2T, sharpness g, at t itself."""
        T = self.period
        return smooth_context_weight(jnp.asarray(t), jnp.asarray(2 * T), T, self.sharpness)

    def switch_times(self, t1: float) -> np.ndarray:
        """Times in (0, t1) where the frame flips: 2F − 1 changes sign at x̃ = T/2, i.e. t = T/2 + kT."""
        T = self.period
        return np.arange(T / 2, t1, T)

    def frame_angle(self, t):
        """φ(t) = arccos(clip(2F(t) − 1, −1, 1)): 0 in task A, π in task B."""
        return jnp.arccos(jnp.clip(2 * self.window(t) - 1, -1.0, 1.0))

    def terms(self, x, t, tau_b: float | None = None) -> dict:
        """V_lin, V_quad, V_wall and V_tot at position(s) x (..., 2) and time t (broadcasts).

        ``tau_b`` sets the τ_b of V_quad (default: the model's own); the frame always uses the
        model's period T.
        """
        tau_b = self.tau_b if tau_b is None else tau_b
        x = jnp.asarray(x)
        phi = self.frame_angle(t)
        x1_rot = jnp.cos(phi) * x[..., 0] - jnp.sin(phi) * x[..., 1]  # first component of R(φ)x
        squared = jnp.sum(x**2, axis=-1)
        # ‖x‖ with a finite gradient at the origin (the wall term is flat there anyway)
        safe = jnp.where(squared > 0, squared, 1.0)
        radius = jnp.where(squared > 0, jnp.sqrt(safe), 0.0)
        lin = -(1 / self.tau_w) * x1_rot
        quad = -0.25 * tau_b * self.coupling * jnp.abs(x1_rot) ** 1.5
        wall = (jnp.tanh(30 * (radius - 1)) + 1) * radius**3
        return {"lin": lin, "quad": quad, "wall": wall, "total": lin + quad + wall}

    def total(self, x, t, tau_b: float | None = None):
        return self.terms(x, t, tau_b)["total"]

    def velocity(self, t, x, args=None):
        """(ẋ₁, ẋ₂) = (−(1/τ_w) ∂V_tot/∂x₁, −∂V_tot/∂x₂) at one position x (2,)."""
        grad = jax.grad(lambda y: self.total(y, t))(x)
        return -jnp.array([1 / self.tau_w, 1.0], dtype=grad.dtype) * grad

    def flow(self, starts, t1: float = 10.0, n_save: int = 300, at=(), rtol: float = 1e-8, atol: float = 1e-10):
        """Integrate the flow from each start (n, 2) over [0, t1] with diffrax (Tsit5, PID, jumps at the flips).

        Args:
            starts: (n, 2) initial positions.
            t1: end time; n_save: equally spaced save points over [0, t1].
            at: extra times at which the solution is read from diffrax's dense interpolant
                (the slices of panel B), without changing the save grid.

        Returns:
            ts: (n_save,) save times; xs: (n, n_save, 2); x_at: (n, len(at), 2).
        """
        ts = jnp.linspace(0.0, t1, n_save)
        jumps = jnp.asarray(self.switch_times(t1))
        at = jnp.asarray(at, dtype=ts.dtype).reshape(-1)

        def solve(x0):
            solution = diffrax.diffeqsolve(
                diffrax.ODETerm(self.velocity), diffrax.Tsit5(), t0=0.0, t1=t1, dt0=1e-3, y0=x0,
                saveat=diffrax.SaveAt(ts=ts, dense=True),
                stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol, jump_ts=jumps),
                max_steps=1_000_000,
            )
            return solution.ys, jax.vmap(solution.evaluate)(at)

        xs, x_at = jax.jit(jax.vmap(solve))(jnp.asarray(starts, dtype=jnp.float64))
        return ts, xs, x_at

    def second_order_loss(self, wbar, tau_b: float):
        """L⁽²⁾(w̄; τ_b) = V_tot((w̄, 0), 0; τ_b) + V_tot((w̄, 0), 1.1T; τ_b)."""
        wbar = jnp.asarray(wbar)
        x = jnp.stack([wbar, jnp.zeros_like(wbar)], axis=-1)
        return self.total(x, 0.0, tau_b) + self.total(x, 1.1 * self.period, tau_b)


def first_order_loss(wbar):
    """L⁽¹⁾(w̄) = ‖y − e₁‖² + ‖y − e₂‖² − 1 with y = (½ + w̄, ½ − w̄) (equals 4w̄²)."""
    wbar = np.asarray(wbar, float)
    y = np.stack([0.5 + wbar, 0.5 - wbar], axis=-1)
    return np.sum((y - np.array([1.0, 0.0])) ** 2, -1) + np.sum((y - np.array([0.0, 1.0])) ** 2, -1) - 1
