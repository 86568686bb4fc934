"""Numba CUDA kernels (``@cuda.jit``): the public names and contracts of ``kernels.cpu``, on device arrays.

Each module lists its public kernels in ``__all__``; they are re-exported here, so that
``numbacnn.kernels.ops()`` gives one flat namespace, the same as ``kernels.cpu``. Importing this package
needs ``numba-cuda`` (``pip install 'numbacnn[cuda]'``); ``numbacnn.set_device("cuda")`` checks for it
and for a GPU first.
"""

from importlib import import_module

_MODULES = ("activations", "arrays", "blas", "conv", "dense", "depthwise", "dropout", "image", "losses",
            "merging", "normalization", "optimizers", "pooling", "resampling", "reshaping", "workspace")


def _export_all():
    for name in _MODULES:
        module = import_module(f"{__name__}.{name}")
        for symbol in module.__all__:
            globals()[symbol] = getattr(module, symbol)


_export_all()
