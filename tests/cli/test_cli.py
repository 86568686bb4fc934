"""The command line end to end (``python -m numbacnn ...`` in a subprocess), and its helpers in-process."""

import gzip
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from numbacnn import cli
from numbacnn.datasets import mnist

ROOT = Path(__file__).resolve().parents[2]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
TEST_LINE = r"test accuracy: (\d\.\d{4}) \(loss (\d+\.\d{4})\)"


# ----- helpers -------------------------------------------------------------------------------------------
def run_cli(*args, tmp, pythonpath=()):
    """``python -m numbacnn *args`` with an empty data cache; returns the CompletedProcess."""
    env = dict(os.environ)
    env["NUMBACNN_DATA"] = str(tmp / "empty-cache")
    env["PYTHONPATH"] = os.pathsep.join([*map(str, pythonpath), str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "numbacnn", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=tmp, timeout=300)


def assert_one_line_error(proc, code, *fragments):
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("numbacnn"), proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def idx_file(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def paeth_reference(a, b, c):
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def png_bytes(pixels, color, filters=(0,), palette=None, depth=8):
    """A PNG of ``pixels`` (H, W, C) uint8, rows filtered by ``filters`` in turn, data in two IDAT chunks."""
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1).astype(np.int64)
    bpp = rows.shape[1] // width
    out, prev = bytearray(), np.zeros(rows.shape[1], np.int64)
    for r, line in enumerate(rows):
        kind = filters[r % len(filters)]
        left = np.concatenate([np.zeros(bpp, np.int64), line[:-bpp]])
        up_left = np.concatenate([np.zeros(bpp, np.int64), prev[:-bpp]])
        pred = [0, left, prev, (left + prev) // 2, paeth_reference(left, prev, up_left)][kind]
        out.append(kind)
        out += ((line - pred) % 256).astype(np.uint8).tobytes()
        prev = line

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    data = zlib.compress(bytes(out))
    body = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0))
    if palette is not None:
        body += chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    body += chunk(b"IDAT", data[:10]) + chunk(b"IDAT", data[10:]) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


# ----- fixtures ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny MNIST-style IDX data set (64 train, 32 test) in its own directory."""
    directory = tmp_path_factory.mktemp("tiny-idx")
    rng = np.random.default_rng(0)
    y = np.arange(96) % 10
    x = rng.integers(0, 60, (96, 28, 28))
    x[np.arange(96), 2 + 2 * y, :] = 255  # class k lights up row 2 + 2k: learnable in one epoch or not
    for stem, array in zip(mnist.IDX_FILES, (x[:64], y[:64], x[64:], y[64:])):
        idx_file(directory / f"{stem}.gz", array)
    return directory


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny):
    """One training run on the tiny set, saving weights: (CompletedProcess, weights path, work dir)."""
    work = tmp_path_factory.mktemp("trained")
    weights = work / "w.h5"
    proc = run_cli("train", "--dataset", "mnist", "--data-dir", tiny, "--limit", 64, "--epochs", 1,
                   "--seed", 0, "--batch-size", 16, "--save", weights, "--verbose", 2, tmp=work)
    assert proc.returncode == 0, proc.stderr
    return proc, weights, work


def reloaded(weights):
    model = cli.build_model("fashion_cnn", (28, 28, 1), 10)
    model.load_weights(str(weights))
    return model


# ----- train / evaluate / predict / summary --------------------------------------------------------------
def test_train_prints_summary_epoch_test_accuracy_and_saves(trained, tiny):
    proc, weights, _ = trained
    out = proc.stdout
    assert 'Model: "fashion_cnn"' in out and "Total params: 421,642" in out
    assert "4/4 - " in out and " - accuracy: " in out and "val_accuracy" not in out
    assert f"saved weights to {weights}\n" in out
    (printed,) = re.findall(TEST_LINE, out)
    model = reloaded(weights)
    (_, _), (x_test, y_test) = cli.load_dataset("mnist", data_dir=tiny, limit=64, download=False)
    cli.compile_model(model, y_test)
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    assert printed == (f"{acc:.4f}", f"{loss:.4f}")


