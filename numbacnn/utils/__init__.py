"""Small helpers with Keras's names: set_random_seed, to_categorical, Progbar, PyDataset, and images:
image_dataset_from_directory, load_img, img_to_array, array_to_img, save_img (through Pillow)."""

import random

import numpy as np

from .. import backend
from .._names import missing_name
from .image_dataset import image_dataset_from_directory
from .image_utils import array_to_img, img_to_array, load_img, save_img
from .progbar import Progbar
from .py_dataset import PyDataset, Sequence


def set_random_seed(seed):
    """Seed everything random in numbacnn (and Python's and NumPy's legacy generators):
    two runs with the same seed give bit-identical weights."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed expects a non-negative int, received {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    backend.seed(int(seed))


def to_categorical(y, num_classes=None, dtype="float32"):
    """Integer labels (N,) or (N, 1) as one-hot rows (N, num_classes), like keras.utils.to_categorical."""
    y = np.asarray(y)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if not np.all(np.equal(np.mod(y, 1), 0)):
        raise ValueError("to_categorical expects integer class labels")
    y = y.astype(np.int64)
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must be in [0, {num_classes}), received the range "
                         f"[{y.min()}, {y.max()}]")
    out = np.zeros(y.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out


__all__ = ["Progbar", "PyDataset", "Sequence", "array_to_img", "image_dataset_from_directory", "img_to_array",
           "load_img", "save_img", "set_random_seed", "to_categorical"]


__getattr__ = missing_name(__name__, lambda: globals())
