"""Fashion-MNIST (Zalando's clothing images), as ``keras.datasets.fashion_mnist``."""

from pathlib import Path

from . import _fetch
from .mnist import IDX_FILES, find_idx, load_idx_set

BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
"""Where the four ``.gz`` files are downloaded from (Keras's mirror)."""

FILE_HASHES = {
    # From keras/src/datasets/fashion_mnist.py; the same digests are published by Zalando's repository.
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package installs the files (searched after the cache)."""

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def load_data(*, data_dir=None, download=True):
    """Load Fashion-MNIST: ``(x_train (60000,28,28) uint8, y_train (60000,) uint8), (x_test, y_test)``.

    Looks for the four IDX files (gzipped or not) in ``data_dir``, then $NUMBACNN_DATA/fashion_mnist or
    ~/.cache/numbacnn/datasets/fashion_mnist, then :data:`SYSTEM_DIR`; last, unless ``download`` is False,
    downloads them (checked by SHA-256) into that cache directory.
    Raises DatasetNotFoundError saying where to put the files when none are found or the download fails.
    """
    dirs = _fetch.search_dirs("fashion_mnist", data_dir, SYSTEM_DIR)
    for d in dirs:
        paths = find_idx(d)
        if paths:
            return load_idx_set(paths)
    wanted = [f"{stem}.gz (or {stem}, not gzipped)" for stem in IDX_FILES]
    if not download:
        raise _fetch.not_found("fashion_mnist", dirs, wanted, "not found and download=False")
    files = [(BASE_URL + f"{stem}.gz", f"{stem}.gz", FILE_HASHES[f"{stem}.gz"]) for stem in IDX_FILES]
    try:
        paths = _fetch.fetch(files, _fetch.cache_dir("fashion_mnist"))
    except OSError as err:
        raise _fetch.not_found("fashion_mnist", dirs, wanted, str(err)) from err
    return load_idx_set(paths)
