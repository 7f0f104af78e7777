"""Fig. 5 sweeps: the paper's two 5 × 5 phase-diagram panels and their dense versions.

* ``fig5a``/``fig5b``: FIGURES.md Fig. 5 exactly — τ_B/τ_w ∈ {1, 4, 6, 8, 10} × τ_w/τ_c ∈
  {1, 1.25, 5/3, 2.5, 5} (λ = 0.3, nonneg : L1 = 1 : 5) and × original λ ∈ {0, …, 0.2} (τ_c =
  0.005), sampled B = 200, dt = 1e-3, t_tot = 7 for every cell, 10 seeds with common random
  numbers across cells; one compiled program per panel (ntajax's sweep engine).
* ``dense_a``/``dense_b``: the main job's dense panels (``ntajax phase-diagram``), expected-gradient
  flow, with the regime boundary interpolated and refined by bisection.

Every store is a resumable sweep store under ``ctx.out/data`` named by the sweep's fingerprint.
"""

import os
from pathlib import Path

from ntajax._cli.figure import FigureContext, PlannedStore
from ntajax._cli.phase_diagram import explain_phase_diagram, run_phase_diagram
from ntajax._sweep.sweep import Sweep
from ntajax._presets.sweeps import fig5a, fig5b, phase_a, phase_b


def paper_panels(ctx: FigureContext) -> dict[str, Sweep]:
    """The 5 × 5 panels at the context's size (tiny/quick shorten t_tot and use fewer seeds)."""
    t_total, n_seeds = ctx.pick((7.0, 10), (7.0, 4), (1.4, 2))
    panels = {}
    for name, make in (("a", fig5a), ("b", fig5b)):
        sweep = make()
        base = sweep.base.replace(grid=sweep.base.grid.replace(t_total=t_total, n_save=int(round(t_total / 0.007)) + 1))
        panels[name] = Sweep(base, sweep.axes, n_seeds=n_seeds, seed=ctx.seed)
    return panels


def dense_panels(ctx: FigureContext) -> dict[str, Sweep]:
    resolution, n_seeds = ctx.pick((16, 10), (8, 4), (3, 2))
    panels = {"a": phase_a(resolution, n_seeds), "b": phase_b(resolution, n_seeds)}
    if ctx.size == "tiny":
        panels = {k: Sweep(s.base.replace(grid=s.base.grid.replace(t_total=1.4, n_save=21)), s.axes, n_seeds=s.n_seeds)
                  for k, s in panels.items()}
    return panels


def compute(ctx: FigureContext) -> dict:
    out = {}
    for name, sweep in paper_panels(ctx).items():
        out[f"fig5{name}"] = ctx.sweep(f"fig5{name}", sweep)
    dense = dense_panels(ctx)
    key = "-".join(s.fingerprint()[:8] for s in dense.values())
    where, refine = str(ctx.data_dir / f"phase-{key}"), ctx.size != "tiny"
    if ctx.explain:
        done = all(os.path.exists(os.path.join(where, "phase_diagram.zarr", name, "boundary_refined")) for name in dense)
        ctx.plan.append(PlannedStore(name="dense phase diagram", path=Path(where) / "phase_diagram.zarr", reused=done,
                                     work=explain_phase_diagram(dense, where, refine=refine)))
        return out
    results = run_phase_diagram(dense, where, progress=ctx.progress, refine=refine)
    out.update({f"dense_{name}": ds for name, ds in results.items()})
    return out
