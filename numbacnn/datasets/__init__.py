"""Keras-compatible datasets: ``mnist``, ``fashion_mnist`` and ``cifar10``, each with ``load_data()``.

Files are looked for in a directory passed as ``data_dir=``, then in $NUMBACNN_DATA/<name> (or
~/.cache/numbacnn/datasets/<name>, honouring $XDG_CACHE_HOME), then (Fashion-MNIST only) in Debian's
/usr/share/datasets/fashion-mnist, and are downloaded into the cache directory as a last resort.
"""

from .._names import missing_name
from . import cifar10, fashion_mnist, mnist
from ._fetch import DatasetFormatError, DatasetNotFoundError

__all__ = ["DatasetFormatError", "DatasetNotFoundError", "cifar10", "fashion_mnist", "mnist"]


__getattr__ = missing_name(__name__, lambda: globals())
