"""Conv1D/2D/3DTranspose and grouped Conv1D/2D/3D against slow NumPy references and finite differences."""

import itertools

import numpy as np
import pytest
from gradcheck import check_layer_gradients

from numbacnn import activations
from numbacnn.layers import (
    BatchNormalization,
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    MaxPooling2D,
)
from numbacnn.models import Sequential

TRANSPOSE = {1: Conv1DTranspose, 2: Conv2DTranspose, 3: Conv3DTranspose}
CONV = {1: Conv1D, 2: Conv2D, 3: Conv3D}


def keras_length(size, k, s, d, padding, output_padding):
    """Keras's deconv output length (``_get_output_shape_given_tf_padding``), written out again."""
    k = (k - 1) * d + 1
    if padding == "valid":
        return (size - 1) * s + k + (max(k, s) - k if output_padding is None else output_padding)
    return size * s if output_padding is None else (size - 1) * s + k % 2 + output_padding


def np_conv_transpose(x, w, strides, dilation, padding, output_padding):
    """The definition: every input cell i scatters x[i] @ w[tap].T to output cell i*s - pad + tap*d, with
    TensorFlow's padding of the convolution that maps the output back to the input."""
    rank = x.ndim - 2
    out = []
    before = []
    for a in range(rank):
        size, k, s, d = x.shape[1 + a], w.shape[a], strides[a], dilation[a]
        o = keras_length(size, k, s, d, padding, None if output_padding is None else output_padding[a])
        total = 0 if padding == "valid" else max((size - 1) * s + (k - 1) * d + 1 - o, 0)
        out.append(o)
        before.append(total // 2)
    y = np.zeros((x.shape[0], *out, w.shape[-2]))
    for cell in itertools.product(*(range(s) for s in x.shape[1:-1])):
        for tap in itertools.product(*(range(k) for k in w.shape[:rank])):
            pos = tuple(c * s - p + t * d for c, s, p, t, d in zip(cell, strides, before, tap, dilation))
            if all(0 <= q < o for q, o in zip(pos, out)):
                y[(slice(None),) + pos] += x[(slice(None),) + cell] @ w[tap].T
    return y


def np_conv_valid_padded(x, w, strides, dilation, pads):
    """Cross-correlation of x zero-padded by pads ((before, after) per axis), from the definition."""
    rank = x.ndim - 2
    xp = np.pad(x, ((0, 0),) + tuple(pads) + ((0, 0),))
    out = [(xp.shape[1 + a] - (w.shape[a] - 1) * dilation[a] - 1) // strides[a] + 1 for a in range(rank)]
    y = np.zeros((x.shape[0], *out, w.shape[-1]))
    for cell in itertools.product(*(range(o) for o in out)):
        for tap in itertools.product(*(range(k) for k in w.shape[:rank])):
            pos = tuple(c * s + t * d for c, s, t, d in zip(cell, strides, tap, dilation))
            y[(slice(None),) + cell] += xp[(slice(None),) + pos] @ w[tap]
    return y


def _grid():
    cases = []
    for rank, k in ((1, 3), (1, 4), (2, (2, 3)), (3, 2)):
        for stride, dilation in ((1, 1), (2, 1), (3, 1), (1, 2)):
            for padding in ("valid", "same"):
                for op in (None, 0, 1, 2):
                    if op is not None and op >= stride:
                        continue
                    if rank == 3 and (stride == 3 or op == 1):
                        continue
                    cases.append((rank, k, stride, dilation, padding, op))
    return cases


def _valid_geometry(rank, k, stride, dilation, padding, op, size):
    ks = (k,) * rank if isinstance(k, int) else k
    for kk in ks:
        o = keras_length(size, kk, stride, dilation, padding, op)
        span = (kk - 1) * dilation + 1
        back = -(-o // stride) if padding == "same" else (o - span) // stride + 1
        if back != size:
            return False
    return True


@pytest.mark.parametrize("rank, k, stride, dilation, padding, op", _grid())
def test_transpose_matches_numpy_reference(rank, k, stride, dilation, padding, op):
    size = 3 if rank < 3 else 2
    rng = np.random.default_rng(rank * 100 + stride * 10 + dilation)
    x = rng.normal(size=(2,) + (size,) * rank + (3,))
    layer = TRANSPOSE[rank](2, k, strides=stride, padding=padding, dilation_rate=dilation,
                            output_padding=op, dtype="float64")
    if not _valid_geometry(rank, k, stride, dilation, padding, op, size):
        with pytest.raises(ValueError, match="an even kernel with padding='same' needs"):
            layer(x)
        return
    y = layer(x)
    op_tuple = None if op is None else (op,) * rank
    expected = np_conv_transpose(x, layer.kernel.value, layer.strides, layer.dilation_rate, padding, op_tuple)
    expected += layer.bias.value
    assert y.shape == expected.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("rank, k, stride, dilation, padding, op, activation", [
    (1, 3, 2, 1, "same", 1, "tanh"), (1, 4, 1, 2, "valid", None, None), (2, (3, 2), 2, 1, "valid", 1, "relu"),
    (2, 3, 1, 1, "same", None, "sigmoid"), (2, 2, 3, 1, "valid", 2, None), (3, 2, 2, 1, "same", None, "tanh"),
])
def test_transpose_gradients_match_finite_differences(rank, k, stride, dilation, padding, op, activation):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2,) + (3 if rank < 3 else 2,) * rank + (2,))
    layer = TRANSPOSE[rank](2, k, strides=stride, padding=padding, dilation_rate=dilation, output_padding=op,
                            activation=activation, bias_initializer="random_normal", dtype="float64")
    check_layer_gradients(layer, x)


def test_transpose_weight_gradient_without_input_gradient_and_frozen_layer():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 4, 3, 2))
    g = rng.normal(size=(2, 8, 6, 3))
    layer = Conv2DTranspose(3, 3, strides=2, padding="same", dtype="float64")
    layer(x)
    layer.forward(x, training=True)
    layer.backward(g)
    dw = layer.kernel.grad.copy()
    layer.zero_grads()
    layer.input_grad_needed = False
    layer.forward(x, training=True)
    assert layer.backward(g) is None
    np.testing.assert_allclose(layer.kernel.grad, dw, rtol=1e-12)
    layer.input_grad_needed, layer.trainable = True, False
    layer.zero_grads()
    layer.forward(x, training=True)
    assert layer.backward(g).shape == x.shape
    assert not layer.kernel.grad.any()


