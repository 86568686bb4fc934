"""The command line on a folder of images: train --data-dir FOLDER, the file train --save writes beside the
weights, evaluate / predict without --model, predict's notes, and image bombs refused."""

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from numbacnn import cli

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, cwd):
    env = dict(os.environ)
    env["NUMBACNN_DATA"] = str(cwd / "empty-cache")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "numbacnn", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


def make_folder(root, n=12, size=10):
    """cats/ are dark squares on a light ground, dogs/ light on dark, as gray PNGs and JPEGs."""
    rng = np.random.default_rng(0)
    for name, (ground, thing) in {"cats": (220, 40), "dogs": (20, 230)}.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            a = np.full((size, size), ground, np.float64)
            a[2:size - 2, 3:size - 3] = thing
            a = np.clip(a + rng.normal(0, 8, a.shape), 0, 255).astype(np.uint8)
            Image.fromarray(a).save(root / name / (f"{i}.png" if i % 2 else f"{i}.jpg"))
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp("folder")
    make_folder(work / "photos")
    proc = run_cli("train", "--data-dir", "photos", "--image-size", 12, 12, "--epochs", 3, "--batch-size", 8,
                   "--validation-split", 0.25, "--seed", 1, "--learning-rate", 0.01, "--save", "w.h5",
                   "--verbose", 2, cwd=work)
    assert proc.returncode == 0, proc.stderr
    return work, proc


def test_train_on_a_folder_saves_weights_and_what_predict_needs(trained):
    work, proc = trained
    assert "Found 24 files belonging to 2 classes." in proc.stdout
    assert "Using 18 files for training." in proc.stdout and "Using 6 files for validation." in proc.stdout
    assert "validation accuracy: " in proc.stdout and "saved weights to w.h5\n" in proc.stdout
    info = json.loads((work / "w.h5.json").read_text())
    assert info["class_names"] == ["cats", "dogs"]
    assert info["input"] == {"image_size": [12, 12], "color_mode": "grayscale", "scale": 1 / 255}
    assert info["architecture"]["config"]["layers"][0]["config"]["batch_shape"] == [None, 12, 12, 1]


def test_evaluate_and_predict_without_model(trained):
    work, _ = trained
    ev = run_cli("evaluate", "--weights", "w.h5", "--data-dir", "photos", cwd=work)
    assert ev.returncode == 0, ev.stderr
    assert "test accuracy: " in ev.stdout
    pr = run_cli("predict", "--weights", "w.h5", "--top", 2, "photos/cats/1.png", "photos/dogs/2.jpg",
                 cwd=work)
    assert pr.returncode == 0, pr.stderr
    lines = pr.stdout.strip().splitlines()
    assert lines[0].startswith("photos/cats/1.png: ") and lines[1].startswith("photos/dogs/2.jpg: ")
    assert all(("cats" in line and "dogs" in line) for line in lines)
    assert pr.stderr == ""                         # like the training images: no notes


def test_predict_notes_polarity_and_size(trained):
    work, _ = trained
    Image.new("L", (400, 100), 250).save(work / "wide_white.png")
    pr = run_cli("predict", "--weights", "w.h5", "wide_white.png", cwd=work)
    assert pr.returncode == 0, pr.stderr
    assert "400x100 pixels, resized to 12x12" in pr.stderr
    assert "aspect ratio (400x100) is far from the training images' (12x12)" in pr.stderr


def test_image_bomb_refused_by_predict(trained):
    work, _ = trained

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 100_000)) + chunk(b"IEND", b""))
    (work / "bomb.png").write_bytes(bomb)
    pr = run_cli("predict", "--weights", "w.h5", "bomb.png", cwd=work)
    assert pr.returncode == 2
    assert "bomb.png: the image declares 400,000,000 pixels" in pr.stderr and "Traceback" not in pr.stderr


def test_folder_options_need_a_folder(tmp_path):
    proc = run_cli("train", "--image-size", 8, 8, "--no-download", cwd=tmp_path)
    assert proc.returncode == 2 and "--image-size and --color-mode apply to a folder" in proc.stderr


def test_helpers(tmp_path):
    make_folder(tmp_path / "photos", n=2, size=6)
    assert cli.is_image_folder(tmp_path / "photos") and not cli.is_image_folder(tmp_path / "photos" / "cats")
    assert cli.first_image(tmp_path / "photos") == ((6, 6), "grayscale")
    light = np.full((1, 6, 6, 1), 0.9, np.float32)
    light[:, 2:4, 2:4] = 0.1
    stats = cli.image_statistics(light)
    assert stats["border_mean"] == pytest.approx(0.9) and stats["mean"] < 0.9
    notes = cli.input_notes([str(tmp_path / "photos" / "cats" / "0.jpg")], light, (6, 6), 0.05)
    assert len(notes) == 1 and "its background is light" in notes[0]
