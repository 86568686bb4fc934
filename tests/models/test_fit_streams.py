"""fit / evaluate / predict on generators and PyDatasets: the same weights as the equal arrays, steps,
sample weights, the progress bar of an unknown length, and loading that overlaps the step."""

import time

import numpy as np
import pytest

from numbacnn.callbacks import Callback
from numbacnn.layers import Conv2D, Dense, Flatten
from numbacnn.models import Sequential
from numbacnn.utils import PyDataset, set_random_seed

N, BS = 20, 4


def _data():
    rng = np.random.default_rng(0)
    return rng.random((N, 5, 5, 1)).astype(np.float32), rng.integers(0, 3, N)


def _model():
    set_random_seed(11)
    model = Sequential([Conv2D(2, 3, activation="relu", input_shape=(5, 5, 1)), Flatten(),
                        Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class Batches(PyDataset):
    def __init__(self, x, y, sw=None, delay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.sw, self.delay = x, y, sw, delay

    def __len__(self):
        return -(-len(self.x) // BS)

    def __getitem__(self, i):
        if self.delay:
            time.sleep(self.delay)
        sl = slice(i * BS, (i + 1) * BS)
        if self.sw is None:
            return self.x[sl], self.y[sl]
        return self.x[sl], self.y[sl], self.sw[sl]


def _generator(x, y, epochs):
    for _ in range(epochs):
        for i in range(0, len(x), BS):
            yield x[i:i + BS], y[i:i + BS]


def _weights(model):
    return [w.copy() for w in model.get_weights()]


@pytest.fixture(scope="module")
def reference():
    x, y = _data()
    model = _model()
    history = model.fit(x, y, batch_size=BS, epochs=2, shuffle=False, verbose=0,
                        validation_data=(x[:8], y[:8]))
    return _weights(model), history.history


@pytest.mark.parametrize("kind", ["py_dataset", "py_dataset_threads", "generator"])
def test_streams_train_to_the_weights_of_the_arrays(reference, kind):
    x, y = _data()
    model = _model()
    if kind == "generator":
        data, steps = _generator(x, y, 2), N // BS
    else:
        data, steps = Batches(x, y, workers=3 if kind.endswith("threads") else 1), None
    val = Batches(x[:8], y[:8])
    history = model.fit(data, epochs=2, shuffle=False, verbose=0, steps_per_epoch=steps, validation_data=val)
    weights, expected = reference
    for got, want in zip(_weights(model), weights):
        np.testing.assert_array_equal(got, want)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(history.history[key], expected[key], rtol=1e-6)


def test_evaluate_and_predict_on_streams():
    x, y = _data()
    model = _model()
    loss, acc = model.evaluate(x, y, batch_size=BS, verbose=0)
    got = model.evaluate(Batches(x, y), verbose=0)
    np.testing.assert_allclose(got, [loss, acc], rtol=1e-6)
    np.testing.assert_allclose(model.predict(Batches(x, y)), model.predict(x, batch_size=BS), rtol=1e-6)
    gen = (x[i:i + BS] for i in range(0, N, BS))
    assert model.predict(gen, steps=2).shape == (2 * BS, 3)


def test_sample_weights_from_batches_weight_the_loss():
    x, y = _data()
    model = _model()
    sw = np.linspace(0.0, 2.0, N)
    weighted = model.evaluate(Batches(x, y, sw), verbose=0, return_dict=True)
    per_batch = [model.loss_fn(y[i:i + BS], model.predict(x[i:i + BS], verbose=0), sw[i:i + BS])
                 for i in range(0, N, BS)]
    np.testing.assert_allclose(weighted["loss"], np.mean(per_batch), rtol=1e-5)
    plain = model.evaluate(Batches(x, y), verbose=0, return_dict=True)
    assert abs(weighted["loss"] - plain["loss"]) > 1e-4
    zero = _model()
    before = _weights(zero)
    zero.fit(Batches(x, y, np.zeros(N)), epochs=1, verbose=0, shuffle=False)
    for got, want in zip(_weights(zero), before):  # weight 0 everywhere: no gradient, Adam moves nothing
        np.testing.assert_array_equal(got, want)


def test_generator_running_out_warns_and_stops():
    x, y = _data()
    model = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(_generator(x, y, 1), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1


@pytest.mark.filterwarnings("ignore:Your input ran out of data")
def test_unknown_length_shows_a_count_then_the_total(capsys):
    x, y = _data()
    model = _model()
    model.fit(_generator(x, y, 1), epochs=2, verbose=1)   # the second epoch runs out: a warning
    out = capsys.readouterr().out
    assert "5/5" in out and "accuracy" in out


def test_refusals():
    x, y = _data()
    model = _model()
    with pytest.raises(ValueError, match="do not also pass y"):
        model.fit(Batches(x, y), y, verbose=0)
    with pytest.raises(ValueError, match="validation_split needs arrays"):
        model.fit(Batches(x, y), validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        model.fit(x, y, steps_per_epoch=2, verbose=0)
    with pytest.raises(ValueError, match="has no targets"):
        model.fit((x[i:i + BS] for i in range(0, N, BS)), verbose=0)


class _Timed(Batches):
    """Records when each batch's load starts and ends."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loads = {}

    def __getitem__(self, i):
        start = time.perf_counter()
        batch = super().__getitem__(i)
        self.loads[i] = (start, time.perf_counter())
        return batch


class _Compute(Callback):
    """Stands for a compute-bound step: sleeps in every batch (the GIL released, as Numba's kernels do),
    recording when each step starts and ends."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self.steps = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(self.seconds)
        self.steps.append((self._start, time.perf_counter()))


def test_loading_overlaps_the_step():
    """Batch i+1 loads while batch i trains: every load after the first starts before the step ahead of
    it has ended, so a data-bound epoch takes about max(load, compute) per batch, not their sum. Checked
    on the order of events rather than on wall time, which a busy machine makes noisy."""
    n = 6
    x, y = np.zeros((n * BS, 5, 5, 1), np.float32), np.zeros(n * BS, np.int64)
    model = _model()
    data, compute = _Timed(x, y, delay=0.1), _Compute(0.1)
    model.fit(data, epochs=1, verbose=0, shuffle=False, callbacks=[compute])
    assert sorted(data.loads) == list(range(n)) and len(compute.steps) == n
    for i in range(n - 1):
        load_start = data.loads[i + 1][0]
        step_start, step_end = compute.steps[i]
        assert load_start < step_end, (i, data.loads, compute.steps)
