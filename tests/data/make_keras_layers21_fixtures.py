"""Regenerate ``keras_layers21.npz``: real Keras 3 outputs of the preprocessing, augmentation, normalization
and activation layers that tests/layers/test_preprocessing.py, tests/layers/test_normalization.py and
tests/test_activations.py compare numbacnn against.

Run with Keras 3 on the TensorFlow backend (not needed by the test suite itself)::

    KERAS_BACKEND=tensorflow /opt/tfenv/bin/python tests/data/make_keras_layers21_fixtures.py

Random layers are recorded with their factor ranges collapsed to one value, so the output is deterministic.
Every case stores the name of its input array ``<case>/input`` (``img``, ``unit`` or ``xnorm``) and
``<case>/y`` (and ``<case>/dx``, ``<case>/dw<i>`` where a gradient of sum(y * g) is recorded, g drawn by
``np.random.default_rng(99).normal(size=y.shape)`` in float32), the layer's weights ``<case>/w<i>``;
``configs`` and ``params`` hold JSON dicts case -> ``get_config()`` and case -> ``count_params()``.
"""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_layers21.npz")


def _f32(a):
    return np.asarray(a, dtype=np.float32)


INPUTS = {}
CONFIGS = {}
PARAMS = {}


def record(out, case, layer, x, training=False, grad=False, config=True):
    x = _f32(x)
    name = next(k for k, v in INPUTS.items() if v is x)
    out[f"{case}/input"] = np.array(name)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, training=training)
        g = np.random.default_rng(99).normal(size=tuple(y.shape)).astype(np.float32)
        loss = tf.reduce_sum(y * g)
    out[f"{case}/y"] = _f32(y)
    for i, w in enumerate(layer.weights):
        out[f"{case}/w{i}"] = _f32(w.numpy())
    if grad:
        grads = tape.gradient(loss, [xt] + list(layer.trainable_weights))
        out[f"{case}/dx"] = _f32(grads[0])
        for i, d in enumerate(grads[1:]):
            out[f"{case}/dw{i}"] = _f32(d)
    if config:
        CONFIGS[case] = layer.get_config()
    PARAMS[case] = layer.count_params()


def preprocessing(out, rng):
    img = INPUTS["img"] = out["img"] = rng.uniform(0, 255, (2, 6, 8, 3)).astype(np.float32)
    unit = INPUTS["unit"] = out["unit"] = img / np.float32(255.0)
    record(out, "rescaling", layers.Rescaling(1.0 / 255, offset=-0.5), img, grad=True)
    record(out, "rescaling_channels", layers.Rescaling([0.5, 2.0, -1.0], offset=[1.0, 0.0, 3.0]), img)
    norm = layers.Normalization()
    norm.adapt(img)
    record(out, "normalization_adapt", norm, img, grad=True)
    norm = layers.Normalization(axis=(1, 3))
    norm.adapt(img)
    record(out, "normalization_axes", norm, img)
    record(out, "normalization_given", layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 0.0, 9.0]),
           img)
    record(out, "normalization_invert", layers.Normalization(mean=3.0, variance=4.0, invert=True), img)
    norm = layers.Normalization(axis=None)
    norm.adapt([img[:1], img[1:]])
    record(out, "normalization_batches", norm, img)
    for h, w in [(4, 5), (11, 13), (7, 4), (3, 12)]:
        for interp in ("bilinear", "nearest"):
            record(out, f"resizing_{h}x{w}_{interp}", layers.Resizing(h, w, interpolation=interp), img,
                   grad=interp == "bilinear")
    record(out, "resizing_crop", layers.Resizing(5, 5, crop_to_aspect_ratio=True), img)
    record(out, "resizing_pad", layers.Resizing(6, 4, pad_to_aspect_ratio=True, fill_value=7.0), img)
    record(out, "resizing_pad_wide", layers.Resizing(4, 9, pad_to_aspect_ratio=True), img)
    record(out, "center_crop", layers.CenterCrop(4, 6), img, grad=True)
    record(out, "center_crop_odd", layers.CenterCrop(5, 4), img)
    record(out, "center_crop_up", layers.CenterCrop(8, 8), img)
    # RandomCrop: an input as tall as the target takes the deterministic centred aspect crop + resize
    record(out, "random_crop_resize", layers.RandomCrop(6, 5), img, training=True)
    for fill in ("reflect", "wrap", "constant", "nearest"):
        for interp in ("bilinear", "nearest"):
            kw = dict(fill_mode=fill, interpolation=interp, fill_value=5.0)
            record(out, f"rotation_{fill}_{interp}", layers.RandomRotation((0.1, 0.1), **kw), img,
                   training=True)
            record(out, f"zoom_{fill}_{interp}", layers.RandomZoom((-0.3, -0.3), (0.45, 0.45), **kw), img,
                   training=True)
            record(out, f"translation_{fill}_{interp}",
                   layers.RandomTranslation((0.35, 0.35), (-0.6, -0.6), **kw), img, training=True)
    record(out, "rotation_big", layers.RandomRotation((0.37, 0.37), fill_mode="wrap"), img, training=True)
    record(out, "translation_far", layers.RandomTranslation((1.0, 1.0), (-1.0, -1.0), fill_mode="reflect"),
           img, training=True)
    record(out, "translation_far_wrap", layers.RandomTranslation((0.9, 0.9), (-1.0, -1.0), fill_mode="wrap"),
           img, training=True)
    record(out, "zoom_out", layers.RandomZoom((0.8, 0.8)), img, training=True)
    record(out, "contrast", layers.RandomContrast((-0.3, 0.3)), img, training=True)
    record(out, "contrast_clip", layers.RandomContrast((-0.9, 0.9), value_range=(20, 200)), img,
           training=True)
    record(out, "brightness", layers.RandomBrightness((0.1, 0.1)), img, training=True)
    record(out, "brightness_unit", layers.RandomBrightness((-0.3, -0.3), value_range=(0, 1)), unit,
           training=True)
    record(out, "flip", layers.RandomFlip("horizontal", seed=3), img, training=False)
    # affine_transform straight from the op, with transforms that reach far outside the image
    t = np.array([[1.3, -0.4, -9.0, 0.25, 0.9, 7.5, 0.0, 0.0],
                  [-1.1, 0.7, 20.0, 0.6, -1.2, 18.0, 0.0, 0.0]], np.float32)
    for fill in ("reflect", "wrap", "constant", "nearest"):
        for interp in ("bilinear", "nearest"):
            out[f"affine_{fill}_{interp}/t"] = t
            out[f"affine_{fill}_{interp}/y"] = _f32(keras.ops.image.affine_transform(
                img, t, interpolation=interp, fill_mode=fill, fill_value=2.0))


