"""Fig. 3 and A12 simulations: task composition (additive) and subtask composition (concatenated).

Both train the three base tasks A, B, C for blocks 0–22 and then the pairwise composites
(schedule A_B_C__AB_BC_CA__ with switch block S = 23, τ_B = 1, t_tot = 30; the first composite
block, k = 23, is CA because the composite index uses the absolute k). FIGURES.md Fig. 3 and A12.

* ``additive`` — gated student, d_in 20, d_out 6, M = P = 3; orthogonal rotated teachers
  s = 1/√20 with additive composites μ = 0.5 [A, B, C, AB, BC, CA]; τ_w = 0.2, τ_c = 0.03;
  flexible λ_nonneg = 0.5, λ_norm = 2.5 (k = 1) [original λ = 0.3, nonneg : L1 = 1 : 5];
  forgetful: no regulariser, same τ's. Sampled B = 200, dt = 1e-3, Δ = 0.003, 10 seeds.
* ``concatenated`` — per-neuron gating (18 gates), row-concatenated composites (even rows from
  the first teacher, odd rows from the second); τ_w = 0.2, τ_c = 0.005; flexible λ_nonneg =
  λ_norm = 0.25/11 (k = 2 over all 18 gates) [λ = 0.025, nonneg : L2 = 1 : 10]; forgetful: no
  regulariser. Sampled B = 200, **dt = 0.01, so dt/τ_c = 2: outside the gradient-flow regime
  (MODEL §5.2, §8.17); reproduced as specified and flagged**. Δ = 0.01 (every step); the full
  student is recorded every 3rd point (Δ_w = 0.03, A12's spacing) for the row matching.
* ``concatenated_expected`` — the cross-check the spec asks for: the same two concatenated
  configurations in expected-gradient mode with dt = 5e-4 (dt/τ_c = 0.1), recorded at Δ = 0.01.

A12 uses the same four simulations (the spec's settings coincide), read from the same stores:
the additive store as is, and the concatenated store decimated to A12's Δ = 0.03. The
concatenated store carries the row-matched views of MODEL §7.9 (linear assignment on the
time-mean signed row cosine; see :mod:`ntajax._row_store`), including how often a match falls
on its own output index.

Teachers are shared across seeds (MODEL §3.7) and both variants of a store use the same seed
keys (common random numbers, §5.4). With M = 3 the composites are AB, BC, CA for both kinds
(MODEL §3.6); the original's missing AC/BD composites concern the M = 4 concatenated schedules only,
and :class:`ntajax.OrthogonalTeachers` builds those for both kinds anyway.
"""

from ntajax import (
    ExpectedGradient, Gated, GradientMode, OrthogonalTeachers, PerNeuron, Recording, Regulariser, SampledGradient, Simulation,
    TimeGrid, Variant, schedule,
)
from ntajax._cli.figure import FigureContext
from ntajax._store.row_store import add_row_matching

from sweeps._analysed import analysed_store
from sweeps._common import variants_store

SWITCH_BLOCK = 23
T_TOTAL = 30.0
ADDITIVE_LAMBDA_NONNEG, ADDITIVE_LAMBDA_NORM = 0.5, 2.5  # λ = 0.3, nonneg : L1 = 1 : 5 (MODEL §4.3)
CONCATENATED_LAMBDA = 0.25 / 11  # λ = 0.025, nonneg : L2 = 1 : 10, both coefficients (MODEL §4.3)
CROSS_CHECK_DT = 5e-4


def _schedule():
    return schedule("A_B_C__AB_BC_CA__", 3, switch_block=SWITCH_BLOCK)


def additive_variants(ctx: FigureContext) -> dict[str, Variant]:
    """Fig. 3c / A12 top row at the context's size (tiny: expected gradients, 2 seeds)."""
    sampled = SampledGradient(batch_size=200)
    n_save, n_seeds, gradient = ctx.pick((10001, 10, sampled), (5001, 3, sampled), (1001, 2, ExpectedGradient()))
    base = Simulation(
        d_in=20, d_out=6, n_teachers=3, n_seeds=n_seeds,
        student=Gated(n_paths=3, tau_w=0.2, tau_c=0.03),
        teachers=OrthogonalTeachers(composites="additive"),
        curriculum=_schedule(),
        regulariser=Regulariser(norm_order=1),
        gradient=gradient,
        grid=TimeGrid(dt=1e-3, t_total=T_TOTAL, n_save=n_save),
    )
    flexible = Regulariser(lambda_nonneg=ADDITIVE_LAMBDA_NONNEG, lambda_norm=ADDITIVE_LAMBDA_NORM, norm_order=1)
    return {
        "flexible": Variant(base.replace(regulariser=flexible)),
        "forgetful": Variant(base),
    }


def _concatenated_base(*, dt: float = 0.01, n_save: int = 3001, n_seeds: int = 10,
                       gradient: GradientMode | None = None, recording: Recording | None = None) -> Simulation:
    return Simulation(
        d_in=20, d_out=6, n_teachers=3, n_seeds=n_seeds,
        student=PerNeuron(n_paths=3, tau_w=0.2, tau_c=0.005),
        teachers=OrthogonalTeachers(composites="concatenated"),
        curriculum=_schedule(),
        regulariser=Regulariser(norm_order=2),
        gradient=gradient if gradient is not None else SampledGradient(batch_size=200),
        grid=TimeGrid(dt=dt, t_total=T_TOTAL, n_save=n_save),
        recording=recording if recording is not None else Recording(),
    )


def _flexible_forgetful(base: Simulation) -> dict[str, Variant]:
    flexible = Regulariser(lambda_nonneg=CONCATENATED_LAMBDA, lambda_norm=CONCATENATED_LAMBDA, norm_order=2)
    return {
        "flexible": Variant(base.replace(regulariser=flexible)),
        "forgetful": Variant(base),
    }


def concatenated_variants(ctx: FigureContext) -> dict[str, Variant]:
    """Fig. 3d / A12 bottom row (sampled, dt = 0.01: dt/τ_c = 2, flagged; tiny: expected gradients,
    whose program compiles in a third of the time)."""
    sampled = SampledGradient(batch_size=200)
    n_save, n_seeds, weights_every, gradient = ctx.pick((3001, 10, 3, sampled), (3001, 3, 3, sampled),
                                                        (1001, 2, 1, ExpectedGradient()))
    return _flexible_forgetful(_concatenated_base(n_save=n_save, n_seeds=n_seeds, gradient=gradient,
                                                  recording=Recording(weights=True, weights_every=weights_every)))


def concatenated_expected_variants(ctx: FigureContext) -> dict[str, Variant]:
    """The expected-gradient cross-check of Fig. 3d with a small step (dt = 5e-4, dt/τ_c = 0.1)."""
    n_save, n_seeds = ctx.pick((3001, 10), (3001, 3), (1001, 2))
    base = _concatenated_base(gradient=ExpectedGradient(), dt=CROSS_CHECK_DT, n_save=n_save, n_seeds=n_seeds)
    return _flexible_forgetful(base)


def compute(ctx: FigureContext) -> dict:
    """The three composition stores (shared by Fig. 3 and A12)."""
    return {
        "additive": variants_store(ctx, "composition-additive", additive_variants(ctx)),
        "concatenated": analysed_store(ctx, "composition-concatenated", concatenated_variants(ctx), add_row_matching,
                                       "add_row_matching v1"),
        "concatenated_expected": variants_store(ctx, "composition-concatenated-expected",
                                                concatenated_expected_variants(ctx)),
    }
