"""numbacnn: Keras-style convolutional networks computed by Numba kernels.

    import numbacnn as nc
    model = nc.models.Sequential([nc.layers.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)), ...])
"""

import os

# The kernels' matrix products run on Numba's OpenMP threads (kernels/cpu/blas.py makes SciPy's
# OpenBLAS single-threaded), so OpenMP keeps its default wait policy: spin briefly, then sleep.
# numpy's own OpenBLAS is a separate library whose workers spin ~2^28 cycles after each product a
# user's numpy code runs and starve the Numba kernel that follows; 2^4 cycles when OpenBLAS reads this
# at load (numpy loaded after numbacnn, and SciPy's copy). A user's value wins.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")


def _keep_freed_arrays():
    """glibc returns every freed block over 128 KiB-32 MiB to the kernel (its threshold adapts), and
    the next batch's arrays of the same sizes come back as fresh pages: ~2,000 page faults per
    prediction of 32 images for seed 004's model, 7 ms instead of 4 ms. Keep blocks up to 32 MiB in the
    heap and trim it above 1 GiB only. Skipped when the user tunes malloc (MALLOC_*/GLIBC_TUNABLES) or
    sets NUMBACNN_MALLOC=default, and off glibc."""
    import ctypes
    import platform

    if (os.environ.get("NUMBACNN_MALLOC", "").strip().lower() == "default" or "GLIBC_TUNABLES" in os.environ
            or any(k.startswith("MALLOC_") for k in os.environ) or platform.libc_ver()[0] != "glibc"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 * 2 ** 20)
    mallopt(m_trim_threshold, 2 ** 30)


_keep_freed_arrays()

from . import numba_codegen  # noqa: E402

numba_codegen.install()  # before any kernel compiles: a parallel loop body optimized once, not four times

from . import (  # noqa: E402
    activations,
    applications,
    backend,
    callbacks,
    config,
    constraints,
    datasets,
    distribution,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    preprocessing,
    regularizers,
    saving,
    utils,
)
from ._names import missing_name  # noqa: E402
from .backend import get_device, set_device  # noqa: E402
from .initializers import Initializer  # noqa: E402
from .layers import Input, InputLayer, KerasTensor, Layer  # noqa: E402
from .losses import Loss  # noqa: E402
from .metrics import Metric  # noqa: E402
from .models import Model, Sequential  # noqa: E402
from .optimizers import Optimizer  # noqa: E402

__version__ = "0.1.0"


def version():
    """numbacnn's version (Keras's ``keras.version()``)."""
    return __version__


__all__ = ["Initializer", "Input", "InputLayer", "KerasTensor", "Layer", "Loss", "Metric", "Model",
           "Optimizer", "Sequential", "activations", "applications", "backend", "callbacks", "config",
           "constraints", "datasets", "distribution", "get_device", "initializers", "layers", "losses",
           "metrics", "models", "optimizers", "preprocessing", "regularizers", "saving", "set_device",
           "utils", "version"]

__getattr__ = missing_name(__name__, lambda: globals())