def normalization(out, rng):
    x = INPUTS["xnorm"] = out["xnorm"] = rng.normal(1.0, 2.0, (2, 4, 3, 6)).astype(np.float32)

    def perturb(layer, shape):
        layer.build(shape)
        layer.set_weights([rng.normal(1.0, 0.3, w.shape).astype(np.float32) for w in layer.weights])
        return layer

    record(out, "layer_norm", perturb(layers.LayerNormalization(), x.shape), x, grad=True)
    record(out, "layer_norm_axes", perturb(layers.LayerNormalization(axis=[1, 3], epsilon=1e-5), x.shape), x,
           grad=True)
    record(out, "layer_norm_plain", layers.LayerNormalization(center=False, scale=False), x, grad=True)
    record(out, "layer_norm_rms", perturb(layers.LayerNormalization(rms_scaling=True), x.shape), x, grad=True)
    record(out, "group_norm", perturb(layers.GroupNormalization(groups=3), x.shape), x, grad=True)
    record(out, "group_norm_instance", perturb(layers.GroupNormalization(groups=-1, epsilon=1e-4), x.shape),
           x, grad=True)
    record(out, "group_norm_axis1", perturb(layers.GroupNormalization(groups=2, axis=1), x.shape), x,
           grad=True)
    record(out, "prelu", perturb(layers.PReLU(), x.shape), x, grad=True)
    record(out, "prelu_shared", perturb(layers.PReLU(shared_axes=[1, 2]), x.shape), x, grad=True)
    for name, layer in [("gaussian_noise", layers.GaussianNoise(0.3, seed=1)),
                        ("gaussian_dropout", layers.GaussianDropout(0.4, seed=1)),
                        ("activity_regularization", layers.ActivityRegularization(l1=0.01, l2=0.02))]:
        record(out, name, layer, x, training=False)


ACTIVATIONS = ["relu6", "hard_sigmoid", "hard_silu", "hard_swish", "mish", "softplus", "softsign", "selu",
               "silu", "swish", "gelu", "log_softmax", "elu", "sigmoid", "tanh", "exponential", "leaky_relu"]


def activations(out, rng):
    z = np.concatenate([np.linspace(-7, 7, 57), [-3.0, 3.0, 0.0, -2.9, 2.9]])
    z = z.astype(np.float32).reshape(2, 31)
    for name in ACTIVATIONS + ["gelu_approximate"]:
        fn = (lambda v: keras.activations.gelu(v, approximate=True)) if name == "gelu_approximate" \
            else keras.activations.get(name)
        zt = tf.constant(z)
        g = np.random.default_rng(7).normal(size=z.shape).astype(np.float32)
        with tf.GradientTape() as tape:
            tape.watch(zt)
            a = fn(zt)
            loss = tf.reduce_sum(a * g)
        out["act/z"], out["act/g"] = z, g
        out[f"act/{name}/a"] = _f32(a)
        out[f"act/{name}/dz"] = _f32(tape.gradient(loss, zt))
    layer = layers.Activation("hard_swish")
    CONFIGS["activation_hard_swish"] = layer.get_config()


def main():
    out = {}
    rng = np.random.default_rng(21)
    preprocessing(out, rng)
    normalization(out, rng)
    activations(out, rng)
    out["configs"] = np.array(json.dumps(CONFIGS, default=str))
    out["params"] = np.array(json.dumps(PARAMS))
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT}: {len(out)} arrays, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
