"""MNIST data and features: the IDX reader, the splits, the CNN, the feature cache, label maps, streams.

References are independent of the code under test: the sha256 digests and class counts of
the standard MNIST test set, Equinox's own Conv2d/MaxPool2d, numpy set algebra.
"""

import gzip
import hashlib

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntajax import mnist as nm
from ntajax.mnist import _cnn, _features, _idx
from ntajax.mnist._stream import StreamState, next_batch

SHIPPED = _idx.default_data_dir()
README_SHA256 = {  # shared/data/mnist/README.md
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
# Class counts of the standard 10k MNIST test set (LeCun et al.), digits 0…9.
T10K_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TINY_CNN = nm.CNNConfig(n_steps=100, batch_size=256)  # the tiny-size CNN of sweeps/fig7.py
TINY_CNN_MIN_ACCURACY = 0.88  # measured 0.922 on the shipped split (CPU, jax 0.10.2)

needs_data = pytest.mark.skipif(SHIPPED is None, reason="the shipped MNIST split (shared/data/mnist) is not present")


def _idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """An IDX file written from scratch (reference writer, independent of the reader)."""
    header = magic.to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


@pytest.fixture(scope="session")
def shipped():
    if SHIPPED is None:
        pytest.skip("the shipped MNIST split is not present")
    return nm.load_mnist(SHIPPED)


@pytest.fixture(scope="session")
def tiny_features(shipped, tmp_path_factory):
    cache = tmp_path_factory.getbasetemp() / "ntajax_cache" / "mnist"  # shared with test_mnist_readout.py
    return nm.mnist_features(shipped, TINY_CNN, cache_dir=cache), cache


# ------------------------------------------------------------------------------ IDX reader
@needs_data
def test_shipped_files_match_readme_and_standard_counts():
    for name, digest in README_SHA256.items():
        assert hashlib.sha256((SHIPPED / name).read_bytes()).hexdigest() == digest
    images = nm.read_idx(SHIPPED / "t10k-images-idx3-ubyte.gz", magic=_idx.IMAGES_MAGIC)
    labels = nm.read_idx(SHIPPED / "t10k-labels-idx1-ubyte.gz", magic=_idx.LABELS_MAGIC)
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10_000,)
    assert np.bincount(labels, minlength=10).tolist() == T10K_COUNTS
    assert images.min() == 0 and images.max() == 255
    # the gzip payload is exactly header + pixels, as the IDX format says
    raw = gzip.decompress((SHIPPED / "t10k-images-idx3-ubyte.gz").read_bytes())
    assert np.array_equal(np.frombuffer(raw[16:], np.uint8).reshape(10_000, 28, 28), images)


def test_raw_and_gzipped_files_read_the_same(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    (tmp_path / "raw").write_bytes(_idx_bytes(images, 0x803))
    (tmp_path / "zipped.gz").write_bytes(gzip.compress(_idx_bytes(images, 0x803)))
    assert np.array_equal(nm.read_idx(tmp_path / "raw", magic=0x803), images)
    assert np.array_equal(nm.read_idx(tmp_path / "zipped.gz", magic=0x803), images)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_file_names_path_and_expected_size(tmp_path, gz):
    images = np.zeros((5, 28, 28), np.uint8)
    data = _idx_bytes(images, 0x803)[:-100]
    path = tmp_path / ("images.gz" if gz else "images")
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(nm.IDXError) as info:
        nm.read_idx(path, magic=0x803)
    message = str(info.value)
    assert str(path) in message and f"expected {16 + 5 * 784}" in message and "truncated" in message


def test_trailing_bytes_are_rejected(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(_idx_bytes(np.arange(4, dtype=np.uint8), 0x801) + b"\x00")
    with pytest.raises(nm.IDXError, match="trailing bytes"):
        nm.read_idx(path, magic=0x801)


def test_wrong_magic_names_both_numbers(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(_idx_bytes(np.arange(4, dtype=np.uint8), 0x801))  # a labels file under an images name
    with pytest.raises(nm.IDXError) as info:
        nm.read_idx(path, magic=_idx.IMAGES_MAGIC)
    message = str(info.value)
    assert str(path) in message and "2049" in message and "2051" in message


def test_corrupt_gzip_and_non_idx_bytes(tmp_path):
    good = gzip.compress(_idx_bytes(np.zeros((3, 28, 28), np.uint8), 0x803))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(nm.IDXError, match="gzip stream"):
        nm.read_idx(cut)
    junk = tmp_path / "junk"
    junk.write_bytes(b"hello world, not IDX")
    with pytest.raises(nm.IDXError, match="unsigned-byte IDX"):
        nm.read_idx(junk)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(nm.IDXError, match="too short"):
        nm.read_idx(empty)


def test_missing_files_and_directories(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        nm.read_idx(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "absent")):
        nm.load_mnist(tmp_path / "absent")
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx_bytes(np.zeros((3, 28, 28), np.uint8), 0x803))
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        nm.load_mnist(tmp_path)
    monkeypatch.setenv("NTAJAX_MNIST_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(FileNotFoundError, match="NTAJAX_MNIST_DIR"):
        nm.load_mnist()


def test_mismatched_pair_and_bad_labels(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx_bytes(np.zeros((3, 28, 28), np.uint8), 0x803))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(4, np.uint8), 0x801))
    with pytest.raises(nm.IDXError, match="4,\\) labels for 3 images"):
        nm.load_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.array([1, 2, 12], np.uint8), 0x801))
    with pytest.raises(nm.IDXError, match="label 12"):
        nm.load_mnist(tmp_path)


