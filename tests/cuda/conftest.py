"""The CUDA device end to end: under Numba's CUDA simulator here (tests/conftest.py sets
NUMBA_ENABLE_CUDASIM=1), on a GPU where NUMBA_ENABLE_CUDASIM=0. Shapes are tiny: the simulator runs every
GPU thread as a Python thread.

The simulator's device arrays are numpy arrays inside: numpy would read them, ``+`` would add them and
any numpy method (``a.fill(0)``, ``a.sum()``) would work, where a real device array copies itself to the
host or has no such method. While these tests run they refuse all three, so that a host round trip or a
numpy call slipped into the library fails here rather than on a GPU.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from numbacnn import backend

ROOT = Path(__file__).resolve().parents[2]
# Attributes of numba-cuda's DeviceNDArray that the simulator's stand-in forwards to its numpy array, and
# "ctypes", where kernels.cuda.workspace reads a simulated array's address.
_DEVICE_ARRAY_ATTRIBUTES = {"dtype", "ndim", "size", "strides", "flags", "squeeze", "view", "split",
                            "device_ctypes_pointer", "gpu_data", "__cuda_array_interface__", "ctypes"}


@pytest.fixture(autouse=True)
def _device_arrays_stay_on_the_device(monkeypatch):
    """numpy may not read a simulated device array, nor may Python operators combine them (kernels may)."""
    try:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray
    except ImportError:  # numba-cuda missing: the tests that need it skip
        yield
        return
    lookup = FakeCUDAArray.__getattr__

    def getattr_(self, name):  # only what a real DeviceNDArray has, beyond the simulator's own methods
        if name not in _DEVICE_ARRAY_ATTRIBUTES:
            raise AttributeError(f"device arrays have no {name!r} (numpy read one, or called a numpy method)")
        return lookup(self, name)

    def refuse(self, *args):
        raise TypeError("an operator on device arrays: use the arrays kernels (kernels.cuda.arrays)")

    def iterate(self):
        raise TypeError("iterating over a device array (numpy reading it as a sequence?)")

    monkeypatch.setattr(FakeCUDAArray, "__getattr__", getattr_)
    monkeypatch.setattr(FakeCUDAArray, "__iter__", iterate, raising=False)
    for op in ("__add__", "__sub__", "__mul__", "__truediv__", "__floordiv__", "__mod__", "__pow__",
               "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"):
        monkeypatch.setattr(FakeCUDAArray, op, refuse)
    yield


@pytest.fixture(autouse=True)
def _cpu_afterwards():
    """Every test ends on the CPU, whatever device it chose."""
    yield
    backend.set_device("cpu")


@pytest.fixture
def cuda():
    """Compute on 'cuda' for the test (skipped where there is neither a GPU nor the simulator)."""
    reason = backend.cuda_unavailable_reason()
    if reason is not None:
        pytest.skip(f"no CUDA device: {reason}")
    backend.set_device("cuda")


@pytest.fixture(scope="session")
def no_gpu():
    """A function running ``python *args`` in the repository with NUMBA_ENABLE_CUDASIM=0 (the real CUDA
    driver, which this machine lacks); skips where that finds a GPU after all."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))

    def run(*args):
        return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=ROOT,
                              timeout=300)

    if run("-c", "from numbacnn import backend; print(backend.cuda_unavailable_reason())").stdout == "None\n":
        pytest.skip("this machine has a CUDA GPU")
    return run
