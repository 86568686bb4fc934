"""The preprocessing, augmentation, normalization, PReLU and noise layers on the CUDA device (the simulator
here): the same outputs and gradients as on the CPU for the same seed, and a model using them trains."""

import numpy as np
import pytest

import numbacnn
from numbacnn import backend, kernels, layers

MAKERS = [
    lambda: layers.Rescaling(1.0 / 255, offset=-0.5),
    lambda: layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0]),
    lambda: layers.Resizing(3, 5),
    lambda: layers.Resizing(4, 4, interpolation="nearest", pad_to_aspect_ratio=True),
    lambda: layers.CenterCrop(3, 2),
    lambda: layers.RandomFlip(seed=1),
    lambda: layers.RandomRotation(0.2, seed=1, fill_mode="wrap"),
    lambda: layers.RandomTranslation(0.3, 0.3, seed=1, fill_mode="constant", fill_value=1.0),
    lambda: layers.RandomZoom(0.3, seed=1, interpolation="nearest"),
    lambda: layers.RandomCrop(3, 3, seed=1),
    lambda: layers.RandomContrast(0.5, seed=1),
    lambda: layers.RandomBrightness(0.2, seed=1),
    lambda: layers.LayerNormalization(axis=[1, 3]),
    lambda: layers.GroupNormalization(groups=2),
    lambda: layers.PReLU(alpha_initializer="ones", shared_axes=[1]),
    lambda: layers.GaussianNoise(0.2, seed=1),
    lambda: layers.GaussianDropout(0.3, seed=1),
    lambda: layers.ActivityRegularization(l1=0.1, l2=0.2),
]
HAS_INPUT_GRADIENT = (0, 1, 2, 3, 4, 5, 9, 12, 13, 14, 15, 16, 17)


@pytest.mark.parametrize("index", range(len(MAKERS)))
def test_layer_equals_the_cpu(index, cuda):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 5, (2, 5, 4, 2)).astype(np.float32)
    make = MAKERS[index]
    needs = index in HAS_INPUT_GRADIENT
    results = {}
    for device in ("cpu", "cuda"):
        backend.set_device(device)
        numbacnn.utils.set_random_seed(3)
        layer = make()
        y = layer(x, training=True)
        results[device] = [kernels.ops().to_host(y) if device == "cuda" else y]
        if needs:
            g = np.random.default_rng(1).normal(size=tuple(y.shape)).astype(np.float32)
            gd = kernels.ops().to_device(g)
            dx = layer.backward(gd)
            results[device].append(kernels.ops().to_host(dx) if device == "cuda" else dx)
    for c, d in zip(results["cpu"], results["cuda"]):
        np.testing.assert_allclose(d, c, rtol=1e-5, atol=1e-5)


def test_a_model_with_the_new_layers_trains_on_cuda(cuda):
    numbacnn.utils.set_random_seed(0)
    model = numbacnn.models.Sequential([
        layers.Input((6, 6, 1)), layers.Rescaling(1.0 / 255), layers.RandomFlip("horizontal"),
        layers.RandomRotation(0.1), layers.Resizing(5, 5), layers.GroupNormalization(groups=1),
        layers.PReLU(), layers.GaussianNoise(0.1), layers.Flatten(), layers.LayerNormalization(),
        layers.Dense(3, activation="log_softmax")])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).uniform(0, 255, (8, 6, 6, 1)).astype(np.float32)
    y = np.random.default_rng(1).normal(size=(8, 3)).astype(np.float32)
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
