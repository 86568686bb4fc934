import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from numbacnn import backend  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_state():
    """Every test starts float32 with a fixed seed."""
    backend.set_floatx("float32")
    backend.seed(0)
    yield
    backend.set_floatx("float32")
