"""Regenerate ``applications/keras_applications2.tar.xz``: Keras 3's own files of its EfficientNet and
MobileNetV3 applications, for tests/applications/test_keras_applications2.py (which needs neither Keras nor
this script).

Run with a Python that has Keras 3 and TensorFlow::

    /opt/tfenv/bin/python tests/data/make_keras_application2_fixtures.py

For each model of ``MODELS`` (weights=None, 32x32x3 input, 10 classes) Keras builds it and every weight gets
a value of its own: a short periodic pattern (``make_keras_application_fixtures.patterned``: a different
period and step per weight, scaled by 1/sqrt(fan-in); batch-norm variances positive), and EfficientNet's
input ``Normalization`` gets ImageNet's per-channel mean and variance (count 1000, a 0-d weight), so that a
weight that lands in another's place changes the predictions while the files compress well. It writes
``<tag>.keras`` (model.save), ``<tag>.weights.h5`` (model.save_weights) and ``<tag>.json``
(model.to_json()), and Keras's predictions on a fixed batch of pixels in [0, 255] into ``reference.npz``
(also the logits: the same model with ``classifier_activation=None``); for ``ARCHITECTURES`` only the
JSON and the parameter count.
"""

import io
import os
import sys
import tarfile

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_keras_application_fixtures import patterned  # noqa: E402

OUT = os.path.join(HERE, "applications", "keras_applications2.tar.xz")
# tag: (application, keyword arguments besides weights, input_shape and classes)
MODELS = {
    "EfficientNetB0": ("EfficientNetB0", {}),
    "MobileNetV3Small": ("MobileNetV3Small", {}),
    "MobileNetV3Large": ("MobileNetV3Large", {}),
    "MobileNetV3Small_minimalistic_075": ("MobileNetV3Small", {"minimalistic": True, "alpha": 0.75}),
}
# only the architecture (model.to_json()) of these: their names and parameter counts
ARCHITECTURES = ("EfficientNetB1", "EfficientNetB2", "EfficientNetB3")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_VARIANCE = (0.229 ** 2, 0.224 ** 2, 0.225 ** 2)


def set_patterned_weights(model):
    index = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Normalization):
            layer.set_weights([np.array(IMAGENET_MEAN, np.float32), np.array(IMAGENET_VARIANCE, np.float32),
                               np.array(1000, np.float32)])
            layer.finalize_state()  # Keras reads mean and variance from copies made here
            continue
        values = []
        for w in layer.weights:
            value = patterned(tuple(w.shape), index, variance="moving_variance" in w.path)
            if w.path.endswith("/gamma"):  # near 1, so that the signal of the image lasts through the depth
                value = 1.0 + 2.5 * value
            values.append(value)
            index += 1
        if values:
            layer.set_weights(values)


def calibrate_batch_norm(model, x):
    """Moving means and variances of every BatchNormalization equal to its input's statistics on ``x`` (16
    other images: the statistics of 2 make some variances ~0 and the model ill-conditioned), as after
    training: one forward pass in training mode with momentum 0 (and Dropout off), so that every normalized
    activation has mean 0 and variance 1 and the two images still differ after 50 layers (patterned weights
    alone shrink the signal by ~10x a block)."""
    saved = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            saved.append((layer, "momentum", layer.momentum))
            layer.momentum = 0.0
        elif isinstance(layer, keras.layers.Dropout):
            saved.append((layer, "rate", layer.rate))
            layer.rate = 0.0
    model(x, training=True)
    for layer, attribute, value in saved:
        setattr(layer, attribute, value)


def main():
    rng = np.random.default_rng(0)
    x = (255.0 * rng.random((2, 32, 32, 3))).astype(np.float32)
    calibration = (255.0 * rng.random((16, 32, 32, 3))).astype(np.float32)
    reference = {"x": x}
    members = {}
    tmp = os.path.join(HERE, "applications", "_tmp2")
    os.makedirs(tmp, exist_ok=True)
    for tag, (application, kwargs) in MODELS.items():
        keras.utils.clear_session()
        build = getattr(keras.applications, application)
        model = build(weights=None, input_shape=(32, 32, 3), classes=10, **kwargs)
        set_patterned_weights(model)
        calibrate_batch_norm(model, calibration)
        reference[f"{tag}_pred"] = model.predict(x, verbose=0)
        reference[f"{tag}_count_params"] = np.array(model.count_params())
        logits = build(weights=None, input_shape=(32, 32, 3), classes=10, classifier_activation=None,
                       **kwargs)
        logits.set_weights(model.get_weights())
        for layer in logits.layers:
            if isinstance(layer, keras.layers.Normalization):
                layer.finalize_state()
        reference[f"{tag}_logits"] = logits.predict(x, verbose=0)
        for suffix, write in ((".keras", model.save), (".weights.h5", model.save_weights)):
            path = os.path.join(tmp, tag + suffix)
            write(path)
            with open(path, "rb") as f:
                members[tag + suffix] = f.read()
            os.remove(path)
        members[tag + ".json"] = model.to_json().encode("utf8")
        print(tag, model.count_params(), "max probability", reference[f"{tag}_pred"].max(),
              "logit range", np.ptp(reference[f"{tag}_logits"], axis=1))
    for application in ARCHITECTURES:
        keras.utils.clear_session()
        model = getattr(keras.applications, application)(weights=None, input_shape=(32, 32, 3), classes=10)
        members[application + ".json"] = model.to_json().encode("utf8")
        reference[f"{application}_count_params"] = np.array(model.count_params())
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
