"""Regenerate the depthwise/separable fixtures from real Keras 3 (TensorFlow backend):

    /opt/tfenv/bin/python tests/data/make_keras_depthwise_fixtures.py

Writes, next to this file:

* ``keras_depthwise.npz``: for the cases ``seq2d`` (DepthwiseConv2D, BatchNormalization, ReLU(6),
  SeparableConv2D, ...) and ``seq1d`` (DepthwiseConv1D, SeparableConv1D), under ``<case>/``: the initial
  weights ``w0, w1, ...`` (``model.get_weights()`` order) and their paths ``names``, a batch ``x, y``,
  ``pred`` (``model.predict(x)``), then after ONE ``train_on_batch(x, y)`` with SGD(0.1) the ``loss``
  and the weights ``new_w0, ...``; ``count_params``, and each layer's ``get_config()`` as JSON in
  ``configs`` (depthwise and separable layers only). For MobileNet: ``mobilenet/x`` and ``mobilenet/pred``
  (Keras's predictions for the weights in the .h5 file below), ``mobilenet/count_params``,
  ``mobilenet/names`` (every weight's path), ``mobilenet/layers`` (layer names in order); the same under
  ``mobilenetv2/`` for ``MobileNetV2(weights=None, alpha=0.35, input_shape=(32, 32, 3), classes=10)``
  with the weights of ``seeded_weights`` (no file: the test draws them from the same seeds), and under
  ``xception/`` for ``Xception(weights=None, input_shape=(71, 71, 3), classes=10)`` likewise.
* ``keras_mobilenet.weights.h5``: ``keras.applications.MobileNet(weights=None, alpha=0.25,
  input_shape=(32, 32, 3), classes=10)``'s ``save_weights`` file, with its weights set to Keras's own
  random initial values rounded to multiples of 2**-5, so that the file, repacked with gzip by h5py (same
  groups, attributes and datasets), is small; BatchNormalization's moving statistics are set near those
  of its input on a random batch, so that the predictions depend on the image.
"""

import json
import os
import shutil
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "keras_depthwise.npz")
MOBILENET = os.path.join(HERE, "keras_mobilenet.weights.h5")


def _f32(a):
    return np.asarray(a, dtype=np.float32)


def _perturb(model, rng, quantum=None):
    """Make zero/one-initialized weights (biases, BN gamma/beta/moving stats) non-trivial; with ``quantum``
    every value is rounded to a multiple of it."""
    new = []
    for v in model.weights:
        w = np.asarray(v.numpy())
        name = v.path.rsplit("/", 1)[-1]
        if name in ("bias", "beta", "moving_mean"):
            w = rng.normal(0.0, 0.1, w.shape)
        elif name in ("gamma", "moving_variance"):
            w = rng.uniform(0.5, 1.5, w.shape)
        if quantum is not None:
            w = np.round(w / quantum) * quantum
            if name == "moving_variance":
                w = np.maximum(w, quantum)
        new.append(w.astype(np.float32))
    model.set_weights(new)


def record(out, prefix, model, x, y):
    out[f"{prefix}/names"] = np.array([v.path for v in model.weights])
    for i, w in enumerate(model.get_weights()):
        out[f"{prefix}/w{i}"] = _f32(w)
    out[f"{prefix}/x"], out[f"{prefix}/y"] = x, y
    out[f"{prefix}/pred"] = _f32(model.predict(x, verbose=0))
    out[f"{prefix}/count_params"] = np.int64(model.count_params())
    configs = {layer.name: layer.get_config() for layer in model.layers
               if "depthwise" in layer.name or "separable" in layer.name}
    out[f"{prefix}/configs"] = np.array(json.dumps(configs))
    out[f"{prefix}/loss"] = _f32(model.train_on_batch(x, y))
    for i, w in enumerate(model.get_weights()):
        out[f"{prefix}/new_w{i}"] = _f32(w)


def seq2d(out, rng):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([
        keras.Input((9, 9, 3)),
        layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, use_bias=False),
        layers.BatchNormalization(),
        layers.ReLU(6.0),
        layers.SeparableConv2D(5, 3, padding="same"),
        layers.BatchNormalization(),
        layers.ReLU(6.0),
        layers.DepthwiseConv2D((2, 3), padding="valid", activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(3, activation="softmax"),
    ])
    _perturb(model, rng)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    x = _f32(rng.normal(0.0, 1.0, (4, 9, 9, 3)))
    y = rng.integers(0, 3, 4).astype(np.int64)
    record(out, "seq2d", model, x, y)


