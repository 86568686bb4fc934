"""Regenerate ``keras_fixtures.npz``: real Keras 3 reference numbers for tests/models/test_keras_parity.py.

Run in an environment with Keras 3 (not needed by the test suite itself)::

    KERAS_BACKEND=torch python tests/data/make_keras_fixtures.py

For every training case the file holds, under the case's prefix ``<c>/``: the initial weights ``w0, w1, ...``
(in ``model.get_weights()`` order, BatchNormalization's moving stats included) and their paths ``names``,
the batch ``x, y``, ``pred`` (``model.predict(x)`` before training), then after ONE ``train_on_batch(x, y)``
the returned ``loss`` (and ``accuracy`` where compiled with it) and ``new_w0, ...``; then after a second
``train_on_batch(x2, y2)`` on another batch ``loss2`` and ``new2_w0, ...`` (the second step exercises the
optimizers' state: momentum, Adam's moments and bias correction, accumulators).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers, optimizers  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_fixtures.npz")


def _rng(seed):
    keras.utils.set_random_seed(seed)
    return np.random.default_rng(seed)


def _perturb(model, rng):
    """Make zero/one-initialized weights (biases, BN gamma/beta/moving stats) non-trivial."""
    new = []
    for v in model.weights:
        w = np.asarray(v.numpy())
        name = v.path.rsplit("/", 1)[-1]
        if name in ("bias", "beta", "moving_mean"):
            w = rng.normal(0.0, 0.1, w.shape)
        elif name in ("gamma", "moving_variance"):
            w = rng.uniform(0.5, 1.5, w.shape)
        new.append(w.astype(np.float32))
    model.set_weights(new)


def _f32(a):
    return np.asarray(a, dtype=np.float32)


def _logs(result):
    """train_on_batch's return: a scalar loss, or [loss, metric]."""
    result = np.atleast_1d(np.asarray(result, dtype=np.float32))
    return {"loss": result[0], **({"accuracy": result[1]} if result.size > 1 else {})}


def record(out, prefix, model, x, y, x2, y2, predict_after=False):
    """One train_on_batch on (x, y), then one on (x2, y2); keep everything under ``prefix/``."""
    out[f"{prefix}/names"] = np.array([v.path for v in model.weights])
    for i, w in enumerate(model.get_weights()):
        out[f"{prefix}/w{i}"] = _f32(w)
    out[f"{prefix}/x"], out[f"{prefix}/y"] = x, y
    out[f"{prefix}/x2"], out[f"{prefix}/y2"] = x2, y2
    out[f"{prefix}/pred"] = _f32(model.predict(x, verbose=0))
    for key, value in _logs(model.train_on_batch(x, y)).items():
        out[f"{prefix}/{key}"] = value
    for i, w in enumerate(model.get_weights()):
        out[f"{prefix}/new_w{i}"] = _f32(w)
    if predict_after:
        out[f"{prefix}/pred_after"] = _f32(model.predict(x, verbose=0))
    for key, value in _logs(model.train_on_batch(x2, y2)).items():
        out[f"{prefix}/{key}2"] = value
    for i, w in enumerate(model.get_weights()):
        out[f"{prefix}/new2_w{i}"] = _f32(w)


def _images(rng, shape):
    return _f32(rng.normal(0.0, 1.0, shape))


def _labels(rng, n, classes):
    return rng.integers(0, classes, n).astype(np.int64)


def _onehot(labels, classes):
    return _f32(np.eye(classes)[labels])


def case_strided_conv(out, prefix, size, nesterov, seed):
    """Conv2D(3, 3, same, strides=2, relu) -> Flatten -> Dense(3, softmax), SGD(0.1, momentum 0.9)."""
    rng = _rng(seed)
    model = keras.Sequential([
        keras.Input((size, size, 2)),
        layers.Conv2D(3, 3, padding="same", strides=2, activation="relu"),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])
    _perturb(model, rng)
    sparse = not nesterov
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=nesterov),
                  loss="sparse_categorical_crossentropy" if sparse else "categorical_crossentropy",
                  metrics=["accuracy"])
    x, x2 = _images(rng, (4, size, size, 2)), _images(rng, (4, size, size, 2))
    y, y2 = _labels(rng, 4, 3), _labels(rng, 4, 3)
    if not sparse:
        y, y2 = _onehot(y, 3), _onehot(y2, 3)
    record(out, prefix, model, x, y, x2, y2)


