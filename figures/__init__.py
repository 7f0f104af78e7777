"""Figure scripts: one module per paper figure (FIGURES.md), each with compute / plot / headline / main.

``ntajax figure NAME`` (or ``python -m figures.NAME``) regenerates a figure from scratch;
``ntajax figure all`` draws every one in the order below. See :mod:`ntajax._figure` for the
interface every script implements.
"""

FIGURES: dict[str, str] = {
    "fig2": "fig2",        # flexible vs forgetful (loss, gates, alignment, speeds, adaptation)
    "fig3": "fig3",        # task and subtask composition, loss around the first composite block
    "fig4": "fig4",        # mechanism in the 2-D toy model (A–H)
    "fig5": "fig5",        # phase diagrams (the paper's 5 × 5 panels and the dense version)
    "fig6": "fig6",        # fully connected network: sorted W2, total alignment (with A5, A6)
    "fig7": "fig7",        # MNIST CNN features with a gated readout
    "fig8": "fig8",        # task-switching cost over training
    "a1": "a1",            # full model vs the equivalent 2-D model
    "a2": "a2",            # gate speed vs teacher rank
    "a3": "a3",            # P = 4 paths for M = 2 with and without a W penalty
    "a4": "a4",            # metrics of the fully connected network
    "a7": "a7",            # phase diagrams of the fully connected network
    "a8": "a8",            # NTK split (analytic)
    "a9": "a9",            # block-size effective potential
    "a10": "a10",          # symmetric model over one switch (A10) and its continuation (A11)
    "a12": "a12",          # composition over the whole simulation
    "a13": "a13",          # teacher correlation ξ
    "a14": "a14",          # base components learned from composites only
    "a16": "a16",          # few-shot regime
    "baselines": "baselines",              # continual-learning baselines on the same engine
    "representations": "representations",  # task-variance and shared/separate representations
}