def _write_fake_mnist(directory, n_train, n_test, gz):
    rng = np.random.default_rng(1)
    out = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        for kind, array, magic in (("images", images, 0x803), ("labels", labels, 0x801)):
            name = _idx.FILE_STEMS[(part, kind)] + (".gz" if gz else "")
            payload = _idx_bytes(array, magic)
            (directory / name).write_bytes(gzip.compress(payload) if gz else payload)
        out[part] = (images, labels)
    return out


@pytest.mark.parametrize("gz", [False, True])
def test_full_set_from_environment_uses_standard_split(tmp_path, monkeypatch, gz):
    written = _write_fake_mnist(tmp_path, 30, 12, gz)
    monkeypatch.setenv("NTAJAX_MNIST_DIR", str(tmp_path))
    data = nm.load_mnist()
    assert data.source["split"] == {"StandardSplit": {}}
    assert np.array_equal(data.train_images, written["train"][0]) and np.array_equal(data.train_labels, written["train"][1])
    assert np.array_equal(data.test_images, written["t10k"][0]) and np.array_equal(data.test_labels, written["t10k"][1])
    assert len(data.source["files"]) == 4


# ------------------------------------------------------------------------------ held-out split
@needs_data
def test_held_out_split_is_a_reproducible_partition(shipped):
    assert shipped.source["split"] == {"HeldOutSplit": {"test_fraction": 0.2, "seed": 0, "part": "t10k"}}
    assert shipped.train_images.shape == (8000, 28, 28) and shipped.test_images.shape == (2000, 28, 28)
    images = nm.read_idx(SHIPPED / "t10k-images-idx3-ubyte.gz")
    labels = nm.read_idx(SHIPPED / "t10k-labels-idx1-ubyte.gz")

    def rows(x, y):
        return sorted(hashlib.sha1(im.tobytes() + bytes([int(lab)])).hexdigest() for im, lab in zip(x, y))

    # train ∪ test is the original multiset of (image, label) pairs
    assert rows(np.concatenate([shipped.train_images, shipped.test_images]),
                np.concatenate([shipped.train_labels, shipped.test_labels])) == rows(images, labels)
    again = nm.load_mnist(SHIPPED)
    assert np.array_equal(again.test_images, shipped.test_images) and again.digest == shipped.digest
    other = nm.load_mnist(SHIPPED, split=nm.HeldOutSplit(seed=1))
    assert not np.array_equal(other.test_labels, shipped.test_labels) and other.digest != shipped.digest
    # both parts see every digit in roughly its share (a random, not a contiguous, split)
    counts = np.bincount(shipped.test_labels, minlength=10) / 2000
    assert np.all(np.abs(counts - np.asarray(T10K_COUNTS) / 10_000) < 0.03)


def test_split_validation():
    with pytest.raises(ValueError, match="test_fraction"):
        nm.HeldOutSplit(test_fraction=1.0)
    with pytest.raises(ValueError, match="part"):
        nm.HeldOutSplit(part="valid")
    with pytest.raises(TypeError, match="Split object"):
        nm.load_mnist(SHIPPED or ".", split="held_out")