def test_evaluate_gives_the_numbers_train_printed(trained, tiny):
    proc, weights, work = trained
    ev = run_cli("evaluate", "--dataset", "mnist", "--data-dir", tiny, "--limit", 64,
                 "--model", "fashion_cnn", "--weights", weights, tmp=work)
    assert ev.returncode == 0, ev.stderr
    assert re.findall(TEST_LINE, ev.stdout) == re.findall(TEST_LINE, proc.stdout)


def test_predict_png_and_npy_top3_match_the_model(trained, tmp_path):
    _, weights, _ = trained
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (56, 56, 1), dtype=np.uint8)  # resized to 28x28 by area averaging
    rgb = rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)  # converted to gray
    (tmp_path / "gray.png").write_bytes(png_bytes(gray, 0, filters=(1, 4)))
    (tmp_path / "rgb.png").write_bytes(png_bytes(rgb, 2, filters=(2, 3)))
    batch = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    np.save(tmp_path / "batch.npy", batch)

    model = reloaded(weights)
    for args, x in [(["gray.png", "rgb.png"], [cli.image_to_input(gray, (None, 28, 28, 1)),
                                               cli.image_to_input(rgb, (None, 28, 28, 1))]),
                    (["batch.npy"], list(batch[..., None] / np.float32(255)))]:
        proc = run_cli("predict", "--model", "fashion_cnn", "--weights", weights, "--dataset", "mnist", *args,
                       tmp=tmp_path)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.strip().splitlines()
        probs = model.predict(np.stack(x).astype(np.float32), verbose=0)
        assert len(lines) == len(probs)
        for line, row in zip(lines, probs):
            top = np.argsort(-row, kind="stable")[:3]
            assert line.split(": ", 1)[1] == ", ".join(f"{k} {row[k]:.4f}" for k in top)
    assert lines[0].startswith("batch.npy[0]: ")


