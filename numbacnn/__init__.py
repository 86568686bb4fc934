"""numbacnn: Keras-style convolutional networks computed by Numba kernels.

    import numbacnn as nc
    model = nc.models.Sequential([nc.layers.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)), ...])
"""

import os

# Numba's OpenMP threads spin after each parallel kernel and starve OpenBLAS's threads in the matrix
# product that usually follows; on 2 cores that made a training step about twice as slow. Passive
# waiting costs ~50 us per kernel launch. Set before Numba starts its thread pool; a user's value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import (  # noqa: E402
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
    saving,
    utils,
)

__version__ = "0.1.0"

__all__ = ["activations", "applications", "backend", "callbacks", "datasets", "initializers", "layers",
           "losses", "metrics", "models", "optimizers", "saving", "utils"]