def test_transpose_keras_shapes_config_and_errors():
    layer = Conv2DTranspose(8, (3, 5), strides=(2, 1), padding="same")
    assert layer.compute_output_shape((None, 7, 9, 4)) == (None, 14, 9, 8)
    assert layer.compute_output_shape((None, None, 9, 4)) == (None, None, 9, 8)
    layer.maybe_build((None, 7, 9, 4))
    assert layer.kernel.shape == (3, 5, 8, 4) and layer.bias.shape == (8,)
    assert layer.count_params() == 3 * 5 * 8 * 4 + 8
    config = layer.get_config()
    assert config["output_padding"] is None
    assert config["kernel_size"] == (3, 5) and config["strides"] == (2, 1)
    assert set(config) >= {"filters", "kernel_size", "strides", "padding", "output_padding", "data_format",
                           "dilation_rate", "activation", "use_bias", "kernel_initializer",
                           "bias_initializer"}
    assert "groups" not in config
    assert Conv3DTranspose(2, 2, 1, "valid", "channels_last", 0).output_padding == (0, 0, 0)
    with pytest.raises(ValueError, match="output_padding must be strictly less than strides"):
        Conv2DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="strides > 1 is not supported together with dilation_rate > 1"):
        Conv1DTranspose(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match='supports only data_format="channels_last"'):
        Conv2DTranspose(2, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="padding must be one of"):
        Conv1DTranspose(2, 3, padding="causal")


