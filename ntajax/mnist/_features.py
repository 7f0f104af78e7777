"""Frozen CNN features of the train and test parts, cached on disk (MODEL §2.5, §8.16, §8.18).

:func:`mnist_features` trains the CNN of :mod:`ntajax.mnist._cnn` once, freezes it and
computes the features of every train and test image. The trained parameters
(``cnn-<hash>.eqx``) and the features (``features-<hash>.npz``) are stored under the cache
directory, keyed by the sha256 of the complete :class:`CNNConfig`, the digests of the data
files and the split, and the ntajax version (:func:`ntajax._cache.content_hash`; never
Python's ``hash()``). A later call with the same key loads them instead of retraining.

Cache directory: the ``cache_dir`` argument, else ``$NTAJAX_CACHE_DIR/mnist``, else
``~/.cache/ntajax/mnist``.
"""

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

from .._store.cache import content_hash
from ._cnn import CNN, CNNConfig, cnn_accuracy, extract_features, train_cnn
from ._idx import MnistData

ENV_CACHE_DIR = "NTAJAX_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$NTAJAX_CACHE_DIR/mnist`` if the variable is set, else ``~/.cache/ntajax/mnist``."""
    root = os.environ.get(ENV_CACHE_DIR)
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "ntajax") / "mnist"


@dataclasses.dataclass(frozen=True)
class Features:
    """Frozen-CNN features and labels of the train and test parts.

    Attributes:
        train: (n_train, d_feat) float32. train_labels: (n_train,) int32, digits 0–9.
        test: (n_test, d_feat) float32. test_labels: (n_test,) int32.
        info: JSON-ready provenance: ``key`` (the full cache key), ``cnn`` (the config),
            ``data`` (split and file digests), ``cnn_test_accuracy``, ``cnn_final_loss``,
            ``train_s`` (CNN training wall time when it was trained).
    """

    train: np.ndarray
    train_labels: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray
    info: dict

    @property
    def dim(self) -> int:
        """Feature dimension d_in of the readout."""
        return int(self.train.shape[1])

    @property
    def key(self) -> str:
        """The cache key (sha256 hex) these features were stored under."""
        return self.info["key"]


def features_key(config: CNNConfig, data: MnistData) -> str:
    """sha256 of the full CNN config, the data file digests and split, and the ntajax version."""
    return content_hash({"cnn": config, "files": data.source["files"], "split": data.source["split"],
                         "what": "ntajax.mnist features"})


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a cache file is an ordinary readable file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _paths(cache_dir: Path, key: str) -> tuple[Path, Path]:
    return cache_dir / f"cnn-{key[:16]}.eqx", cache_dir / f"features-{key[:16]}.npz"


def _read(path: Path, key: str) -> Features | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            info = json.loads(str(f["info"]))
            if info.get("key") != key:
                return None
            return Features(f["train"], f["train_labels"], f["test"], f["test_labels"], info)
    except (OSError, ValueError, KeyError):
        return None  # unreadable or partial: recompute and overwrite


def mnist_features(
    data: MnistData,
    config: CNNConfig = CNNConfig(),
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> Features:
    """Features of ``data`` from a CNN trained with ``config`` (cached; see the module docstring).

    Args:
        data: train and test images (:func:`ntajax.mnist.load_mnist`).
        config: the CNN and its training; its ``seed`` is the root seed of training.
        cache_dir: where to store and look up; default :func:`default_cache_dir`.
        progress: show a progress bar while training.

    Returns:
        :class:`Features` of the train and test parts.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = features_key(config, data)
    cnn_path, feature_path = _paths(cache_dir, key)
    if feature_path.exists():
        found = _read(feature_path, key)
        if found is not None:
            return found
    model, history = _train(config, data, progress)
    start = time.perf_counter()
    train = extract_features(model, data.train_images)
    test = extract_features(model, data.test_images)
    info = {
        "key": key,
        "cnn": dataclasses.asdict(config),
        "data": {"split": data.source["split"], "files": data.source["files"]},
        "cnn_test_accuracy": cnn_accuracy(model, data.test_images, data.test_labels),
        "cnn_final_loss": float(np.mean(history["loss"][-20:])),
        "train_s": history["train_s"],
        "features_s": time.perf_counter() - start,
        "jax_version": jax.__version__,
    }
    features = Features(train.astype(np.float32), data.train_labels.astype(np.int32), test.astype(np.float32),
                        data.test_labels.astype(np.int32), info)
    _atomic_write(cnn_path, lambda p: eqx.tree_serialise_leaves(p, model))
    _atomic_write(feature_path, lambda p: _write_npz(p, features))
    return features


def _write_npz(path: Path, features: Features) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, train=features.train, train_labels=features.train_labels, test=features.test,
                 test_labels=features.test_labels, info=np.asarray(json.dumps(features.info)))


def _train(config: CNNConfig, data: MnistData, progress: bool):
    from tqdm.auto import tqdm

    with tqdm(total=config.n_steps, desc="CNN features", unit="step", disable=not progress, leave=False) as bar:
        def update(done, loss):
            bar.update(done - bar.n)
            bar.set_postfix_str(f"loss {loss:.3f}")

        return train_cnn(config, data.train_images, data.train_labels, key=jax.random.key(config.seed), progress=update)


def load_cnn(config: CNNConfig, data: MnistData, *, cache_dir: str | os.PathLike | None = None) -> CNN:
    """The trained CNN stored by :func:`mnist_features` for ``config`` and ``data``.

    Raises:
        FileNotFoundError: nothing is cached for this key yet (run :func:`mnist_features`).
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cnn_path, _ = _paths(cache_dir, features_key(config, data))
    if not cnn_path.exists():
        raise FileNotFoundError(f"no trained CNN at {cnn_path}; call mnist_features(data, config) first.")
    like = CNN(config, key=jax.random.key(0))
    return eqx.tree_deserialise_leaves(cnn_path, like)
