"""``keras.preprocessing``'s names for image folders: ``image_dataset_from_directory`` and the ``image``
module (``load_img``, ``img_to_array``, ``array_to_img``, ``save_img``, ``smart_resize``); the same
functions as in :mod:`numbacnn.utils`."""

from ..utils.image_dataset import image_dataset_from_directory
from . import image

__all__ = ["image", "image_dataset_from_directory"]
