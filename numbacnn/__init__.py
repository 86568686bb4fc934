"""numbacnn: Keras-style convolutional networks computed by Numba kernels.

    import numbacnn as nc
    model = nc.models.Sequential([nc.layers.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)), ...])
"""

from . import (
    activations,
    applications,
    backend,
    callbacks,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    utils,
)

__version__ = "0.1.0"

__all__ = ["activations", "applications", "backend", "callbacks", "datasets", "initializers", "layers",
           "losses", "metrics", "models", "optimizers", "utils"]
