"""Sequential and functional models (``from numbacnn.models import Sequential, Model``)."""

from .._names import missing_name
from ..saving import load_model, model_from_json
from .model import Model
from .sequential import Sequential
from .trainer import NonFiniteLossError, Trainer

__all__ = ["Model", "NonFiniteLossError", "Sequential", "Trainer", "load_model", "model_from_json"]


__getattr__ = missing_name(__name__, lambda: globals())
