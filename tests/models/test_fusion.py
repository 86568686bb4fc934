"""Inference fusion (numbacnn.models.fusion): which chains fuse; outputs bit-identical to layer by layer
(within a product's rounding where a max pooling is fused)."""

import numpy as np
import pytest

from numbacnn import applications
from numbacnn.kernels.cpu import blas
from numbacnn.layers import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Conv1D,
    Conv2D,
    Dense,
    Flatten,
    Input,
    LeakyReLU,
    MaxPooling1D,
    MaxPooling2D,
    ReLU,
)
from numbacnn.models import Model, Sequential


def randomise_batchnorm(model, seed=0):
    """Moving statistics, gamma and beta away from their initial values, so the affine is not identity."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, BatchNormalization):
            c = layer.moving_mean.value.shape[0]
            layer.moving_mean.value[:] = rng.standard_normal(c)
            layer.moving_variance.value[:] = rng.random(c) + 0.2
            layer.gamma.value[:] = rng.random(c) + 0.5
            layer.beta.value[:] = rng.standard_normal(c)
        elif isinstance(layer, Model):
            randomise_batchnorm(layer, seed + 1)


def layer_by_layer(model, x):
    """The unfused forward: a hook makes Model.forward run every layer."""
    return model.forward(x, training=False, hook=lambda layer, y: None)


def fused_names(model, pools=False):
    """(conv, batch-norm, activation) names of each group, and its pooling's with ``pools``."""
    groups, _ = model._fusion_plan(False)

    def name(node):
        return node and node.layer.name

    return sorted((name(g.conv), name(g.batchnorm), name(g.activation)) + ((name(g.pool),) if pools else ())
                  for g in groups.values())


def check_bit_identical(model, seed=0):
    """predict() = layer by layer: to the bit, or where a group pools, within the float32 rounding of a
    product computed on other blocks of rows."""
    randomise_batchnorm(model, seed)
    x = np.random.default_rng(seed).standard_normal((5,) + model.input.shape[1:]).astype(np.float32)
    fused = model.predict(x, verbose=0)
    unfused = layer_by_layer(model, x)
    if any(name[-1] for name in fused_names(model, pools=True)):
        np.testing.assert_allclose(fused, unfused, rtol=1e-5, atol=1e-6)
    else:
        assert np.array_equal(fused, unfused), np.abs(fused - unfused).max()
    return fused


@pytest.mark.parametrize("name", ["conv_model_pooling", "conv_model"])
def test_seed_004_models_fuse_conv_bn_relu_and_stay_bit_identical(name):
    model = applications.get(name)()
    assert len(fused_names(model)) == 2
    for conv, bn, act in fused_names(model):
        assert conv.startswith("conv2d") and bn.startswith("batch_normalization")
        assert act.startswith("activation")
    check_bit_identical(model)


def test_partial_chains_and_relu_layers_fuse():
    model = Sequential([
        Conv2D(4, 3, padding="same", input_shape=(7, 6, 2), name="c1"),
        BatchNormalization(name="bn1"),                 # conv -> bn -> tanh
        Activation("tanh", name="tanh"),
        Conv2D(5, 3, name="c2"),
        LeakyReLU(0.1, name="leaky"),                   # conv -> leaky relu, no batch-norm
        Conv2D(3, 2, name="c3"),
        ReLU(max_value=1.0, threshold=0.1, name="capped"),
        Flatten(),
        Dense(3),
    ])
    assert fused_names(model) == [("c1", "bn1", "tanh"), ("c2", None, "leaky"), ("c3", None, "capped")]
    check_bit_identical(model, seed=3)


