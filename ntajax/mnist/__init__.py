"""MNIST nonlinear extension (Fig. 7): CNN features and a gated softmax readout (MODEL §2.5, §7.14).

Pipeline::

    data = load_mnist()                      # IDX files: --data / $NTAJAX_MNIST_DIR / shipped split
    features = mnist_features(data)          # CNN trained once, cached by content hash
    runs = {name: run_readout(cfg, features, key=0) for name, cfg in fig7_presets().items()}
    steps, _ = steps_to_threshold(runs["flexible"], fig7_presets()["flexible"])

Files: ``_idx`` (IDX reader, splits), ``_cnn`` (the feature CNN and its training),
``_features`` (frozen features, disk cache), ``_stream`` (per-task minibatch streams),
``_readout`` (label maps, the gated readout, its config and scan), ``_metrics``
(steps to threshold, gate inspecificity, gate ordering), ``_dataset`` (labelled results).
"""

from ._cnn import CNN, CNNConfig, cnn_accuracy, extract_features, preprocess, train_cnn
from ._dataset import fig7_presets, readout_dataset
from ._features import Features, default_cache_dir, features_key, load_cnn, mnist_features
from ._idx import IDXError, HeldOutSplit, MnistData, Split, StandardSplit, load_mnist, read_idx
from ._metrics import gate_inspecificity, inspecificity, sort_paths_by_final_gates, sorted_gates, steps_to_threshold
from ._readout import (
    EvenOddLabels,
    GatedReadout,
    LabelMap,
    OriginalLabels,
    PermutedLabels,
    ReadoutConfig,
    ReadoutData,
    ReadoutTrajectory,
    flexible,
    forgetful,
    readout_loss,
    run_readout,
    simulate_readout,
)
from ._stream import StreamState, next_batch

__all__ = [
    "readout_loss",
    "CNN",
    "CNNConfig",
    "EvenOddLabels",
    "Features",
    "GatedReadout",
    "HeldOutSplit",
    "IDXError",
    "LabelMap",
    "MnistData",
    "OriginalLabels",
    "PermutedLabels",
    "ReadoutConfig",
    "ReadoutData",
    "ReadoutTrajectory",
    "Split",
    "StandardSplit",
    "StreamState",
    "cnn_accuracy",
    "default_cache_dir",
    "extract_features",
    "features_key",
    "fig7_presets",
    "flexible",
    "forgetful",
    "gate_inspecificity",
    "inspecificity",
    "load_cnn",
    "load_mnist",
    "mnist_features",
    "next_batch",
    "preprocess",
    "read_idx",
    "readout_dataset",
    "run_readout",
    "simulate_readout",
    "sort_paths_by_final_gates",
    "sorted_gates",
    "steps_to_threshold",
    "train_cnn",
]
