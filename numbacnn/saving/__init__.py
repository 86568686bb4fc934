"""Saving and loading models in Keras's formats, so files move both ways between numbacnn and Keras.

* ``model.save_weights(path)`` / ``model.load_weights(path, skip_mismatch=False, by_name=False)``: HDF5
  weights, Keras 3's layout for ``*.weights.h5``, Keras 2's for other ``*.h5`` (:mod:`.hdf5`).
* ``model.to_json()`` / :func:`model_from_json`: the architecture as Keras's JSON (:mod:`.serialization`).
* ``model.save(path)`` / :func:`load_model`: architecture, weights, compile settings and optimizer state in
  one Keras 2 whole-model HDF5 file (:mod:`.model_file`).

Every write goes to a temporary file beside the target, is fsynced and renamed into place (:mod:`.atomic`):
an interrupted save leaves the previous file intact. Reading never runs code from a file (h5py and
json.loads only; classes come from :data:`LAYER_REGISTRY` or the caller's ``custom_objects``). A file that
cannot be read or does not fit the model raises :class:`SaveFileError` (a ValueError) naming the file.
"""

from .._names import missing_name
from .hdf5 import SaveFileError, load_weights, save_weights
from .mixin import SavingMixin
from .model_file import load_model, save_model
from .serialization import LAYER_REGISTRY, model_from_config, model_from_json

__all__ = ["LAYER_REGISTRY", "SaveFileError", "SavingMixin", "load_model", "load_weights",
           "model_from_config", "model_from_json", "save_model", "save_weights"]


__getattr__ = missing_name(__name__, lambda: globals())
