"""Reading MNIST from the standard IDX files, gzipped or not (MODEL §2.5, §8.16).

IDX layout (LeCun et al.): a 4-byte big-endian magic number ``0x0000TTDD`` (``TT`` the
element type, 0x08 = unsigned byte; ``DD`` the number of dimensions), then ``DD`` big-endian
uint32 sizes, then the elements in C order. MNIST uses

* images: magic 2051 (0x00000803), sizes (n, 28, 28);
* labels: magic 2049 (0x00000801), sizes (n,), values 0–9.

Nothing is downloaded. The directory is, in order: the ``directory`` argument (the ``--data``
option of a command), the ``NTAJAX_MNIST_DIR`` environment variable, or the 10 000-image
test split shipped with the project (``shared/data/mnist`` next to, or inside, the
repository). With the full set (``train-*`` and ``t10k-*`` files) the standard 60 000/10 000
split is used (:class:`StandardSplit`); with the test files alone they are split
reproducibly into train and test parts (:class:`HeldOutSplit`).
"""

import abc
import dataclasses
import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
IMAGE_SHAPE = (28, 28)
N_CLASSES = 10
ENV_DATA_DIR = "NTAJAX_MNIST_DIR"
FILE_STEMS = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("t10k", "images"): "t10k-images-idx3-ubyte",
    ("t10k", "labels"): "t10k-labels-idx1-ubyte",
}


class IDXError(ValueError):
    """A missing, truncated or malformed IDX file (the message names the path and what was expected)."""


def _open_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":  # not gzip: a raw IDX file, whatever its name
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise IDXError(f"{path}: gzip stream is corrupt or truncated ({error}); re-copy the file "
                       f"(its sha256 should match the list in the data README).") from None


def read_idx(path: str | os.PathLike, *, magic: int | None = None) -> np.ndarray:
    """Read one IDX file of unsigned bytes (gzipped or raw) into a uint8 array.

    Args:
        path: the file.
        magic: the expected magic number (``IMAGES_MAGIC`` or ``LABELS_MAGIC``); ``None``
            accepts any unsigned-byte IDX file.

    Returns:
        uint8 array with the sizes in the header, e.g. (n, 28, 28) for images.

    Raises:
        FileNotFoundError: the file does not exist.
        IDXError: bad magic number, unsupported element type, or a size that does not match
            the header (truncated or padded file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {path} does not exist.")
    data = _open_bytes(path)
    if len(data) < 4:
        raise IDXError(f"{path}: {len(data)} bytes, too short for an IDX header (4-byte magic number expected).")
    found = int.from_bytes(data[:4], "big")
    if magic is not None and found != magic:
        raise IDXError(f"{path}: magic number {found} (0x{found:08x}), expected {magic} (0x{magic:08x}); "
                       "is this the right file (images vs labels) and is it a valid IDX file?")
    if found >> 16 != 0 or (found >> 8) & 0xFF != 0x08:
        raise IDXError(f"{path}: magic number 0x{found:08x} is not an unsigned-byte IDX file (expected 0x000008DD).")
    ndim = found & 0xFF
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise IDXError(f"{path}: header declares {ndim} dimensions but the file has only {len(data)} bytes.")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise IDXError(f"{path}: {len(data)} bytes (uncompressed), expected {expected} for shape {shape} "
                       f"({header}-byte header + data); the file {what}.")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of the file's bytes as stored (gzipped or not)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def default_data_dir() -> Path | None:
    """The shipped 10 000-image split (``shared/data/mnist`` beside or inside the repository), if present."""
    root = Path(__file__).resolve().parents[2]
    for candidate in (root.parent / "shared" / "data" / "mnist", root / "shared" / "data" / "mnist"):
        if candidate.is_dir():
            return candidate
    return None


def resolve_data_dir(directory: str | os.PathLike | None = None) -> Path:
    """The MNIST directory: ``directory``, else ``$NTAJAX_MNIST_DIR``, else the shipped split."""
    if directory is None:
        directory = os.environ.get(ENV_DATA_DIR) or None
    if directory is None:
        found = default_data_dir()
        if found is None:
            raise FileNotFoundError(f"no MNIST directory given and the shipped split was not found; pass --data DIR "
                                    f"or set {ENV_DATA_DIR} to a folder with the IDX files "
                                    "(t10k-images-idx3-ubyte[.gz], ...).")
        return found
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"MNIST directory {path} does not exist (from the argument or {ENV_DATA_DIR}).")
    return path


def find_file(directory: Path, part: str, kind: str) -> Path | None:
    """``<stem>`` or ``<stem>.gz`` for part ``train``/``t10k`` and kind ``images``/``labels``."""
    stem = FILE_STEMS[(part, kind)]
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def read_pair(directory: Path, part: str) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """Images (n, 28, 28) uint8, labels (n,) uint8 and {file name: sha256} of one part."""
    arrays, digests = {}, {}
    for kind, magic in (("images", IMAGES_MAGIC), ("labels", LABELS_MAGIC)):
        path = find_file(directory, part, kind)
        if path is None:
            stem = FILE_STEMS[(part, kind)]
            raise FileNotFoundError(f"{directory / stem}[.gz] not found: an MNIST folder needs the standard IDX files "
                                    f"({', '.join(FILE_STEMS[(part, k)] for k in ('images', 'labels'))}, gzipped or not).")
        arrays[kind] = read_idx(path, magic=magic)
        digests[path.name] = file_digest(path)
    images, labels = arrays["images"], arrays["labels"]
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise IDXError(f"{find_file(directory, part, 'images')}: image array of shape {images.shape}, expected (n, 28, 28).")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise IDXError(f"{find_file(directory, part, 'labels')}: {labels.shape} labels for {images.shape[0]} images; "
                       "the image and label files must belong together.")
    if labels.size and labels.max() >= N_CLASSES:
        raise IDXError(f"{find_file(directory, part, 'labels')}: label {int(labels.max())} outside 0–9.")
    return images, labels, digests


@dataclasses.dataclass(frozen=True)
class MnistData:
    """Images and labels of a train and a test part, and where they came from.

    Attributes:
        train_images: (n_train, 28, 28) uint8. train_labels: (n_train,) uint8 in 0–9.
        test_images: (n_test, 28, 28) uint8. test_labels: (n_test,) uint8.
        source: JSON-ready description (directory, split, sha256 of every file read); part
            of every cache key built on this data.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: dict

    @property
    def digest(self) -> str:
        """sha256 over the file digests and the split (not the directory name)."""
        text = repr(sorted(self.source["files"].items())) + repr(self.source["split"])
        return hashlib.sha256(text.encode()).hexdigest()


