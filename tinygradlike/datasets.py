"""Data sets for the training jobs: the bundled handwritten digits, MNIST from a local file, and
minGPT's sorting task (generated, nothing to download); and `batches`, to cut arrays into batches.

Everything here is numpy on the host; the training loop uploads one batch at a time. Files
are read without pickle (`np.load(..., allow_pickle=False)`, idx parsed by hand), and a file
that is not what it claims to be raises a ValueError naming it.
"""
from __future__ import annotations

import gzip
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

DIGITS_PATH = Path(__file__).resolve().parent / "data" / "digits.npz"


@dataclass(frozen=True)
class Dataset:
    """Images as float32 (N, 1, H, W) scaled to [0, 1], labels as int32 (N,).

    >>> load_digits()
    Dataset(digits: 1438 train, 359 test, images (1, 8, 8), 10 classes)
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str

    @property
    def image_shape(self) -> tuple[int, ...]:
        """The shape of one image, (channels, height, width).

        >>> load_digits().image_shape
        (1, 8, 8)
        """
        return self.x_train.shape[1:]

    @property
    def classes(self) -> int:
        """The number of classes: one more than the largest label.

        >>> load_digits().classes
        10
        """
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    def __repr__(self) -> str:
        return (f"Dataset({self.name}: {len(self.x_train)} train, {len(self.x_test)} test, "
                f"images {self.image_shape}, {self.classes} classes)")


def load_digits(test_fraction: float = 0.2, split_seed: int = 0) -> Dataset:
    """The UCI handwritten digits bundled with the package (1,797 8x8 images, CC BY 4.0),
    split into train and test by a seeded shuffle: the same split on every run.

    >>> digits = load_digits(); digits.x_train.shape, digits.y_train.dtype
    ((1438, 1, 8, 8), dtype('int32'))
    """
    images, labels = _read_npz_arrays(DIGITS_PATH, ("images", "labels"))
    x = _as_images(images, 16.0)
    y = labels.astype(np.int32)
    order = np.random.default_rng(split_seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return Dataset(x[train], y[train], x[test], y[test], "digits")


def load_mnist(path: str | Path) -> Dataset:
    """MNIST (or any data set in its layout) from a local file or folder.

    `path` is either an .npz with x_train, y_train, x_test, y_test (the layout of Keras'
    mnist.npz), or a folder with the four idx files (train-images-idx3-ubyte,
    train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, optionally .gz).
    uint8 images are scaled by 1/255; a file that does not match is a ValueError naming it.

    >>> images, labels = np.zeros((2, 28, 28), np.uint8), np.array([0, 1])
    >>> np.savez("tiny.npz", x_train=images, y_train=labels, x_test=images, y_test=labels)
    >>> load_mnist("tiny.npz")
    Dataset(mnist (tiny.npz): 2 train, 2 test, images (1, 28, 28), 2 classes)
    """
    path = Path(path)
    if path.is_dir():
        arrays = [read_idx(_find_idx(path, stem)) for stem in
                  ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")]
    elif path.suffix == ".npz":
        arrays = list(_read_npz_arrays(path, ("x_train", "y_train", "x_test", "y_test")))
    else:
        raise ValueError(f"{path}: expected an .npz file or a folder of idx files")
    x_train, y_train, x_test, y_test = arrays
    for x, y, part in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"{path}: {part} images {x.shape} and labels {y.shape} do not match "
                             f"(need (N, H, W) images and N labels)")
    scale = 255.0 if x_train.dtype == np.uint8 else 1.0
    return Dataset(_as_images(x_train, scale), y_train.astype(np.int32),
                   _as_images(x_test, scale), y_test.astype(np.int32), f"mnist ({path.name})")


# ----------------------------------------------------------------------------------- idx files

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | Path) -> np.ndarray:
    """One array from an idx file (the format of LeCun's MNIST files), gzipped or not.

    Layout: two zero bytes, a type code, the number of dimensions, each dimension as a
    big-endian uint32, then the values, big-endian. A file that does not match its header is
    a ValueError naming it.

    >>> write_idx("labels-idx1-ubyte", np.array([3, 1], np.uint8)); read_idx("labels-idx1-ubyte")
    array([3, 1], dtype=uint8)
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an idx file (it must start with two zero bytes)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown idx type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated idx header ({len(raw)} bytes, need {header})")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: idx file of shape {shape} needs {expected} bytes, it has {len(raw)} "
                         f"(truncated or corrupted?)")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write an array as an idx file (the tests use it; handy to convert a data set); a dtype
    idx cannot store is a ValueError.

    >>> write_idx("images-idx3-ubyte", np.zeros((2, 3, 3), np.uint8)); read_idx("images-idx3-ubyte").shape
    (2, 3, 3)
    """
    code = next((k for k, v in _IDX_DTYPES.items() if np.dtype(v).newbyteorder("=") == array.dtype), None)
    if code is None:
        raise ValueError(f"idx cannot store {array.dtype}; use one of uint8, int8, int16, int32, float32, float64")
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    Path(path).write_bytes(header + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes())


def _find_idx(folder: Path, stem: str) -> Path:
    for name in (stem, stem.replace("-idx", ".idx"), stem + ".gz", stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).exists():
            return folder / name
    raise ValueError(f"{folder}: no {stem} (or {stem}.gz) in this folder")


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise ValueError(f"{path}: cannot read it: {e}") from e


# ----------------------------------------------------------------------------------- helpers

def _read_npz_arrays(path: Path, keys: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise ValueError(f"{path}: missing arrays {missing}; it has {archive.files}")
            return tuple(archive[k] for k in keys)
    except ValueError as e:
        if str(path) in str(e):
            raise
        raise ValueError(f"{path}: {e}") from e  # e.g. object arrays, which would need pickle
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable .npz file: {e}") from e


def _as_images(x: np.ndarray, scale: float) -> np.ndarray:
    """(N, H, W) integers -> (N, 1, H, W) float32 in [0, 1]: one channel, as Conv2d expects."""
    return (x.astype(np.float32) / np.float32(scale))[:, None, :, :]


def batches(data: int | np.ndarray | Sequence[np.ndarray], batch_size: int, rng: np.random.Generator | None = None,
            drop_last: bool = True, *, shuffle: bool = True, seed: int | None = None,
            tensors: bool = False) -> Iterator[Any]:
    """Batches of `data`, a DataLoader for arrays: `data` is a count n (then each batch is an
    index array into range(n)), one array, or a tuple of arrays of the same length (then each
    batch is a tuple of their rows), cut along the first axis. Shuffled by `rng` (default: a
    generator seeded with `seed`) unless shuffle=False; tensors=True gives Tensors instead of
    numpy arrays. Dropping the short last batch keeps every step the same shape, so the
    kernels compiled for the first step serve all the others. Every row appears at most once
    (exactly once without drop_last).

    >>> [len(b) for b in batches(5, 2, np.random.default_rng(0))]
    [2, 2]
    >>> [len(b) for b in batches(5, 2, np.random.default_rng(0), drop_last=False)]
    [2, 2, 1]
    >>> x, y = np.arange(6).reshape(3, 2), np.array([0, 1, 2])
    >>> [tuple(b.tolist() for b in batch) for batch in batches((x, y), 2, shuffle=False, drop_last=False)]
    [([[0, 1], [2, 3]], [0, 1]), ([[4, 5]], [2])]
    >>> next(batches(y, 2, seed=0, tensors=True))
    Tensor([...], dtype=int32, ...)
    """
    arrays = None if isinstance(data, (int, np.integer)) else (data if isinstance(data, (tuple, list)) else (data,))
    n = int(data) if arrays is None else _common_length(arrays)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if shuffle:
        order = (rng if rng is not None else np.random.default_rng(seed)).permutation(n)
    else:
        order = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        if arrays is None:
            yield idx
        else:
            rows = tuple(_rows(a, idx, tensors) for a in arrays)
            yield rows if isinstance(data, (tuple, list)) else rows[0]


def _common_length(arrays: Sequence[np.ndarray]) -> int:
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        raise ValueError(f"batches needs arrays of the same length, got lengths {[len(a) for a in arrays]}")
    return lengths.pop()


def _rows(array: np.ndarray, idx: np.ndarray, tensors: bool) -> Any:
    rows = np.asarray(array)[idx]
    if not tensors:
        return rows
    from tinygradlike.tensor import Tensor

    return Tensor(rows.astype(np.int32) if rows.dtype == np.int64 else rows)  # int32: the device's integer


# ----------------------------------------------------------------------------------- sorting

@dataclass(frozen=True)
class SortingTask:
    """minGPT's sorting demo as arrays: read `length` digits from a vocabulary of `digits`, then
    write them sorted. x rows are the 2*length-1 tokens a model reads (the input, then the
    sorted answer shifted right: teacher forcing), y rows the `length` tokens it must predict
    at the last `length` positions (the sorted input). Held-out sequences never appear in
    training.

    >>> task = load_sorting(length=3, digits=3); task.x_train[0], task.y_train[0]
    (array([0, 2, 0, 0, 0], dtype=int32), array([0, 0, 2], dtype=int32))
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    length: int
    digits: int

    @property
    def name(self) -> str:
        """A short description, for reports.

        >>> load_sorting(length=3, digits=2).name
        'sorting 3 digits of 2'
        """
        return f"sorting {self.length} digits of {self.digits}"

    def __repr__(self) -> str:
        return f"SortingTask({self.name}: {len(self.x_train)} train, {len(self.x_test)} held out)"


