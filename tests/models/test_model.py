"""Sequential and functional models: graph building, names, weights, shapes, errors, gradients."""

import numpy as np
import pytest
from gradcheck import check_layer_gradients

import numbacnn as nc
from numbacnn.layers import (
    Activation,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    MaxPooling2D,
)
from numbacnn.models import Model, Sequential


def small_cnn(**kwargs):
    return Sequential([
        Conv2D(4, (3, 3), activation="relu", input_shape=(8, 8, 1), **kwargs),
        MaxPooling2D((2, 2), **kwargs),
        Flatten(**kwargs),
        Dense(3, activation="softmax", **kwargs),
    ])


def test_auto_names_are_counted_per_model():
    a, b = small_cnn(), small_cnn()
    assert [la.name for la in a.layers] == ["conv2d", "max_pooling2d", "flatten", "dense"]
    assert [la.name for la in b.layers] == ["conv2d", "max_pooling2d", "flatten", "dense"]
    model = Sequential([Dense(4, input_shape=(3,)), Dense(4), Dense(2, name="out"), Dense(2)])
    assert [la.name for la in model.layers] == ["dense", "dense_1", "out", "dense_2"]


def test_model_names_count_like_keras():
    first, second = Sequential(), Sequential()
    assert first.name.startswith("sequential") and second.name.startswith("sequential")
    assert first.name != second.name


def test_duplicate_explicit_names_are_refused():
    x = Input(shape=(3,))
    y = Dense(2, name="same")(Dense(2, name="same")(x))
    with pytest.raises(ValueError, match="'same' is used by more than one layer"):
        Model(x, y)


def test_sequential_add_list_and_namespaced_import_agree():
    model = Sequential()
    model.add(nc.layers.Conv2D(4, (3, 3), input_shape=(8, 8, 1)))
    model.add(nc.layers.Flatten())
    model.add(nc.layers.Dense(2))
    assert model.output_shape == (None, 2)
    assert model.count_params() == (9 * 4 + 4) + (6 * 6 * 4 * 2 + 2)
    assert model.get_layer("flatten").output_shape == (None, 144)
    assert model.get_layer(index=-1).name == "dense"
    with pytest.raises(ValueError, match="No such layer: 'nope'"):
        model.get_layer("nope")


def test_sequential_starting_with_an_input():
    model = Sequential([Input(shape=(5,)), Dense(3)])
    assert model.output_shape == (None, 3)
    assert len(model.layers) == 1


def test_deferred_build_on_first_call():
    model = Sequential([Dense(3), Dense(2)])
    assert not model.built
    out = model.predict(np.ones((4, 7), dtype=np.float32), verbose=0)
    assert out.shape == (4, 2)
    assert model.layers[0].get_weights()[0].shape == (7, 3)


def test_get_and_set_weights_round_trip_and_check_counts():
    model = small_cnn()
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(3, 3, 1, 4), (4,), (36, 3), (3,)]
    changed = [w + 1 for w in weights]
    model.set_weights(changed)
    for got, want in zip(model.get_weights(), changed):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="expects 4 weight arrays, received 3"):
        model.set_weights(changed[:3])
    with pytest.raises(ValueError, match=r"expects shape \(36, 3\), received \(35, 3\)"):
        model.layers[-1].set_weights([np.zeros((35, 3)), np.zeros(3)])


def test_batch_norm_weights_order_and_trainable_split():
    model = Sequential([Dense(4, input_shape=(3,)), BatchNormalization()])
    bn = model.layers[1]
    assert [w.name for w in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name for w in model.trainable_weights] == ["kernel", "bias", "gamma", "beta"]
    assert [w.name for w in model.non_trainable_weights] == ["moving_mean", "moving_variance"]