def test_what_does_not_fuse():
    inp = Input((8, 3))
    a = Conv1D(4, 3, activation="relu", name="own_relu")(inp)      # its own relu: fused in the layer
    b = BatchNormalization(name="after_relu")(a)                    # relu before bn: no plan
    c = Conv1D(4, 3, name="before_sigmoid")(b)
    d = Activation("sigmoid", name="sigmoid")(c)                    # sigmoid stays a pass of its own
    e = Conv1D(4, 1, name="before_axis1")(d)
    f = BatchNormalization(axis=1, name="axis1")(e)                 # not the filters' axis
    g = Conv1D(2, 1, name="output_conv")(f)                         # the model's output
    model = Model(inp, g)
    assert fused_names(model) == []
    check_bit_identical(model, seed=5)


def test_the_output_tensor_is_never_absorbed():
    inp = Input((6, 6, 2))
    c = Conv2D(3, 3, padding="same", name="c")(inp)
    bn = BatchNormalization(name="bn")(c)
    relu = Activation("relu", name="relu")(bn)
    tail = Conv2D(2, 3, name="tail")(Conv2D(3, 1, name="mix")(relu))
    tail_bn = BatchNormalization(name="tail_bn")(tail)
    model = Model(inp, tail_bn)                                      # the output is a bn: no relu after it
    assert fused_names(model) == [("c", "bn", "relu"), ("tail", "tail_bn", None)]
    check_bit_identical(model, seed=7)
    model2 = Model(inp, bn)
    assert fused_names(model2) == [("c", "bn", None)]
    check_bit_identical(model2, seed=8)


def test_nested_model_fuses_inside_and_hooks_see_every_layer():
    inner_in = Input((6, 6, 1))
    h = Conv2D(3, 3, name="ic")(inner_in)
    h = BatchNormalization(name="ibn")(h)
    inner = Model(inner_in, Activation("relu", name="irelu")(h), name="inner")
    outer = Sequential([Input((6, 6, 1)), inner, Flatten(), Dense(2)])
    check_bit_identical(outer, seed=9)
    assert fused_names(inner) == [("ic", "ibn", "irelu")]
    seen = []
    x = np.zeros((2, 6, 6, 1), np.float32)
    inner.forward(x, training=False, hook=lambda layer, y: seen.append(layer.name))
    assert seen[1:] == ["ic", "ibn", "irelu"]


def test_training_runs_every_layer_and_the_plan_follows_graph_changes():
    model = Sequential([Conv2D(2, 3, input_shape=(5, 5, 1), name="c"), BatchNormalization(name="bn")])
    assert fused_names(model) == [("c", "bn", None)]
    model.add(Activation("relu", name="r"))
    assert fused_names(model) == [("c", "bn", "r")]
    model.compile("sgd", "mse")
    x = np.random.default_rng(1).standard_normal((4, 5, 5, 1)).astype(np.float32)
    before = model.get_weights()
    model.train_on_batch(x, np.zeros((4, 3, 3, 2), np.float32))
    assert not np.array_equal(model.get_weights()[2], before[2])  # bn's moving mean moved: bn ran
    check_bit_identical(model, seed=11)


def test_max_pooling_joins_the_group():
    """Conv (own relu) -> MaxPooling, and Conv -> BN -> relu -> MaxPooling: the pooling is absorbed."""
    model = applications.get("cifar_cnn")()
    assert fused_names(model, pools=True) == [("conv2d", None, None, "max_pooling2d"),
                                              ("conv2d_1", None, None, "max_pooling2d_1")]
    check_bit_identical(model)
    seed004 = applications.get("conv_model_pooling")()
    assert fused_names(seed004, pools=True)[0] == ("conv2d", "batch_normalization", "activation",
                                                   "max_pooling2d")
    check_bit_identical(seed004, seed=2)


def test_lenet5_fuses_tanh_and_average_pooling(monkeypatch):
    """LeNet-5: Conv(tanh) -> AveragePooling twice (the direct route, then the blocked one), the same
    output as layer by layer: to the bit on vector_gemm, whose rows do not depend on the blocks."""
    model = applications.get("lenet5")()
    assert fused_names(model, pools=True) == [("conv2d", None, None, "average_pooling2d"),
                                              ("conv2d_1", None, None, "average_pooling2d_1")]
    check_bit_identical(model, seed=12)
    monkeypatch.setitem(blas._STATE, "vector", True)
    x = np.random.default_rng(12).standard_normal((33, 28, 28, 1)).astype(np.float32)
    assert np.array_equal(model.predict(x, verbose=0), layer_by_layer(model, x))


