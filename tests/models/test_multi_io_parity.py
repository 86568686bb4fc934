"""A two-input, two-output model (Conv2D branches, Concatenate and Add, two Dense heads) against real Keras 3.

The reference numbers come from tests/data/keras_multi_io.npz, written by
tests/data/make_keras_multi_io_fixtures.py with Keras 3.15 (TensorFlow backend): the same initial weights
and batches give the same ``predict``, the same ``train_on_batch`` logs (their key names and values: the
weighted total ``loss``, each output's unweighted ``<output>_loss``, ``label_accuracy``) and the same new
weights after one and two SGD steps, to float32 rounding (rtol 1e-5, atol 1e-6 as in test_keras_parity.py);
``fit``'s log keys (with validation data); and the summary's rows (layer, output shape, parameters,
"Connected to") and parameter totals.
"""

import os
import re

import numpy as np
import pytest

from numbacnn.layers import Add, Concatenate, Conv2D, Dense, Flatten, Input
from numbacnn.models import Model
from numbacnn.optimizers import SGD

FIXTURES = os.path.join(os.path.dirname(__file__), os.pardir, "data", "keras_multi_io.npz")
RTOL, ATOL = 1e-5, 1e-6
LOSS_WEIGHTS = [1.0, 0.5]


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURES) as data:
        return {k: data[k] for k in data.files}


def _close(actual, expected, what):
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                               rtol=RTOL, atol=ATOL, err_msg=what)


def build():
    image_a = Input((5, 5, 2), name="image_a")
    image_b = Input((5, 5, 3), name="image_b")
    a = Conv2D(3, 3, padding="same", activation="relu", name="conv_a")(image_a)
    b = Conv2D(3, 3, padding="same", activation="tanh", name="conv_b")(image_b)
    joined = Concatenate(name="joined")([a, b])
    summed = Add(name="summed")([a, b])
    label = Dense(4, activation="softmax", name="label")(Flatten(name="flat_joined")(joined))
    score = Dense(1, name="score")(Flatten(name="flat_summed")(summed))
    return Model(inputs=[image_a, image_b], outputs=[label, score], name="two_by_two")


def compiled(ref):
    model = build()
    model.compile(optimizer=SGD(learning_rate=0.1), loss=["sparse_categorical_crossentropy", "mse"],
                  loss_weights=LOSS_WEIGHTS, metrics=[["accuracy"], []])
    model.set_weights([ref[f"w{i}"] for i in range(len(ref["names"]))])
    return model


def _batch(ref, suffix=""):
    return [ref[f"xa{suffix}"], ref[f"xb{suffix}"]], [ref[f"ya{suffix}"], ref[f"yb{suffix}"]]


def test_weights_are_in_kerass_order(ref):
    model = build()
    assert [w.path for w in model.weights] == list(ref["names"])


def test_predict_and_two_sgd_steps_match_keras(ref):
    model = compiled(ref)
    x, _ = _batch(ref)
    pred = model.predict(x, verbose=0)
    assert isinstance(pred, list) and len(pred) == 2
    _close(pred[0], ref["pred0"], "predict, label")
    _close(pred[1], ref["pred1"], "predict, score")
    for step in ("", "2"):
        x, y = _batch(ref, step)
        logs = model.train_on_batch(x, y, return_dict=True)
        expected = {k.split("/", 1)[1]: v for k, v in ref.items() if k.startswith(f"log{step}/")}
        assert set(logs) == set(expected)
        for key, value in expected.items():
            _close(logs[key], value, f"step {step or 1}: {key}")
        for i, w in enumerate(model.get_weights()):
            _close(w, ref[f"new{step}_w{i}"], f"step {step or 1}: {ref['names'][i]}")


def test_fit_log_keys_match_keras(ref):
    model = compiled(ref)
    x, y = _batch(ref)
    x2, y2 = _batch(ref, "2")
    history = model.fit(x, y, batch_size=3, epochs=1, verbose=0, validation_data=(x2, y2), shuffle=False)
    assert sorted(history.history) == list(ref["fit_keys"])


def _rows(text):
    """{layer (type): (output shape, params, [inbound tensors])} and the three totals, from a summary in
    Keras 3's box layout or the classic one (cells may wrap over several lines)."""
    lines = text.splitlines()
    rows, cells = [], None
    boxed = any("│" in line for line in lines)
    if boxed:
        for line in lines:
            if line.startswith("│"):
                parts = [p.strip() for p in line.strip("│").split("│")]
                cells = [c + [p] for c, p in zip(cells, parts)] if cells is not None else [[p] for p in parts]
            elif line.startswith(("├", "└")) and cells is not None:
                rows.append(cells)
                cells = None
    else:
        header = next(i for i, line in enumerate(lines) if line.startswith("Layer (type)"))
        starts = [m.start() for m in re.finditer(r"(?:^|(?<=\s\s))\S", lines[header])]
        for line in lines[header + 2:]:
            if set(line.strip()) <= {"_", "="} and line.strip():
                if cells is not None:
                    rows.append(cells)
                cells = None
                continue
            if not line.strip() or line.startswith(("Total", "Trainable", "Non-trainable")):
                continue
            parts = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
            cells = [c + [p] for c, p in zip(cells, parts)] if cells is not None else [[p] for p in parts]
    table = {}
    for cells in rows:
        name, shape, params, inbound = ([" ".join(p for p in c if p) for c in cells[:4]] + [""])[:4]
        if name == "Layer (type)":
            continue
        table[name] = (shape, int(params.replace(",", "")),
                       [t for t in re.split(r"[,\s]+", inbound) if t and t != "-"])
    totals = [int(re.search(rf"{what} params: ([\d,]+)", text).group(1).replace(",", ""))
              for what in ("Total", "Trainable", "Non-trainable")]
    return table, totals


def test_summary_rows_connections_and_totals_match_keras(ref):
    model = build()
    lines = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line))
    ours, our_totals = _rows("\n".join(lines))
    keras_rows, keras_totals = _rows(str(ref["summary"]))
    assert our_totals == keras_totals == [821, 821, 0]
    assert ours == keras_rows


def test_kerass_json_of_the_model_loads_and_ours_round_trips(ref):
    from numbacnn.models import model_from_json

    x, _ = _batch(ref)
    theirs = model_from_json(str(ref["json"]))
    assert [w.path for w in theirs.weights] == list(ref["names"])
    theirs.set_weights([ref[f"w{i}"] for i in range(len(ref["names"]))])
    for got, key in zip(theirs.predict(x, verbose=0), ("pred0", "pred1")):
        _close(got, ref[key], f"Keras's JSON, predict {key}")
    model = compiled(ref)
    clone = model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    assert [type(v).__name__ for v in clone.layers] == [type(v).__name__ for v in model.layers]
    for got, want in zip(clone.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(got, want)
