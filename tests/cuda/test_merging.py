"""Merge layers on the CUDA device (the simulator, with device arrays kept from numpy, see
tests/cuda/conftest.py): forward and backward equal the CPU's."""

import numpy as np
import pytest

from numbacnn import backend
from numbacnn.kernels import cuda as K
from numbacnn.kernels import ops
from numbacnn.layers import Add, Average, Concatenate, Dot, Maximum, Multiply, Subtract

CASES = [(Add, [(2, 3, 4), (2, 4)]), (Subtract, [(2, 3, 4), (2, 3, 4)]),
         (Multiply, [(2, 2, 2, 3), (2, 1, 1, 3)]),
         (Average, [(2, 3), (2, 3), (2, 3)]), (Maximum, [(2, 3, 2), (2, 1, 2), (2, 3, 2)]),
         (lambda **kw: Concatenate(axis=1, **kw), [(2, 1, 3), (2, 2, 3)]),
         (lambda **kw: Dot(axes=(1, 2), normalize=True, **kw), [(2, 3, 2), (2, 2, 3)])]


def _run(make, xs, g):
    layer = make(dtype="float64")
    layer.maybe_build([x.shape for x in xs])
    k = ops()
    y = layer.forward([k.to_device(x) for x in xs], training=True)
    grads = layer.backward(k.to_device(g))
    return k.to_host(y), [k.to_host(d) for d in grads]


@pytest.mark.parametrize("make, shapes", CASES, ids=["add", "subtract", "multiply", "average", "maximum",
                                                     "concatenate", "dot"])
def test_merge_layers_on_cuda_equal_the_cpu(make, shapes, cuda):
    backend.set_device("cpu")
    xs = [np.random.default_rng(i).standard_normal(s) for i, s in enumerate(shapes)]
    layer = make(dtype="float64")
    y_cpu = layer(xs)
    g = np.random.default_rng(9).standard_normal(y_cpu.shape)
    y_ref, grads_ref = _run(make, xs, g)
    backend.set_device("cuda")
    y, grads = _run(make, xs, g)
    assert K.merge_pair is ops().merge_pair
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-14)
    for d, d_ref in zip(grads, grads_ref):
        np.testing.assert_allclose(d, d_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(make(dtype="float64")(xs), y_ref, rtol=1e-12, atol=1e-14)  # host in, host out
