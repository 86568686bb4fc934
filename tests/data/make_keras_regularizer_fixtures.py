"""Regenerate ``keras_regularizers.npz``: Keras 3's regularizers, constraints, and a model trained with them,
for tests/test_regularizers.py (which needs neither Keras nor this script).

    /opt/tfenv/bin/python tests/data/make_keras_regularizer_fixtures.py

Records, with the TensorFlow backend: each regularizer's value and gradient (tf.GradientTape) on a fixed
array, each constraint's output, the configs of the string forms, and a small model (Conv2D with L2
kernel, L1 bias, L1L2 activity regularizers and a MaxNorm kernel constraint; Dense with an orthogonal
regularizer, NonNeg kernel and UnitNorm bias constraints; Dense with MinMaxNorm) trained two SGD steps:
its initial weights, the batch, the losses and the weights after each step, and test_on_batch's loss.
"""

import json
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
R, C = keras.regularizers, keras.constraints


def regularizer_cases():
    return {"l1": R.L1(0.03), "l2": R.L2(0.05), "l1l2": R.L1L2(0.01, 0.02),
            "orth_rows": R.OrthogonalRegularizer(0.1, "rows"), "orth_columns": R.OrthogonalRegularizer(0.2, "columns")}


def constraint_cases():
    return {"max_norm": C.MaxNorm(0.8, axis=0), "max_norm_axis1": C.MaxNorm(1.2, axis=1), "non_neg": C.NonNeg(),
            "unit_norm": C.UnitNorm(axis=0), "min_max_norm": C.MinMaxNorm(0.5, 1.0, rate=0.7, axis=0)}


def build():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((6, 6, 1)),
        keras.layers.Conv2D(2, 3, activation="relu", kernel_regularizer=R.L2(0.01), bias_regularizer=R.L1(0.02),
                            activity_regularizer=R.L1L2(0.001, 0.002), kernel_constraint=C.MaxNorm(0.5)),
        keras.layers.Flatten(),
        keras.layers.Dense(5, activation="tanh", kernel_regularizer=R.OrthogonalRegularizer(0.05),
                           kernel_constraint=C.NonNeg(), bias_constraint=C.UnitNorm()),
        keras.layers.Dense(3, activation="softmax", kernel_constraint=C.MinMaxNorm(0.2, 0.6, rate=0.5)),
    ])


def main():
    rng = np.random.default_rng(0)
    out = {}
    x = rng.normal(size=(6, 4)).astype(np.float32)
    x[0, 0] = 0.0
    out["reg/x"] = x
    for name, reg in regularizer_cases().items():
        v = tf.Variable(x)
        with tf.GradientTape() as tape:
            value = reg(v)
        out[f"reg/{name}/value"] = np.float64(value.numpy())
        out[f"reg/{name}/grad"] = tape.gradient(value, v).numpy()
    w = rng.normal(size=(3, 3, 2, 4)).astype(np.float32)
    out["con/w"] = w
    for name, con in constraint_cases().items():
        out[f"con/{name}"] = np.asarray(con(tf.constant(w)))
    strings = {}
    for module, names in ((R, ("l1", "l2", "l1_l2", "L1L2", "orthogonal_regularizer", "OrthogonalRegularizer")),
                          (C, ("max_norm", "non_neg", "unit_norm", "min_max_norm", "MaxNorm"))):
        for s in names:
            try:
                strings[s] = module.get(s).get_config()
            except ValueError:
                strings[s] = None  # Keras refuses this name

    out["strings"] = np.array(json.dumps(strings))

    model = build()
    weights = [rng.normal(0, 0.4, w.shape).astype(np.float32) for w in model.get_weights()]
    model.set_weights(weights)
    out["model/json"] = np.array(model.to_json())
    for i, value in enumerate(weights):
        out[f"model/w0_{i}"] = value
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    xb = rng.normal(size=(4, 6, 6, 1)).astype(np.float32)
    yb = rng.integers(0, 3, 4)
    out["model/x"], out["model/y"] = xb, yb
    out["model/test_loss"] = np.float64(model.test_on_batch(xb, yb))
    for step in (1, 2):
        out[f"model/loss{step}"] = np.float64(model.train_on_batch(xb, yb))
        for i, value in enumerate(model.get_weights()):
            out[f"model/w{step}_{i}"] = value
    np.savez_compressed(os.path.join(HERE, "keras_regularizers.npz"), **out)
    print("wrote keras_regularizers.npz with Keras", keras.__version__)


if __name__ == "__main__":
    main()
