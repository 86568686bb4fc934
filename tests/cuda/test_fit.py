"""Training on 'cuda' gives what training on 'cpu' gives: two fit steps, then the weights, the optimizer
state, the logs and the predictions agree within 1e-4 (random numbers are drawn on the host on both)."""

import numpy as np
import pytest

from numbacnn import backend, layers, losses, models, optimizers

ATOL = 1e-4


def cnn2d():
    # no conv bias before batch-norm: its gradient is 0 up to rounding, which Adam would magnify
    return models.Sequential([
        layers.Conv2D(2, 3, activation="relu", use_bias=False, input_shape=(6, 6, 1)),
        layers.MaxPooling2D(2),
        layers.BatchNormalization(),
        layers.Flatten(),
        layers.Dropout(0.25),
        layers.Dense(3, activation="softmax"),
    ])


def cnn1d():
    return models.Sequential([
        layers.Conv1D(2, 3, padding="same", activation="tanh", input_shape=(6, 2)),
        layers.GlobalAveragePooling1D(),
        layers.Dense(3, activation="softmax"),
    ])


def cnn3d():
    return models.Sequential([
        layers.Conv3D(2, 2, activation="relu", input_shape=(3, 3, 3, 1)),
        layers.AveragePooling3D(2),
        layers.Flatten(),
        layers.Dense(2),
    ])


def data(shape, classes, one_hot=False, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.random((8,) + shape, dtype=np.float32)
    y = rng.integers(0, classes, 8)
    return x, (np.eye(classes, dtype=np.float32)[y] if one_hot else y)


def train(build, make_optimizer, loss, device, x, y, metrics=("accuracy",), **fit_args):
    """A model built from seed 0 and fitted for two steps of 4 samples on ``device``."""
    backend.seed(0)
    model = build()
    model.compile(optimizer=make_optimizer(), loss=loss, metrics=list(metrics), device=device)
    backend.seed(5)
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0, **fit_args)
    return model, history.history


def assert_same_training(build, make_optimizer, loss, x, y, metrics=("accuracy",), **fit_args):
    """Two steps on the CPU and on CUDA: same weights, optimizer state and logs; returns both models."""
    cpu, cpu_logs = train(build, make_optimizer, loss, "cpu", x, y, metrics, **fit_args)
    gpu, gpu_logs = train(build, make_optimizer, loss, "cuda", x, y, metrics, **fit_args)
    assert backend.get_device() == "cuda"
    assert not isinstance(gpu.weights[0].value, np.ndarray)  # the weights stayed on the device
    assert gpu.optimizer.iterations == cpu.optimizer.iterations == 2
    for a, b in zip(cpu.get_weights(), gpu.get_weights()):
        assert isinstance(b, np.ndarray)
        np.testing.assert_allclose(b, a, rtol=0, atol=ATOL)
    cpu_state, gpu_state = cpu.optimizer.get_state(), gpu.optimizer.get_state()
    assert len(cpu_state) == len(gpu_state) > 2
    for a, b in zip(cpu_state, gpu_state):
        np.testing.assert_allclose(b, a, rtol=0, atol=ATOL)
    assert cpu_logs.keys() == gpu_logs.keys()
    for key in cpu_logs:
        np.testing.assert_allclose(gpu_logs[key], cpu_logs[key], rtol=0, atol=ATOL)
    return cpu, gpu


def test_sgd_momentum_two_steps_equal_cpu_and_so_do_predictions(cuda):
    x, y = data((6, 6, 1), 3)
    cpu, gpu = assert_same_training(cnn2d, lambda: optimizers.SGD(0.1, momentum=0.9),
                                    "sparse_categorical_crossentropy", x, y)
    backend.set_device("cpu")
    expected = cpu.predict(x, verbose=0)
    backend.set_device("cuda")
    predicted = gpu.predict(x, batch_size=8, verbose=0)
    assert isinstance(predicted, np.ndarray) and predicted.shape == (8, 3)
    np.testing.assert_allclose(predicted, expected, rtol=0, atol=ATOL)


def test_adam_with_clipnorm_two_steps_equal_cpu(cuda):
    x, y = data((6, 6, 1), 3, seed=2)
    assert_same_training(cnn2d, lambda: optimizers.Adam(0.05, clipnorm=0.5),
                         "sparse_categorical_crossentropy", x, y)


def test_conv1d_rmsprop_one_hot_targets_with_validation_equal_cpu(cuda):
    x, y = data((6, 2), 3, one_hot=True)
    x_val, y_val = data((6, 2), 3, one_hot=True, seed=7)
    cpu, gpu = assert_same_training(cnn1d, lambda: optimizers.RMSprop(0.05, momentum=0.5, centered=True),
                                    "categorical_crossentropy", x, y,
                                    metrics=("accuracy", "top_k_categorical_accuracy"),
                                    validation_data=(x_val, y_val), validation_batch_size=8)
    assert "val_top_k_categorical_accuracy" in gpu.history.history


def test_conv3d_adagrad_weight_decay_mse_equal_cpu(cuda):
    x, _ = data((3, 3, 3, 1), 2)
    y = np.random.default_rng(3).random((8, 2), dtype=np.float32)
    assert_same_training(cnn3d, lambda: optimizers.Adagrad(0.1, weight_decay=0.01), "mse", x, y, metrics=())


