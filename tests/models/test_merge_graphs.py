"""Graphs with merge layers: a residual block (Add), a squeeze-and-excitation block (Multiply, broadcast),
an Inception-style block (Concatenate of three branches), and a graph of every other merge layer. Each
trains (the loss falls) and its gradients match central differences on a tiny float64 model; the configs
round-trip through JSON."""

import numpy as np
import pytest
from gradcheck import check_layer_gradients

from numbacnn import backend
from numbacnn.layers import (
    Activation,
    BatchNormalization,
    Conv2D,
    Dense,
    Dot,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    MaxPooling2D,
    Multiply,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from numbacnn.models import Model, model_from_json
from numbacnn.optimizers import Adam


def residual(shape=(5, 5, 3), classes=2):
    x = Input(shape)
    y = Conv2D(3, 3, padding="same")(x)
    y = BatchNormalization()(y)
    y = Activation("relu")(y)
    y = Conv2D(3, 3, padding="same")(y)
    y = Activation("relu")(add([x, y]))
    return Model(x, Dense(classes, activation="softmax")(Flatten()(y)), name="residual")


def squeeze_excite(shape=(4, 4, 4), classes=2):
    x = Input(shape)
    c = Conv2D(4, 3, padding="same", activation="relu")(x)
    s = GlobalAveragePooling2D()(c)
    s = Dense(2, activation="relu")(s)
    s = Dense(4, activation="sigmoid")(s)
    y = Multiply()([c, s])  # (N, 4, 4, 4) times (N, 4): broadcast as (N, 1, 1, 4)
    return Model(x, Dense(classes, activation="softmax")(Flatten()(y)), name="squeeze_excite")


def inception(shape=(6, 6, 2), classes=2):
    x = Input(shape)
    b1 = Conv2D(2, 1, activation="relu")(x)
    b2 = Conv2D(3, 3, padding="same", activation="relu")(x)
    b3 = MaxPooling2D(3, strides=1, padding="same")(x)
    b3 = Conv2D(2, 1, activation="relu")(b3)
    y = concatenate([b1, b2, b3])
    return Model(x, Dense(classes, activation="softmax")(Flatten()(y)), name="inception")


def every_merge(shape=(4, 3), classes=2):
    """Subtract, Average, Maximum, Minimum, Multiply, Concatenate and Dot (cosine and plain) in one graph."""
    x = Input(shape)
    a = Dense(3, activation="tanh")(x)
    b = Dense(3)(x)
    parts = [subtract([a, b]), average([a, b, x]), maximum([a, b]), minimum([a, b, x]), multiply([a, b])]
    y = concatenate(parts)  # (N, 4, 15)
    cosine = dot([y, y], axes=2, normalize=True)  # (N, 4, 4)
    gram = Dot(axes=1)([a, b])  # (N, 3, 3)
    joined = concatenate([Flatten()(cosine), Flatten()(gram)])
    return Model(x, Dense(classes, activation="softmax")(joined), name="every_merge")


BLOCKS = [residual, squeeze_excite, inception, every_merge]


def _data(shape, n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n,) + shape).astype(np.float32)
    y = (x.reshape(n, -1).mean(axis=1) > 0).astype(np.int64)  # learnable: the sign of the mean
    return x, y


@pytest.mark.parametrize("make", BLOCKS, ids=lambda f: f.__name__)
def test_block_trains(make):
    backend.seed(1)
    model = make()
    x, y = _data(model.inputs[0].shape[1:])
    model.compile(optimizer=Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=8, epochs=6, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0], losses


@pytest.mark.parametrize("make", BLOCKS, ids=lambda f: f.__name__)
def test_block_gradients_match_finite_differences(make):
    backend.set_floatx("float64")
    backend.seed(2)
    model = make()
    shape = model.inputs[0].shape[1:]
    x = np.random.default_rng(3).standard_normal((2,) + tuple(shape))
    check_layer_gradients(model, x)


@pytest.mark.parametrize("make", BLOCKS, ids=lambda f: f.__name__)
def test_block_json_round_trip(make):
    model = make()
    clone = model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    x = _data(model.inputs[0].shape[1:], n=3)[0]
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(v).__name__ for v in clone.layers] == [type(v).__name__ for v in model.layers]
