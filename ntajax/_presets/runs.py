"""Named presets with the spec's hyperparameters (FIGURES.md).

A preset is a function returning ``{variant_name: Variant}``; a variant is a simulation plus
optional explicit teachers and initial state. :data:`PRESETS` is the registry used by the
CLI (``ntajax run NAME``).
"""

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._curricula.curriculum import Blocked, Smooth
from .._gradient import ExpectedGradient, SampledGradient
from .._losses import Regulariser
from .._recording import Recording
from .._simulation import Simulation
from .._students.linear import Gated, GatedStudent
from .._teachers.sets import ExplicitTeachers
from .._time_grid import TimeGrid


class Variant(NamedTuple):
    """One simulation of a preset: the simulation plus optional explicit teachers and initial state."""

    config: Simulation
    teachers: Array | None = None
    init: GatedStudent | None = None


# Fig. 2 flexible regulariser: original λ = 0.1 with nonneg : L1 : W-col = 1 : 10 : 0 (MODEL §4.3).
FIG2_LAMBDA_NONNEG = 1 / 11
FIG2_LAMBDA_NORM = 10 / 11


def fig2() -> dict[str, Variant]:
    """Fig. 2: flexible vs forgetful gated student, M = P = 2, A_B__ with τ_B = 1, t_tot = 20.

    Flexible: τ_w = 1.3, τ_c = 0.03, λ_nonneg = 1/11, λ_norm = 10/11 (k = 1).
    Forgetful: τ_c = τ_w = 1.3, no regulariser. Sampled B = 200, dt = 1e-3, Δ = 0.002,
    10 seeds with shared teachers (FIGURES.md Fig. 2).
    """
    base = Simulation(
        d_in=20, d_out=10, n_teachers=2, grid=TimeGrid(dt=1e-3, t_total=20.0, n_save=10001),
        gradient=SampledGradient(batch_size=200), n_seeds=10, curriculum=Blocked(block_length=1.0),
    )
    flexible = base.replace(student=Gated(n_paths=2, tau_w=1.3, tau_c=0.03),
                            regulariser=Regulariser(lambda_nonneg=FIG2_LAMBDA_NONNEG, lambda_norm=FIG2_LAMBDA_NORM, norm_order=1))
    forgetful = base.replace(student=Gated(n_paths=2, tau_w=1.3, tau_c=1.3), regulariser=Regulariser())
    return {"flexible": Variant(flexible), "forgetful": Variant(forgetful)}


def toy_teachers() -> Array:
    """The toy targets Y_0 = e₁ and Y_1 = e₂ as 2×1 teacher matrices (MODEL §2.4)."""
    return jnp.eye(2, dtype=jnp.float32)[:, :, None]


def toy_state(w1, w2, c) -> GatedStudent:
    """A toy state from (w¹₁, w¹₂), (w²₁, w²₂) and (c₁, c₂) (MODEL §2.4 ordering).

    Held in float64 NumPy arrays, so a float64 run starts from the exact values; :func:`ntajax.run`
    casts the state to the config's dtype.
    """
    W = np.asarray([w1, w2], dtype=np.float64)[:, :, None]
    return GatedStudent(W=W, c=np.asarray(c, dtype=np.float64))


def toy() -> dict[str, Variant]:
    """Fig. 4 A–C: the 2-D toy model from a specialised and an unspecialised start.

    τ_c = 0.2/3, τ_w = 0.4/3, Fig. 2 regulariser, dt = 1e-3, smooth curriculum g = 100 with
    t_ctx = 1 and target e₂ first, t_tot = 1, every step recorded. "flexible" starts
    specialised with the wrong module gated on, (1, 0, 0, 1 | 1, 0); "forgetful" starts
    unspecialised, (1, 0, 1, 0 | 0.5, 0.5) (FIGURES.md Fig. 4).
    """
    config = Simulation(
        d_in=1, d_out=2, n_teachers=2, grid=TimeGrid(dt=1e-3, t_total=1.0, n_save=1001), n_seeds=1,
        gradient=ExpectedGradient(), curriculum=Smooth(n_contexts=2, sharpness=100.0, order=(1, 0), block_length=1.0),
        student=Gated(n_paths=2, tau_w=0.4 / 3, tau_c=0.2 / 3),
        regulariser=Regulariser(lambda_nonneg=FIG2_LAMBDA_NONNEG, lambda_norm=FIG2_LAMBDA_NORM),
        recording=Recording(n_blocks=1), teachers=ExplicitTeachers(),
    )
    teachers = toy_teachers()
    return {
        "flexible": Variant(config, teachers, toy_state((1, 0), (0, 1), (1, 0))),
        "forgetful": Variant(config, teachers, toy_state((1, 0), (1, 0), (0.5, 0.5))),
    }


PRESETS: dict[str, Callable[[], dict[str, Variant]]] = {"fig2": fig2, "toy": toy}
