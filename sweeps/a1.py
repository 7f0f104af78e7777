"""Fig. A1 simulations: the full model and the equivalent 2-D toy (FIGURES.md A1; MODEL §2.4).

Full model: the Fig. 2 flexible setting (τ_w = 1.3, τ_c = 0.03, λ_nonneg = 1/11, λ_norm = 10/11,
k = 1, B = 200, dt = 1e-3) with axis-aligned teachers W*_A = s[I₁₀ 0], W*_B = s[0 I₁₀]
(s = 1/√20), one seed, t_tot = 20, Δ = 0.002, gates 0.5 and weights of std 0.01/√20 from one
fixed key (:data:`INIT_KEY`, the original's number; ntajax's draws differ from the original's).
Two variants share that state and the seed key: ``sampled`` (minibatches, the paper) and
``expected`` (the deterministic expected-gradient reference of FIGURES.md §0). Full weights are
recorded every Δ_w = 0.02 for the singular values.

Toy: τ_w = 1.3, τ_c,toy = τ_c/q with q = Σ_α s_α² = d_out·s² = 0.5, i.e. 0.06, the same
regulariser coefficients (not divided by q, as in the original; MODEL §2.4), g = 1000, t_ctx = 1,
targets e₁ first, dt = 1e-3, t_tot = 20, from c = (½, ½),
w¹ = 0.01·(cos(π/4 − 45), sin(π/4 − 45)) ≈ (0.009730, −0.002304) and
w² = 0.01·(cos(π/4 + 45), sin(π/4 + 45)) ≈ (−0.002304, 0.009730): the numbers the original's
degree/radian mix-up produced (45 used as radians), which the spec fixes. The toy is recorded
at every step, so that Fig. A16 reuses the very same store; Fig. A1 reads it at Δ = 0.02.
"""

import jax
import numpy as np

from ntajax import ExpectedGradient, GatedStudent, OrthogonalTeachers, Variant
from ntajax._cli.figure import FigureContext
from ntajax._presets.runs import fig2 as fig2_preset

from sweeps._common import variants_store
from sweeps.toy import ToyRun, toy_config, toy_init, toy_store

INIT_KEY = 987777942
"""The fixed key of the full model's initial weights (the original's number)."""

S = 1 / np.sqrt(20)
Q = 10 * S**2
"""q = ‖W*_m‖²_F = Σ_α s_α² = d_out·s² = 0.5: the gate time constant of the toy is τ_c/q."""

LOSS_SCALE = S**2 * min(20, 10)
"""The toy loss is multiplied by s²·min(d_in, d_out) = 0.5 (= q) to put it on the full model's scale."""


def fixed_init(config, key: int = INIT_KEY) -> GatedStudent:
    """Gates 0.5 and weights N(0, (σ₀/√d_in)²) from one fixed key, shared by every seed (A1, A16).

    The state is repeated along a leading seed axis, in the config's dtype: a chunked run
    (:func:`ntajax._run.run_chunked`) then traces its first chunk (this state) and the later ones
    (the previous chunk's per-seed final state) with the same signature, i.e. compiles once.
    """
    dtype = np.float64 if config.dtype == "float64" else np.float32
    n_paths = config.student.n_paths
    std = float(config.student.init_scale) / np.sqrt(config.d_in)
    shape = (n_paths, config.d_out, config.d_in)
    W = std * np.asarray(jax.random.normal(jax.random.key(key), shape), np.float64)
    W = np.broadcast_to(W.astype(dtype), (config.n_seeds, *W.shape)).copy()
    return GatedStudent(W=W, c=np.full((config.n_seeds, n_paths), 0.5, dtype))


def full_variants(ctx: FigureContext) -> dict[str, Variant]:
    t_total, n_save, weights_every = ctx.pick((20.0, 10001, 10), (20.0, 10001, 10), (2.0, 1001, 10))
    flexible = fig2_preset()["flexible"].config
    base = flexible.replace(teachers=OrthogonalTeachers(rotated=False), n_seeds=1,
                            grid=flexible.grid.replace(t_total=t_total, n_save=n_save),
                            recording=flexible.recording.replace(weights=True, weights_every=weights_every))
    init = fixed_init(base)
    expected = base.replace(gradient=ExpectedGradient())
    return {"sampled": Variant(base, init=init), "expected": Variant(expected, init=init)}


def toy_initial_state() -> GatedStudent:
    """The A1/A16 toy start: c = (½, ½), w¹ and w² at angles π/4 ∓ 45 (radians) with norm 0.01."""
    angle = np.pi / 4
    w1 = 0.01 * np.array([np.cos(angle - 45), np.sin(angle - 45)])
    w2 = 0.01 * np.array([np.cos(angle + 45), np.sin(angle + 45)])
    return toy_init(w1, w2, (0.5, 0.5))


def toy_run(ctx: FigureContext) -> ToyRun:
    """The equivalent toy of A1 and A16, recorded at every step."""
    t_total = ctx.pick(20.0, 20.0, 2.0)
    flexible = fig2_preset()["flexible"].config
    student, regulariser = flexible.student, flexible.regulariser
    config = toy_config(tau_w=float(student.tau_w), tau_c=float(student.tau_c) / Q, block_length=1.0, t_total=t_total,
                        n_save=round(t_total / 1e-3) + 1, sharpness=1000.0,
                        lambda_nonneg=float(regulariser.lambda_nonneg), lambda_norm=float(regulariser.lambda_norm))
    return ToyRun(config, toy_initial_state(), first=1)


def compute(ctx: FigureContext) -> dict:
    """Stores ``full`` (variants sampled and expected) and ``toy``."""
    return {"full": variants_store(ctx, "a1_full", full_variants(ctx)),
            "toy": toy_store(ctx, "a1_toy", {"toy": toy_run(ctx)})}
