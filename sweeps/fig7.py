"""Fig. 7 simulations: gated softmax readout on frozen MNIST CNN features, flexible vs forgetful.

The CNN (MODEL §2.5) is trained once per (CNN config, data files, split, ntajax version) and
its features are cached under ``$NTAJAX_CACHE_DIR/mnist`` (default ``~/.cache/ntajax/mnist``).
The readout runs A_B__ with τ_B = 100, dt = 0.1, B = 100 and 10 blocks (t_tot = 1000),
10 seeds with common random numbers across the two variants (FIGURES.md Fig. 7). Test
accuracy on the whole held-out test part is recorded at every step at paper size (as the
original), every 10th step at quick size.

Data: the directory in ``$NTAJAX_MNIST_DIR`` (the standard IDX files, gzipped or not; with
the ``train-*`` files the official 60 000/10 000 split is used), else the shipped
10 000-image test file split reproducibly into 8000 train and 2000 test images.
"""

from ntajax import Blocked, TimeGrid
from ntajax._cli.figure import FigureContext
from ntajax.mnist import (CNNConfig, ReadoutConfig, fig7_presets, flexible, forgetful, load_mnist, mnist_features,
                          readout_dataset)


THRESHOLD = 0.85
LAST_GATE_RECORDS = 100  # gates are ordered by their mean over the last 100 records (MODEL §7.14)
TINY_CNN = CNNConfig(n_steps=100, batch_size=256)
"""The tiny-size CNN (about 0.92 test accuracy on the shipped split); the tests train the same one."""


def cnn_config(ctx: FigureContext) -> CNNConfig:
    """The spec's CNN at paper size; 500 steps at quick size; 100 steps of 256 at tiny size."""
    return ctx.pick(CNNConfig(), CNNConfig(n_steps=500), TINY_CNN)


def variants(ctx: FigureContext) -> dict[str, ReadoutConfig]:
    """The two Fig. 7 variants at the context's size.

    Tiny blocks are 300 steps, too short for τ_w = 1000, so the tiny run uses τ_w = 200 in
    both variants (and τ_c = τ_w = 200 in the forgetful one) to exercise the threshold code.
    Records: every 10 steps at tiny and quick size, every step at paper size.
    """
    if ctx.size == "tiny":
        sizes = dict(grid=TimeGrid(dt=0.1, t_total=120.0, n_save=121), curriculum=Blocked(block_length=30.0), n_seeds=2)
        return {"flexible": flexible(**sizes).set({"student.tau_w": 200.0}),
                "forgetful": forgetful(**sizes).set({"student.tau_w": 200.0, "student.tau_c": 200.0})}
    sizes = ctx.pick(
        dict(grid=TimeGrid(dt=0.1, t_total=1000.0, n_save=10_001), curriculum=Blocked(block_length=100.0), n_seeds=10),
        dict(grid=TimeGrid(dt=0.1, t_total=600.0, n_save=601), curriculum=Blocked(block_length=100.0), n_seeds=4),
    )
    return fig7_presets(**sizes)


def compute(ctx: FigureContext) -> dict:
    data = load_mnist()
    features = mnist_features(data, cnn_config(ctx), progress=ctx.progress)
    configs = variants(ctx)
    description = {
        "variants": {name: config.to_dict() for name, config in configs.items()},
        "features": features.key,
        "seed": ctx.seed,
        "threshold": THRESHOLD,
        "last_gate_records": LAST_GATE_RECORDS,
    }
    return {"runs": ctx.cached("fig7", description,
                               lambda: readout_dataset(configs, features, key=ctx.seed, threshold=THRESHOLD,
                                                               last_gate_records=LAST_GATE_RECORDS))}
