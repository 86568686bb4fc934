"""MNIST handwritten digits, as ``keras.datasets.mnist``; also the IDX reader shared with Fashion-MNIST."""

import gzip
import zipfile
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

GZIP_MAX_RATIO = 1100
"""Deflate expands a byte into at most 1032 bytes (258 per 2 bits); a gzip file that declares more data
than this many times its own size is a lie and is refused before anything is allocated."""


def _read_exactly(stream, n, path):
    data = stream.read(n)
    if len(data) != n:
        raise _fetch.DatasetFormatError(f"{path}: truncated IDX header")
    return data


def _idx_stream(path):
    """(opened file, stream of the IDX bytes, compressed?) for a plain or gzipped IDX file."""
    raw = open(path, "rb")
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return raw, gzip.GzipFile(fileobj=raw, mode="rb"), True
    raw.seek(0)
    return raw, raw, False


def _idx_header(stream, path):
    """(shape, big-endian dtype, header bytes) from the start of an IDX stream."""
    magic = stream.read(4)
    if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] not in _IDX_DTYPES or magic[3] == 0:
        raise _fetch.DatasetFormatError(f"{path}: not an IDX file (magic number {magic.hex()!r})")
    ndim = magic[3]
    shape = tuple(int(d) for d in np.frombuffer(_read_exactly(stream, 4 * ndim, path), ">u4"))
    return shape, np.dtype(_IDX_DTYPES[magic[2]]), 4 + 4 * ndim


def idx_header(path):
    """``(shape, dtype)`` an IDX file (gzipped or not) declares, read without reading its data."""
    path = Path(path)
    raw, stream, _ = _idx_stream(path)
    try:
        with raw:
            shape, dtype, _ = _idx_header(stream, path)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise _fetch.DatasetFormatError(f"{path}: damaged gzip stream ({err})") from err
    return shape, dtype.newbyteorder("=")


def read_idx(path):
    """Read an IDX file (gzipped or not) into a native-endian array of the shape its header gives.

    The size the header declares is checked against the file before anything is allocated (equal to the
    file's size for a plain file; at most :data:`GZIP_MAX_RATIO` times it for a gzipped one), and no more
    than that is ever decompressed: a small file cannot make it allocate or inflate much more than its
    header honestly declares. Raises DatasetFormatError naming the file when the magic number, the
    header or the size is wrong.
    """
    path = Path(path)
    size = path.stat().st_size
    raw, stream, compressed = _idx_stream(path)
    try:
        with raw:
            shape, dtype, header = _idx_header(stream, path)
            nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if not compressed and size != header + nbytes:
                raise _fetch.DatasetFormatError(
                    f"{path}: IDX file of shape {shape} should be {header + nbytes} bytes, found {size} "
                    "(truncated?)")
            if compressed and header + nbytes > GZIP_MAX_RATIO * size:
                raise _fetch.DatasetFormatError(
                    f"{path}: IDX header declares shape {shape} ({header + nbytes} bytes), more than a "
                    f"gzip file of {size} bytes can hold; the file is damaged or crafted")
            buf = np.empty(nbytes, np.uint8)
            got = 0
            while got < nbytes:
                n = stream.readinto(memoryview(buf)[got:])
                if not n:
                    break
                got += n
            extra = len(stream.read(1)) if compressed else 0
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise _fetch.DatasetFormatError(f"{path}: damaged gzip stream ({err})") from err
    if got != nbytes or extra:
        found = f"{header + got} bytes" if got != nbytes else "more bytes"
        raise _fetch.DatasetFormatError(
            f"{path}: IDX file of shape {shape} should be {header + nbytes} bytes, found {found} "
            f"{'(truncated?)' if got != nbytes else 'after its data'}")
    array = buf.view(dtype).reshape(shape)
    if dtype.byteorder not in ("=", "|"):
        array = array.byteswap().view(dtype.newbyteorder("="))
    return array


