"""Regenerate ``keras_saving/``: files written by real Keras 3 for tests/saving/test_keras_files.py, and a
record of real Keras reading files written by numbacnn.

Run with a Python that has Keras 3 (the test suite itself needs neither Keras nor this script)::

    /opt/tfenv/bin/python tests/data/make_keras_saving_fixtures.py --numbacnn-python .venv/bin/python

1. Keras builds the models below (every layer type numbacnn has; "d" is functional, with a shared
   layer and a nested Sequential; "g" has two inputs, two outputs and Add, Multiply (broadcast),
   Concatenate and Subtract merges; "h" is a plain Sequential, which numbacnn builds with ``input_shape=``
   on its first layer, as the seed programs do), gives every weight a non-trivial value
   and writes ``<case>.json`` (``model.to_json()``), ``<case>.weights.h5`` (Keras 3 layout),
   ``<case>.keras`` (``model.save``, Keras 3's zip) and, for "a"
   and "e", ``<case>.h5`` (``model.save``: Keras's whole-model file, the Keras 2 weights layout inside).
   Case "e" is compiled with Adam and trained two steps first, so its files carry optimizer state.
   ``reference.npz`` holds per case ``x``, ``pred`` (Keras's predict), ``count_params``; for "e" also
   ``iterations``, the next batch ``x_next, y_next``, the loss Keras gets on it when it goes on training
   (``loss_next``) and the weights after that step (``new_w0, ...``): what a loaded copy must reproduce.
2. numbacnn (run with ``--numbacnn-python``, in a subprocess) rebuilds each case from Keras's JSON, draws
   its own weights, and writes its to_json / save_weights (both layouts) / save (.h5 and .keras) files and
   predictions.
3. Keras loads numbacnn's files and predicts; ``keras_reads_numbacnn.json`` records, per file, whether Keras
   loaded it and the largest difference from numbacnn's predictions; and, for "e", Keras's iteration count
   and next-step loss after loading numbacnn's optimizer state from ``e.weights.h5``, against numbacnn's.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "keras_saving")
CASES = ("a", "b", "c", "d", "e", "f", "g", "h")


# ----- Keras side -------------------------------------------------------------------------------------
def keras_models(keras):
    layers = keras.layers
    a = keras.Sequential([
        keras.Input((10, 10, 3)),
        layers.ZeroPadding2D(1),
        layers.Conv2D(4, 3, activation="relu"),
        layers.BatchNormalization(),
        layers.MaxPooling2D(),
        layers.Conv2D(4, 3, padding="same", strides=2, use_bias=False),
        layers.AveragePooling2D(1),
        layers.ReLU(),
        layers.LeakyReLU(),
        layers.ELU(),
        layers.Dropout(0.2),
        layers.SpatialDropout2D(0.1),
        layers.Activation("tanh"),
        layers.Flatten(),
        layers.Dense(6),
        layers.Reshape((2, 3)),
        layers.Flatten(),
        layers.Dense(3),
        layers.Softmax(),
    ], name="all_2d")
    b = keras.Sequential([
        keras.Input((12, 2)),
        layers.ZeroPadding1D(1),
        layers.Conv1D(3, 3, activation="relu"),
        layers.MaxPooling1D(2),
        layers.AveragePooling1D(2, padding="same"),
        layers.SpatialDropout1D(0.1),
        layers.Conv1D(3, 1),
        layers.GlobalMaxPooling1D(keepdims=True),
        layers.GlobalAveragePooling1D(),
        layers.Dense(2, activation="sigmoid"),
    ], name="all_1d")
    c = keras.Sequential([
        keras.Input((6, 6, 6, 1)),
        layers.ZeroPadding3D(1),
        layers.Conv3D(2, 3),
        layers.MaxPooling3D(2),
        layers.AveragePooling3D(1),
        layers.BatchNormalization(),
        layers.GlobalAveragePooling3D(keepdims=True),
        layers.GlobalMaxPooling3D(),
        layers.Dense(2),
    ], name="all_3d")
    inp = keras.Input((5,), name="features")
    shared = layers.Dense(4, activation="tanh", name="shared")
    h = shared(shared(layers.Dense(4)(inp)))
    inner = keras.Sequential([keras.Input((4,)), layers.Dense(3), layers.BatchNormalization()], name="inner")
    d = keras.Model(inp, layers.Dense(2, activation="softmax")(inner(h)), name="nested")
    f = keras.Sequential([
        keras.Input((6, 6, 2)),
        layers.Conv2D(3, 1),
        layers.GlobalMaxPooling2D(keepdims=True),
        layers.GlobalAveragePooling2D(),
        layers.Dense(2),
    ], name="global_2d")
    e = keras.Sequential([
        keras.Input((8, 8, 1)),
        layers.Conv2D(4, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(8, activation="relu"),
        layers.Dense(3, activation="softmax"),
    ], name="trained")
    img, vec = keras.Input((6, 6, 2), name="img"), keras.Input((5,), name="vec")
    h = layers.add([layers.Conv2D(3, 3, padding="same", activation="relu")(img), layers.Conv2D(3, 1)(img)])
    h = layers.multiply([h, layers.GlobalAveragePooling2D(keepdims=True)(h)])  # broadcast, as in SE blocks
    v = layers.Dense(4, activation="tanh")(vec)
    joined = layers.concatenate([layers.Flatten()(h), v])
    g = keras.Model([img, vec], [layers.Dense(3, activation="softmax", name="cls")(joined),
                                 layers.Dense(1, name="reg")(layers.subtract([v, layers.Dense(4)(vec)]))],
                    name="multi_io")
    hseq = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(4, 3), layers.Flatten(), layers.Dense(2)],
                            name="input_shape_seq")
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f, "g": g, "h": hseq}


def sample(model, rng, n=3):
    """Inputs for ``model``: one array, or a list for several inputs."""
    shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    xs = [rng.normal(0.0, 1.0, (n,) + tuple(s[1:])).astype(np.float32) for s in shapes]
    return xs if len(xs) > 1 else xs[0]


def put(store, key, value):
    """``value`` (an array, or a list of arrays) under ``key`` (``key/0``, ``key/1``... for a list)."""
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            store[f"{key}/{i}"] = np.asarray(v, dtype=np.float32)
    else:
        store[key] = np.asarray(value, dtype=np.float32)


def take(store, key):
    """What ``put`` stored under ``key``."""
    if key in store:
        return store[key]
    return [store[f"{key}/{i}"] for i in range(len([k for k in store if k.startswith(key + "/")]))]


def perturb(model, rng):
    values = []
    for v in model.weights:
        w = np.asarray(v.numpy())
        name = v.path.rsplit("/", 1)[-1]
        if name == "moving_variance":
            w = rng.uniform(0.5, 1.5, w.shape)
        else:
            w = rng.normal(0.0, 0.5, w.shape)
        values.append(w.astype(np.float32))
    model.set_weights(values)


def keras_side(keras, out):
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    ref = {"keras_version": np.array(keras.__version__)}
    for case, model in keras_models(keras).items():
        perturb(model, rng)
        x = sample(model, rng)
        if case == "e":
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            for _ in range(2):
                batch = rng.normal(0.0, 1.0, (4, 8, 8, 1)).astype(np.float32)
                model.train_on_batch(batch, rng.integers(0, 3, 4))
        put(ref, f"{case}/x", x)
        put(ref, f"{case}/pred", model.predict(x, verbose=0))
        ref[f"{case}/count_params"] = np.int64(model.count_params())
        with open(os.path.join(out, f"{case}.json"), "w") as f:
            f.write(model.to_json())
        model.save_weights(os.path.join(out, f"{case}.weights.h5"))
        model.save(os.path.join(out, f"{case}.keras"))
        if case in ("a", "e"):
            model.save(os.path.join(out, f"{case}.h5"))
        if case == "e":  # Keras goes on training the saved model: what a loaded copy must reproduce
            ref["e/iterations"] = np.int64(int(model.optimizer.iterations.numpy()))
            ref["e/x_next"] = rng.normal(0.0, 1.0, (4, 8, 8, 1)).astype(np.float32)
            ref["e/y_next"] = rng.integers(0, 3, 4)
            logs = model.train_on_batch(ref["e/x_next"], ref["e/y_next"])
            ref["e/loss_next"] = np.float32(np.atleast_1d(logs)[0])
            for i, w in enumerate(model.get_weights()):
                ref[f"e/new_w{i}"] = np.asarray(w, dtype=np.float32)
    np.savez_compressed(os.path.join(out, "reference.npz"), **ref)


def keras_reads(keras, numbacnn_dir):
    """Keras loads every numbacnn file; returns {file: {"loaded", "max_abs_diff", "error"}}."""
    record = {}
    got = np.load(os.path.join(numbacnn_dir, "numbacnn_pred.npz"))

    def check(name, case, build):
        try:
            model = build()
            pred = model.predict(take(got, f"{case}/x"), verbose=0)
            expected = take(got, f"{case}/pred")
            pairs = zip(pred, expected) if isinstance(expected, list) else [(pred, expected)]
            diff = max(float(np.max(np.abs(np.asarray(p) - e))) for p, e in pairs)
            record[name] = {"loaded": True, "max_abs_diff": diff, "error": None}
            return model
        except Exception as err:  # recorded, not raised: the record is the result
            record[name] = {"loaded": False, "max_abs_diff": None, "error": f"{type(err).__name__}: {err}"}
            return None

    def from_json(case):
        with open(os.path.join(numbacnn_dir, f"{case}.json")) as f:
            return keras.models.model_from_json(f.read())

    for case in CASES:
        def weights3(case=case):
            model = from_json(case)
            model.load_weights(os.path.join(numbacnn_dir, f"{case}.weights.h5"))
            return model

        def weights2(case=case):
            model = from_json(case)
            model.load_weights(os.path.join(numbacnn_dir, f"{case}_weights.h5"))
            return model

        check(f"{case}.json+{case}.weights.h5", case, weights3)
        check(f"{case}.json+{case}_weights.h5", case, weights2)
        check(f"{case}_model.h5", case, lambda case=case: keras.models.load_model(
            os.path.join(numbacnn_dir, f"{case}_model.h5")))
        check(f"{case}_model.keras", case, lambda case=case: keras.models.load_model(
            os.path.join(numbacnn_dir, f"{case}_model.keras")))
    # Optimizer state: Keras's legacy load_model builds the optimizer on no variables (it cannot go on
    # training a loaded .h5 model, even one Keras wrote), so the state is checked through .weights.h5.
    model = from_json("e")
    model.optimizer.build(model.trainable_variables)
    model.load_weights(os.path.join(numbacnn_dir, "e.weights.h5"))
    iterations = int(model.optimizer.iterations.numpy())
    loss = float(np.atleast_1d(model.train_on_batch(got["e/x_next"], got["e/y_next"]))[0])
    record["e.weights.h5 optimizer state"] = {
        "loaded": True, "iterations": iterations,
        "numbacnn_iterations": int(got["e/iterations"]),
        "next_loss_abs_diff": abs(loss - float(got["e/loss_next"])),
        "max_abs_diff": None, "error": None}
    return record


# ----- numbacnn side (run in a subprocess, by the Python that has numbacnn) ----------------------------
def numbacnn_side(keras_dir, out):
    sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
    from numbacnn import backend, layers
    from numbacnn.models import Sequential, model_from_json

    backend.seed(1)
    rng = np.random.default_rng(1)
    ref = np.load(os.path.join(keras_dir, "reference.npz"))
    pred = {}
    for case in CASES:
        if case == "h":  # built with input_shape= on its first layer, as the seed programs do
            model = Sequential([layers.Conv2D(4, 3, input_shape=(8, 8, 1)), layers.Flatten(), layers.Dense(2)])
        else:
            with open(os.path.join(keras_dir, f"{case}.json")) as f:
                model = model_from_json(f.read())
        model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) if w.name == "moving_variance"
                           else rng.normal(0.0, 0.5, w.shape).astype(np.float32) for w in model.weights])
        x = take(ref, f"{case}/x")
        if case == "e":
            x_train = rng.normal(0.0, 1.0, (4, 8, 8, 1)).astype(np.float32)
            for _ in range(3):
                model.train_on_batch(x_train, rng.integers(0, 3, 4))
        put(pred, f"{case}/x", x)
        put(pred, f"{case}/pred", model.predict(x))
        with open(os.path.join(out, f"{case}.json"), "w") as f:
            f.write(model.to_json())
        model.save_weights(os.path.join(out, f"{case}.weights.h5"))
        model.save_weights(os.path.join(out, f"{case}_weights.h5"))
        model.save(os.path.join(out, f"{case}_model.h5"))
        model.save(os.path.join(out, f"{case}_model.keras"))
        if case == "e":
            pred["e/iterations"] = np.int64(model.optimizer.iterations)
            pred["e/x_next"], pred["e/y_next"] = ref["e/x_next"], ref["e/y_next"]
            pred["e/loss_next"] = np.float64(model.train_on_batch(ref["e/x_next"], ref["e/y_next"])[0])
    np.savez(os.path.join(out, "numbacnn_pred.npz"), **pred)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbacnn-python", default="python3", help="a Python that can import numbacnn")
    parser.add_argument("--numbacnn-side", nargs=2, metavar=("KERAS_DIR", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.numbacnn_side:
        numbacnn_side(*args.numbacnn_side)
        return
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    keras.config.set_floatx("float32")
    os.makedirs(OUT, exist_ok=True)
    keras_side(keras, OUT)
    with tempfile.TemporaryDirectory() as tmp:
        command = [args.numbacnn_python, os.path.abspath(__file__), "--numbacnn-side", OUT, tmp]
        subprocess.run(command, check=True)
        record = keras_reads(keras, tmp)
    record = {"keras_version": keras.__version__, "keras_backend": keras.backend.backend(), "files": record}
    with open(os.path.join(OUT, "keras_reads_numbacnn.json"), "w") as f:
        json.dump(record, f, indent=1, sort_keys=True)
    failed = [name for name, r in record["files"].items() if not r["loaded"]]
    print(f"wrote {OUT} (Keras {keras.__version__}, {keras.backend.backend()}); "
          f"Keras failed to load: {failed}")


if __name__ == "__main__":
    main()
