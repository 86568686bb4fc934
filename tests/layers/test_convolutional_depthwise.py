"""DepthwiseConv1D/2D and SeparableConv1D/2D: shapes, weights and configs as Keras 3 has them, gradients
against finite differences, and forward plus one SGD step against real Keras (TensorFlow backend) from the
same weights (tests/data/keras_depthwise.npz, written by tests/data/make_keras_depthwise_fixtures.py)."""

import json
import os
import re

import numpy as np
import pytest
from gradcheck import check_layer_gradients

from numbacnn.layers import (
    BatchNormalization,
    Dense,
    DepthwiseConv1D,
    DepthwiseConv2D,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    ReLU,
    SeparableConv1D,
    SeparableConv2D,
    SeparableConvolution2D,
)
from numbacnn.models import Sequential, model_from_json
from numbacnn.optimizers import SGD

FIXTURES = os.path.join(os.path.dirname(__file__), os.pardir, "data", "keras_depthwise.npz")


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURES) as data:
        return {k: data[k] for k in data.files}


def seq2d():
    return Sequential([
        Input((9, 9, 3)),
        DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, use_bias=False),
        BatchNormalization(),
        ReLU(6.0),
        SeparableConv2D(5, 3, padding="same"),
        BatchNormalization(),
        ReLU(6.0),
        DepthwiseConv2D((2, 3), padding="valid", activation="relu"),
        GlobalAveragePooling2D(),
        Dense(3, activation="softmax"),
    ])


def seq1d():
    return Sequential([
        Input((12, 4)),
        DepthwiseConv1D(3, dilation_rate=2, depth_multiplier=3, activation="tanh"),
        SeparableConv1D(4, 2, strides=2, padding="same", activation="relu"),
        Flatten(),
        Dense(2, activation="softmax"),
    ])


MODELS = {"seq2d": seq2d, "seq1d": seq1d}


@pytest.mark.parametrize("case", sorted(MODELS))
def test_weights_configs_and_counts_are_keras(ref, case):
    model = MODELS[case]()
    names = [str(n).split("/", 1)[1] for n in ref[f"{case}/names"]]
    # (Keras numbers layer names per process: dense_1 where a fresh model says dense)
    assert [re.sub(r"_\d+/", "/", w.path) for w in model.weights] == [re.sub(r"_\d+/", "/", n) for n in names]
    assert model.count_params() == ref[f"{case}/count_params"]
    for w, i in zip(model.weights, range(len(names))):
        assert w.shape == ref[f"{case}/w{i}"].shape, w.path
    keras_configs = json.loads(str(ref[f"{case}/configs"]))
    for name, expected in keras_configs.items():
        config = model.get_layer(re.sub(r"_\d+$", "", name) if case == "seq1d" else name).get_config()
        assert set(config) == set(expected), name
        for key in ("depth_multiplier", "filters", "kernel_size", "strides", "padding", "data_format",
                    "dilation_rate", "activation", "use_bias"):
            if key in expected:
                value = config[key]
                assert (list(value) if isinstance(value, tuple) else value) == expected[key], (name, key)


@pytest.mark.parametrize("case", sorted(MODELS))
def test_forward_and_one_sgd_step_match_keras(ref, case):
    model = MODELS[case]()
    n = len(ref[f"{case}/names"])
    model.set_weights([ref[f"{case}/w{i}"] for i in range(n)])
    model.compile(optimizer=SGD(0.1), loss="sparse_categorical_crossentropy")
    x, y = ref[f"{case}/x"], ref[f"{case}/y"]
    np.testing.assert_allclose(model.predict(x, verbose=0), ref[f"{case}/pred"], rtol=1e-5, atol=1e-6)
    loss = model.train_on_batch(x, y)
    np.testing.assert_allclose(np.atleast_1d(loss)[0], ref[f"{case}/loss"], rtol=1e-5)
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_allclose(w, ref[f"{case}/new_w{i}"], rtol=1e-5, atol=1e-6,
                                   err_msg=str(ref[f"{case}/names"][i]))


def test_json_round_trip():
    model = seq2d()
    again = model_from_json(model.to_json())
    assert [type(a).__name__ for a in again.layers] == [type(a).__name__ for a in model.layers]
    for a, b in zip(model.layers, again.layers):
        assert a.get_config() == b.get_config()
    assert again.count_params() == model.count_params()


@pytest.mark.parametrize("make, shape", [
    (lambda: DepthwiseConv1D(3, dtype="float64"), (2, 7, 2)),
    (lambda: DepthwiseConv1D(2, strides=2, padding="same", depth_multiplier=2, activation="sigmoid",
                             dtype="float64"), (2, 7, 2)),
    (lambda: DepthwiseConv2D((3, 2), depth_multiplier=3, activation="tanh", dtype="float64"), (2, 5, 4, 2)),
    (lambda: DepthwiseConv2D(3, strides=2, padding="same", activation="relu", dtype="float64"), (2, 6, 5, 3)),
    (lambda: DepthwiseConv2D(2, dilation_rate=2, padding="same", activation=None, dtype="float64"),
     (1, 5, 5, 2)),
    (lambda: SeparableConv1D(3, 3, depth_multiplier=2, activation="tanh", dtype="float64"), (2, 6, 2)),
    (lambda: SeparableConv2D(3, 3, strides=2, padding="same", activation="relu", dtype="float64"),
     (2, 5, 6, 2)),
    (lambda: SeparableConv2D(2, (2, 3), depth_multiplier=2, use_bias=False, activation="elu",
                             dtype="float64"), (1, 4, 5, 3)),
])
def test_gradients(make, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    layer = make()
    layer.maybe_build(x.shape)
    for w in layer.weights:  # non-zero biases, so the relu's kink is not hit at 0
        w.assign(np.random.default_rng(1).uniform(-0.5, 0.5, w.shape))
    check_layer_gradients(layer, x)


def test_relu6_clips_and_stops_the_gradient():
    layer = ReLU(6.0, dtype="float64")
    x = np.array([[-1.0, 0.5, 5.9, 6.5, 100.0]])
    np.testing.assert_array_equal(layer.forward(x, training=True), [[0.0, 0.5, 5.9, 6.0, 6.0]])
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), [[0.0, 1.0, 1.0, 0.0, 0.0]])
    assert layer.get_config()["max_value"] == 6.0