def test_poolings_that_do_not_fuse():
    inp = Input((12, 12, 2))
    a = Conv2D(4, 3, activation="relu", name="overlapping")(inp)
    a = MaxPooling2D(3, strides=2, name="pool_stride2")(a)              # windows overlap
    b = Conv2D(4, 3, activation="relu", padding="same", name="before_same")(a)
    b = MaxPooling2D(2, padding="same", name="pool_same")(b)            # padded windows
    c = Conv2D(4, 1, activation="relu", name="before_avg")(b)
    c = AveragePooling2D(2, strides=1, name="avg")(c)                    # windows overlap
    d = Conv2D(4, 1, activation="sigmoid", name="sigmoid_conv")(c)
    d = MaxPooling2D(1, name="pool_after_sigmoid")(d)                    # sigmoid is not fused
    e = Conv2D(4, 1, activation="relu", name="last_conv")(d)
    model = Model(inp, Flatten()(MaxPooling2D(1, name="last_pool")(e)))
    assert fused_names(model, pools=True) == [("last_conv", None, None, "last_pool")]
    check_bit_identical(model, seed=4)
    assert fused_names(Model(inp, e)) == []                              # its output is the model's


def test_one_dimensional_pooling_fuses():
    model = Sequential([Conv1D(20, 3, activation="relu", input_shape=(11, 3), name="c"),
                        MaxPooling1D(2, name="p"), Flatten(), Dense(2)])
    assert fused_names(model, pools=True) == [("c", None, None, "p")]
    check_bit_identical(model, seed=6)


# ----- training: Conv(relu) -> MaxPooling ------------------------------------------------------------

def training_pairs(model):
    """(convolution, pooling) names of the chains training fuses."""
    groups, _ = model._fusion_plan(True)
    nodes = {id(n): n for n in model._nodes}
    return sorted((nodes[k].layer.name, pool.layer.name) for k, pool in groups.items())


def train_step(model, x, g, fused):
    """Weight gradients and the input gradient of one forward/backward, fused or layer by layer (a hook
    turns the training fusion off)."""
    for w in model.trainable_weights:
        w.grad[...] = 0
    hook = None if fused else (lambda layer, y: None)
    model.input_grad_needed = True
    y = model.forward(x, training=True, hook=hook)
    dx = model.backward(g(y))
    return y, dx, [w.grad.copy() for w in model.trainable_weights]


def cifar_like(dtype):
    model = Sequential([Conv2D(20, 3, activation="relu", input_shape=(12, 13, 3)), MaxPooling2D(),
                        Conv2D(17, 3, activation="relu", padding="same"), MaxPooling2D((2, 3)),
                        Flatten(), Dense(5)])
    model.compile(optimizer="sgd", loss="mse")
    for w in model.weights:
        w.value = w.value.astype(dtype)
    return model


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_training_fuses_conv_relu_max_pooling_with_the_same_gradients(dtype, tol):
    from numbacnn import backend

    backend.set_floatx("float64" if dtype == np.float64 else "float32")
    model = cifar_like(dtype)
    assert training_pairs(model) == [("conv2d", "max_pooling2d"), ("conv2d_1", "max_pooling2d_1")]
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 12, 13, 3)).astype(dtype)
    x[1, 2, 3, 0] = np.nan  # NaN wins its windows and propagates the same way on both routes
    target = rng.standard_normal((4, 5)).astype(dtype)
    fused = train_step(model, x, lambda y: np.nan_to_num(y - target), True)
    plain = train_step(model, x, lambda y: np.nan_to_num(y - target), False)
    np.testing.assert_array_equal(fused[0], plain[0])  # outputs: the same float operations
    np.testing.assert_allclose(np.nan_to_num(fused[1]), np.nan_to_num(plain[1]), rtol=tol, atol=tol)
    np.testing.assert_array_equal(np.isnan(fused[1]), np.isnan(plain[1]))
    for got, expected in zip(fused[2], plain[2]):
        np.testing.assert_allclose(np.nan_to_num(got), np.nan_to_num(expected), rtol=tol, atol=tol)