def test_wrong_input_shape_names_the_layer_and_both_shapes():
    model = small_cnn()
    with pytest.raises(ValueError, match=r'layer "conv2d" \(Conv2D\) expected input shape '
                                         r"\(None, 8, 8, 1\), received \(2, 8, 8, 3\)"):
        model.predict(np.zeros((2, 8, 8, 3), dtype=np.float32), verbose=0)
    with pytest.raises(ValueError, match=r"\(None, 8, 8, 1\).*\(2, 8, 8\)"):
        model.predict(np.zeros((2, 8, 8), dtype=np.float32), verbose=0)


def test_incompatible_layer_is_refused_at_add_time():
    model = Sequential([Dense(4, input_shape=(3,))])
    with pytest.raises(ValueError, match="conv2d"):
        model.add(Conv2D(2, 3))


def test_graph_disconnected():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    y = Dense(2)(b)
    with pytest.raises(ValueError, match="Graph disconnected"):
        Model(a, y)


def test_functional_helpers_build_fresh_layers_like_seed_004():
    def dense_bn(x, units):
        x = Dense(units)(x)
        x = BatchNormalization()(x)
        return Activation("relu")(x)

    x = Input(shape=(6,))
    y = Dense(2, activation="softmax")(dense_bn(dense_bn(x, 5), 4))
    model = Model(inputs=x, outputs=y)
    names = [la.name for la in model.layers]
    assert names == ["input_layer", "dense", "batch_normalization", "activation", "dense_1",
                     "batch_normalization_1", "activation_1", "dense_2"]
    assert model.predict(np.ones((3, 6), dtype=np.float32), verbose=0).shape == (3, 2)


def test_shared_layer_gradients_accumulate_over_both_calls():
    nc.backend.set_floatx("float64")
    shared = Dense(3, activation="tanh")
    x = Input(shape=(3,))
    y = Dense(2)(shared(shared(x)))
    model = Model(x, y)
    assert len(model.layers) == 3  # input, shared, head
    check_layer_gradients(model, np.random.default_rng(0).standard_normal((4, 3)))


def test_model_gradients_of_a_small_cnn_with_bn_and_dropout():
    nc.backend.set_floatx("float64")
    model = Sequential([
        Conv2D(3, (3, 3), padding="same", input_shape=(5, 5, 2)),
        BatchNormalization(),
        Activation("relu"),
        MaxPooling2D(),
        Flatten(),
        Dropout(0.25),
        Dense(2, activation="softmax"),
    ])
    x = np.random.default_rng(1).standard_normal((3, 5, 5, 2))
    check_layer_gradients(model, x, atol=1e-5, rtol=1e-4)


def test_nested_model_is_a_layer():
    inner = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(4)], name="inner")
    outer = Sequential([inner, Dense(2)])
    assert outer.count_params() == (3 * 4 + 4) + (4 * 4 + 4) + (4 * 2 + 2)
    assert outer.predict(np.ones((2, 3), dtype=np.float32), verbose=0).shape == (2, 2)


def test_trainable_flag_on_a_model_freezes_every_layer():
    model = small_cnn()
    model.trainable = False
    assert model.trainable_weights == []
    assert all(not la.trainable for la in model.layers)
    assert len(model.non_trainable_weights) == 4


def test_pop_removes_the_last_layer_and_reconnects():
    model = small_cnn()
    model.pop()
    assert model.output_shape == (None, 36)
    model.add(Dense(5, activation="softmax"))
    assert model.output_shape == (None, 5)
    assert model.layers[-1].name == "dense"


def test_backward_skips_what_no_trainable_weight_needs():
    """A frozen base is not differentiated at all, and the first trainable layer above it computes no
    input gradient; the data's own gradient is never computed in training."""
    model = small_cnn()
    model.compile("sgd", "sparse_categorical_crossentropy")
    conv, pool = model.layers[0], model.layers[1]
    conv.trainable = False
    calls = []

    def refuse(grad):
        raise AssertionError("a frozen base was differentiated")

    conv.backward = pool.backward = refuse
    dense = model.layers[-1]
    original = dense.backward
    dense.backward = lambda g: calls.append(dense.input_grad_needed) or original(g)
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    model.train_on_batch(x, np.array([0, 1, 2, 0]))
    assert calls == [False]
