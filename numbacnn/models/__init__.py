"""Sequential and functional models (``from numbacnn.models import Sequential, Model``)."""

from .model import Model
from .sequential import Sequential
from .trainer import NonFiniteLossError, Trainer

__all__ = ["Model", "NonFiniteLossError", "Sequential", "Trainer"]
