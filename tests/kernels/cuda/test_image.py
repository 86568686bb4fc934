"""CUDA image kernels against their CPU twins (under Numba's CUDA simulator)."""

import numpy as np
import pytest

from numbacnn.kernels.cpu import image as C
from numbacnn.kernels.cuda import image as G
from numbacnn.layers.preprocessing import axis_taps, transpose_taps


def test_the_public_api_is_the_cpu_one(same_api):
    same_api(C, G)


@pytest.mark.parametrize("fill", [C.FILL_REFLECT, C.FILL_WRAP, C.FILL_CONSTANT, C.FILL_NEAREST])
@pytest.mark.parametrize("interp", [C.INTERP_NEAREST, C.INTERP_BILINEAR])
def test_affine_transform_equals_the_cpu(fill, interp, dev):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 5, 2)).astype(np.float32)
    t = np.array([[1.3, -0.4, -3.0, 0.25, 0.9, 2.5, 0.0, 0.0],
                  [-1.1, 0.7, 9.0, 0.6, -1.2, 8.0, 0.01, -0.02]], np.float32)
    y = G.affine_transform(*dev(x, t), interp, fill, 1.5).copy_to_host()
    np.testing.assert_allclose(y, C.affine_transform(x, t, interp, fill, 1.5), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_resample_and_adjoint_equal_the_cpu(dtype, dev):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 4, 3)).astype(dtype)
    h = axis_taps(5, 3, "bilinear", length=7, pad=1)
    w = axis_taps(4, 6, "nearest")
    y = G.resample(dev(x), *dev(*h, *w), 2.0).copy_to_host()
    np.testing.assert_allclose(y, C.resample(x, *h, *w, 2.0), rtol=1e-6)
    g = rng.normal(size=y.shape).astype(dtype)
    ht, wt = transpose_taps(*h, 5), transpose_taps(*w, 4)
    dx = G.resample(dev(g), *dev(*ht, *wt), 0.0).copy_to_host()
    np.testing.assert_allclose(dx, C.resample(g, *ht, *wt, 0.0), rtol=1e-6)


def test_flip_channel_map_contrast_brightness_equal_the_cpu(dev):
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 255, (3, 4, 5, 2)).astype(np.float32)
    flips = np.array([1, 0, 1], np.int64)
    for hor, ver in [(True, False), (False, True), (True, True)]:
        np.testing.assert_array_equal(G.flip_images(*dev(x, flips), hor, ver).copy_to_host(),
                                      C.flip_images(x, flips, hor, ver))
    a, b = rng.normal(size=2).astype(np.float32), rng.uniform(1, 2, 2).astype(np.float32)
    for mode in (C.MAP_SCALE_SHIFT, C.MAP_SUBTRACT_DIVIDE, C.MAP_ADD_MULTIPLY):
        np.testing.assert_array_equal(G.channel_map(*dev(x, a, b), mode).copy_to_host(),
                                      C.channel_map(x, a, b, mode))
    f = np.array([0.5, 1.0, 1.7], np.float32)
    np.testing.assert_allclose(G.adjust_contrast(*dev(x, f), 10, 240).copy_to_host(),
                               C.adjust_contrast(x, f, 10, 240), rtol=1e-6)
    d = np.array([-30.0, 0.0, 99.0], np.float32)
    np.testing.assert_array_equal(G.adjust_brightness(*dev(x, d), 0, 255).copy_to_host(),
                                  C.adjust_brightness(x, d, 0, 255))
