"""The graph engine: nodes with lists of inputs and outputs, several model inputs and outputs, fan-out,
subclassed models and layers written with Keras's call(), sample and class weights."""

import numpy as np
import pytest
from gradcheck import numeric_grad

import numbacnn as nc
from numbacnn import backend
from numbacnn.layers import Conv2D, Dense, Flatten, Input, Layer, MaxPooling2D
from numbacnn.models import Model, Sequential

RNG = np.random.default_rng(0)


def two_in_two_out(dtype=None):
    a = Input((6, 6, 1), name="img", dtype=dtype)
    b = Input((4,), name="vec", dtype=dtype)
    h = Flatten(dtype=dtype)(Conv2D(2, 3, activation="tanh", dtype=dtype)(a))
    shared = Dense(3, activation="tanh", name="shared", dtype=dtype)
    g = shared(b)
    cls = Dense(3, activation="softmax", name="cls", dtype=dtype)(h)
    reg = Dense(1, name="reg", dtype=dtype)(shared(Dense(4, dtype=dtype)(g)))  # shared layer called twice
    return Model([a, b], [cls, reg])


def data(n=10):
    return ([RNG.random((n, 6, 6, 1), dtype=np.float32), RNG.random((n, 4), dtype=np.float32)],
            [RNG.integers(0, 3, n), RNG.random((n, 1), dtype=np.float32)])


def test_nodes_have_lists_and_keras_history():
    model = two_in_two_out()
    shared = model.get_layer("shared")
    assert len(shared._inbound_nodes) == 2
    node = shared._inbound_nodes[1]
    assert len(node.inputs) == 1 and len(node.outputs) == 1 and not node.list_input
    layer, node_index, tensor_index = node.outputs[0]._keras_history
    assert layer is shared and node_index == 1 and tensor_index == 0
    assert node.outputs[0].node is node
    assert model.input_names == ["img", "vec"] and model.output_names == ["cls", "reg"]
    graph = model.get_graph()
    expected = {"name": "cls", "class_name": "Dense", "output_shapes": [(None, 3)], "inbound": ["flatten"]}
    assert expected in graph


def test_layers_follow_keras_order_and_summary_shows_connections(capsys):
    model = two_in_two_out()
    # Keras's order: by decreasing depth from the outputs, ties in depth-first order
    assert [la.name for la in model.layers] == ["vec", "img", "shared", "conv2d", "dense", "flatten", "cls",
                                                "reg"]
    model.summary()
    out = capsys.readouterr().out
    assert "Connected to" in out and "conv2d[0][0]" in out and "shared[1][0]" in out
    assert "img (InputLayer)" in out and "Total params:" in out


def test_multi_io_training_logs_and_predict():
    model = two_in_two_out()
    model.compile("sgd", loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5],
                  metrics=[["accuracy"], ["mae"]])
    x, y = data()
    logs = model.train_on_batch(x, y, return_dict=True)
    assert list(logs) == ["loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"]
    assert logs["loss"] == pytest.approx(logs["cls_loss"] + 0.5 * logs["reg_loss"], rel=1e-6)
    assert model.metrics_names == ["loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"]
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0, validation_split=0.2)
    assert set(history.history) == {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae", "val_loss",
                                    "val_cls_loss", "val_reg_loss", "val_cls_accuracy", "val_reg_mae"}
    out = model.predict(x, batch_size=3)
    assert [o.shape for o in out] == [(10, 3), (10, 1)]
    np.testing.assert_allclose(out[1], model.predict_on_batch(x)[1], rtol=1e-6)
    values = model.evaluate({"img": x[0], "vec": x[1]}, {"cls": y[0], "reg": y[1]}, verbose=0)
    assert len(values) == 5


def test_compile_by_output_name_and_an_output_without_loss():
    model = two_in_two_out()
    model.compile("adam", loss={"reg": "mse"}, metrics={"cls": "accuracy"})
    x, y = data()
    logs = model.train_on_batch(x, {"reg": y[1]}, return_dict=True)
    assert list(logs) == ["loss", "reg_loss", "cls_accuracy"]
    with pytest.raises(ValueError, match="outputs"):
        model.compile("sgd", loss="mse", metrics=["accuracy"])  # a flat list is ambiguous with 2 outputs
    with pytest.raises(ValueError, match="not outputs"):
        model.compile("sgd", loss={"nope": "mse"})


