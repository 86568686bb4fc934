"""Numba CPU kernels (``@njit(parallel=True, cache=True, nogil=True)``), one module per layer family.

Each module lists its public kernels in ``__all__``; they are re-exported here so that
``numbacnn.kernels.ops()`` gives one flat namespace, the same as ``kernels.cuda``.
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
