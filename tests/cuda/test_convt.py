"""Transposed and grouped convolutions, cropping and upsampling train on 'cuda' as on 'cpu'."""

import numpy as np

from numbacnn import backend, layers, models, optimizers

ATOL = 1e-4


def data(shape, seed):
    rng = np.random.default_rng(seed)
    return rng.random((8,) + shape, dtype=np.float32), rng.random((8, 2), dtype=np.float32)


def assert_same_training(build, make_optimizer, x, y):
    """Two fit steps of 4 samples from seed 0 on the CPU and on CUDA: the same weights and predictions."""
    results = []
    for device in ("cpu", "cuda"):
        backend.seed(0)
        model = build()
        model.compile(optimizer=make_optimizer(), loss="mse", device=device)
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
        results.append((model.get_weights(), model.predict(x, verbose=0)))
    assert not isinstance(model.weights[0].value, np.ndarray)  # the weights stayed on the device
    (cpu_weights, cpu_pred), (gpu_weights, gpu_pred) = results
    for a, b in zip(cpu_weights, gpu_weights):
        np.testing.assert_allclose(b, a, rtol=0, atol=ATOL)
    np.testing.assert_allclose(gpu_pred, cpu_pred, rtol=0, atol=ATOL)


def decoder():
    return models.Sequential([
        layers.Conv2D(4, 3, padding="same", groups=2, activation="relu", input_shape=(2, 2, 2)),
        layers.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1, activation="tanh"),
        layers.UpSampling2D(interpolation="bilinear"),
        layers.Cropping2D(((1, 0), (0, 2))),
        layers.UpSampling2D((1, 2)),
        layers.Conv2D(1, 3, strides=3),
        layers.Flatten(),
        layers.Dense(2),
    ])


def sequence():
    return models.Sequential([
        layers.Conv1DTranspose(2, 3, strides=2, input_shape=(3, 2)),
        layers.Cropping1D((1, 2)),
        layers.UpSampling1D(2),
        layers.Conv1D(2, 2, groups=2),
        layers.Flatten(),
        layers.Dense(2),
    ])


def test_decoder_sgd_two_steps_equal_cpu(cuda):
    assert_same_training(decoder, lambda: optimizers.SGD(0.1, momentum=0.5), *data((2, 2, 2), 1))


def test_1d_adam_two_steps_equal_cpu(cuda):
    assert_same_training(sequence, lambda: optimizers.Adam(0.01), *data((3, 2), 2))