# ------------------------------------------------------------------------------ the CNN
def test_cnn_layers_match_equinox_conv_and_pool():
    model = nm.CNN(nm.CNNConfig(), key=jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (1, 28, 28))
    conv = _cnn.conv_valid(model.conv.weight, model.conv.bias, x)
    assert conv.shape == (3, 25, 25)
    assert np.allclose(conv, model.conv(x), atol=1e-5)
    pooled = _cnn.max_pool_2x2_stride1(conv)
    assert pooled.shape == (3, 24, 24)
    assert np.allclose(pooled, eqx.nn.MaxPool2d(2, stride=1)(conv))
    assert nm.CNNConfig().flat_size == 1728 and model.hidden.in_features == 1728
    assert model.hidden.out_features == 512 and model.feature.out_features == 64
    # default Equinox (= PyTorch) init: uniform within ±1/√fan_in, biases included
    bound = 1 / np.sqrt(1728)
    assert np.abs(model.hidden.weight).max() <= bound and np.abs(model.hidden.bias).max() <= bound
    assert np.abs(model.hidden.weight).max() > 0.9 * bound


def test_cnn_forward_shapes_and_bottleneck():
    image = jnp.full((28, 28), 255, jnp.uint8)
    x = nm.preprocess(image)
    assert x.shape == (1, 28, 28) and np.allclose(x, 1.0)  # (1 − 0.5)/0.5
    assert np.allclose(nm.preprocess(jnp.zeros((28, 28), jnp.uint8)), -1.0)
    model = nm.CNN(nm.CNNConfig(), key=jax.random.key(0))
    h, logp = model.features(x), model(x)
    assert h.shape == (64,) and np.all(h >= 0)
    assert logp.shape == (10,) and np.isclose(np.exp(logp).sum(), 1.0, atol=1e-5)
    # the head is the last Linear on the features, then log-softmax
    assert np.allclose(logp, jax.nn.log_softmax(model.head(h)), atol=1e-6)
    narrow = nm.CNN(nm.CNNConfig(bottleneck=10), key=jax.random.key(0))
    assert narrow.features(x).shape == (10,) and narrow.head.in_features == 10
    with pytest.raises(ValueError, match="bottleneck"):
        nm.CNNConfig(bottleneck=0)
    with pytest.raises(ValueError, match="batch_size"):
        nm.CNNConfig(batch_size=0)


def test_epoch_batches_are_without_replacement():
    batches = np.asarray(_cnn.epoch_batches(jax.random.key(0), 50, 8, 20))  # 6 batches per epoch, 2 left over
    assert batches.shape == (20, 8)
    for e in range(3):
        epoch = batches[6 * e: 6 * e + 6].ravel()
        assert len(set(epoch)) == 48 and epoch.min() >= 0 and epoch.max() < 50
    assert not np.array_equal(batches[:6], batches[6:12])  # reshuffled every epoch
    with pytest.raises(ValueError, match="batch_size=60 exceeds"):
        _cnn.epoch_batches(jax.random.key(0), 50, 60, 3)


@needs_data
def test_tiny_cnn_reaches_stated_accuracy(tiny_features, shipped):
    features, cache = tiny_features
    accuracy = features.info["cnn_test_accuracy"]
    assert accuracy >= TINY_CNN_MIN_ACCURACY, f"tiny CNN test accuracy {accuracy:.3f}"
    assert features.train.shape == (8000, 64) and features.test.shape == (2000, 64)
    assert features.train.dtype == np.float32 and np.all(features.train >= 0)  # ReLU features
    assert np.array_equal(features.test_labels, shipped.test_labels)
    # the stored CNN reproduces the stored features and the stated accuracy
    model = nm.load_cnn(TINY_CNN, shipped, cache_dir=cache)
    assert np.allclose(nm.extract_features(model, shipped.test_images[:64]), features.test[:64], atol=1e-5)
    assert nm.cnn_accuracy(model, shipped.test_images, shipped.test_labels) == pytest.approx(accuracy)


