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


_NAME_COUNTERS = {}


def unique_model_name(base):
    """``functional``, ``functional_1``, ... : Keras's default model names, counted per process."""
    count = _NAME_COUNTERS.get(base, 0)
    _NAME_COUNTERS[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def clear_session():
    """Keras's ``clear_session``: forget the default names given so far (the next model is again
    "functional" / "sequential"). Layer names are counted per model in numbacnn, so they need no reset."""
    _NAME_COUNTERS.clear()


def image_data_format():
    """numbacnn computes channels-last (NHWC), as Keras's default."""
    return "channels_last"


def set_image_data_format(value):
    if value != "channels_last":
        raise ValueError(f"numbacnn computes channels-last (NHWC) only; received {value!r}: "
                         "transpose the data to channels-last instead")


def get_device():
    """The device models compute on: 'cpu' or 'cuda'."""
    return _DEVICE


def set_device(name):
    """Compute on ``name``, 'cpu' or 'cuda', from now on (process-wide; a model moves its weights there at
    its next compile, fit, evaluate or predict).

    'cuda' needs the ``numba-cuda`` package (``pip install 'numbacnn[cuda]'``) and a GPU with its driver;
    without them this raises RuntimeError("no CUDA GPU found; use device='cpu' (why)") and the device
    stays as it was.
    """
    global _DEVICE
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', received {name!r}")
    if name == "cuda":
        reason = cuda_unavailable_reason()
        if reason is not None:
            raise RuntimeError(f"no CUDA GPU found; use device='cpu' ({reason})")
    _DEVICE = name


def cuda_config():
    """The settings module of Numba's CUDA target: numba-cuda's, or Numba's own where numba-cuda is not
    installed (Numba's built-in target still carries the CUDA simulator that the tests run on)."""
    try:
        from numba.cuda.core import config
    except ImportError:
        from numba.core import config
    return config


def cuda_unavailable_reason():
    """Why the 'cuda' device cannot be used (numba-cuda missing, no driver, no GPU), or None if it can."""
    try:
        from numba import cuda
    except ImportError as err:
        return f"numba-cuda is not installed: pip install 'numbacnn[cuda]' ({err})"
    try:
        if not cuda.is_available():
            cuda.get_current_device()  # raises with the driver's own reason
            return "numba-cuda sees no usable GPU"
    except Exception as err:  # the CUDA driver's errors have no common base class
        return " ".join(str(err).split()).rstrip(" :") or type(err).__name__
    if not cuda_config().ENABLE_CUDASIM:
        try:  # what the first kernel compilation imports: numba-cuda 0.30 fails here on numpy >= 2.5
            import numba.cuda.cudaimpl  # noqa: F401
        except Exception as err:
            import numpy as np

            return (f"numba-cuda cannot compile kernels with numpy {np.__version__} ({err}); "
                    "pip install 'numbacnn[cuda]' installs a numpy it works with")
    return None
