"""Process-wide settings: the float type, the random generator, the device.

Everything random in numbacnn (weight initialisation, dropout masks, shuffling)
draws from the one generator returned by :func:`rng`, so that
``numbacnn.utils.set_random_seed`` makes a run bit-for-bit repeatable.
"""

import numpy as np

_FLOATX = "float32"
_EPSILON = 1e-7
_RNG = np.random.default_rng()
_DEVICE = "cpu"


def floatx():
    """The default float type of new weights and inputs ('float32' unless changed)."""
    return _FLOATX


def set_floatx(value):
    """Set the default float type: 'float32' (the working type) or 'float64'."""
    global _FLOATX
    if value not in ("float32", "float64"):
        raise ValueError(f"floatx must be 'float32' or 'float64', received {value!r}")
    _FLOATX = value


def standardize_dtype(dtype):
    """Return a numpy dtype for a Keras-style dtype argument (None means floatx())."""
    if dtype is None:
        dtype = _FLOATX
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"numbacnn computes in float32 or float64, received dtype {dtype!r}")
    return dt


def epsilon():
    """Fuzz factor used by losses and metrics (Keras's 1e-7)."""
    return _EPSILON


def rng():
    """The process-wide numpy Generator behind initialisers, dropout and shuffling."""
    return _RNG


def seed(value):
    """Re-seed the process-wide generator (see ``numbacnn.utils.set_random_seed``)."""
    global _RNG
    _RNG = np.random.default_rng(value)


def get_device():
    """The device new models compute on: 'cpu' or 'cuda'."""
    return _DEVICE


def _set_device_name(name):
    global _DEVICE
    _DEVICE = name