def seq1d(out, rng):
    keras.utils.set_random_seed(2)
    model = keras.Sequential([
        keras.Input((12, 4)),
        layers.DepthwiseConv1D(3, dilation_rate=2, depth_multiplier=3, activation="tanh"),
        layers.SeparableConv1D(4, 2, strides=2, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(2, activation="softmax"),
    ])
    _perturb(model, rng)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    x = _f32(rng.normal(0.0, 1.0, (3, 12, 4)))
    y = rng.integers(0, 2, 3).astype(np.int64)
    record(out, "seq1d", model, x, y)


def _repack(src, dst):
    """Copy the HDF5 file ``src`` to ``dst`` with every dataset gzip-compressed (attributes kept)."""
    with h5py.File(src, "r") as fin, h5py.File(dst, "w", libver="latest") as fout:
        for key, value in fin.attrs.items():
            fout.attrs[key] = value

        def copy(name, obj):
            if isinstance(obj, h5py.Group):
                group = fout.require_group(name)
                for key, value in obj.attrs.items():
                    group.attrs[key] = value
            else:
                data = obj[()]
                kwargs = {"compression": "gzip", "compression_opts": 9, "shuffle": True} if obj.shape else {}
                ds = fout.create_dataset(name, data=data, **kwargs)
                for key, value in obj.attrs.items():
                    ds.attrs[key] = value

        fin.visititems(copy)


def _calibrate(model, x, rng):
    """Set every BatchNormalization's moving statistics near those of its input on ``x`` (layer after
    layer), so that the signal neither dies in the relu6s nor saturates them 13 blocks deep."""
    for layer in model.layers:
        if not isinstance(layer, layers.BatchNormalization):
            continue
        inputs = np.asarray(keras.Model(model.inputs, layer.input)(x))
        mean = inputs.mean(axis=(0, 1, 2))
        var = inputs.var(axis=(0, 1, 2))
        gamma, beta, _, _ = layer.get_weights()
        layer.set_weights([gamma, beta, _f32(mean + rng.normal(0, 0.05, mean.shape) * np.sqrt(var)),
                           _f32(var * rng.uniform(0.8, 1.25, var.shape) + 1e-3)])


def mobilenet(out, rng):
    keras.utils.set_random_seed(3)
    model = keras.applications.MobileNet(weights=None, alpha=0.25, input_shape=(32, 32, 3), classes=10)
    _perturb(model, rng, quantum=2.0 ** -5)
    _calibrate(model, _f32(rng.uniform(-1.0, 1.0, (16, 32, 32, 3))), rng)
    x = _f32(rng.uniform(-1.0, 1.0, (2, 32, 32, 3)))
    out["mobilenet/x"] = x
    out["mobilenet/pred"] = _f32(model.predict(x, verbose=0))
    out["mobilenet/count_params"] = np.int64(model.count_params())
    out["mobilenet/names"] = np.array([v.path for v in model.weights])
    out["mobilenet/layers"] = np.array([layer.name for layer in model.layers])
    tmp = tempfile.mkdtemp()
    try:
        path = os.path.join(tmp, "m.weights.h5")
        model.save_weights(path)
        _repack(path, MOBILENET)
    finally:
        shutil.rmtree(tmp)


def seeded_weights(names, shapes, gain=2.0):
    """Weights from a seed per weight (the test draws the same): kernels uniform with variance
    gain/fan_in (a depthwise kernel's fan-in is its window), gamma and moving_variance in [0.5, 1.5), beta,
    moving_mean and biases N(0, 0.1)."""
    out = []
    for i, (name, shape) in enumerate(zip(names, shapes)):
        rng = np.random.default_rng(1000 + i)
        leaf = name.rsplit("/", 1)[-1]
        if leaf in ("gamma", "moving_variance"):
            w = rng.uniform(0.5, 1.5, shape)
        elif leaf in ("beta", "moving_mean", "bias"):
            w = rng.normal(0.0, 0.1, shape)
        else:
            fan_in = int(np.prod(shape[:-2] if "depthwise" in name else shape[:-1]))
            w = rng.uniform(-1.0, 1.0, shape) * np.sqrt(3.0 * gain / fan_in)
        out.append(w.astype(np.float32))
    return out


def seeded(out, prefix, model, seed, gain=2.0):
    """Too many weights for a small file: they come from seeds (``seeded_weights``), and so do the two
    images (``default_rng(seed).uniform(-1, 1)``); only Keras's predictions for them are stored, with the
    model's weight paths and layer names."""
    names = [v.path for v in model.weights]
    model.set_weights(seeded_weights(names, [tuple(v.shape) for v in model.weights], gain))
    x = _f32(np.random.default_rng(seed).uniform(-1.0, 1.0, (2,) + tuple(model.input_shape[1:])))
    out[f"{prefix}/pred"] = _f32(model.predict(x, verbose=0))
    out[f"{prefix}/count_params"] = np.int64(model.count_params())
    out[f"{prefix}/names"] = np.array(names)
    out[f"{prefix}/layers"] = np.array([layer.name for layer in model.layers])


def mobilenet_v2(out):
    keras.utils.set_random_seed(4)
    seeded(out, "mobilenetv2",
           keras.applications.MobileNetV2(weights=None, alpha=0.35, input_shape=(32, 32, 3), classes=10), 21)


def xception(out):
    """Variance 1/fan_in: with He's 2/fan_in the 36 relus and 12 additions saturate the softmax."""
    keras.utils.set_random_seed(5)
    model = keras.applications.Xception(weights=None, input_shape=(71, 71, 3), classes=10)
    seeded(out, "xception", model, 22, gain=1.0)


def main():
    rng = np.random.default_rng(20)
    out = {"keras_version": np.array(keras.__version__), "backend": np.array(keras.backend.backend())}
    seq2d(out, rng)
    seq1d(out, rng)
    mobilenet(out, rng)
    mobilenet_v2(out)
    xception(out)
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes) and {MOBILENET} ({os.path.getsize(MOBILENET)} bytes)")


if __name__ == "__main__":
    main()
