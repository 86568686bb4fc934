"""Transfer learning as the seeds describe it: take trained layers, freeze them, train a new head on top."""

import numpy as np
import pytest
from saving_models import small_cnn

from numbacnn import layers as L
from numbacnn.models import Model, Sequential, load_model


def snapshot(layers):
    return [w.value.copy() for layer in layers for w in layer.weights]


def assert_unchanged(before, layers):
    after = snapshot(layers)
    assert len(before) == len(after)
    for a, b in zip(before, after):
        assert a.tobytes() == b.tobytes()  # bit-identical


def summary_counts(model):
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    return [int(line.split(":")[1].replace(",", "")) for line in text.splitlines() if "params:" in line]


@pytest.fixture
def base(tmp_path, data):
    """A model trained on the 3-class data and saved; the fixture gives the path."""
    x, y = data
    model = small_cnn(dropout=0.2)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    model.save(tmp_path / "base.h5")
    return tmp_path / "base.h5"


def test_frozen_layers_are_bit_identical_through_fit(data):
    x, y = data
    model = small_cnn()
    conv, bn = model.layers[0], model.layers[1]
    conv.trainable = bn.trainable = False
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    frozen, head = snapshot([conv, bn]), snapshot(model.layers[2:])
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert_unchanged(frozen, [conv, bn])  # kernel, bias, gamma, beta AND the moving statistics
    assert not any(np.array_equal(a, b) for a, b in zip(head, snapshot(model.layers[2:])))


def test_frozen_batch_norm_runs_in_inference_mode(data):
    x, _ = data
    bn = L.BatchNormalization(trainable=False)
    model = Sequential([L.Input(shape=(8, 8, 1)), bn])
    bn.set_weights([np.full(1, 2.0), np.full(1, 0.5), np.full(1, 0.1), np.full(1, 4.0)])
    y = model.forward(x, training=True)
    np.testing.assert_allclose(y, 2.0 * (x - 0.1) / np.sqrt(4.0 + bn.epsilon) + 0.5, atol=1e-6)
    np.testing.assert_array_equal(bn.moving_mean.value, np.float32([0.1]))


def test_model_trainable_false_freezes_a_nested_base(data):
    x, y = data
    base = small_cnn()
    base.trainable = False
    model = Sequential([base, L.Dense(2, activation="softmax")])
    assert summary_counts(model) == [base.count_params() + 8, 8, base.count_params()]
    before = snapshot(base.layers)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(x, y % 2, batch_size=8, epochs=1, verbose=0)
    assert_unchanged(before, base.layers)


def test_summary_counts_follow_the_flags():
    model = small_cnn()
    total = model.count_params()
    assert summary_counts(model) == [total, total - 8, 8]  # BN moving mean and variance
    model.layers[0].trainable = False
    assert summary_counts(model) == [total, total - 8 - 40, 8 + 40]
    model.trainable = False
    assert summary_counts(model) == [total, 0, total]


def train_new_head(model, data):
    x, y = data
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model.fit(x, y % 2, batch_size=4, epochs=2, verbose=0)


def test_loaded_layers_under_a_new_sequential_head(base, data):
    loaded = load_model(base)
    for layer in loaded.layers[:-1]:
        layer.trainable = False
    model = Sequential(loaded.layers[:-1] + [L.Dense(2, activation="softmax")])
    assert model.output_shape == (None, 2)
    assert summary_counts(model)[1] == 8 * 2 + 2
    before = snapshot(loaded.layers[:-1])
    history = train_new_head(model, data)
    assert len(history.history["loss"]) == 2
    assert_unchanged(before, loaded.layers[:-1])


def test_loaded_layers_under_a_new_functional_head(base, data):
    loaded = load_model(base)
    loaded.trainable = False
    head = L.Dense(2, activation="softmax")
    model = Model(loaded.input, head(loaded.layers[-2].output))
    assert model.layers[-2:] == [loaded.layers[-2], head]
    assert summary_counts(model)[1] == 8 * 2 + 2
    before = snapshot(loaded.layers)
    train_new_head(model, data)
    assert_unchanged(before, loaded.layers)


def test_pop_then_new_head_both_ways(base, data):
    loaded = load_model(base)
    popped = loaded.pop()
    assert popped.name == "dense_1" and loaded.output_shape == (None, 8)
    functional = Model(loaded.input, L.Dense(2, activation="softmax")(loaded.layers[-1].output))
    assert functional.output_shape == (None, 2)
    loaded.add(L.Dense(2, activation="softmax"))
    assert loaded.output_shape == (None, 2)
    for layer in loaded.layers[:-1]:
        layer.trainable = False
    before = snapshot(loaded.layers[:-1])
    train_new_head(loaded, data)
    assert_unchanged(before, loaded.layers[:-1])


def test_pretrained_weights_into_a_new_head_skip_mismatch(tmp_path, base):
    source = load_model(base)
    source.save_weights(tmp_path / "base.weights.h5")
    target = small_cnn(num_classes=2)
    with pytest.warns(UserWarning, match=r'skipping the weights of layer "dense_1" \(Dense\)'):
        target.load_weights(tmp_path / "base.weights.h5", skip_mismatch=True)
    np.testing.assert_array_equal(target.layers[0].weights[0].value, source.layers[0].weights[0].value)