def find_idx(directory, stems=IDX_FILES):
    """Paths of the files ``stems`` in ``directory`` (``<stem>.gz`` preferred, else ``<stem>``), or None.

    A directory holding some of the files but not all raises DatasetNotFoundError naming the missing
    ones: a set is never completed from another copy of the data set found elsewhere.
    """
    paths, missing = [], []
    for stem in stems:
        found = [p for p in (Path(directory) / f"{stem}.gz", Path(directory) / stem) if p.is_file()]
        if found:
            paths.append(found[0])
        else:
            missing.append(stem)
    if not missing:
        return paths
    if paths:
        raise _fetch.DatasetNotFoundError(
            f"{directory} holds only part of the data set: {', '.join(p.name for p in paths)} but not "
            f"{', '.join(f'{m}[.gz]' for m in missing)}; add the missing files, or remove the others to "
            "use another copy")
    return None


def _checked(x, y, where, image_shape, num_classes):
    err = _fetch.DatasetFormatError
    if x.dtype != np.uint8 or x.shape[1:] != image_shape:
        raise err(f"{where}: images should be uint8 (N, *{image_shape}), found {x.dtype} {x.shape}")
    if y.dtype != np.uint8 or y.shape != (len(x),):
        raise err(f"{where}: labels should be uint8 ({len(x)},), found {y.dtype} {y.shape}")
    if y.size and y.max() >= num_classes:
        raise err(f"{where}: label {y.max()} out of range 0..{num_classes - 1}")
    return x, y


def _check_headers(paths, image_shape):
    """The four files' declared shapes must fit (images (N, *image_shape) and N labels, uint8) before any
    is read."""
    err = _fetch.DatasetFormatError
    headers = [idx_header(p) for p in paths]
    for images, labels in ((0, 1), (2, 3)):
        (xs, xt), (ys, yt) = headers[images], headers[labels]
        where = f"{paths[images]}, {paths[labels]}"
        if xt != np.uint8 or xs[1:] != tuple(image_shape):
            raise err(f"{where}: images should be uint8 (N, *{image_shape}), the header declares {xt} {xs}")
        if yt != np.uint8 or ys != xs[:1]:
            raise err(f"{where}: labels should be uint8 ({xs[0]},), the header declares {yt} {ys}")


def load_idx_set(paths, image_shape=(28, 28), num_classes=10):
    """``((x_train, y_train), (x_test, y_test))`` from the four IDX files ordered as :data:`IDX_FILES`
    (their headers checked against each other before any data is read)."""
    _check_headers(paths, image_shape)
    arrays = [read_idx(p) for p in paths]
    train = _checked(arrays[0], arrays[1], f"{paths[0]}, {paths[1]}", image_shape, num_classes)
    test = _checked(arrays[2], arrays[3], f"{paths[2]}, {paths[3]}", image_shape, num_classes)
    return train, test


_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _npz_member(zf, key, path):
    """One array of an .npz, its declared shape and size checked against the archive before it is read:
    uint8, and as many bytes as the archive says the member holds (which deflate bounds by the member's
    compressed size)."""
    info = zf.getinfo(f"{key}.npy")
    if info.compress_type == zipfile.ZIP_STORED:
        bounded = info.file_size == info.compress_size
    else:
        bounded = info.file_size <= GZIP_MAX_RATIO * max(info.compress_size, 1)
    if not bounded:
        raise ValueError(f"{key}.npy declares {info.file_size} bytes in {info.compress_size} compressed ones")
    with zf.open(info) as member:
        version = np.lib.format.read_magic(member)
        read_header = _NPY_HEADERS.get(version)
        if read_header is None:
            raise ValueError(f"{key}.npy has .npy format version {version}, not 1.0 or 2.0")
        shape, fortran, dtype = read_header(member)
        if dtype != np.uint8 or fortran:
            raise ValueError(f"{key} should be a C-ordered uint8 array, the file declares {dtype}")
        nbytes = int(np.prod(shape, dtype=object))
        if member.tell() + nbytes != info.file_size:
            raise ValueError(f"{key} declares shape {shape} ({nbytes} bytes), the archive holds "
                             f"{info.file_size - member.tell()}")
        buf = np.empty(nbytes, np.uint8)
        got = 0
        while got < nbytes:
            n = member.readinto(memoryview(buf)[got:])
            if not n:
                raise ValueError(f"{key} is truncated")
            got += n
    return buf.reshape(shape)


def _load_npz(path):
    try:
        with zipfile.ZipFile(path) as zf:
            arrays = [_npz_member(zf, k, path) for k in ("x_train", "y_train", "x_test", "y_test")]
    except (KeyError, ValueError, OSError, EOFError, zlib.error, zipfile.BadZipFile) as err:
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
