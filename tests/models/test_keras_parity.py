"""numbacnn against real Keras 3: same weights, same batch, same numbers.

The reference numbers come from tests/data/keras_fixtures.npz, written by tests/data/make_keras_fixtures.py
with Keras 3 (torch backend). Each training case starts from Keras's initial weights and checks ``predict``
before training, the loss of one ``train_on_batch`` and every weight after it (BatchNormalization's moving
stats included), then a second step on another batch (optimizer state: momentum, Adam's moments and bias
correction, accumulators). Tolerances are float32 rounding, rtol 1e-5 and atol 1e-6: sums are reduced in
another order than PyTorch's; the observed differences are 1-2 ulp, about 1/60 of the tolerance.
"""

import os

import numpy as np
import pytest

from numbacnn.layers import (
    Activation,
    AveragePooling2D,
    AveragePooling3D,
    BatchNormalization,
    Conv1D,
    Conv2D,
    Conv3D,
    Dense,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    MaxPooling1D,
    MaxPooling2D,
)
from numbacnn.models import Model, Sequential
from numbacnn.optimizers import SGD, Adagrad, Adam, RMSprop

FIXTURES = os.path.join(os.path.dirname(__file__), os.pardir, "data", "keras_fixtures.npz")
RTOL, ATOL = 1e-5, 1e-6


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURES) as data:
        return {k: data[k] for k in data.files}


def _weights(ref, case, kind="w"):
    n = len(ref[f"{case}/names"])
    return [ref[f"{case}/{kind}{i}"] for i in range(n)]


def _close(actual, expected, what):
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                               rtol=RTOL, atol=ATOL, err_msg=what)


def _strided_conv(size):
    return Sequential([
        Input((size, size, 2)),
        Conv2D(3, 3, padding="same", strides=2, activation="relu"),
        Flatten(),
        Dense(3, activation="softmax"),
    ])


def _dilated_pooling():
    return Sequential([
        Input((9, 9, 2)),
        Conv2D(2, 3, dilation_rate=2, padding="same"),
        MaxPooling2D(padding="same"),
        AveragePooling2D(2, padding="same"),
        GlobalAveragePooling2D(),
        Dense(3, activation="softmax"),
    ])


def _batchnorm():
    inp = Input((5,))
    h = Dense(4)(inp)
    h = BatchNormalization()(h)
    h = Activation("relu")(h)
    return Model(inp, Dense(3, activation="softmax")(h))


def _mlp(outputs, activation=None):
    return Sequential([Input((3,)), Dense(4, activation="relu"), Dense(outputs, activation=activation)])


# case -> (model builder, optimizer factory, loss, metrics); mirrors make_keras_fixtures.py
CASES = {
    "a": (lambda: _strided_conv(7), lambda: SGD(learning_rate=0.1, momentum=0.9, nesterov=False),
          "sparse_categorical_crossentropy", ["accuracy"]),
    "b": (lambda: _strided_conv(6), lambda: SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
          "categorical_crossentropy", ["accuracy"]),
    "c": (_dilated_pooling, Adam, "sparse_categorical_crossentropy", ["accuracy"]),
    "d": (_batchnorm, SGD, "categorical_crossentropy", ["accuracy"]),
    "e1": (lambda: _mlp(2), RMSprop, "mse", []),
    "e2": (lambda: _mlp(1, "sigmoid"), Adagrad, "binary_crossentropy", []),
}


def _compiled(ref, case):
    build, optimizer, loss, metrics = CASES[case]
    model = build()
    model.set_weights(_weights(ref, case))
    model.compile(optimizer=optimizer(), loss=loss, metrics=metrics)
    return model


@pytest.mark.parametrize("case", sorted(CASES))
def test_predict_before_training(ref, case):
    model = _compiled(ref, case)
    _close(model.predict(ref[f"{case}/x"], verbose=0), ref[f"{case}/pred"], f"case {case}: predict")


@pytest.mark.parametrize("case", sorted(CASES))
def test_two_train_steps(ref, case):
    model = _compiled(ref, case)
    names = ref[f"{case}/names"]
    for step, suffix, kind in ((1, "", "new_w"), (2, "2", "new2_w")):
        x, y = ref[f"{case}/x{suffix}"], ref[f"{case}/y{suffix}"]
        logs = model.train_on_batch(x, y, return_dict=True)
        _close(logs["loss"], ref[f"{case}/loss{suffix}"], f"case {case}: loss of step {step}")
        if f"{case}/accuracy" in ref:
            assert logs["accuracy"] == pytest.approx(float(ref[f"{case}/accuracy{suffix}"]))
        for name, got, want in zip(names, model.get_weights(), _weights(ref, case, kind), strict=True):
            _close(got, want, f"case {case}: {name} after step {step}")
        if step == 1 and f"{case}/pred_after" in ref:
            _close(model.predict(x, verbose=0), ref[f"{case}/pred_after"],
                   f"case {case}: inference with the updated moving stats")


FORWARD = {
    "f_conv1d": lambda: Conv1D(2, 3, strides=2, padding="same"),
    "f_conv3d": lambda: Conv3D(2, 2, padding="same"),
    "f_maxpool1d": lambda: MaxPooling1D(padding="same"),
    "f_avgpool3d": lambda: AveragePooling3D(2, padding="same"),
}


@pytest.mark.parametrize("case", sorted(FORWARD))
def test_forward_nd(ref, case):
    x = ref[f"{case}/x"]
    model = Sequential([Input(x.shape[1:]), FORWARD[case]()])
    weights = [ref[k] for k in (f"{case}/w0", f"{case}/w1") if k in ref]
    model.set_weights(weights)
    assert len(model.get_weights()) == len(weights)
    _close(model.predict(x, verbose=0), ref[f"{case}/pred"], f"{case}: forward")


def _cifar_cnn():
    return Sequential([
        Conv2D(32, (3, 3), activation="relu", input_shape=(32, 32, 3)),
        MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3), activation="relu"),
        MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3), activation="relu"),
        Flatten(),
        Dense(64, activation="relu"),
        Dense(10, activation="softmax"),
    ])


def _conv_model_pooling():
    def dense_bn(x, units):
        x = Dense(units)(x)
        x = BatchNormalization()(x)
        return Activation("relu")(x)

    def conv2d_bn(x, filters, length, width, padding="same", strides=(1, 1)):
        x = Conv2D(filters, (length, width), strides=strides, padding=padding)(x)
        x = BatchNormalization()(x)
        return Activation("relu")(x)

    x = Input(shape=(28, 28, 1))
    x2 = conv2d_bn(x, 64, 3, 3)
    x3 = MaxPooling2D(2)(x2)
    x4 = conv2d_bn(x3, 32, 3, 3)
    x5 = Flatten()(x4)
    x6 = dense_bn(x5, 32)
    y = Dense(10, activation="softmax")(x6)
    return Model(inputs=x, outputs=y)


@pytest.mark.parametrize("case, build", [("g_cifar", _cifar_cnn), ("g_pooling", _conv_model_pooling)])
def test_count_params(ref, case, build):
    model = build()
    assert model.count_params() == ref[f"{case}/count_params"]
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == ref[f"{case}/trainable"]
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == ref[f"{case}/non_trainable"]


def test_fixture_provenance(ref):
    assert str(ref["keras_version"]).startswith("3.")
