"""Regenerate ``applications/keras_applications.tar.xz``: Keras 3's own files of keras.applications models,
for tests/applications/test_keras_applications.py (which needs neither Keras nor this script).

Run with a Python that has Keras 3 and TensorFlow::

    /opt/tfenv/bin/python tests/data/make_keras_application_fixtures.py

For each of ResNet50, ResNet50V2, DenseNet121 and VGG16 (weights=None, 32x32x3 input, 10 classes) Keras
builds the model and gives every weight a value of its own: a short periodic pattern (period 13-31, a
different one per weight, scaled by 1/sqrt(fan-in); batch-norm variances kept positive), so that a
layer whose weights land in another layer's place changes the predictions, while the files still compress
to a few hundred KB. It writes ``<name>.keras`` (model.save), ``<name>.weights.h5`` (model.save_weights)
and ``<name>.json`` (model.to_json()), and Keras's predictions on a fixed batch into ``reference.npz``.
"""

import io
import os
import tarfile

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "applications", "keras_applications.tar.xz")
MODELS = ("ResNet50", "ResNet50V2", "DenseNet121", "VGG16")
PERIODS = (13, 17, 19, 23, 29, 31)


def patterned(shape, index, variance=False):
    size = int(np.prod(shape))
    period = PERIODS[index % len(PERIODS)]
    step = 3 + index % 7
    base = ((np.arange(size) * step) % period).astype(np.float64) / (period - 1) - 0.5  # in [-0.5, 0.5]
    fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    values = base * 2.0 / np.sqrt(max(fan_in, 1)) if len(shape) > 1 else base * 0.2
    if variance:
        values = 1.0 + 0.5 * (base + 0.5)
    return values.reshape(shape).astype(np.float32)


def main():
    rng = np.random.default_rng(0)
    x = rng.random((2, 32, 32, 3), dtype=np.float32)
    reference = {"x": x}
    members = {}
    tmp = os.path.join(HERE, "applications", "_tmp")
    os.makedirs(tmp, exist_ok=True)
    for name in MODELS:
        model = getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3), classes=10)
        index = 0
        for layer in model.layers:
            values = []
            for w in layer.weights:
                values.append(patterned(tuple(w.shape), index, variance="moving_variance" in w.path))
                index += 1
            if values:
                layer.set_weights(values)
        reference[f"{name}_pred"] = model.predict(x, verbose=0)
        reference[f"{name}_count_params"] = np.array(model.count_params())
        for suffix, write in ((".keras", model.save), (".weights.h5", model.save_weights)):
            path = os.path.join(tmp, name + suffix)
            write(path)
            with open(path, "rb") as f:
                members[name + suffix] = f.read()
            os.remove(path)
        members[name + ".json"] = model.to_json().encode("utf8")
    buffer = io.BytesIO()
    np.savez(buffer, **reference)
    members["reference.npz"] = buffer.getvalue()
    os.rmdir(tmp)
    with tarfile.open(OUT, "w:xz", preset=9) as tar:
        for member, data in sorted(members.items()):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    print(OUT, os.path.getsize(OUT), "bytes;", keras.__version__)


if __name__ == "__main__":
    main()