def test_summary_of_a_named_model(tmp_path):
    proc = run_cli("summary", "--model", "lenet5", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert 'Model: "lenet5"' in proc.stdout and "Total params: 61,706" in proc.stdout


def test_json_model_file_for_summary_and_predict(trained, tmp_path):
    _, weights, _ = trained
    spec = tmp_path / "arch.json"
    spec.write_text(cli.build_model("fashion_cnn", (28, 28, 1), 10).to_json())
    proc = run_cli("summary", "--model", spec, tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Total params: 421,642" in proc.stdout
    np.save(tmp_path / "one.npy", np.zeros((28, 28), np.uint8))
    proc = run_cli("predict", "--model", spec, "--weights", weights, "one.npy", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    row = reloaded(weights).predict(np.zeros((1, 28, 28, 1), np.float32), verbose=0)[0]
    names = cli.class_names("mnist", 10)   # trained on mnist: train --save recorded those names
    assert proc.stdout.strip() == "one.npy: " + ", ".join(f"{n} {p:.4f}" for n, p in cli.top_k(row, names))


def test_json_model_that_does_not_fit_the_data_exits_2(tiny, tmp_path):
    spec = tmp_path / "cifar.json"
    spec.write_text(cli.build_model("cifar_cnn").to_json())
    proc = run_cli("train", "--model", spec, "--dataset", "mnist", "--data-dir", tiny, "--limit", 4,
                   tmp=tmp_path)
    assert_one_line_error(proc, 2, "the mnist images: shape (28, 28, 1) does not fit the model input shape "
                                   "(None, 32, 32, 3)")


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_train_on_fashion_mnist_slice_with_validation_and_plot(tmp_path):
    try:
        import matplotlib  # noqa: F401
        plot = ["--plot", tmp_path / "curves.png"]
    except ImportError:
        plot = []
    proc = run_cli("train", "--limit", 64, "--epochs", 1, "--validation-split", 0.25, "--seed", 0,
                   "--optimizer", "sgd", "--learning-rate", 0.05, "--save", "fw.h5", *plot, tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert " - val_accuracy: " in proc.stdout and "saved weights to fw.h5" in proc.stdout
    assert re.search(TEST_LINE, proc.stdout)
    assert (tmp_path / "fw.h5").is_file()
    if plot:
        assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ----- errors --------------------------------------------------------------------------------------------
BAD_ARGUMENTS = [
    ([], "the following arguments are required: COMMAND"),
    (["train", "--epochs", "-1"], "argument --epochs: must be >= 1, received -1"),
    (["train", "--epochs", "0"], "argument --epochs: must be >= 1, received 0"),
    (["train", "--limit", "0"], "argument --limit: must be >= 1, received 0"),
    (["train", "--batch-size", "x"], "argument --batch-size: expected an integer, received 'x'"),
    (["train", "--validation-split", "1"], "argument --validation-split: must be in [0, 1), received 1"),
    (["train", "--validation-split", "-0.1"], "must be in [0, 1)"),
    (["train", "--learning-rate", "0"], "argument --learning-rate: must be a positive number"),
    (["train", "--seed", "-3"], "argument --seed: must be >= 0"),
    (["train", "--optimizer", "adadelta"], "argument --optimizer: invalid choice: 'adadelta'"),
    (["train", "--dataset", "imagenet"], "argument --dataset: invalid choice: 'imagenet'"),
    (["train", "--verbose", "3"], "argument --verbose: invalid choice: 3"),
    (["train", "--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    (["train", "--data-dir", "no-such-dir"], "argument --data-dir: directory not found: no-such-dir"),
    (["train", "--model", "resnet"], "unknown model 'resnet'; known models: fashion_cnn, cifar_cnn"),
    (["train", "--model", "missing.json"], "model file not found: missing.json"),
    (["train", "--save", "no-dir/w.h5"], "--save no-dir/w.h5: the directory"),
    (["train", "--save", "w.bin"], "--save w.bin: a weights file name ends in .h5"),
    (["summary", "--model", "alexnet", "--dataset", "mnist"], "model alexnet does not fit the mnist images"),
    (["evaluate", "--model", "lenet5", "--weights", "nothing.h5"], "argument --weights: file not found"),
    (["predict", "--model", "lenet5", "--weights", "w.h5", "no.png"], "input file not found: no.png"),
    (["predict", "--model", "lenet5", "--weights", "w.h5", "a.npy", "a.npy"], "either one .npy array"),
    (["predict", "--model", "lenet5", "--weights", "w.h5", "a.npy"],
     "a.npy: array of shape (5, 5) does not fit the model input shape (None, 28, 28, 1)"),
    (["predict", "--model", "normal_model", "--dataset", "mnist", "--weights", "w.h5", "two.png"],
     "two.png: image of shape (4, 4, 1) does not fit the model input shape (None, 784)"),
]


@pytest.mark.parametrize("args, message", BAD_ARGUMENTS, ids=[" ".join(a) or "-" for a, _ in BAD_ARGUMENTS])
def test_bad_arguments_exit_2_with_one_line(args, message, tmp_path):
    (tmp_path / "w.h5").write_bytes(b"")
    np.save(tmp_path / "a.npy", np.zeros((5, 5)))
    (tmp_path / "two.png").write_bytes(png_bytes(np.zeros((4, 4, 2), np.uint8), 4))
    assert_one_line_error(run_cli(*args, tmp=tmp_path), 2, message)


def test_two_channel_image_for_a_two_channel_model_is_refused():
    with pytest.raises(ValueError, match=r"x.png: image of shape \(4, 4, 1\) does not fit the model input "
                                         r"shape \(None, 4, 4, 2\)"):
        cli.image_to_input(np.zeros((4, 4, 2), np.uint8), (None, 4, 4, 2), "x.png")


def test_validation_split_leaving_no_training_sample_exits_2(tiny, tmp_path):
    proc = run_cli("train", "--dataset", "mnist", "--data-dir", tiny, "--limit", 1, "--validation-split", 0.5,
                   tmp=tmp_path)
    assert_one_line_error(proc, 2, "validation_split=0.5 leaves no training or no validation samples")


def test_missing_data_set_exits_1_saying_where_to_put_files(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_cli("train", "--dataset", "mnist", "--data-dir", empty, "--no-download", tmp=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    first, *rest = proc.stderr.splitlines()
    assert first == "numbacnn train: error: The mnist dataset is not available: not found and download=False"
    assert f"    {empty}" in rest and any("mnist.npz" in line for line in rest)
    debug = run_cli("--debug", "train", "--dataset", "mnist", "--data-dir", empty, "--no-download",
                    tmp=tmp_path)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "DatasetNotFoundError" in debug.stderr


def test_weights_of_another_model_exit_1(trained, tiny):
    _, weights, work = trained
    proc = run_cli("evaluate", "--dataset", "mnist", "--data-dir", tiny, "--limit", 8, "--model", "lenet5",
                   "--weights", weights, tmp=work)
    assert_one_line_error(proc, 1, f"could not load the weights {weights} into the model")


def test_plot_without_matplotlib_exits_1_with_the_pip_command(tmp_path):
    fake = tmp_path / "site" / "matplotlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError(\"No module named 'matplotlib'\")\n")
    proc = run_cli("train", "--plot", "c.png", tmp=tmp_path, pythonpath=[tmp_path / "site"])
    assert_one_line_error(proc, 1, 'pip install "numbacnn[plot]"')


def test_gui_runs_gui_app_main_with_its_arguments_and_exit_code(tmp_path):
    fake = tmp_path / "site" / "numbacnn_gui"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "app.py").write_text("def main(argv=None):\n    print('gui', argv)\n    return 3\n")
    proc = run_cli("gui", "--model", "lenet5", "--help", tmp=tmp_path, pythonpath=[tmp_path / "site"])
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.strip() == "gui ['--model', 'lenet5', '--help']"


def test_gui_unavailable_exits_1(tmp_path):
    fake = tmp_path / "site" / "numbacnn_gui"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError(\"No module named 'dearpygui'\")\n")
    proc = run_cli("gui", tmp=tmp_path, pythonpath=[tmp_path / "site"])
    assert_one_line_error(proc, 1, "the visual debugger is not available (No module named 'dearpygui')")


# ----- helpers in-process --------------------------------------------------------------------------------
@pytest.mark.parametrize("color, channels", [(0, 1), (2, 3), (4, 2), (6, 4)])
@pytest.mark.parametrize("filters", [(0,), (1,), (2,), (3,), (4,), (0, 1, 2, 3, 4)])
def test_read_png_undoes_every_filter(color, channels, filters, tmp_path):
    pixels = np.random.default_rng(color).integers(0, 256, (7, 5, channels), dtype=np.uint8)
    path = tmp_path / "p.png"
    path.write_bytes(png_bytes(pixels, color, filters))
    np.testing.assert_array_equal(cli.read_png(path), pixels)


def test_read_png_palette(tmp_path):
    rng = np.random.default_rng(3)
    palette = rng.integers(0, 256, (6, 3))
    index = rng.integers(0, 6, (4, 9, 1), dtype=np.uint8)
    (tmp_path / "p.png").write_bytes(png_bytes(index, 3, (0, 1, 4), palette=palette))
    np.testing.assert_array_equal(cli.read_png(tmp_path / "p.png"), palette[index[..., 0]])


def test_read_image_scales_16_bit_and_refuses_what_it_cannot_read(tmp_path):
    deep = np.array([[0, 257 * 3, 65535, 257 * 128]], np.uint16).reshape(1, 4, 1)
    (tmp_path / "deep.png").write_bytes(png_bytes(deep.byteswap().view(np.uint8).reshape(1, 4, 2)[..., :],
                                                  0, depth=16))
    np.testing.assert_array_equal(cli.read_image(tmp_path / "deep.png")[0, :, 0], [0, 3, 255, 128])
    (tmp_path / "fake.png").write_bytes(b"GIF89a....")
    with pytest.raises(ValueError, match="fake.png: (not an image|damaged)"):
        cli.read_image(tmp_path / "fake.png")


def test_resize_averages_when_shrinking_and_interpolates_when_enlarging():
    image = np.random.default_rng(0).random((6, 4, 2))
    blocks = image.reshape(3, 2, 2, 2, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(cli.resize_image(image, 3, 2), blocks)
    np.testing.assert_allclose(cli.resize_image(image, 6, 4), image)
    ramp = np.array([[0.0, 1.0]]).reshape(1, 2, 1)
    np.testing.assert_allclose(cli.resize_image(ramp, 1, 4)[0, :, 0], [0, 0.25, 0.75, 1])


def test_image_to_input_converts_channels_and_flat_inputs():
    rgb = np.zeros((2, 2, 4), np.uint8)
    rgb[..., 0], rgb[..., 3] = 255, 7  # pure red, alpha dropped
    np.testing.assert_allclose(cli.image_to_input(rgb, (None, 2, 2, 1)), np.full((2, 2, 1), 0.299), rtol=1e-6)
    gray = np.arange(16, dtype=np.uint8).reshape(4, 4, 1)
    np.testing.assert_allclose(cli.image_to_input(gray, (None, 16)), np.arange(16) / 255, rtol=1e-6)
    as_rgb = cli.image_to_input(gray, (None, 4, 4, 3))
    np.testing.assert_array_equal(as_rgb[..., 2], gray[..., 0] / np.float32(255))


def test_array_to_input_takes_one_sample_or_a_batch():
    assert cli.array_to_input(np.zeros((28, 28)), (None, 28, 28, 1)).shape == (1, 28, 28, 1)
    assert cli.array_to_input(np.zeros((5, 28, 28)), (None, 28, 28, 1)).shape == (5, 28, 28, 1)
    np.testing.assert_allclose(cli.array_to_input(np.full((2, 2), 255, np.uint8), (None, 4))[0], 1.0)
    with pytest.raises(ValueError, match=r"x.npy: array of shape \(3, 27\) does not fit .* 28, 28, 1\)"):
        cli.array_to_input(np.zeros((3, 27)), (None, 28, 28, 1), "x.npy")


def test_as_probabilities_and_top_k():
    logits = np.array([[2.0, 0.0, 1.0, -1.0]])
    probs = cli.as_probabilities(logits)
    np.testing.assert_allclose(probs.sum(), 1.0)
    assert cli.top_k(probs[0], ("a", "b", "c", "d")) == [("a", probs[0, 0]), ("c", probs[0, 2]),
                                                         ("b", probs[0, 1])]
    already = np.array([0.1, 0.6, 0.3])
    np.testing.assert_array_equal(cli.as_probabilities(already), already)
    assert cli.class_names("mnist", 3) == ("class 0", "class 1", "class 2")
    assert cli.class_names("fashion_mnist", 10)[9] == "Ankle boot"


def test_build_model_sizes_named_models_for_the_data():
    flat = cli.build_model("normal_model", (32, 32, 3), 5)
    assert cli.input_shape_of(flat) == (None, 3072) and flat.output.shape == (None, 5)
    assert cli.loss_for_labels(np.zeros((4, 1), np.uint8)) == "sparse_categorical_crossentropy"
    assert cli.loss_for_labels(np.eye(3)) == "categorical_crossentropy"
    x = np.zeros((2, 32, 32, 3), np.float32)
    assert cli.fit_to_input(x, cli.input_shape_of(flat)).shape == (2, 3072)


def test_plot_history_draws_train_and_validation_curves(tmp_path):
    pytest.importorskip("matplotlib")
    from numbacnn.utils.plotting import plot_history

    history = {"accuracy": [0.5, 0.7], "val_accuracy": [0.4, 0.6], "loss": [1.0, 0.6], "val_loss": [1.1, 0.8]}
    assert plot_history(history, tmp_path / "c.png") == tmp_path / "c.png"
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="none of"):
        plot_history({"lr": [0.1]}, tmp_path / "d.png")


def test_main_returns_exit_codes_in_process(capsys):
    assert cli.main(["summary", "--model", "fashion_cnn"]) == 0
    assert "Total params: 421,642" in capsys.readouterr().out
    assert cli.main(["summary", "--model", "nope"]) == 2
    assert capsys.readouterr().err.startswith("numbacnn summary: error: unknown model 'nope'")
