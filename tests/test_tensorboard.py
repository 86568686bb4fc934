"""callbacks.TensorBoard: the event files it writes, read back by TensorBoard's own reader."""

import io

import numpy as np
import pytest

pytest.importorskip("tensorboard", reason="the TensorBoard callback needs the tensorboard package")
from PIL import Image  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from numbacnn.callbacks import TensorBoard  # noqa: E402
from numbacnn.layers import Conv2D, Dense, Flatten  # noqa: E402
from numbacnn.models import Sequential  # noqa: E402
from numbacnn.utils import set_random_seed  # noqa: E402


def _read(folder):
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    acc.Reload()
    return acc


def _fit(tmp_path, **kwargs):
    set_random_seed(3)
    model = Sequential([Conv2D(3, 3, activation="relu", input_shape=(6, 6, 1)), Flatten(), Dense(2)])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((12, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 2, 12)
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0, validation_split=0.25,
                        callbacks=[TensorBoard(tmp_path / "logs", **kwargs)])
    return model, history


def test_epoch_scalars_train_and_validation(tmp_path):
    model, history = _fit(tmp_path)
    train, val = _read(tmp_path / "logs" / "train"), _read(tmp_path / "logs" / "validation")
    tags = train.Tags()["scalars"]
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= set(tags)
    assert not any(t.startswith("batch_") for t in tags)
    losses = train.Scalars("epoch_loss")
    assert [e.step for e in losses] == [0, 1]
    np.testing.assert_allclose([e.value for e in losses], history.history["loss"], rtol=1e-6)
    val_loss = val.Scalars("epoch_loss")
    np.testing.assert_allclose([e.value for e in val_loss], history.history["val_loss"], rtol=1e-6)
    evaluation = val.Scalars("evaluation_loss_vs_iterations")
    assert [e.step for e in evaluation] == [3, 6]   # optimizer iterations: 9 samples, 3 batches an epoch
    np.testing.assert_allclose(train.Scalars("epoch_learning_rate")[0].value, 0.01, rtol=1e-6)


def test_batch_scalars_every_n(tmp_path):
    _fit(tmp_path, update_freq=2, write_steps_per_second=True)
    train = _read(tmp_path / "logs" / "train")
    assert [e.step for e in train.Scalars("batch_loss")] == [2, 4, 6]
    assert {"batch_steps_per_second", "epoch_steps_per_second"} <= set(train.Tags()["scalars"])


def test_histograms_and_filter_images(tmp_path):
    model, _ = _fit(tmp_path, histogram_freq=1, write_images=True)
    train = _read(tmp_path / "logs" / "train")
    kernel = model.layers[0].kernel.numpy()
    histograms = train.Histograms("conv2d/kernel/histogram")
    assert [h.step for h in histograms] == [0, 1]
    last = histograms[-1].histogram_value
    assert last.num == kernel.size
    assert np.isclose(last.min, kernel.min()) and np.isclose(last.max, kernel.max())
    assert sum(last.bucket) == kernel.size
    assert "dense/bias/histogram" in train.Tags()["histograms"]
    image = train.Images("conv2d/kernel/image")[-1]
    pixels = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)))
    assert pixels.shape == (3, 3 * 4 - 1)        # 3 filters of 3x3, a 1-pixel gap between them
    assert pixels.max() == 255 and pixels.min() == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="update_freq"):
        TensorBoard(update_freq="sometimes")
    with pytest.raises(ValueError, match="profile_batch"):
        TensorBoard(profile_batch=2)