def test_predict_evaluate_and_weights_file_round_trip_on_cuda(cuda, tmp_path):
    x, y = data((6, 6, 1), 3)

    def compiled(seed):
        backend.seed(seed)
        model = cnn2d()
        model.compile(optimizer=optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.optimizer.build(model.trainable_weights)
        return model

    model = compiled(0)
    rng = np.random.default_rng(4)
    state = [np.array(3), np.array(0.1)] + [rng.random(w.shape, dtype=np.float32)
                                             for w in model.trainable_weights]
    model.optimizer.set_state(state)  # written onto the device
    assert not isinstance(model.optimizer._slots["momentum"][0], np.ndarray)
    weights = model.get_weights()
    assert all(isinstance(w, np.ndarray) for w in weights)
    predicted = model.predict(x, batch_size=8, verbose=0)
    assert isinstance(predicted, np.ndarray) and predicted.shape == (8, 3)
    loss, accuracy = model.evaluate(x, y, batch_size=8, verbose=0)
    assert loss == pytest.approx(-np.log(predicted[np.arange(8), y]).mean(), abs=1e-5)
    assert accuracy == pytest.approx(np.mean(predicted.argmax(-1) == y))
    path = tmp_path / "tiny.weights.h5"
    model.save_weights(path)

    again = compiled(1)  # other initial weights and zero momentum
    assert not np.allclose(again.get_weights()[0], weights[0])
    again.load_weights(path)
    for a, b in zip(weights, again.get_weights()):
        np.testing.assert_array_equal(b, a)
    for a, b in zip(state, again.optimizer.get_state()):
        np.testing.assert_array_equal(b, a)
    np.testing.assert_allclose(again.predict(x, batch_size=8, verbose=0), predicted, rtol=0, atol=1e-6)

    again.set_weights([w * 0 for w in weights])
    assert all(not w.any() for w in again.get_weights())


def test_trainer_hooks_return_numpy_on_cuda(cuda):
    x, y = data((6, 6, 1), 3)
    backend.seed(0)
    model = cnn2d()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    trainer = model.make_trainer(x, y, batch_size=4, epochs=1)
    trainer.step()
    grads, weights = trainer.gradients(), trainer.weights()
    assert set(grads) == {w.path for w in model.trainable_weights}
    assert all(isinstance(g, np.ndarray) and g.shape == w.shape
               for g, w in zip(grads.values(), model.trainable_weights))
    assert any(g.any() for g in grads.values())
    for value, expected in zip(weights.values(), model.get_weights()):
        assert isinstance(value, np.ndarray)
        np.testing.assert_array_equal(value, expected)
    acts = trainer.activations(x[:1])
    assert [name for name, _ in acts] == [layer.name for layer in model.layers]
    assert all(isinstance(a, np.ndarray) for _, a in acts)
    assert acts[-1][1].shape == (1, 3)
    np.testing.assert_allclose(acts[-1][1].sum(), 1.0, rtol=1e-5)
    trainer.close()


def separable_cnn():
    return models.Sequential([
        layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, use_bias=False,
                               input_shape=(6, 6, 2)),
        layers.BatchNormalization(),
        layers.ReLU(6.0),
        layers.SeparableConv2D(3, 3, padding="same", activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(3, activation="softmax"),
    ])


def separable_cnn1d():
    return models.Sequential([
        layers.SeparableConv1D(2, 3, depth_multiplier=2, activation="tanh", input_shape=(6, 2)),
        layers.DepthwiseConv1D(2, padding="same"),
        layers.Flatten(),
        layers.Dense(2, activation="softmax"),
    ])


def test_depthwise_separable_2d_sgd_momentum_equal_cpu(cuda):
    x, y = data((6, 6, 2), 3)
    assert_same_training(separable_cnn, lambda: optimizers.SGD(0.1, momentum=0.9),
                         "sparse_categorical_crossentropy", x, y)


def test_separable_depthwise_1d_adam_equal_cpu(cuda):
    x, y = data((6, 2), 2, seed=4)
    assert_same_training(separable_cnn1d, lambda: optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                         x, y)


def test_nadam_schedule_ema_categorical_focal_equal_cpu(cuda):
    x, y = data((6, 2), 3, one_hot=True, seed=4)
    schedule = optimizers.schedules.CosineDecay(0.01, decay_steps=4, warmup_target=0.05, warmup_steps=1)
    assert_same_training(cnn1d, lambda: optimizers.Nadam(schedule, use_ema=True, ema_momentum=0.5),
                         "categorical_focal_crossentropy", x, y, metrics=("auc", "precision"))


def test_lion_weight_decay_huber_and_adamax_binary_focal_equal_cpu(cuda):
    x, _ = data((3, 3, 3, 1), 2, seed=6)
    rng = np.random.default_rng(8)
    assert_same_training(cnn3d, lambda: optimizers.Lion(0.01, weight_decay=0.1), "huber", x,
                         rng.random((8, 2), dtype=np.float32), metrics=())
    labels = rng.integers(0, 2, (8, 2)).astype(np.float32)
    focal = losses.BinaryFocalCrossentropy(from_logits=True, apply_class_balancing=True)
    assert_same_training(cnn3d, lambda: optimizers.Adamax(0.05, global_clipnorm=1.0), focal, x, labels,
                         metrics=())


def test_gradient_accumulation_on_cuda_equals_cpu(cuda):
    x, y = data((6, 6, 1), 3, seed=9)
    cpu, _ = train(cnn2d, lambda: optimizers.AdamW(0.05, gradient_accumulation_steps=2),
                   "sparse_categorical_crossentropy", "cpu", x, y)
    gpu, _ = train(cnn2d, lambda: optimizers.AdamW(0.05, gradient_accumulation_steps=2),
                   "sparse_categorical_crossentropy", "cuda", x, y)
    assert cpu.optimizer.iterations == gpu.optimizer.iterations == 1
    for a, b in zip(cpu.get_weights(), gpu.get_weights()):
        np.testing.assert_allclose(b, a, rtol=0, atol=ATOL)
    for a, b in zip(cpu.optimizer.get_state(), gpu.optimizer.get_state()):
        np.testing.assert_allclose(b, a, rtol=0, atol=ATOL)
