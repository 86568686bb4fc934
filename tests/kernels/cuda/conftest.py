"""Fixtures of the CUDA kernel tests (run on Numba's CUDA simulator unless NUMBA_ENABLE_CUDASIM=0)."""

import inspect

import numpy as np
import pytest
from numba import cuda


@pytest.fixture
def dev():
    """dev(a) -> a copied to the device; dev(a, b, ...) -> a tuple of device copies."""
    def to_device(*arrays):
        copies = tuple(cuda.to_device(np.ascontiguousarray(a)) for a in arrays)
        return copies[0] if len(copies) == 1 else copies
    return to_device


@pytest.fixture
def same_api():
    """same_api(cpu_module, cuda_module): asserts the same ``__all__``, signatures and constants."""
    def check(cpu, gpu):
        assert gpu.__all__ == cpu.__all__
        for name in cpu.__all__:
            c, g = getattr(cpu, name), getattr(gpu, name)
            if callable(c):
                assert inspect.signature(g) == inspect.signature(getattr(c, "py_func", c)), name
            else:
                assert g == c, name
    return check
