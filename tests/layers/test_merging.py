"""Merge layers (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot): values against NumPy,
Keras's broadcasting and shape rules, gradients against finite differences (float64), errors, configs."""

import numpy as np
import pytest
from gradcheck import numeric_grad

from numbacnn import layers
from numbacnn.layers import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
)
from numbacnn.saving.serialization import deserialize_layer, serialize_layer


def _x(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def check_merge_gradients(layer, xs, atol=1e-6, rtol=1e-5):
    """backward against central differences of sum(forward(xs) * g), for every input."""
    xs = [np.array(x, dtype=np.float64) for x in xs]
    layer.maybe_build([x.shape for x in xs])
    y = layer.forward(xs, training=True)
    g = np.random.default_rng(1234).standard_normal(y.shape)
    grads = layer.backward(g.copy())
    assert isinstance(grads, list) and len(grads) == len(xs)

    def loss():
        return float(np.sum(layer.forward(xs, training=False) * g))

    for i, (x, dx) in enumerate(zip(xs, grads)):
        assert dx.shape == x.shape, (i, dx.shape, x.shape)
        np.testing.assert_allclose(dx, numeric_grad(loss, x), atol=atol, rtol=rtol,
                                   err_msg=f"gradient of input {i} of {layer.name}")
    return grads


# (layer class, NumPy reference of the n inputs)
ELEMENTWISE = [
    (Add, lambda xs: xs[0] + xs[1] + xs[2]),
    (Multiply, lambda xs: xs[0] * xs[1] * xs[2]),
    (Average, lambda xs: (xs[0] + xs[1] + xs[2]) / 3),
    (Maximum, lambda xs: np.maximum(np.maximum(xs[0], xs[1]), xs[2])),
    (Minimum, lambda xs: np.minimum(np.minimum(xs[0], xs[1]), xs[2])),
]
# shapes of three inputs that broadcast as Keras allows (lower ranks get axes after the batch axis)
SHAPES = [[(2, 3, 4), (2, 3, 4), (2, 3, 4)], [(2, 3, 3, 4), (2, 1, 1, 4), (2, 3, 3, 4)],
          [(2, 4), (2, 3, 3, 4), (2, 3, 1, 1)]]


def _numpy_aligned(xs):
    rank = max(x.ndim for x in xs)
    return [x.reshape((x.shape[0],) + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]


@pytest.mark.parametrize("cls, reference", ELEMENTWISE, ids=[c.__name__ for c, _ in ELEMENTWISE])
@pytest.mark.parametrize("shapes", SHAPES, ids=["same", "se", "ranks"])
def test_elementwise_values_and_gradients(cls, reference, shapes):
    xs = [_x(s, seed=i) for i, s in enumerate(shapes)]
    layer = cls(dtype="float64")
    expected = reference(_numpy_aligned(xs))
    assert layer.compute_output_shape([(None,) + s[1:] for s in shapes]) == (None,) + expected.shape[1:]
    np.testing.assert_allclose(layer(xs), expected, rtol=1e-15)
    check_merge_gradients(layer, xs)


def test_float32_values_are_kerass_pairwise_operations_bit_for_bit():
    xs = [_x((2, 5, 5, 3), seed=i, dtype=np.float32) for i in range(3)]
    s = _x((2, 1, 1, 3), seed=4, dtype=np.float32)
    np.testing.assert_array_equal(Add()(xs), (xs[0] + xs[1]) + xs[2])
    np.testing.assert_array_equal(Average()(xs), ((xs[0] + xs[1]) + xs[2]) / np.float32(3))
    np.testing.assert_array_equal(Multiply()([xs[0], s]), xs[0] * s)
    np.testing.assert_array_equal(Subtract()([xs[0], s]), xs[0] - s)
    assert Add()(xs).dtype == np.float32


def test_squeeze_and_excitation_gradient_sums_over_the_broadcast_axes():
    x, s = _x((2, 3, 3, 4)), _x((2, 1, 1, 4), seed=1)
    layer = Multiply(dtype="float64")
    layer.forward([x, s], training=True)
    g = _x((2, 3, 3, 4), seed=2)
    dx, ds = layer.backward(g)
    np.testing.assert_allclose(dx, g * s, rtol=1e-15)
    np.testing.assert_allclose(ds, np.sum(g * x, axis=(1, 2), keepdims=True), rtol=1e-12)


def test_subtract_values_gradients_and_input_count():
    a, b = _x((2, 3, 4)), _x((2, 4), seed=1)
    layer = Subtract(dtype="float64")
    np.testing.assert_array_equal(layer([a, b]), a - b[:, None, :])
    check_merge_gradients(layer, [a, b])
    with pytest.raises(ValueError, match=r'Layer "subtract" \(Subtract\) should be called on exactly 2 '
                                         r"inputs, received 3: \(None, 4\), \(None, 4\), \(None, 4\)"):
        Subtract().compute_output_shape([(None, 4)] * 3)


@pytest.mark.parametrize("cls", [Maximum, Minimum])
def test_maximum_minimum_send_a_tie_to_the_first_input_as_tf_does(cls):
    # recorded with TF 2.21 (keras.layers.Maximum/Minimum()([a, b, c]) under a GradientTape):
    # Maximum: [1,1,1,0], [0,0,0,1], [0,0,0,0]; Minimum: [1,0,1,1], [0,1,0,0], [0,0,0,0]
    a, b, c = (np.array([v], np.float32) for v in ([1, 2, 3, 3], [1, 1, 3, 4], [1, 2, 3, 4]))
    layer = cls()
    layer.forward([a, b, c], training=True)
    grads = layer.backward(np.ones((1, 4), np.float32))
    expected = ([[1, 1, 1, 0]], [[0, 0, 0, 1]], [[0, 0, 0, 0]]) if cls is Maximum else \
        ([[1, 0, 1, 1]], [[0, 1, 0, 0]], [[0, 0, 0, 0]])
    for g, e in zip(grads, expected):
        np.testing.assert_array_equal(g, e)


def test_broadcast_maximum_gradient_gathers_the_winners():
    x, s = _x((2, 3, 4)), _x((2, 1, 4), seed=1)
    layer = Maximum(dtype="float64")
    layer.forward([x, s], training=True)
    g = _x((2, 3, 4), seed=2)
    dx, ds = layer.backward(g)
    wins = x >= s
    np.testing.assert_array_equal(dx, np.where(wins, g, 0))
    np.testing.assert_allclose(ds, np.sum(np.where(wins, 0, g), axis=1, keepdims=True), rtol=1e-12)


def test_one_input_is_copied_through_and_its_gradient_passed_back():
    x = _x((2, 3))
    layer = Add(dtype="float64")
    y = layer.forward([x], training=True)
    assert y is not x
    np.testing.assert_array_equal(y, x)
    g = _x((2, 3), seed=1)
    (dx,) = layer.backward(g)
    np.testing.assert_array_equal(dx, g)
    layer.forward([x, x], training=True)
    for d in layer.backward(g):
        np.testing.assert_array_equal(d, g)


def test_input_grad_needed_false_gives_none():
    layer = Multiply(dtype="float64")
    layer.forward([_x((2, 3)), _x((2, 3), seed=1)], training=True)
    layer.input_grad_needed = False
    assert layer.backward(_x((2, 3))) == [None, None]
    layer.input_grad_needed = [False, True]  # one flag per input also works
    dx0, dx1 = layer.backward(_x((2, 3)))
    assert dx0 is None and dx1.shape == (2, 3)


def test_shape_errors_name_the_layer_and_every_input_shape():
    with pytest.raises(ValueError, match=r'^Layer "add" \(Add\): inputs must have compatible shapes, '
                                         r"received \(None, 8, 8, 16\), \(None, 8, 8, 32\)$"):
        Add().compute_output_shape([(None, 8, 8, 16), (None, 8, 8, 32)])
    with pytest.raises(ValueError, match=r'Layer "mul" \(Multiply\): inputs must have compatible shapes, '
                                         r"received \(2, 3\), \(2, 3\), \(2, 4\)"):
        Multiply(name="mul")([np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match=r"the same batch size, received \(2, 3\), \(4, 3\)"):
        Add()([np.zeros((2, 3)), np.zeros((4, 3))])
    with pytest.raises(ValueError, match=r'Layer "maximum" \(Maximum\) should be called on a list of inputs'):
        Maximum()(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="every input dimension must be positive"):
        Add().maybe_build([(None, 0), (None, 1)])


def test_symbolic_shapes_keep_unknown_sizes():
    assert Add().compute_output_shape([(None, None, 4), (None, 5, 4)]) == (None, None, 4)
    assert Multiply().compute_output_shape([(None, 4), (None, 3, 3, 4)]) == (None, 3, 3, 4)
    assert Concatenate().compute_output_shape([(None, 4, 3), (None, 4, None)]) == (None, 4, None)
    assert Dot(axes=1).compute_output_shape([(None, 5), (None, 5)]) == (None, 1)


@pytest.mark.parametrize("axis", [1, 2, -1, -2])
def test_concatenate(axis):
    sizes = [2, 1, 3]
    xs = [_x(tuple(s if a == axis % 3 else n for a, n in enumerate((2, 4, 5))), seed=i)
          for i, s in enumerate(sizes)]
    layer = Concatenate(axis=axis, dtype="float64")
    np.testing.assert_array_equal(layer(xs), np.concatenate(xs, axis=axis))
    assert layer.compute_output_shape([(None,) + x.shape[1:] for x in xs]) == \
        (None,) + np.concatenate(xs, axis=axis).shape[1:]
    check_merge_gradients(layer, xs)


def test_concatenate_errors():
    with pytest.raises(ValueError, match=r'Layer "concatenate" \(Concatenate\): inputs must have matching '
                                         r"shapes except along the concatenation axis -1, received "
                                         r"\(None, 8, 8, 16\), \(None, 8, 4, 32\)"):
        Concatenate().compute_output_shape([(None, 8, 8, 16), (None, 8, 4, 32)])
    with pytest.raises(ValueError, match=r"one rank .* received \(None, 8\), \(None, 8, 2\)"):
        Concatenate().compute_output_shape([(None, 8), (None, 8, 2)])
    with pytest.raises(ValueError, match="along the axes after the batch axis"):
        Concatenate(axis=0).compute_output_shape([(None, 8), (None, 8)])


def _batch_dot(x, y, a0, a1):
    """Keras's batch_dot by einsum: x's other axes, then y's (batch excluded); rank 1 becomes (B, 1)."""
    xl, yl = "abcdefg"[:x.ndim], "hijklmn"[:y.ndim]
    yl = "a" + yl[1:a1] + xl[a0] + yl[a1 + 1:]
    out = "a" + "".join(c for i, c in enumerate(xl) if i not in (0, a0)) + yl[1:a1] + yl[a1 + 1:]
    r = np.einsum(f"{xl},{yl}->{out}", x, y)
    return r.reshape(r.shape + (1,)) if r.ndim == 1 else r


@pytest.mark.parametrize("shapes, axes, expected", [
    (((2, 5), (2, 5)), 1, (2, 1)),
    (((2, 5), (2, 5)), -1, (2, 1)),
    (((2, 3, 5), (2, 4, 3)), (1, 2), (2, 5, 4)),
    (((2, 3, 5), (2, 3, 4)), 1, (2, 5, 4)),
    (((2, 3, 4, 5), (2, 5, 2)), (-1, 1), (2, 3, 4, 2)),
    (((2, 3), (2, 4, 3, 2)), (1, 2), (2, 4, 2)),
    (((2, 4, 3), (2, 3)), (2, 1), (2, 4)),
])
@pytest.mark.parametrize("normalize", [False, True])
def test_dot(shapes, axes, expected, normalize):
    x, y = _x(shapes[0]), _x(shapes[1], seed=1)
    layer = Dot(axes=axes, normalize=normalize, dtype="float64")
    a0, a1 = ((axes, axes) if isinstance(axes, int) else axes)
    a0, a1 = a0 % x.ndim, a1 % y.ndim
    if normalize:
        x_ref = x / np.linalg.norm(x, axis=a0, keepdims=True)
        y_ref = y / np.linalg.norm(y, axis=a1, keepdims=True)
    else:
        x_ref, y_ref = x, y
    out = layer([x, y])
    assert out.shape == expected
    assert layer.compute_output_shape([(None,) + shapes[0][1:], (None,) + shapes[1][1:]]) == \
        (None,) + expected[1:]
    np.testing.assert_allclose(out, _batch_dot(x_ref, y_ref, a0, a1), rtol=1e-12, atol=1e-14)
    check_merge_gradients(layer, [x, y])


def test_dot_errors_and_arguments():
    with pytest.raises(ValueError, match=r'Layer "dot" \(Dot\): inputs must have the same size along axes '
                                         r"\(1, 2\) \(3 != 4\), received \(None, 3, 5\), \(None, 10, 4\)"):
        Dot(axes=(1, 2)).compute_output_shape([(None, 3, 5), (None, 10, 4)])
    with pytest.raises(ValueError, match="cannot take the dot product along the batch axis"):
        Dot(axes=0).compute_output_shape([(None, 3), (None, 3)])
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        Dot(axes=1)([np.zeros((2, 3))] * 3)
    with pytest.raises(TypeError, match="Invalid type for argument `axes`"):
        Dot(axes="1")
    with pytest.raises(ValueError, match="should contain two elements"):
        Dot(axes=(1, 2, 3))


KERAS_CONFIGS = {  # keys of Keras 3.15's get_config() (dtype is a DTypePolicy there, a name here)
    Add: {"name", "trainable", "dtype"},
    Concatenate: {"name", "trainable", "dtype", "axis"},
    Dot: {"name", "trainable", "dtype", "axes", "normalize"},
}


@pytest.mark.parametrize("layer", [Add(name="sum"), Subtract(), Multiply(), Average(), Maximum(), Minimum(),
                                   Concatenate(axis=1), Dot(axes=(1, 2), normalize=True)],
                         ids=lambda layer: type(layer).__name__)
def test_configs_are_kerass_and_round_trip(layer):
    config = layer.get_config()
    assert set(config) == KERAS_CONFIGS.get(type(layer), KERAS_CONFIGS[Add])
    entry = serialize_layer(layer)
    assert entry["class_name"] == type(layer).__name__ and entry["module"] == "keras.layers"
    clone = deserialize_layer(entry)
    assert type(clone) is type(layer) and clone.get_config() == config
    # the form Keras writes: dtype as a DTypePolicy, axes as a JSON list
    keras_entry = {"module": "keras.layers", "class_name": type(layer).__name__, "registered_name": None,
                   "config": {**config, "dtype": {"module": "keras", "class_name": "DTypePolicy",
                                                  "config": {"name": "float32"}, "registered_name": None}}}
    if "axes" in config:
        keras_entry["config"]["axes"] = list(config["axes"])
    assert type(deserialize_layer(keras_entry)) is type(layer)


def test_function_forms_compute_eagerly_on_arrays():
    a, b, c = (_x((2, 3, 4), seed=i, dtype=np.float32) for i in range(3))
    np.testing.assert_array_equal(layers.add([a, b]), a + b)
    np.testing.assert_array_equal(layers.subtract([a, b]), a - b)
    np.testing.assert_array_equal(layers.multiply([a, b, c]), a * b * c)
    np.testing.assert_array_equal(layers.average([a, b]), (a + b) / np.float32(2))
    np.testing.assert_array_equal(layers.maximum([a, b]), np.maximum(a, b))
    np.testing.assert_array_equal(layers.minimum([a, b]), np.minimum(a, b))
    np.testing.assert_array_equal(layers.concatenate([a, b], axis=1), np.concatenate([a, b], axis=1))
    np.testing.assert_allclose(layers.dot([a, b], axes=2), np.einsum("bik,bjk->bij", a, b), rtol=1e-5)
    np.testing.assert_allclose(layers.dot([a, b], axes=1, normalize=True),
                               _batch_dot(a / np.linalg.norm(a, axis=1, keepdims=True),
                                          b / np.linalg.norm(b, axis=1, keepdims=True), 1, 1), rtol=1e-5)
    assert layers.add([a, b], name="my_add") is not None
