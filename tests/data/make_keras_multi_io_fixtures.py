"""Regenerate ``keras_multi_io.npz``: a two-input, two-output Keras 3 model with Concatenate and Add, for
tests/models/test_multi_io_parity.py.

Run with real Keras 3 (not needed by the test suite itself; TensorFlow's backend here)::

    /opt/tfenv/bin/python tests/data/make_keras_multi_io_fixtures.py

The model: two image inputs, a Conv2D branch each, their Concatenate and their Add, then a softmax Dense
head on the concatenation and a linear Dense head on the sum; compiled with SGD, two losses with
``loss_weights`` and accuracy on the first output. The file holds the initial weights ``w0, w1, ...``
(``model.get_weights()`` order) and their paths ``names``, two batches ``xa, xb, ya, yb`` and
``xa2, xb2, ya2, yb2``, ``pred0, pred1`` (``model.predict`` before training), after one
``train_on_batch(..., return_dict=True)`` its logs ``log/<key>`` and the weights ``new_w0, ...``, after a
second one ``log2/<key>`` and ``new2_w0, ...``; the log keys of ``fit`` (``fit_keys``, with validation
data), ``summary``, the text of ``model.summary()``, and ``json``, ``model.to_json()``.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers, optimizers  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_multi_io.npz")
LOSS_WEIGHTS = [1.0, 0.5]


def build():
    image_a = keras.Input((5, 5, 2), name="image_a")
    image_b = keras.Input((5, 5, 3), name="image_b")
    a = layers.Conv2D(3, 3, padding="same", activation="relu", name="conv_a")(image_a)
    b = layers.Conv2D(3, 3, padding="same", activation="tanh", name="conv_b")(image_b)
    joined = layers.Concatenate(name="joined")([a, b])
    summed = layers.Add(name="summed")([a, b])
    label = layers.Dense(4, activation="softmax", name="label")(layers.Flatten(name="flat_joined")(joined))
    score = layers.Dense(1, name="score")(layers.Flatten(name="flat_summed")(summed))
    return keras.Model(inputs=[image_a, image_b], outputs=[label, score], name="two_by_two")


def compile_(model):
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1),
                  loss=["sparse_categorical_crossentropy", "mse"], loss_weights=LOSS_WEIGHTS,
                  metrics=[["accuracy"], []])


def batch(rng, n):
    xa = rng.normal(0.0, 1.0, (n, 5, 5, 2)).astype(np.float32)
    xb = rng.normal(0.0, 1.0, (n, 5, 5, 3)).astype(np.float32)
    ya = rng.integers(0, 4, n).astype(np.int64)
    yb = rng.normal(0.0, 1.0, (n, 1)).astype(np.float32)
    return xa, xb, ya, yb


def main():
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    model = build()
    compile_(model)
    weights = []
    for v in model.weights:  # non-zero biases, so that their gradients show
        w = np.asarray(v.numpy(), dtype=np.float32)
        if v.path.endswith("bias"):
            w = rng.normal(0.0, 0.1, w.shape).astype(np.float32)
        weights.append(w)
    model.set_weights(weights)
    out = {"names": np.array([v.path for v in model.weights])}
    for i, w in enumerate(model.get_weights()):
        out[f"w{i}"] = w
    first, second = batch(rng, 6), batch(rng, 6)
    for suffix, (xa, xb, ya, yb) in (("", first), ("2", second)):
        out[f"xa{suffix}"], out[f"xb{suffix}"], out[f"ya{suffix}"], out[f"yb{suffix}"] = xa, xb, ya, yb
    lines = []  # before training: the optimizer's variables would join the totals
    model.summary(print_fn=lambda line, **kwargs: lines.append(line))
    out["summary"] = np.array("\n".join(lines))
    out["json"] = np.array(model.to_json())
    pred = model.predict([first[0], first[1]], verbose=0)
    out["pred0"], out["pred1"] = (np.asarray(p, np.float32) for p in pred)
    for step, (xa, xb, ya, yb) in (("", first), ("2", second)):
        logs = model.train_on_batch([xa, xb], [ya, yb], return_dict=True)
        for key, value in logs.items():
            out[f"log{step}/{key}"] = np.float32(value)
        for i, w in enumerate(model.get_weights()):
            out[f"new{step}_w{i}"] = np.asarray(w, np.float32)
    # fit's log keys (with validation data), on a fresh copy
    clone = build()
    compile_(clone)
    clone.set_weights(weights)
    history = clone.fit([first[0], first[1]], [first[2], first[3]], batch_size=3, epochs=1, verbose=0,
                        validation_data=([second[0], second[1]], [second[2], second[3]]), shuffle=False)
    out["fit_keys"] = np.array(sorted(history.history))
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes): {sorted(k for k in out if k.startswith('log'))}")
    print(out["summary"])
    print(out["fit_keys"])


if __name__ == "__main__":
    main()
