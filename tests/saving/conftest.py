"""Fixtures of the saving tests; their model builders live in saving_models.py (importable from here)."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def data():
    """A tiny 3-class image set (16 samples of 8x8x1) and labels."""
    rng = np.random.default_rng(5)
    return rng.normal(size=(16, 8, 8, 1)).astype("float32"), rng.integers(0, 3, 16)