def case_dilated_pooling(out, seed=3):
    """Conv2D(2, 3, dilation 2, same) -> MaxPool(same) -> AvgPool(same) -> GAP -> Dense(3, softmax), Adam."""
    rng = _rng(seed)
    model = keras.Sequential([
        keras.Input((9, 9, 2)),
        layers.Conv2D(2, 3, dilation_rate=2, padding="same"),
        layers.MaxPooling2D(padding="same"),
        layers.AveragePooling2D(2, padding="same"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(3, activation="softmax"),
    ])
    _perturb(model, rng)
    model.compile(optimizer=optimizers.Adam(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, x2 = _images(rng, (4, 9, 9, 2)), _images(rng, (4, 9, 9, 2))
    record(out, "c", model, x, _labels(rng, 4, 3), x2, _labels(rng, 4, 3))


def case_batchnorm(out, seed=4):
    """Seed-004 style (functional): Dense -> BatchNormalization -> relu -> Dense(3, softmax), SGD()."""
    rng = _rng(seed)
    inp = keras.Input((5,))
    h = layers.Dense(4)(inp)
    h = layers.BatchNormalization()(h)
    h = layers.Activation("relu")(h)
    model = keras.Model(inp, layers.Dense(3, activation="softmax")(h))
    _perturb(model, rng)
    model.compile(optimizer=optimizers.SGD(), loss="categorical_crossentropy", metrics=["accuracy"])
    x, x2 = _images(rng, (4, 5)), _images(rng, (4, 5))
    y, y2 = _onehot(_labels(rng, 4, 3), 3), _onehot(_labels(rng, 4, 3), 3)
    record(out, "d", model, x, y, x2, y2, predict_after=True)


def case_rmsprop_adagrad(out, seed=5):
    """e1: Dense(4, relu) -> Dense(2), RMSprop, mse. e2: Dense(4, relu) -> Dense(1, sigmoid), Adagrad, BCE."""
    rng = _rng(seed)
    model = keras.Sequential([keras.Input((3,)), layers.Dense(4, activation="relu"), layers.Dense(2)])
    _perturb(model, rng)
    model.compile(optimizer=optimizers.RMSprop(), loss="mse")
    record(out, "e1", model, _images(rng, (4, 3)), _images(rng, (4, 2)),
           _images(rng, (4, 3)), _images(rng, (4, 2)))

    rng = _rng(seed + 1)
    model = keras.Sequential([keras.Input((3,)), layers.Dense(4, activation="relu"),
                              layers.Dense(1, activation="sigmoid")])
    _perturb(model, rng)
    model.compile(optimizer=optimizers.Adagrad(), loss="binary_crossentropy")
    y, y2 = (_f32(rng.integers(0, 2, (4, 1))) for _ in range(2))
    record(out, "e2", model, _images(rng, (4, 3)), y, _images(rng, (4, 3)), y2)


def case_forward_nd(out, seed=7):
    """Forward only, 'same': Conv1D(2, 3, strides=2), Conv3D(2, 2), MaxPooling1D, AveragePooling3D(2)."""
    rng = _rng(seed)
    cases = {
        "f_conv1d": (layers.Conv1D(2, 3, strides=2, padding="same"), (2, 8, 3)),
        "f_conv3d": (layers.Conv3D(2, 2, padding="same"), (2, 3, 4, 3, 2)),
        "f_maxpool1d": (layers.MaxPooling1D(padding="same"), (2, 7, 3)),
        "f_avgpool3d": (layers.AveragePooling3D(2, padding="same"), (2, 3, 5, 4, 2)),
    }
    for prefix, (layer, shape) in cases.items():
        model = keras.Sequential([keras.Input(shape[1:]), layer])
        _perturb(model, rng)
        x = _images(rng, shape)
        for i, w in enumerate(model.get_weights()):
            out[f"{prefix}/w{i}"] = _f32(w)
        out[f"{prefix}/x"] = x
        out[f"{prefix}/pred"] = _f32(model.predict(x, verbose=0))


def _count(out, prefix, model):
    out[f"{prefix}/count_params"] = np.int64(model.count_params())
    out[f"{prefix}/trainable"] = np.int64(sum(int(np.prod(v.shape)) for v in model.trainable_weights))
    out[f"{prefix}/non_trainable"] = np.int64(sum(int(np.prod(v.shape)) for v in model.non_trainable_weights))


def case_param_counts(out):
    """The seeds' CIFAR CNN (seed 000) and seed 004's conv_model_pooling, as Keras builds them."""
    cifar = keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    _count(out, "g_cifar", cifar)

    def dense_bn(x, units):
        x = layers.Dense(units)(x)
        x = layers.BatchNormalization()(x)
        return layers.Activation("relu")(x)

    def conv2d_bn(x, filters, length, width, padding="same", strides=(1, 1)):
        x = layers.Conv2D(filters, (length, width), strides=strides, padding=padding)(x)
        x = layers.BatchNormalization()(x)
        return layers.Activation("relu")(x)

    x = keras.Input(shape=(28, 28, 1))
    x2 = conv2d_bn(x, 64, 3, 3)
    x3 = layers.MaxPooling2D(2)(x2)
    x4 = conv2d_bn(x3, 32, 3, 3)
    x5 = layers.Flatten()(x4)
    x6 = dense_bn(x5, 32)
    y = layers.Dense(10, activation="softmax")(x6)
    _count(out, "g_pooling", keras.Model(inputs=x, outputs=y))


def main():
    keras.config.set_floatx("float32")
    out = {"keras_version": np.array(keras.__version__), "keras_backend": np.array(keras.backend.backend())}
    case_strided_conv(out, "a", size=7, nesterov=False, seed=1)
    case_strided_conv(out, "b", size=6, nesterov=True, seed=2)
    case_dilated_pooling(out)
    case_batchnorm(out)
    case_rmsprop_adagrad(out)
    case_forward_nd(out)
    case_param_counts(out)
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT}: {len(out)} arrays, Keras {keras.__version__} ({keras.backend.backend()})")


if __name__ == "__main__":
    main()