class Split(abc.ABC):
    """How a directory of IDX files becomes train and test parts."""

    @abc.abstractmethod
    def load(self, directory: Path) -> MnistData:
        """Read and split the files of ``directory``."""


@dataclasses.dataclass(frozen=True)
class StandardSplit(Split):
    """The official split: ``train-*`` files for training, ``t10k-*`` for testing."""

    def load(self, directory: Path) -> MnistData:
        train_x, train_y, d_train = read_pair(directory, "train")
        test_x, test_y, d_test = read_pair(directory, "t10k")
        source = {"directory": str(directory), "split": {"StandardSplit": {}}, "files": {**d_train, **d_test}}
        return MnistData(train_x, train_y, test_x, test_y, source)


@dataclasses.dataclass(frozen=True)
class HeldOutSplit(Split):
    """One file pair (default the 10 000 test images) split into train and test parts.

    The order is ``numpy.random.RandomState(seed).permutation(n)``: the legacy generator,
    whose stream numpy keeps frozen across versions, so the split never changes. The last
    ``round(test_fraction·n)`` examples of the permuted order form the test part.

    Attributes:
        test_fraction: share held out for testing (default 0.2: 8000 train, 2000 test).
        seed: of the permutation (default 0).
        part: ``"t10k"`` (default) or ``"train"``, the file pair to split.
    """

    test_fraction: float = 0.2
    seed: int = 0
    part: str = "t10k"

    def __post_init__(self):
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"HeldOutSplit(test_fraction={self.test_fraction!r}) must lie strictly between 0 and 1.")
        if self.part not in ("t10k", "train"):
            raise ValueError(f"HeldOutSplit(part={self.part!r}) must be 't10k' or 'train'.")

    def load(self, directory: Path) -> MnistData:
        images, labels, digests = read_pair(directory, self.part)
        n = labels.shape[0]
        n_test = int(round(self.test_fraction * n))
        if n_test == 0 or n_test == n:
            raise ValueError(f"HeldOutSplit(test_fraction={self.test_fraction}) leaves an empty part of {n} examples.")
        order = np.random.RandomState(self.seed).permutation(n)
        train, test = order[: n - n_test], order[n - n_test:]
        split = {"HeldOutSplit": dataclasses.asdict(self)}
        source = {"directory": str(directory), "split": split, "files": digests}
        return MnistData(images[train], labels[train], images[test], labels[test], source)


def load_mnist(directory: str | os.PathLike | None = None, *, split: Split | None = None) -> MnistData:
    """MNIST train and test parts from the IDX files of a directory (nothing is downloaded).

    Args:
        directory: folder of the IDX files; ``None`` uses ``$NTAJAX_MNIST_DIR``, else the
            shipped 10 000-image split.
        split: a :class:`Split`; default :class:`StandardSplit` when the ``train-*`` files
            are present, else :class:`HeldOutSplit` of the ``t10k-*`` files.

    Raises:
        FileNotFoundError: no directory, or a required file is missing (named in the message).
        IDXError: a file is corrupt, truncated or of the wrong kind.
    """
    path = resolve_data_dir(directory)
    if split is None:
        has_train = find_file(path, "train", "images") is not None or find_file(path, "train", "labels") is not None
        split = StandardSplit() if has_train else HeldOutSplit()
    if not isinstance(split, Split):
        raise TypeError(f"split={split!r} must be a Split object (StandardSplit() or HeldOutSplit(...)).")
    return split.load(path)