def load_sorting(length: int = 6, digits: int = 3, test_fraction: float = 0.25, max_sequences: int = 20000,
                 split_seed: int = 0) -> SortingTask:
    """Every sequence of `length` digits in [0, digits) (or, past max_sequences, that many drawn
    without repeats), split into train and held-out by a seeded shuffle. Nothing to download.

    >>> load_sorting()
    SortingTask(sorting 6 digits of 3: 547 train, 182 held out)
    """
    rng = np.random.default_rng(split_seed)
    if digits ** length <= max_sequences:  # Python ints: no overflow however large the space
        codes = rng.permutation(digits ** length)
        inputs = (codes[:, None] // digits ** np.arange(length - 1, -1, -1)[None, :] % digits).astype(np.int32)
    else:
        inputs = _distinct_rows(rng, digits, length, max_sequences)
    count = len(inputs)
    answers = np.sort(inputs, axis=1)
    tokens = np.concatenate([inputs, answers[:, :-1]], axis=1)
    n_test = int(round(count * test_fraction))
    return SortingTask(tokens[n_test:], answers[n_test:], tokens[:n_test], answers[:n_test], length, digits)


def _distinct_rows(rng: np.random.Generator, digits: int, length: int, count: int) -> np.ndarray:
    """`count` different random rows of `length` digits, in the order drawn (the space is far
    larger than count, so a few draws suffice)."""
    rows = np.zeros((0, length), np.int32)
    while len(rows) < count:
        rows = np.concatenate([rows, rng.integers(0, digits, (count, length), dtype=np.int32)])
        _, first = np.unique(rows, axis=0, return_index=True)
        rows = rows[np.sort(first)]
    return rows[:count]