def test_dict_inputs_and_outputs():
    a, b = Input((3,), name="a"), Input((2,), name="b")
    h = Dense(2, name="ha")(a)
    model = Model({"b": b, "a": a}, {"y": h, "z": Dense(1, name="hb")(b)})
    assert [t.node.layer.name for t in model.inputs] == ["a", "b"]  # Keras flattens dicts by sorted key
    out = model.predict({"a": np.ones((2, 3)), "b": np.ones((2, 2))})
    assert set(out) == {"y", "z"} and out["y"].shape == (2, 2)
    model.compile("sgd", loss={"y": "mse", "z": "mse"})
    logs = model.train_on_batch({"a": np.ones((4, 3)), "b": np.ones((4, 2))},
                                {"y": np.zeros((4, 2)), "z": np.zeros((4, 1))}, return_dict=True)
    assert set(logs) == {"loss", "y_loss", "z_loss"}


def test_graph_gradients_with_fan_out_and_shared_layer_match_finite_differences():
    backend.set_floatx("float64")
    try:
        model = two_in_two_out(dtype="float64")
    finally:
        backend.set_floatx("float32")
    x = [RNG.random((3, 6, 6, 1)), RNG.random((3, 4))]
    g = [RNG.standard_normal((3, 3)), RNG.standard_normal((3, 1))]
    for w in model.trainable_weights:
        w.grad[...] = 0

    def loss():
        out = model.forward(x, training=False)
        return float(sum(np.sum(o * gi) for o, gi in zip(out, g)))

    model.forward(x, training=True)
    dx = model.backward(g)
    np.testing.assert_allclose(dx[0], numeric_grad(loss, x[0]), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dx[1], numeric_grad(loss, x[1]), rtol=1e-5, atol=1e-7)
    for w in model.trainable_weights:
        np.testing.assert_allclose(w.grad, numeric_grad(loss, w.value), rtol=1e-5, atol=1e-7, err_msg=w.path)


def test_nested_multi_output_model_as_a_layer():
    inner = two_in_two_out()
    a, b = Input((6, 6, 1)), Input((4,))
    cls, reg = inner([a, b])
    outer = Model([a, b], Dense(2, name="head")(Flatten()(reg)))
    outer.compile("sgd", loss="mse")
    x, _ = data(6)
    before = inner.get_layer("reg").get_weights()[0].copy()
    outer.train_on_batch(x, np.zeros((6, 2)))
    assert not np.allclose(before, inner.get_layer("reg").get_weights()[0])
    assert outer.predict(x).shape == (6, 2)


def test_graph_disconnected_and_bad_inputs_are_named():
    a, b = Input((3,), name="a"), Input((3,), name="b")
    y = Dense(1)(b)
    with pytest.raises(ValueError, match='Graph disconnected.*"b"'):
        Model(a, y)
    model = Model([a, b], [Dense(1)(a), y])
    with pytest.raises(ValueError, match="takes 2 inputs"):
        model.predict(np.ones((2, 3)))


