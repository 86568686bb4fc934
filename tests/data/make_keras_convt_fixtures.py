"""Regenerate ``keras_convt.npz``: real Keras 3 (TensorFlow backend) reference numbers for
tests/models/test_keras_convt.py: transposed and grouped convolutions, cropping and upsampling.

Run with Keras 3 on TensorFlow (not needed by the test suite itself)::

    /opt/tfenv/bin/python tests/data/make_keras_convt_fixtures.py

``train/``: a tiny Sequential (grouped Conv2D, two Conv2DTranspose, UpSampling2D bilinear and nearest,
Cropping2D, a strided Conv2D) trained by one SGD ``train_on_batch`` on an MSE loss: the initial weights
``w0, w1, ...``, the batch ``x, y``, ``pred`` before training, ``loss`` and ``new_w0, ...`` after the step,
``config`` (``model.to_json()``) and ``params`` (each layer's ``count_params()``).
``fwd_<case>/``: forward-only cases of the other ranks and options: ``x``, weights ``w0, ...``, ``pred``,
``config``.
"""

import os

os.environ["KERAS_BACKEND"] = "tensorflow"

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_convt.npz")


def _f32(a):
    return np.asarray(a, dtype=np.float32)


def _perturb(model, rng):
    """Biases non-zero, so that their gradients and the bias add are exercised."""
    model.set_weights([_f32(rng.normal(0.0, 0.1, w.shape)) if v.path.endswith("bias") else w
                       for v, w in zip(model.weights, model.get_weights())])


def _train_model():
    return keras.Sequential([
        keras.Input((5, 5, 4)),
        layers.Conv2D(4, 3, padding="same", groups=2, activation="relu"),
        layers.Conv2DTranspose(3, (2, 3), strides=(1, 2), padding="valid"),
        layers.Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1, activation="tanh"),
        layers.UpSampling2D((3, 2), interpolation="bilinear"),
        layers.Cropping2D(((1, 2), (3, 0))),
        layers.UpSampling2D(2),
        layers.Conv2D(2, 3, strides=3),
    ])


def _forward_cases():
    return {
        "conv1dt": ((2, 4, 3), [layers.Conv1DTranspose(2, 4, strides=3, padding="same", output_padding=2)]),
        "conv1dt_valid": ((2, 4, 3), [layers.Conv1DTranspose(2, 2, strides=3, activation="relu")]),
        "conv3dt": ((1, 2, 3, 2, 2), [layers.Conv3DTranspose(2, (2, 3, 2), strides=(2, 1, 2),
                                                             padding="same")]),
        "conv2dt_dilated": ((2, 5, 4, 2), [layers.Conv2DTranspose(3, 3, dilation_rate=2, padding="same")]),
        "conv2dt_dilated_valid": ((2, 3, 4, 2), [layers.Conv2DTranspose(2, (2, 3), dilation_rate=(2, 1))]),
        "conv1d_groups": ((2, 7, 6), [layers.Conv1D(9, 3, strides=2, groups=3, padding="same")]),
        "conv3d_groups": ((1, 3, 4, 3, 4), [layers.Conv3D(2, 2, groups=2)]),
        "bilinear_odd": ((2, 3, 5, 2), [layers.UpSampling2D((3, 4), interpolation="bilinear")]),
        "resample_1d": ((2, 6, 3), [layers.Cropping1D((2, 1)), layers.UpSampling1D(3)]),
        "resample_3d": ((1, 4, 3, 5, 2), [layers.Cropping3D(((1, 0), (0, 1), 2)),
                                          layers.UpSampling3D((2, 1, 3))]),
    }


def main():
    rng = np.random.default_rng(20)
    keras.utils.set_random_seed(20)
    out = {}
    model = _train_model()
    _perturb(model, rng)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse", jit_compile=False)
    x = _f32(rng.normal(0.0, 1.0, (2, 5, 5, 4)))
    y = _f32(rng.normal(0.0, 0.5, (2,) + model.output_shape[1:]))
    for i, w in enumerate(model.get_weights()):
        out[f"train/w{i}"] = _f32(w)
    out["train/x"], out["train/y"] = x, y
    out["train/pred"] = _f32(model.predict(x, verbose=0))
    out["train/loss"] = _f32(model.train_on_batch(x, y))
    for i, w in enumerate(model.get_weights()):
        out[f"train/new_w{i}"] = _f32(w)
    out["train/config"] = np.array(model.to_json())
    out["train/params"] = np.array([layer.count_params() for layer in model.layers])
    for name, (shape, stack) in _forward_cases().items():
        case = keras.Sequential([keras.Input(shape[1:]), *stack])
        _perturb(case, rng)
        xc = _f32(rng.normal(0.0, 1.0, shape))
        for i, w in enumerate(case.get_weights()):
            out[f"fwd_{name}/w{i}"] = _f32(w)
        out[f"fwd_{name}/x"] = xc
        out[f"fwd_{name}/pred"] = _f32(case.predict(xc, verbose=0))
        out[f"fwd_{name}/config"] = np.array(case.to_json())
    out["keras_version"] = np.array(keras.__version__)
    out["backend"] = np.array(keras.backend.backend())
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT}: {len(out)} arrays, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
