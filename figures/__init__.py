"""Figure scripts: one plotting module per paper figure (FIGURES.md), each with TITLE / plot / headline.

:data:`FIGURES` is the registry (entry point ``ntajax.figures``): one :class:`Figure` per figure,
naming its plotting module and the ``sweeps`` function that computes its stores (a8 computes its
own). ``ntajax figure NAME`` (or ``python -m figures NAME``) regenerates a figure from scratch;
``ntajax figure all`` draws every one in the order below; ``python -m sweeps NAME`` computes the
stores only. See :mod:`ntajax._cli.figure` for the interface every script implements.
"""

from ntajax._cli.figure import Figure

FIGURES: dict[str, Figure] = {
    "fig2": Figure("figures.fig2", compute="sweeps.fig2:compute"),         # flexible vs forgetful (loss, gates, alignment, speeds, adaptation)
    "fig3": Figure("figures.fig3", compute="sweeps.composition:compute"),  # task and subtask composition, loss around the first composite block
    "fig4": Figure("figures.fig4", compute="sweeps.toy:compute"),          # mechanism in the 2-D toy model (A–H)
    "fig5": Figure("figures.fig5", compute="sweeps.fig5:compute"),         # phase diagrams (the paper's 5 × 5 panels and the dense version)
    "fig6": Figure("figures.fig6", compute="sweeps.fc:compute"),           # fully connected network: sorted W2, total alignment (with A5, A6)
    "fig7": Figure("figures.fig7", compute="sweeps.fig7:compute"),         # MNIST CNN features with a gated readout
    "fig8": Figure("figures.fig8", compute="sweeps.fig8:compute"),         # task-switching cost over training
    "a1": Figure("figures.a1", compute="sweeps.a1:compute"),               # full model vs the equivalent 2-D model
    "a2": Figure("figures.a2", compute="sweeps.a2:compute"),               # gate speed vs teacher rank
    "a3": Figure("figures.a3", compute="sweeps.a3:compute"),               # P = 4 paths for M = 2 with and without a W penalty
    "a4": Figure("figures.a4", compute="sweeps.fc:compute"),               # metrics of the fully connected network
    "a7": Figure("figures.a7", compute="sweeps.a7:compute"),               # phase diagrams of the fully connected network
    "a8": Figure("figures.a8"),                                            # NTK split (analytic)
    "a9": Figure("figures.a9", compute="sweeps.a9:compute"),               # block-size effective potential
    "a10": Figure("figures.a10", compute="sweeps.a10:compute"),            # symmetric model over one switch (A10) and its continuation (A11)
    "a12": Figure("figures.a12", compute="sweeps.composition:compute"),    # composition over the whole simulation
    "a13": Figure("figures.a13", compute="sweeps.a13:compute"),            # teacher correlation ξ
    "a14": Figure("figures.a14", compute="sweeps.a14:compute"),            # base components learned from composites only
    "a16": Figure("figures.a16", compute="sweeps.a16:compute"),            # few-shot regime
    "baselines": Figure("figures.baselines", compute="sweeps.baselines:compute"),  # continual-learning baselines on the same engine
    "representations": Figure("figures.representations", compute="sweeps.representations:compute"),  # task-variance and shared/separate representations
    "gradients": Figure("figures.gradients", compute="sweeps.gradients:compute"),  # exact gradients vs finite differences, gradient field
    "protocol": Figure("figures.protocol", compute="sweeps.protocol:compute"),     # optimised gate-speed schedule vs the best constant
    "rnn-switching": Figure("figures.rnn_switching"),                      # gated RNN on blocked tasks: flexible vs forgetful
    "rnn-phase": Figure("figures.rnn_phase"),                              # gated RNN phase diagram over τ_B/τ_w × τ_w/τ_c
    "rnn-representations": Figure("figures.rnn_representations"),        # FTV and unit clusters of RNNs, gated vs ungated (Yang et al.)
    "rnn-attractors": Figure("figures.rnn_attractors"),                  # shared vs separate attractors under output constraints (Turner & Barak)
}
