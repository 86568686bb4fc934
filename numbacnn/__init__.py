"""numbacnn: Keras-style convolutional networks computed by Numba kernels."""

__version__ = "0.1.0"