def test_shapes_names_and_aliases():
    assert DepthwiseConv2D(3).name == "depthwise_conv2d"
    assert SeparableConv1D(2, 3).name == "separable_conv1d"
    assert SeparableConvolution2D is SeparableConv2D
    layer = DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=4)
    assert layer.compute_output_shape((None, 9, 8, 3)) == (None, 5, 4, 12)
    layer.maybe_build((None, 9, 8, 3))
    assert [w.shape for w in layer.weights] == [(3, 3, 3, 4), (12,)]
    sep = SeparableConv2D(7, (3, 1), depth_multiplier=2)
    sep.maybe_build((None, 6, 6, 3))
    assert [(w.name, w.shape) for w in sep.weights] == [
        ("depthwise_kernel", (3, 1, 3, 2)), ("pointwise_kernel", (1, 1, 6, 7)), ("bias", (7,))]
    assert sep.compute_output_shape((None, 6, 6, 3)) == (None, 4, 6, 7)


def test_frozen_layer_keeps_its_gradients_at_zero_and_still_passes_the_input_gradient():
    layer = SeparableConv2D(2, 3, padding="same", dtype="float64")
    x = np.random.default_rng(0).standard_normal((1, 4, 4, 2))
    layer.maybe_build(x.shape)
    layer.trainable = False
    layer.forward(x, training=True)
    dx = layer.backward(np.ones((1, 4, 4, 2)))
    assert dx.shape == x.shape
    assert all(not np.any(w.grad) for w in layer._weights)


@pytest.mark.parametrize("make, message", [
    (lambda: DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier must be a positive int"),
    (lambda: SeparableConv2D(0, 3), "filters must be a positive int"),
    (lambda: DepthwiseConv2D(3, padding="causal"), "padding must be one of"),
    (lambda: DepthwiseConv2D(3, data_format="channels_first"), "channels_last"),
    (lambda: DepthwiseConv2D(3, strides=2, dilation_rate=2), "dilation_rate"),
])
def test_refusals_say_what(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_regularizers_and_constraints_reach_their_weights_and_configs():
    """Keras's names: a DepthwiseConv's "kernel" takes depthwise_regularizer=; a SeparableConv's
    depthwise_kernel and pointwise_kernel take depthwise_* and pointwise_*."""
    dw = DepthwiseConv2D(3, depthwise_regularizer="l2", bias_constraint="non_neg")
    dw.maybe_build((None, 5, 5, 2))
    assert dw.kernel.regularizer is not None and dw.kernel.constraint is None
    assert dw.bias.constraint is not None
    sep = SeparableConv2D(2, 3, pointwise_constraint="non_neg", depthwise_regularizer="l1")
    sep.maybe_build((None, 5, 5, 2))
    assert sep.depthwise_kernel.regularizer is not None and sep.depthwise_kernel.constraint is None
    assert sep.pointwise_kernel.constraint is not None and sep.pointwise_kernel.regularizer is None
    model = Sequential([Input((5, 5, 2)), sep])
    config = json.loads(model.to_json())["config"]["layers"][-1]["config"]
    assert config["pointwise_constraint"] is not None and config["depthwise_regularizer"] is not None


def test_shape_errors_name_the_layer():
    layer = DepthwiseConv2D(3, name="dw")
    with pytest.raises(ValueError, match=r'Layer "dw" \(DepthwiseConv2D\) expects a 4-D input'):
        layer.compute_output_shape((None, 5, 5))
    with pytest.raises(ValueError, match=r'"dw".*larger than the input'):
        layer.compute_output_shape((None, 2, 5, 3))


def test_inference_fuses_batchnorm_and_relu6_bit_identically():
    """DepthwiseConv -> BN -> ReLU(6) and SeparableConv -> BN -> ReLU(6) run as one pass at inference
    (models.fusion), with the same bits as the layers one by one."""
    model = seq2d()
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, BatchNormalization):
            c = layer.moving_mean.shape[0]
            layer.set_weights([rng.random(c) + 0.5, rng.standard_normal(c), rng.standard_normal(c),
                               rng.random(c) + 0.2])
    groups, _ = model._fusion_plan(False)
    fused = sorted((g.conv.layer.name, g.batchnorm.layer.name, g.activation.layer.name)
                   for g in groups.values())
    assert fused == [("depthwise_conv2d", "batch_normalization", "re_lu"),
                     ("separable_conv2d", "batch_normalization_1", "re_lu_1")]
    x = rng.standard_normal((3, 9, 9, 3)).astype(np.float32)
    layer_by_layer = model.forward(x, training=False, hook=lambda layer, y: None)
    assert np.array_equal(model.predict(x, verbose=0), layer_by_layer)
