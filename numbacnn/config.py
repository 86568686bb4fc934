"""Keras 3's ``keras.config``: the global settings, with Keras's names."""

from ._names import missing_name
from .backend import epsilon, floatx, image_data_format, set_floatx, set_image_data_format


def backend():
    """The name of the engine that computes (Keras answers "tensorflow", "jax", ...)."""
    return "numbacnn"


__all__ = ["backend", "epsilon", "floatx", "image_data_format", "set_floatx", "set_image_data_format"]

__getattr__ = missing_name(__name__, lambda: globals())
