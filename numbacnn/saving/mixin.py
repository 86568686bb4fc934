"""``SavingMixin``: the saving methods of every model (a base class of ``numbacnn.models.Model``)."""

from . import hdf5, model_file, serialization

__all__ = ["SavingMixin"]


def _writes_files():
    """False on the ranks other than 0 of a data-parallel run (their models equal rank 0's)."""
    from ..distribution.data_parallel import is_writer

    return is_writer()


class SavingMixin:
    """save_weights / load_weights / to_json / save / get_config / from_config, as Keras's models have."""

    def save_weights(self, filepath, overwrite=True):
        """Write the weights to HDF5: a name ending in ``.weights.h5`` gives Keras 3's layout (with the
        optimizer's state when compiled), ``.h5`` / ``.hdf5`` Keras 2's. The file is replaced atomically.
        Under data-parallel training (:mod:`numbacnn.distribution`) only rank 0 writes."""
        if not _writes_files():
            return
        hdf5.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False, by_name=False):
        """Read weights saved by numbacnn or Keras (either layout, or a whole-model .h5 file).

        Layers are matched as Keras matches them: Keras 3 files by layer class and order, Keras 2 files by
        the order of the layers that have weights, or by name with ``by_name=True``. ``skip_mismatch=True``
        skips, with a warning, the layers whose weights have other shapes. Raises
        ``numbacnn.saving.SaveFileError`` (a ValueError) naming the file, the layer and both shapes, or
        the layer counts; nothing is assigned when it raises. A missing file raises FileNotFoundError.
        A compiled model also gets the optimizer state a .weights.h5 file holds (a misfit warns).
        """
        hdf5.load_weights(self, filepath, skip_mismatch=skip_mismatch, by_name=by_name)

    def to_json(self, **kwargs):
        """The architecture as Keras 3's JSON; ``numbacnn.models.model_from_json`` rebuilds it."""
        return serialization.model_to_json(self, **kwargs)

    def save(self, filepath, overwrite=True, include_optimizer=True):
        """Architecture, weights, compile settings and optimizer state in one file, written atomically:
        Keras 3's ``.keras`` archive, or Keras 2's HDF5 for ``.h5``; ``numbacnn.models.load_model`` (and
        Keras) read it back. Under data-parallel training only rank 0 writes."""
        if not _writes_files():
            return
        model_file.save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def get_config(self):
        """The model's config: its layers (and, for a functional model, how they are connected)."""
        return serialization.model_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A model of this class from ``get_config()``'s dict."""
        from ..models import Sequential

        class_name = "Sequential" if issubclass(cls, Sequential) else "Functional"
        return serialization.model_from_config({"class_name": class_name, "config": config}, custom_objects)
