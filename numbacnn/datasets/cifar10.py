"""CIFAR-10 small colour images, as ``keras.datasets.cifar10``, read from the binary (not pickled) version."""

from pathlib import Path

import numpy as np

from . import _fetch

BASE_URL = "https://www.cs.toronto.edu/~kriz/"
"""Where ``cifar-10-binary.tar.gz`` is downloaded from (the dataset authors' page)."""

ARCHIVE = "cifar-10-binary.tar.gz"
BATCH_DIR = "cifar-10-batches-bin"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"

FILE_HASHES = {
    # Keras downloads the pickled version, so its digest does not apply here. This SHA-256 of the binary
    # tarball (170,052,171 bytes) is the one published by JuliaML/MLDatasets.jl (src/datasets/vision/
    # cifar10.jl) and gomlx/gomlx (examples/cifar/cifar.go); the CIFAR page gives its MD5,
    # c32a1d4ab5d03f1284b67883e8d87530.
    ARCHIVE: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
}

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

_RECORD = 1 + 3 * 32 * 32


def read_batch(path):
    """Read a binary batch (records of 1 label byte + 3072 bytes CHW) -> x (N,32,32,3) uint8, y (N,) uint8.

    Raises DatasetFormatError naming the file when its size is not a whole number of records or a label
    is out of range.
    """
    size = Path(path).stat().st_size  # checked before a byte is read
    if size == 0 or size % _RECORD:
        raise _fetch.DatasetFormatError(
            f"{path}: {size} bytes is not a whole number of {_RECORD}-byte CIFAR-10 records (truncated?)"
        )
    data = np.fromfile(path, dtype=np.uint8, count=size)
    if data.size != size:
        raise _fetch.DatasetFormatError(f"{path}: {data.size} bytes read of {size} (the file shrank?)")
    records = data.reshape(-1, _RECORD)
    y = records[:, 0].copy()
    if y.max() >= len(CLASS_NAMES):
        raise _fetch.DatasetFormatError(f"{path}: label {y.max()} out of range 0..{len(CLASS_NAMES) - 1}")
    x = np.ascontiguousarray(records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return x, y


def _find(directory):
    """The folder of ``directory`` holding the six batches, or None; a folder holding some of them but not
    all raises DatasetNotFoundError naming the missing ones (a set is never completed from elsewhere)."""
    for base in (Path(directory) / BATCH_DIR, Path(directory)):
        present = [f for f in (*TRAIN_FILES, TEST_FILE) if (base / f).is_file()]
        if len(present) == len(TRAIN_FILES) + 1:
            return base
        if present:
            missing = [f for f in (*TRAIN_FILES, TEST_FILE) if f not in present]
            raise _fetch.DatasetNotFoundError(
                f"{base} holds only part of CIFAR-10: {', '.join(present)} but not {', '.join(missing)}; add "
                "the missing files, or remove the others to use another copy")
    return None


def _load(base):
    train = [read_batch(base / f) for f in TRAIN_FILES]
    x_test, y_test = read_batch(base / TEST_FILE)
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return (x_train, y_train.reshape(-1, 1)), (x_test, y_test.reshape(-1, 1))


def _unpack(archive, name):
    """Check ``archive``'s digest and extract its batches into the cache; return the batch directory."""
    digest = _fetch.sha256_of(archive)
    if digest != FILE_HASHES[ARCHIVE]:
        raise _fetch.DatasetFormatError(f"{archive}: SHA-256 {digest} is not {FILE_HASHES[ARCHIVE]}")
    return _fetch.safe_extract(archive, _fetch.cache_dir(name) / BATCH_DIR, BATCH_DIR)


def load_data(*, data_dir=None, download=True):
    """Load CIFAR-10: ``(x_train (50000,32,32,3) uint8, y_train (50000,1) uint8), (x_test, y_test)``.

    Looks for ``data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin`` (in a
    ``cifar-10-batches-bin`` folder or directly) in ``data_dir``, then in $NUMBACNN_DATA/cifar10 or
    ~/.cache/numbacnn/datasets/cifar10. A ``cifar-10-binary.tar.gz`` found there is checked and unpacked
    into the cache; last, unless ``download`` is False, the tarball is downloaded (checked by SHA-256),
    unpacked into the cache and deleted.
    Raises DatasetNotFoundError saying where to put the files when none are found or the download fails.
    """
    dirs = _fetch.search_dirs("cifar10", data_dir)
    for d in dirs:
        base = _find(d)
        if base:
            return _load(base)
    for d in dirs:
        if (d / ARCHIVE).is_file():
            return _load(_unpack(d / ARCHIVE, "cifar10"))
    wanted = [ARCHIVE, f"or its folder {BATCH_DIR}/ holding {', '.join(TRAIN_FILES)}, {TEST_FILE}"]
    if not download:
        raise _fetch.not_found("cifar10", dirs, wanted, "not found and download=False")
    try:
        files = [(BASE_URL + ARCHIVE, ARCHIVE, FILE_HASHES[ARCHIVE])]
        (archive,) = _fetch.fetch(files, _fetch.cache_dir("cifar10"))
    except OSError as err:
        raise _fetch.not_found("cifar10", dirs, wanted, str(err)) from err
    try:
        return _load(_unpack(archive, "cifar10"))
    finally:
        archive.unlink()
