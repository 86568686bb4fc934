import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
# CUDA kernels run under Numba's simulator unless the caller chose otherwise (NUMBA_ENABLE_CUDASIM=0 on a
# machine with a GPU); it must be set before Numba is first imported.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

from numbacnn import backend  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_state():
    """Every test starts float32 with a fixed seed."""
    backend.set_floatx("float32")
    backend.seed(0)
    yield
    backend.set_floatx("float32")
