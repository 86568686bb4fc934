"""MNIST handwritten digits, as ``keras.datasets.mnist``; also the IDX reader shared with Fashion-MNIST."""

import gzip
import zlib
from pathlib import Path

import numpy as np

from . import _fetch

BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
"""Where ``mnist.npz`` is downloaded from (Keras's mirror)."""

FILE_HASHES = {
    # From keras/src/datasets/mnist.py.
    "mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
}

CLASS_NAMES = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
"""The four IDX files of an MNIST-style data set (each may also carry a ``.gz`` suffix)."""

_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """Read an IDX file (gzipped or not) into a native-endian array of the shape its header gives.

    Raises DatasetFormatError naming the file when the magic number, the header or the size is wrong.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise _fetch.DatasetFormatError(f"{path}: damaged gzip stream ({err})") from err
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _IDX_DTYPES or data[3] == 0:
        raise _fetch.DatasetFormatError(f"{path}: not an IDX file (magic number {data[:4].hex()!r})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise _fetch.DatasetFormatError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise _fetch.DatasetFormatError(
            f"{path}: IDX file of shape {shape} should be {expected} bytes, found {len(data)} (truncated?)"
        )
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def find_idx(directory, stems=IDX_FILES):
    """Paths of the files ``stems`` in ``directory`` (``<stem>.gz`` preferred, else ``<stem>``), or None."""
    paths = []
    for stem in stems:
        found = [p for p in (Path(directory) / f"{stem}.gz", Path(directory) / stem) if p.is_file()]
        if not found:
            return None
        paths.append(found[0])
    return paths


def _checked(x, y, where, image_shape, num_classes):
    err = _fetch.DatasetFormatError
    if x.dtype != np.uint8 or x.shape[1:] != image_shape:
        raise err(f"{where}: images should be uint8 (N, *{image_shape}), found {x.dtype} {x.shape}")
    if y.dtype != np.uint8 or y.shape != (len(x),):
        raise err(f"{where}: labels should be uint8 ({len(x)},), found {y.dtype} {y.shape}")
    if y.size and y.max() >= num_classes:
        raise err(f"{where}: label {y.max()} out of range 0..{num_classes - 1}")
    return x, y


def load_idx_set(paths, image_shape=(28, 28), num_classes=10):
    """``((x_train, y_train), (x_test, y_test))`` from the four IDX files ordered as :data:`IDX_FILES`."""
    arrays = [read_idx(p) for p in paths]
    train = _checked(arrays[0], arrays[1], f"{paths[0]}, {paths[1]}", image_shape, num_classes)
    test = _checked(arrays[2], arrays[3], f"{paths[2]}, {paths[3]}", image_shape, num_classes)
    return train, test


def _load_npz(path):
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = [f[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except (KeyError, ValueError, OSError, EOFError, zlib.error) as err:
        raise _fetch.DatasetFormatError(f"{path}: not a valid mnist.npz ({err})") from err
    return _checked(*arrays[:2], path, (28, 28), 10), _checked(*arrays[2:], path, (28, 28), 10)


def load_data(path="mnist.npz", *, data_dir=None, download=True):
    """Load MNIST: ``(x_train (60000,28,28) uint8, y_train (60000,) uint8), (x_test (10000,28,28), y_test)``.

    ``path`` is the ``.npz`` file name, looked for in each search directory (an absolute path is used as
    is), as in Keras. A directory holding the four IDX files (gzipped or not) serves too. Search order:
    ``data_dir``, then $NUMBACNN_DATA/mnist or ~/.cache/numbacnn/datasets/mnist; last, unless
    ``download`` is False, a download (checked by SHA-256) into that cache directory.
    Raises DatasetNotFoundError saying where to put the files when none are found or the download fails.
    """
    dirs = _fetch.search_dirs("mnist", data_dir)
    for d in dirs:
        if (d / path).is_file():
            return _load_npz(d / path)
        idx = find_idx(d)
        if idx:
            return load_idx_set(idx)
    wanted = [Path(path).name, "or the four IDX files " + ", ".join(f"{stem}[.gz]" for stem in IDX_FILES)]
    if not download:
        raise _fetch.not_found("mnist", dirs, wanted, "not found and download=False")
    target = _fetch.cache_dir("mnist") / path
    try:
        _fetch.fetch([(BASE_URL + "mnist.npz", target.name, FILE_HASHES["mnist.npz"])], target.parent)
    except OSError as err:
        raise _fetch.not_found("mnist", dirs, wanted, str(err)) from err
    return _load_npz(target)
