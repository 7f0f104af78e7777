"""An optimised gate-speed protocol τ_c(t) against the best constant τ_c (issue 11).

Objective J = seed mean of the time-mean total alignment A_tot (each seed's own assignment) −
κ·⟨τ_ref/τ_c(t)⟩_t, the mean gate rate as the cost of fast gates (κ = 0.02, τ_ref = 0.1), for
the gated student on A, B, A, … blocks of τ_B = τ_w = 1 (expected flow). (a) The optimised
schedule τ_c(t) (piecewise linear, knots every half block, τ_c ∈ [0.01, 1]) and the best
constant; dotted lines are the block switches. (b) J over the Adam steps of
``ntajax.optimise_protocol`` (started from the best constant), against the best constant's J.
(c) J, the alignment term and the cost of constant τ_c (``ntajax.constant_sweep``, the plain
engine), with the optimum's J. (d) A_tot(t) (seed mean) of the two protocols. The gain is
J(optimised) − max over constants of J.
"""

import numpy as np

from ntajax._cli.figure import FigureContext

TITLE = "Protocol — an optimised gate-speed schedule τ_c(t) vs the best constant τ_c"


def gain(data: dict) -> float:
    """J of the best optimised schedule minus J of the best constant τ_c."""
    protocol, constant = data["protocol"], data["constant"]
    return float(protocol["objective"].values[protocol.attrs["best"]] - np.nanmax(constant["objective"].values))


def plot(data: dict, ctx: FigureContext) -> list:
    import matplotlib.pyplot as plt

    protocol, constant = data["protocol"], data["constant"]
    best = protocol.attrs["best"]
    best_constant_j = float(np.nanmax(constant["objective"].values))
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), constrained_layout=True)
    t = protocol["t"].values
    switches = np.arange(protocol.attrs["block_length"], t[-1] - 1e-9, protocol.attrs["block_length"])

    ax = axes[0, 0]
    ax.semilogy(t, protocol["tau_c_of_t"].sel(schedule="optimised"), label="optimised τ_c(t)")
    ax.semilogy(protocol["knot_time"].values, protocol["knots"].values[best], "o", ms=3, color="C0")
    ax.axhline(protocol.attrs["best_constant"], color="C1", label=f"best constant τ_c = {protocol.attrs['best_constant']:.3g}")
    for s in switches:
        ax.axvline(s, color="0.7", ls=":", lw=0.8)
    ax.set(xlabel="time t", ylabel=r"gate time constant $\tau_c$", ylim=protocol.attrs["bounds"],
           title="(a) schedule (knots as dots; dotted: block switches)")
    ax.legend(fontsize=8)

    ax = axes[0, 1]
    ax.plot(protocol["step"], protocol["objective"], label="J of the schedule")
    ax.axhline(best_constant_j, color="C1", ls="--", label="J of the best constant")
    ax.set(xlabel="Adam step", ylabel="objective J", title=f"(b) optimisation: gain {gain(data):+.4f}")
    ax.legend(fontsize=8)

    ax = axes[1, 0]
    values = constant["tau_c"].values
    ax.semilogx(values, constant["objective"], "o-", label="J = alignment − cost")
    ax.semilogx(values, constant["outcome"], ".--", label="time-mean $A_{tot}$")
    ax.semilogx(values, constant["cost"], ":", label=r"cost $\kappa\,\tau_{ref}/\tau_c$")
    ax.axhline(float(protocol["objective"].values[best]), color="C3", label="J of the optimised schedule")
    ax.set(xlabel=r"constant $\tau_c$", ylabel="value", ylim=(0, 1.05),
           title="(c) constant settings (the plain engine, same objective and cost)")
    ax.legend(fontsize=8)

    ax = axes[1, 1]
    for name in protocol["schedule"].values:
        ax.plot(t, protocol["alignment"].sel(schedule=name), label=str(name))
    for s in switches:
        ax.axvline(s, color="0.7", ls=":", lw=0.8)
    ax.set(xlabel="time t", ylabel="total alignment $A_{tot}$ (seed mean)",
           title=f"(d) alignment of the two protocols (N = {protocol.attrs['n_seeds']})")
    ax.legend(fontsize=8)
    fig.suptitle(f"objective: time-mean A_tot − {protocol.attrs['cost_weight']:g}·⟨{protocol.attrs['cost_reference']:g}/τ_c(t)⟩",
                 fontsize=10)
    return ctx.save(fig, "protocol")


def headline(data: dict) -> str:
    protocol, constant = data["protocol"], data["constant"]
    best = protocol.attrs["best"]
    return (f"optimised τ_c(t): J = {float(protocol['objective'].values[best]):.4f} vs best constant τ_c = "
            f"{protocol.attrs['best_constant']:.3g}: J = {float(np.nanmax(constant['objective'].values)):.4f} "
            f"(gain {gain(data):+.4f} after {protocol.attrs['steps']} Adam steps)")