@needs_data
def test_feature_cache_is_reused_and_keyed_on_everything(tiny_features, shipped, monkeypatch):
    features, cache = tiny_features

    def no_training(*args, **kwargs):
        raise AssertionError("the cached features should have been loaded, not retrained")

    monkeypatch.setattr(_features, "train_cnn", no_training)  # a retrain would fail the test
    again = nm.mnist_features(shipped, TINY_CNN, cache_dir=cache)
    assert np.array_equal(again.train, features.train) and again.key == features.key
    key = nm.features_key(TINY_CNN, shipped)
    assert len(key) == 64 and int(key, 16) >= 0  # a sha256 hex digest
    assert nm.features_key(nm.CNNConfig(n_steps=100, batch_size=256, weight_decay=2e-4), shipped) != key
    assert nm.features_key(nm.CNNConfig(n_steps=100, batch_size=256, seed=1), shipped) != key
    other = nm.load_mnist(SHIPPED, split=nm.HeldOutSplit(test_fraction=0.25))
    assert nm.features_key(TINY_CNN, other) != key


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NTAJAX_CACHE_DIR", str(tmp_path))
    assert nm.default_cache_dir() == tmp_path / "mnist"
    monkeypatch.delenv("NTAJAX_CACHE_DIR")
    assert nm.default_cache_dir().parts[-3:] == (".cache", "ntajax", "mnist")


# ------------------------------------------------------------------------------ label maps
def test_even_odd_map_is_the_stated_bijection():
    table = nm.EvenOddLabels().table
    evens, odds = [0, 2, 4, 6, 8], [1, 3, 5, 7, 9]
    assert [table[y] for y in evens] == [0, 1, 2, 3, 4]
    assert [table[y] for y in odds] == [5, 6, 7, 8, 9]
    assert sorted(table) == list(range(10))
    assert nm.OriginalLabels().table == tuple(range(10))
    assert int(nm.EvenOddLabels()(jnp.asarray(7))) == 8
    assert nm.PermutedLabels(labels=table).table == table
    with pytest.raises(ValueError, match="permutation"):
        nm.PermutedLabels(labels=(0, 0, 1, 2, 3, 4, 5, 6, 7, 8))


# ------------------------------------------------------------------------------ streams
_next_batch = jax.jit(next_batch, static_argnums=3)


def _draw(state, task, keys, batch, n):
    out = []
    for _ in range(n):
        idx, state = _next_batch(state, jnp.asarray(task), keys, batch)
        out.append(np.asarray(idx))
    return out, state


def test_stream_covers_each_example_once_per_epoch_and_resumes_per_task():
    n, batch = 23, 5  # 4 batches per epoch, 3 examples unused per epoch
    keys = jax.random.split(jax.random.key(3), 2)
    # task 0 alone: 3 epochs
    alone, _ = _draw(StreamState.initial(2, n), 0, keys, batch, 12)
    for e in range(3):
        epoch = np.concatenate(alone[4 * e: 4 * e + 4])
        assert len(np.unique(epoch)) == 20 and epoch.min() >= 0 and epoch.max() < n
    assert not np.array_equal(np.concatenate(alone[:4]), np.concatenate(alone[4:8]))
    # interleaved with task 1 in irregular blocks: task 0 resumes where it stopped
    state = StreamState.initial(2, n)
    seen0, seen1 = [], []
    for task, count in ((0, 3), (1, 6), (0, 2), (1, 1), (0, 7)):
        drawn, state = _draw(state, task, keys, batch, count)
        (seen0 if task == 0 else seen1).extend(drawn)
    assert all(np.array_equal(a, b) for a, b in zip(seen0, alone))
    assert np.asarray(state.count).tolist() == [12, 7]
    # task 1 has its own stream (a different order)
    assert not np.array_equal(np.concatenate(seen1[:4]), np.concatenate(alone[:4]))
    # the same under jit + scan
    tasks = jnp.asarray([0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])

    @jax.jit
    def scanned(tasks):
        def step(state, task):
            idx, state = next_batch(state, task, keys, batch)
            return state, idx
        return jax.lax.scan(step, StreamState.initial(2, n), tasks)[1]

    out = np.asarray(scanned(tasks))
    assert np.array_equal(out[np.asarray(tasks) == 0], np.stack(alone))
    with pytest.raises(ValueError, match="batch_size=30 exceeds"):
        next_batch(StreamState.initial(2, n), jnp.asarray(0), keys, 30)