# ----- subclassing --------------------------------------------------------------------------------------
class TinyNet(Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = Conv2D(3, 3, activation="relu")
        self.pool = MaxPooling2D()
        self.flat = Flatten()
        self.out = Dense(2, activation="softmax")

    def call(self, inputs, training=None):
        return self.out(self.flat(self.pool(self.conv(inputs))))


def test_subclassed_model_is_traced_and_trains():
    model = TinyNet()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = RNG.random((8, 8, 8, 1), dtype=np.float32), RNG.integers(0, 2, 8)
    history = model.fit(x, y, epochs=2, verbose=0)
    assert model.built and len(model.trainable_weights) == 4
    assert history.history["loss"][1] < history.history["loss"][0] + 0.5
    assert model.predict(x).shape == (8, 2)


class Block(Layer):
    """A custom layer written the Keras way: call() composes numbacnn layers."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.a = Dense(units, activation="relu")
        self.b = Dense(units)

    def call(self, x):
        return self.b(self.a(x))


def test_layer_with_call_of_layers_is_traced_and_its_weights_train():
    model = Sequential([Input((4,)), Block(3, name="block"), Dense(1)])
    block = model.get_layer("block")
    assert len(block.trainable_weights) == 4 and block.count_params() == 4 * 3 + 3 + 3 * 3 + 3
    model.compile("sgd", loss="mse")
    before = block.get_weights()
    model.train_on_batch(np.ones((4, 4)), np.zeros((4, 1)))
    assert any(not np.array_equal(b, a) for b, a in zip(before, block.get_weights()))


class Squared(Layer):
    def call(self, x):
        return x ** 2  # arbitrary math numbacnn cannot differentiate


class NoForward(Layer):
    pass


def test_layer_with_arbitrary_call_math_is_refused_at_build():
    with pytest.raises(TypeError, match="forward.*backward"):
        Sequential([Input((4,)), Squared()])
    with pytest.raises(NotImplementedError, match="neither forward"):
        NoForward()(np.ones((2, 2)))


class Scale(Layer):
    """The numbacnn way: forward and backward."""

    def build(self, input_shape):
        self.s = self.add_weight("s", (input_shape[-1],), initializer="ones")

    def forward(self, x, training=False):
        self._cache = x
        return x * self.s.value

    def backward(self, grad):
        self.s.grad += (grad * self._cache).sum(axis=0)
        return grad * self.s.value


def test_custom_layer_with_forward_and_backward_trains():
    model = Sequential([Input((3,)), Scale(), Dense(1)])
    model.compile("sgd", loss="mse")
    before = model.layers[0].get_weights()[0].copy()
    model.train_on_batch(np.ones((4, 3)), np.full((4, 1), 5.0))
    assert not np.allclose(before, model.layers[0].get_weights()[0])


# ----- symbolic tensors ------------------------------------------------------------------------------------
def test_symbolic_arithmetic_other_than_layers_is_refused_clearly():
    x = Input((3,))
    with pytest.raises(TypeError, match="Rescaling"):
        x * 2.0
    with pytest.raises(TypeError, match="numpy"):
        np.exp(x)


# ----- sample and class weights -----------------------------------------------------------------------------
def test_sample_weight_weighs_the_loss_as_keras():
    model = Sequential([Input((2,)), Dense(1, kernel_initializer="ones")])
    model.compile("sgd", loss="mse")
    x = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], np.float32)
    y = np.zeros((3, 1), np.float32)
    w = np.array([1.0, 0.0, 2.0])
    per = (x.sum(axis=1)) ** 2
    assert model.test_on_batch(x, y, sample_weight=w) == pytest.approx(float((per * w).sum() / 3), rel=1e-6)


def test_class_weight_equals_the_matching_sample_weight():
    def fresh():
        nc.utils.set_random_seed(3)
        model = Sequential([Input((4,)), Dense(3, activation="softmax")])
        model.compile("sgd", loss="sparse_categorical_crossentropy")
        return model

    x, y = RNG.random((6, 4), dtype=np.float32), np.array([0, 1, 2, 0, 1, 2])
    a, b = fresh(), fresh()
    a.train_on_batch(x, y, class_weight={0: 1.0, 1: 2.0, 2: 0.5})
    b.train_on_batch(x, y, sample_weight=np.array([1.0, 2.0, 0.5, 1.0, 2.0, 0.5]))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    with pytest.raises(ValueError, match="class"):
        a.train_on_batch(x, y, class_weight={0: 1.0})
    history = a.fit(x, y, epochs=1, verbose=0, class_weight={0: 1, 1: 1, 2: 1},
                    validation_data=(x, y, np.ones(6)))
    assert "val_loss" in history.history


def test_weighted_metrics_get_the_sample_weights():
    model = Sequential([Input((2,)), Dense(2, activation="softmax", kernel_initializer="zeros")])
    model.compile("sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy"])
    x = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    logs = model.test_on_batch(x, np.array([0, 1]), sample_weight=np.array([1.0, 0.0]), return_dict=True)
    assert set(logs) >= {"loss", "accuracy"}
