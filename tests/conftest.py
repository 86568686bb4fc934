import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
# CUDA kernels run under Numba's simulator unless the caller chose otherwise (NUMBA_ENABLE_CUDASIM=0 on a
# machine with a GPU); it must be set before Numba is first imported.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

from numbacnn import backend  # noqa: E402


@pytest.fixture(autouse=True)
def _kernel_arguments_a_gpu_takes(monkeypatch):
    """Under the simulator, a kernel launched with None among its arguments fails, as numba-cuda's
    launcher fails on a GPU ("NotImplementedError: (none, None)"); the simulator alone would run it."""
    if not backend.cuda_config().ENABLE_CUDASIM:
        yield
        return
    try:
        from numba.cuda.simulator.kernel import FakeCUDAKernel  # numba-cuda's simulator, or Numba's own
    except ImportError:  # no CUDA target at all: the tests that need it skip
        yield
        return
    launch = FakeCUDAKernel.__call__

    def call(self, *args):
        if not self._device and any(a is None for a in args):
            names = self.fn.__code__.co_varnames[:len(args)]
            nones = [n for n, a in zip(names, args) if a is None]
            raise TypeError(f"kernel {self.fn.__name__} launched with None for {nones}: a GPU takes arrays "
                            "and scalars only")
        return launch(self, *args)

    monkeypatch.setattr(FakeCUDAKernel, "__call__", call)
    yield


@pytest.fixture(autouse=True)
def _fresh_state():
    """Every test starts float32 with a fixed seed."""
    backend.set_floatx("float32")
    backend.seed(0)
    yield
    backend.set_floatx("float32")
