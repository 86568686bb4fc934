"""load_img / img_to_array / array_to_img / save_img, resizing, and the refusal of image bombs."""

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from numbacnn.utils import array_to_img, image_utils, img_to_array, load_img, save_img
from numbacnn.utils.image_utils import ImageTooLargeError, open_image, resize_images

ROOT = Path(__file__).resolve().parents[2]


def _chunk(kind, data):
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_bytes(width, height, idat, extra=b""):
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + extra + _chunk(b"IDAT", zlib.compress(idat, 9))
            + _chunk(b"IEND", b""))


def test_round_trip_png_and_jpeg(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (7, 5, 3)).astype(np.float32)
    save_img(tmp_path / "a.png", x, scale=False)
    img = load_img(tmp_path / "a.png")
    assert img.size == (5, 7) and img.mode == "RGB"
    np.testing.assert_array_equal(img_to_array(img), x)
    assert img_to_array(img, data_format="channels_first").shape == (3, 7, 5)
    save_img(str(tmp_path / "a.jpg"), x, scale=False, quality=95)
    assert np.abs(img_to_array(load_img(tmp_path / "a.jpg")) - x).mean() < 40
    gray = load_img(tmp_path / "a.png", color_mode="grayscale", target_size=(3, 4), interpolation="bilinear")
    assert gray.mode == "L" and img_to_array(gray).shape == (3, 4, 1)
    kept = load_img(tmp_path / "a.png", target_size=(2, 2), keep_aspect_ratio=True)
    assert kept.size == (2, 2)
    with pytest.raises(ValueError, match="Invalid interpolation"):
        load_img(tmp_path / "a.png", target_size=(2, 2), interpolation="area")


def test_array_to_img_scales_like_keras():
    x = np.array([[[0.0], [0.5]], [[1.0], [0.25]]], np.float32)
    img = array_to_img(x)
    assert img.mode == "L"
    np.testing.assert_array_equal(np.asarray(img), [[0, 127], [255, 63]])
    assert array_to_img(np.zeros((2, 2, 4))).mode == "RGBA"
    with pytest.raises(ValueError, match="channel"):
        array_to_img(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="rank 3"):
        array_to_img(np.zeros((2, 2)))


def test_resize_nearest_and_area_on_known_values():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(resize_images(x, (2, 2), "area")[0, ..., 0], [[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_array_equal(resize_images(x, (2, 2), "nearest")[0, ..., 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(resize_images(x, (4, 4), "bilinear"), x)  # same size: unchanged
    up = resize_images(x, (8, 8), "bilinear")[0, ..., 0]
    assert up[0, 0] == 0 and up[-1, -1] == 15 and up[0, 1] == 0.25


def test_unreadable_and_truncated_files_name_the_file(tmp_path):
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(ValueError, match="text.png: not an image"):
        open_image(tmp_path / "text.png")
    Image.new("RGB", (64, 64), (10, 20, 30)).save(tmp_path / "ok.jpg")
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "ok.jpg").read_bytes()[:300])
    with pytest.raises(ValueError, match="cut.jpg"):
        open_image(tmp_path / "cut.jpg")


def test_limit_is_a_setting(tmp_path, monkeypatch):
    Image.new("L", (30, 20)).save(tmp_path / "wide.png")
    monkeypatch.setattr(image_utils, "MAX_IMAGE_PIXELS", 500)
    with pytest.raises(ImageTooLargeError, match=r"wide.png: the image declares 30x20 pixels \(600\)"):
        load_img(tmp_path / "wide.png")
    assert open_image(tmp_path / "wide.png", max_pixels=600).size == (30, 20)


_BOMB_PROBE = """
import importlib.util, json, resource, sys, time
spec = importlib.util.spec_from_file_location("image_utils", sys.argv[2])  # numpy and Pillow only, no Numba
image_utils = importlib.util.module_from_spec(spec)
spec.loader.exec_module(image_utils)
ImageTooLargeError, open_image = image_utils.ImageTooLargeError, image_utils.open_image
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
try:
    open_image(sys.argv[1])
    outcome = "decoded"
except ImageTooLargeError as err:
    outcome = str(err)
took = time.perf_counter() - t
grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
print(json.dumps({"outcome": outcome, "seconds": took, "grew_mb": grew}))
"""


def _probe(path):
    """Open ``path`` in a fresh process; its outcome, seconds, and how much its peak memory grew (MB)."""
    module = ROOT / "numbacnn" / "utils" / "image_utils.py"
    out = subprocess.run([sys.executable, "-c", _BOMB_PROBE, str(path), str(module)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


_ZEROS = []


def _zeros_deflated():
    """100 MB of zeros, deflated (about 100 KB); made once."""
    if not _ZEROS:
        z = zlib.compressobj(6)
        block = bytes(1 << 20)
        _ZEROS.append(b"".join(z.compress(block) for _ in range(100)) + z.flush())
    return _ZEROS[0]


@pytest.mark.parametrize("kind", ["declared_png", "declared_bmp", "ztxt", "iccp"])
def test_image_bombs_are_refused_fast_and_small(tmp_path, kind):
    path = tmp_path / f"{kind}.{'bmp' if kind == 'declared_bmp' else 'png'}"
    if kind == "declared_png":   # 20000x20000 RGB declared (1.2 GB decoded) in a few hundred bytes
        path.write_bytes(png_bytes(20000, 20000, b"\x00" * 200_000))
    elif kind == "declared_bmp":
        header = struct.pack("<2sIHHI", b"BM", 54, 0, 0, 54)
        info = struct.pack("<IiiHHIIiiII", 40, 30000, 30000, 1, 24, 0, 0, 2835, 2835, 0, 0)
        path.write_bytes(header + info + b"\x00" * 64)
    else:                        # a 1x1 image whose text or colour-profile chunk inflates to 100 MB
        payload = _zeros_deflated()
        extra = (_chunk(b"zTXt", b"comment\x00\x00" + payload) if kind == "ztxt"
                 else _chunk(b"iCCP", b"icc\x00\x00" + payload))
        path.write_bytes(png_bytes(1, 1, b"\x00\x00\x00\x00", extra))
    assert path.stat().st_size < 400_000
    result = _probe(path)
    assert path.name in result["outcome"], result
    assert result["seconds"] < 0.5 and result["grew_mb"] < 100, result


def test_keras_preprocessing_names_and_smart_resize():
    import numbacnn as keras

    assert keras.preprocessing.image_dataset_from_directory is keras.utils.image_dataset_from_directory
    assert keras.preprocessing.image.load_img is load_img
    x = np.arange(6 * 12, dtype=np.float32).reshape(6, 12, 1)
    out = keras.preprocessing.image.smart_resize(x, (3, 3))          # the centre 6x6, then halved
    np.testing.assert_allclose(out, resize_images(x[None, :, 3:9], (3, 3))[0])
    batch = keras.preprocessing.image.smart_resize(np.stack([x, x]), (3, 3))
    np.testing.assert_allclose(batch[1], out)
