"""The command line with ``--device cuda``, in-process, on a tiny MNIST-style set and a tiny JSON model: it
trains, evaluates and predicts as on the CPU."""

import gzip
import re
import struct

import numpy as np
import pytest

from numbacnn import backend, cli, layers, models
from numbacnn.datasets import mnist

TEST_LINE = r"test accuracy: (\d\.\d{4}) \(loss (\d+\.\d{4})\)"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """(data directory, model JSON path): 8 training and 8 test images; average pooling to 4x4, softmax."""
    directory = tmp_path_factory.mktemp("tiny-cuda")
    rng = np.random.default_rng(0)
    y = np.arange(16) % 10
    x = rng.integers(0, 256, (16, 28, 28))
    for stem, array in zip(mnist.IDX_FILES, (x[:8], y[:8], x[8:], y[8:])):
        header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
        (directory / f"{stem}.gz").write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))
    model = models.Sequential([layers.Input(shape=(28, 28, 1)), layers.AveragePooling2D(7), layers.Flatten(),
                               layers.Dense(10, activation="softmax")])
    spec = directory / "tiny.json"
    spec.write_text(model.to_json())
    return directory, spec


def train(files, device, tmp_path, capsys):
    directory, spec = files
    weights = tmp_path / f"{device}.weights.h5"
    code = cli.main(["train", "--device", device, "--dataset", "mnist", "--data-dir", str(directory),
                     "--no-download", "--model", str(spec), "--epochs", "1", "--batch-size", "8",
                     "--seed", "0", "--optimizer", "sgd", "--verbose", "0", "--save", str(weights)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert backend.get_device() == device
    (line,) = re.findall(TEST_LINE, out.out)
    return tuple(float(v) for v in line), weights


def test_train_evaluate_predict_with_device_cuda(cuda, files, tmp_path, capsys):
    backend.set_device("cpu")
    expected, _ = train(files, "cpu", tmp_path, capsys)
    got, weights = train(files, "cuda", tmp_path, capsys)
    assert got == pytest.approx(expected, abs=2e-4)

    directory, spec = files
    code = cli.main(["evaluate", "--device", "cuda", "--dataset", "mnist", "--data-dir", str(directory),
                     "--no-download", "--model", str(spec), "--weights", str(weights), "--batch-size", "8"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert [tuple(float(v) for v in m) for m in re.findall(TEST_LINE, out.out)] == [got]

    sample = tmp_path / "one.npy"
    np.save(sample, np.full((28, 28, 1), 0.5, dtype=np.float32))
    code = cli.main(["predict", "--device", "cuda", "--model", str(spec), "--weights", str(weights),
                     "--dataset", "mnist", "--top", "2", str(sample)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert re.fullmatch(rf"{re.escape(str(sample))}: \d \d\.\d{{4}}, \d \d\.\d{{4}}\n", out.out)
