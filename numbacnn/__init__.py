"""numbacnn: Keras-style convolutional networks computed by Numba kernels.

    import numbacnn as nc
    model = nc.models.Sequential([nc.layers.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)), ...])
"""

import os

# Numba's OpenMP threads spin after each parallel kernel and starve OpenBLAS's threads in the matrix
# product that usually follows; on 2 cores that made a training step about twice as slow. Passive
# waiting costs ~50 us per kernel launch. Set before Numba starts its thread pool; a user's value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Likewise OpenBLAS's workers spin ~2^28 cycles after each matrix product and starve the Numba kernel
# that follows (LeNet-5's first convolution: 13.7 ms -> 7.7 ms with 2^4). OpenBLAS reads this when it
# loads; the kernels' products go through the BLAS that Numba binds (SciPy's), loaded after this line.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

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
from .backend import get_device, set_device  # noqa: E402

__version__ = "0.1.0"

__all__ = ["activations", "applications", "backend", "callbacks", "datasets", "get_device", "initializers",
           "layers", "losses", "metrics", "models", "optimizers", "saving", "set_device", "utils"]
