"""Every @njit / @cuda.jit function of numbacnn, and nothing else.

``cpu/`` and ``cuda/`` export the same function names; :func:`ops` returns the
namespace of the device in use, so a layer calls ``ops().conv_forward(...)``.
"""

from .. import backend


def ops():
    """The kernel namespace (module) of the current device."""
    if backend.get_device() == "cuda":
        from . import cuda as module
    else:
        from . import cpu as module
    return module