@pytest.fixture
def fused_calls(monkeypatch):
    """The names of the convolutions whose training forward went through ``forward_pooled``."""
    from numbacnn.layers.convolutional import BaseConv

    calls = []
    forward_pooled = BaseConv.forward_pooled

    def counted(self, *args):
        calls.append(self.name)
        return forward_pooled(self, *args)

    monkeypatch.setattr(BaseConv, "forward_pooled", counted)
    return calls


def test_training_fit_is_the_same_fused_or_not(fused_calls):
    """Two epochs of fit() end at the same losses with the training fusion as without it."""
    from numbacnn import backend
    from numbacnn.models import fusion

    calls = fused_calls

    def run(fused):
        backend.seed(1)
        model = cifar_like(np.float32)
        if not fused:
            model._fusion_cache = (model._nodes, fusion.plan(model._nodes, model.outputs), ({}, set()))
        rng = np.random.default_rng(0)
        x = rng.random((16, 12, 13, 3)).astype(np.float32)
        y = rng.standard_normal((16, 5)).astype(np.float32)
        return model.fit(x, y, epochs=2, batch_size=8, verbose=0).history["loss"]

    plain = run(False)
    assert not calls
    fused = run(True)
    assert len(calls) == 2 * 2 * 2  # two fused convolutions, two batches, two epochs
    np.testing.assert_allclose(fused, plain, rtol=1e-5)


@pytest.mark.parametrize("layers,fused", [
    ([Conv2D(4, 3, activation="relu"), MaxPooling2D()], True),
    ([Conv2D(4, 3), ReLU(), MaxPooling2D()], False),  # the relu is a layer of its own
    ([Conv2D(4, 3, activation="relu"), AveragePooling2D()], False),
    ([Conv2D(4, 3, activation="relu"), MaxPooling2D(2, strides=1)], False),  # windows overlap
    ([Conv2D(4, 3, activation="relu"), MaxPooling2D(padding="same")], False),
    ([Conv2D(4, 3, activation="tanh"), MaxPooling2D()], False),
])
def test_training_fuses_only_a_relu_convolution_into_a_disjoint_max_pooling(layers, fused):
    model = Sequential([Input((9, 9, 2)), *layers, Flatten(), Dense(2)])
    assert bool(training_pairs(model)) is fused


def test_a_hook_sees_every_layer_in_training():
    model = cifar_like(np.float32)
    seen = []
    model.forward(np.zeros((2, 12, 13, 3), np.float32), training=True,
                  hook=lambda layer, y: seen.append(layer.name))
    assert "max_pooling2d" in seen and "conv2d" in seen


def test_fused_training_gradients_match_finite_differences(fused_calls):
    """The fused chain's input and weight gradients against central differences, in float64 (a relu
    kink inside eps is unlikely with these random values)."""
    from gradcheck import check_layer_gradients

    from numbacnn import backend

    backend.set_floatx("float64")
    calls = fused_calls
    model = Sequential([Input((7, 8, 2)), Conv2D(13, 3, activation="relu"), MaxPooling2D(),
                        Conv2D(3, 2, activation="relu", padding="same"), MaxPooling2D((1, 3)), Flatten()])
    x = np.random.default_rng(4).standard_normal((2, 7, 8, 2))
    check_layer_gradients(model, x)
    assert set(calls) == {"conv2d", "conv2d_1"}  # the blocked route (13 filters) and the direct one (3)