def np_grouped_conv(x, w, groups, strides, dilation, pads):
    cg, fg = w.shape[-2], w.shape[-1] // groups
    return np.concatenate([np_conv_valid_padded(x[..., g * cg:(g + 1) * cg], w[..., g * fg:(g + 1) * fg],
                                                strides, dilation, pads) for g in range(groups)], axis=-1)


@pytest.mark.parametrize("rank, groups, stride, dilation, padding, gradients", [
    (1, 2, 1, 1, "valid", True), (1, 3, 2, 1, "same", False), (2, 2, 1, 2, "same", True),
    (2, 4, 2, 1, "valid", False), (3, 2, 1, 1, "same", False),
])
def test_grouped_conv_matches_numpy_reference_and_gradients(rank, groups, stride, dilation, padding,
                                                            gradients):
    rng = np.random.default_rng(5)
    size = 5 if rank < 3 else 3
    x = rng.normal(size=(2,) + (size,) * rank + (2 * groups,))
    layer = CONV[rank](3 * groups, 3 if rank < 3 else 2, strides=stride, dilation_rate=dilation,
                       padding=padding, groups=groups, bias_initializer="random_normal", dtype="float64")
    y = layer(x)
    assert layer.kernel.shape == layer.kernel_size + (2, 3 * groups)
    pads = [layer._pads(x.shape)[0][a:a + 1] + layer._pads(x.shape)[1][a:a + 1] for a in range(rank)]
    expected = np_grouped_conv(x, layer.kernel.value, groups, layer.strides, layer.dilation_rate, pads)
    np.testing.assert_allclose(y, expected + layer.bias.value, rtol=1e-10, atol=1e-10)
    assert layer.count_params() == int(np.prod(layer.kernel_size)) * 2 * 3 * groups + 3 * groups
    if gradients:
        layer.activation = activations.get("tanh")
        check_layer_gradients(layer, x[:1, ..., :])


def test_grouped_conv_relu_trains_and_fuses_like_the_layers_one_by_one():
    """Training's fused Conv(relu) -> MaxPooling route and inference's Conv -> BN -> relu route, with
    groups, equal the layers run one at a time."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 6, 6, 4)).astype(np.float32)
    model = Sequential([Conv2D(6, 3, padding="same", groups=2, activation="relu", input_shape=(6, 6, 4)),
                        MaxPooling2D(2), Conv2D(4, 3, groups=2), BatchNormalization()])
    model.layers[-1].set_weights([rng.uniform(0.5, 1.5, 4), rng.normal(size=4), rng.normal(size=4),
                                  rng.uniform(0.5, 1.5, 4)])
    h = x
    for layer in model.layers:
        h = layer.forward(h, training=False)
    np.testing.assert_allclose(model.predict(x, verbose=0), h, rtol=1e-5, atol=1e-6)
    conv, pool = model.layers[0], model.layers[1]
    y, argmax = conv.forward_pooled(x, pool.pool_size)
    np.testing.assert_allclose(y, pool.forward(conv.forward(x, training=False)), rtol=1e-6, atol=1e-6)
    assert argmax.shape == (3, 1, 3, 3, 6)
    model.compile(optimizer="sgd", loss="mse")
    before = model.layers[0].kernel.numpy()
    model.train_on_batch(x, rng.normal(size=(3, 1, 1, 4)).astype(np.float32))
    assert not np.array_equal(before, model.layers[0].kernel.numpy())


def test_groups_errors_and_config():
    with pytest.raises(ValueError, match="filters must be divisible by groups"):
        Conv2D(5, 3, groups=2)
    with pytest.raises(ValueError, match="groups must be a positive int"):
        Conv2D(4, 3, groups=0)
    with pytest.raises(ValueError, match="input channels must be divisible by groups"):
        Conv2D(4, 3, groups=2).maybe_build((None, 5, 5, 3))
    assert Conv1D(6, 3, groups=3).get_config()["groups"] == 3
