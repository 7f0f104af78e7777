"""Fig. A14 simulations: the gated student trained only on the composites AB, BC, CA (FIGURES.md A14).

* ``paper`` — exactly the spec: d_in 20, d_out 6, M = P = 3; orthogonal rotated base teachers
  A, B, C (s = 1/√20) with additive composites μ = 0.5, of which only [AB, BC, CA] are trained
  (schedule AB_BC_CA__: block k uses composite k mod 3); τ_w = 0.05, τ_c = 0.03;
  λ_nonneg = 1/3, λ_norm = 5/3 (k = 1) [original λ = 0.2, nonneg : L1 = 1 : 5]; sampled
  B = 200, dt = 1e-3; τ_B = 1, t_tot = 50 (50 blocks); Δ = 0.005; 10 seeds.
* ``fast_gates`` — an ntajax companion, not in the paper: the same with τ_c = 0.003
  (τ_w/τ_c ≈ 17 instead of 1.7; dt/τ_c = 0.33). At the paper's τ_c the three paths stay copies
  of the current composite (the symmetric state: nothing but the 1e-2 initial noise tells them
  apart, and with τ_w/τ_c ≈ 1.7 that difference does not grow over 50 blocks), so the claim
  that base components emerge is tested where gates are an order of magnitude faster than
  weights. Both variants share seed keys and teachers (common random numbers).

The similarity S_mp is recorded against the three base teachers, which are never presented, and
the assignment π is computed against them (MODEL §7.1, §7.4).
"""

from ntajax import (
    ExpectedGradient, Gated, OrthogonalTeachers, Regulariser, SampledGradient, Simulation, TimeGrid, Variant, schedule,
)
from ntajax._cli.figure import FigureContext

from sweeps._common import variants_store

A14_LAMBDA_NONNEG, A14_LAMBDA_NORM = 1 / 3, 5 / 3  # λ = 0.2, nonneg : L1 = 1 : 5 (MODEL §4.3)
FAST_GATES_TAU_C = 0.003


def variants(ctx: FigureContext) -> dict[str, Variant]:
    """The spec's A14 run and the faster-gate companion at the context's size (tiny: expected gradients)."""
    sampled = SampledGradient(batch_size=200)
    n_save, n_seeds, gradient = ctx.pick((10001, 10, sampled), (2001, 3, sampled), (501, 2, ExpectedGradient()))
    config = Simulation(
        d_in=20, d_out=6, n_teachers=3, n_seeds=n_seeds,
        student=Gated(n_paths=3, tau_w=0.05, tau_c=0.03),
        teachers=OrthogonalTeachers(composites="additive"),
        curriculum=schedule("AB_BC_CA__", 3, block_length=1.0),
        regulariser=Regulariser(lambda_nonneg=A14_LAMBDA_NONNEG, lambda_norm=A14_LAMBDA_NORM, norm_order=1),
        gradient=gradient,
        grid=TimeGrid(dt=1e-3, t_total=50.0, n_save=n_save),
    )
    return {"paper": Variant(config), "fast_gates": Variant(config.set({"student.tau_c": FAST_GATES_TAU_C}))}


def compute(ctx: FigureContext) -> dict:
    return {"runs": variants_store(ctx, "a14", variants(ctx))}
