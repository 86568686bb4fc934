"""Reading, writing and resizing images, as ``keras.utils.load_img`` & co., through Pillow.

    img = load_img("cat.jpg", target_size=(96, 96))     # a PIL image, converted and resized
    x = img_to_array(img)                                # float32 (96, 96, 3)
    save_img("out.png", x)                               # array_to_img, then Pillow writes it

Every file is opened through :func:`open_image`, which refuses before decoding an image that declares more
than :data:`MAX_IMAGE_PIXELS` pixels (a "decompression bomb": a few hundred bytes that declare 20000x20000
pixels), and lets Pillow's own guards stop compressed text and profile chunks that inflate without end.
The error names the file.

:func:`resize_images` is TensorFlow's ``tf.image.resize`` (what Keras's ``image_dataset_from_directory``
runs: half-pixel centres, no antialiasing) for a batch of numpy images: each output pixel is a weighted
sum of a few input pixels along each axis, the weights computed once per shape by the same rules as
TensorFlow's kernels (bilinear, nearest, bicubic with its 1024-entry table, area, and the
``scale_and_translate`` kernels lanczos3, lanczos5, gaussian, mitchellcubic).
"""

import io
import math
import pathlib
import re
import warnings

import numpy as np

MAX_IMAGE_PIXELS = 50_000_000
"""Largest width x height numbacnn decodes (a 50-megapixel photo; 150 MB as RGB uint8). Set it (module
attribute) to read larger images knowingly."""

INSTALL_HINT = "reading images needs Pillow, a dependency of numbacnn: pip install pillow"

PIL_INTERPOLATION_METHODS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")
"""``load_img``'s interpolations (Pillow's resampling filters, as in Keras)."""

RESIZE_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian",
                         "mitchellcubic")
"""``resize_images``'s (and ``image_dataset_from_directory``'s) interpolations: TensorFlow's."""

_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}


class ImageTooLargeError(ValueError):
    """An image declares more pixels than :data:`MAX_IMAGE_PIXELS` (or more than Pillow accepts)."""


def pil():
    """The ``PIL.Image`` module, or an ImportError saying how to install Pillow."""
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    return Image


def _name(path):
    return "<in-memory image>" if isinstance(path, io.BytesIO) else str(path)


def open_image(path, max_pixels=None):
    """Open ``path`` (a path or a BytesIO) with Pillow, refusing oversized images before they are decoded.

    Returns a PIL image whose pixels are loaded. Raises :class:`ImageTooLargeError` for an image over
    ``max_pixels`` (default :data:`MAX_IMAGE_PIXELS`) or one of Pillow's decompression-bomb guards, and
    ValueError for a file Pillow cannot read; each names the file.
    """
    Image = pil()
    from PIL import UnidentifiedImageError

    limit = MAX_IMAGE_PIXELS if max_pixels is None else int(max_pixels)
    name = _name(path)
    if isinstance(path, pathlib.Path):
        path = str(path)
    if not isinstance(path, (str, bytes, io.BytesIO)):
        raise TypeError(f"path should be path-like or io.BytesIO, not {type(path).__name__}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            width, height = img.size
            if width * height > limit:
                img.close()
                raise ImageTooLargeError(
                    f"{name}: the image declares {width}x{height} pixels ({width * height:,}), more than "
                    f"numbacnn reads ({limit:,}, numbacnn.utils.image_utils.MAX_IMAGE_PIXELS); it was not "
                    "decoded")
            img.load()
    except ImageTooLargeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        found = re.search(r"\((\d+) pixels\)", str(err))  # Pillow's own limit, checked at open
        if found:
            raise ImageTooLargeError(
                f"{name}: the image declares {int(found.group(1)):,} pixels, more than numbacnn reads "
                f"({limit:,}, numbacnn.utils.image_utils.MAX_IMAGE_PIXELS); it was not decoded") from None
        raise ImageTooLargeError(f"{name}: refused as a decompression bomb ({err})") from None
    except UnidentifiedImageError:
        raise ValueError(f"{name}: not an image Pillow can read (JPEG, PNG, BMP, GIF, ...)") from None
    except (OSError, SyntaxError, ValueError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        if "decompressed data too large" in str(err).lower():
            raise ImageTooLargeError(f"{name}: refused as a decompression bomb ({err})") from None
        raise ValueError(f"{name}: damaged or unreadable image ({err})") from None
    return img


def convert_mode(img, color_mode):
    """``img`` in Keras's modes: 'grayscale' (L; 16/32-bit gray kept), 'rgb' or 'rgba'."""
    if color_mode == "grayscale":
        return img if img.mode in ("L", "I;16", "I") else img.convert("L")
    if color_mode == "rgba":
        return img if img.mode == "RGBA" else img.convert("RGBA")
    if color_mode == "rgb":
        return img if img.mode == "RGB" else img.convert("RGB")
    raise ValueError(f'color_mode must be "grayscale", "rgb" or "rgba", received {color_mode!r}')


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """A PIL image from ``path``, as ``keras.utils.load_img``: converted to ``color_mode`` and, with
    ``target_size=(height, width)``, resized by Pillow's ``interpolation`` filter (``keep_aspect_ratio``
    crops the centre to the target's aspect ratio first)."""
    Image = pil()
    img = convert_mode(open_image(path), color_mode)
    if target_size is None:
        return img
    width_height = (int(target_size[1]), int(target_size[0]))
    if img.size == width_height:
        return img
    if interpolation not in PIL_INTERPOLATION_METHODS:
        raise ValueError(f"Invalid interpolation method {interpolation!r}; supported methods are "
                         f"{', '.join(PIL_INTERPOLATION_METHODS)}")
    resample = getattr(Image.Resampling, interpolation.upper())
    if not keep_aspect_ratio:
        return img.resize(width_height, resample)
    width, height = img.size
    target_width, target_height = width_height
    crop_height = min(height, (width * target_height) // target_width)
    crop_width = min(width, (height * target_width) // target_height)
    top = (height - crop_height) // 2
    left = (width - crop_width) // 2
    return img.resize(width_height, resample, box=(left, top, left + crop_width, top + crop_height))


def img_to_array(img, data_format=None, dtype=None):
    """A PIL image as a numpy array (H, W, C) (channels_first: (C, H, W)), float32 by default."""
    x = np.asarray(img, dtype=dtype or "float32")
    if x.ndim == 2:
        x = x[:, :, None]
    elif x.ndim != 3:
        raise ValueError(f"Unsupported image shape: {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(2, 0, 1)
    elif data_format not in (None, "channels_last"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', received {data_format!r}")
    return x


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A numpy array (H, W, C) with 1, 3 or 4 channels as a PIL image; ``scale`` maps its range to
    [0, 255] first (as Keras: minus the minimum, over the maximum)."""
    Image = pil()
    x = np.array(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(f"Expected image array to have rank 3 (single image). Got array with shape: "
                         f"{x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x /= top
        x *= 255
    channels = x.shape[2]
    if channels == 4:
        return Image.fromarray(x.astype("uint8"), "RGBA")
    if channels == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if channels == 1:
        if np.max(x) > 255:
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported channel number: {channels} (images have 1, 3 or 4 channels)")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Write the array ``x`` (H, W, C) as an image file; the format comes from the suffix unless given."""
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("The JPEG format does not support RGBA images, converting to RGB.", stacklevel=2)
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


def read_image_array(path, color_mode="rgb"):
    """The file ``path`` as uint8 (H, W, C) (C from ``color_mode``: 1, 3 or 4), through :func:`open_image`.
    16- and 32-bit grayscale images are scaled to 8 bits."""
    img = open_image(path)
    if color_mode not in _CHANNELS:
        raise ValueError(f'color_mode must be "grayscale", "rgb" or "rgba", received {color_mode!r}')
    if color_mode == "grayscale" and img.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img, dtype=np.float64)
        a = np.clip(a / (257.0 if img.mode.startswith("I;16") or a.max() <= 65535 else 16843009.0), 0, 255)
        return np.rint(a).astype(np.uint8)[:, :, None]
    a = np.asarray(convert_mode(img, color_mode))
    return a[:, :, None] if a.ndim == 2 else a


# ----- resizing, as tf.image.resize ---------------------------------------------------------------------
_TABLE_SIZE = 1024


def _keys_table():
    """TensorFlow's bicubic coefficient table (Keys, a=-0.5): entry 2i is the weight at distance i/1024,
    entry 2i+1 the weight at distance 1 + i/1024 (computed in double, stored in float32, as TF does)."""
    t = np.empty((_TABLE_SIZE + 1) * 2, dtype=np.float32)
    for i in range(_TABLE_SIZE + 1):
        x = i * 1.0 / _TABLE_SIZE
        t[2 * i] = ((1.5 * x - 2.5) * x) * x + 1.0
        x += 1.0
        t[2 * i + 1] = ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
    return t


_KEYS = None


def _lanczos(radius):
    def k(x):
        x = np.abs(x)
        out = np.zeros_like(x)
        small = x <= 1e-3
        inside = (x <= radius) & ~small
        xi = x[inside]
        out[inside] = radius * np.sin(np.pi * xi) * np.sin(np.pi * xi / radius) / (np.pi ** 2 * xi * xi)
        out[small] = 1.0
        return out
    return k, float(radius)


def _gaussian(x):
    x = np.abs(x)
    sigma = 1.5 / 3.0
    return np.where(x < 1.5, np.exp(-x * x / (2.0 * sigma * sigma)), 0.0)


def _mitchell(x):
    x = np.abs(x)
    near = ((7.0 / 6.0) * x - 2.0) * x * x + 8.0 / 9.0
    far = (((-7.0 / 18.0) * x + 2.0) * x - 10.0 / 3.0) * x + 16.0 / 9.0
    return np.where(x >= 2.0, 0.0, np.where(x >= 1.0, far, near))


_SCALE_AND_TRANSLATE = {
    "lanczos3": _lanczos(3),
    "lanczos5": _lanczos(5),
    "gaussian": (_gaussian, 1.5),
    "mitchellcubic": (_mitchell, 2.0),
}


def _taps(rows):
    """[(indices, weights)] per output -> padded (O, K) int64 indices and float32 weights."""
    k = max(1, max(len(i) for i, _ in rows))
    idx = np.zeros((len(rows), k), dtype=np.int64)
    w = np.zeros((len(rows), k), dtype=np.float32)
    for o, (i, ww) in enumerate(rows):
        idx[o, :len(i)] = i
        w[o, :len(ww)] = ww
    return idx, w


def resize_weights(in_size, out_size, interpolation):
    """The taps of one axis: ``(indices (out, K), weights (out, K))`` such that output ``o`` is
    ``sum_k weights[o, k] * input[indices[o, k]]``, by TensorFlow's rule for ``interpolation``."""
    f32 = np.float32
    in_size, out_size = int(in_size), int(out_size)
    scale = f32(in_size) / f32(out_size)  # TF's in/out scale, float32
    rows = []
    if interpolation == "bilinear":
        for o in range(out_size):
            pos = (f32(o) + f32(0.5)) * scale - f32(0.5)
            lo_f = math.floor(pos)
            lo, hi = max(lo_f, 0), min(math.ceil(pos), in_size - 1)
            lerp = f32(pos - f32(lo_f))
            rows.append(([lo, hi], [f32(1) - lerp, lerp]))
    elif interpolation == "nearest":
        for o in range(out_size):
            i = max(0, min(math.floor((f32(o) + f32(0.5)) * scale), in_size - 1))
            rows.append(([i], [1.0]))
    elif interpolation == "bicubic":
        global _KEYS
        if _KEYS is None:
            _KEYS = _keys_table()
        t = _KEYS
        for o in range(out_size):
            pos = (f32(o) + f32(0.5)) * scale - f32(0.5)
            loc = math.floor(pos)
            offset = int(np.rint(f32(pos - f32(loc)) * f32(_TABLE_SIZE)))
            coeffs = [t[offset * 2 + 1], t[offset * 2], t[(_TABLE_SIZE - offset) * 2],
                      t[(_TABLE_SIZE - offset) * 2 + 1]]
            idx, ws = [], []
            for j, c in zip(range(loc - 1, loc + 3), coeffs):
                bound = min(in_size - 1, max(0, j))
                idx.append(bound)
                ws.append(c if bound == j else f32(0))
            total = f32(sum(ws, f32(0)))
            if abs(total) >= 1000.0 * np.finfo(np.float32).tiny:
                ws = [f32(w * (f32(1) / total)) for w in ws]
            rows.append((idx, ws))
    elif interpolation == "area":
        for o in range(out_size):
            start, end = f32(o) * scale, f32(o + 1) * scale
            idx, ws = [], []
            for i in range(math.floor(start), math.ceil(end)):
                w = (min(f32(i + 1), end) - max(f32(i), start)) / scale
                idx.append(min(i, in_size - 1))
                ws.append(w)
            rows.append((idx, ws))
    elif interpolation in _SCALE_AND_TRANSLATE:
        kernel, radius = _SCALE_AND_TRANSLATE[interpolation]
        inv_scale = f32(1.0 / (f32(out_size) / f32(in_size)))
        for o in range(out_size):
            sample = (f32(o) + f32(0.5)) * inv_scale
            if sample < 0 or sample > in_size:
                rows.append(([], []))
                continue
            start = min(max(math.ceil(sample - f32(radius) - f32(0.5)), 0), in_size - 1)
            end = min(max(math.floor(sample + f32(radius) - f32(0.5)), 0), in_size - 1) + 1
            idx = np.arange(start, end)
            ws = kernel((idx.astype(np.float32) + f32(0.5) - sample).astype(np.float64)).astype(np.float32)
            total = f32(ws.sum(dtype=np.float32))
            if abs(total) >= 1000.0 * np.finfo(np.float32).tiny:
                ws = ws * (f32(1) / total)
            rows.append((list(idx), list(ws)))
    else:
        raise ValueError(f"interpolation must be one of {RESIZE_INTERPOLATIONS}, received {interpolation!r}")
    return _taps(rows)


def resize_image(x, size, interpolation="bilinear", _cache=None):
    """One image (H, W, C) resized to ``size=(height, width)`` as ``tf.image.resize``: float32."""
    x = np.asarray(x, dtype=np.float32)
    h, w = x.shape[:2]
    oh, ow = int(size[0]), int(size[1])
    cache = {} if _cache is None else _cache
    key_h, key_w = (h, oh, interpolation), (w, ow, interpolation)
    if key_h not in cache:
        cache[key_h] = resize_weights(h, oh, interpolation)
    if key_w not in cache:
        cache[key_w] = resize_weights(w, ow, interpolation)
    (ih, wh), (iw, ww) = cache[key_h], cache[key_w]
    rows = np.einsum("ok,okwc->owc", wh, x[ih])                 # (OH, W, C)
    return np.einsum("pk,opkc->opc", ww, rows[:, iw])           # (OH, OW, C)


def resize_images(images, size, interpolation="bilinear"):
    """A batch (N, H, W, C) of equal-sized images, or a list of images of any sizes, resized to
    ``size=(height, width)``: float32 (N, height, width, C), as ``tf.image.resize`` (no antialiasing)."""
    cache = {}
    out = None
    for n, img in enumerate(images):
        y = resize_image(img, size, interpolation, _cache=cache)
        if out is None:
            out = np.empty((len(images),) + y.shape, dtype=np.float32)
        out[n] = y
    return out if out is not None else np.zeros((0, int(size[0]), int(size[1]), 1), np.float32)


def crop_to_aspect_ratio(x, size):
    """The centre of ``x`` (H, W, C) with the aspect ratio of ``size=(height, width)``, as Keras's
    ``smart_resize`` crops before resizing."""
    height, width = x.shape[:2]
    target_h, target_w = int(size[0]), int(size[1])
    crop_h = max(min(height, int(float(width * target_h) / target_w)), 1)
    crop_w = max(min(width, int(float(height * target_w) / target_h)), 1)
    top = int(float(height - crop_h) / 2)
    left = int(float(width - crop_w) / 2)
    return x[top:top + crop_h, left:left + crop_w]


def smart_resize(x, size, interpolation="bilinear", data_format="channels_last"):
    """An image (H, W, C) or a batch (N, H, W, C) resized to ``size=(height, width)`` without distorting
    it, as ``keras.preprocessing.image.smart_resize``: the centre is cropped to the target's aspect ratio,
    then resized as ``tf.image.resize``. float32."""
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError("Expected an image array with shape `(height, width, channels)`, or `(batch_size, "
                         f"height, width, channels)`, but got input with incorrect rank, of shape {x.shape}.")
    if data_format == "channels_first":
        x = np.moveaxis(x, -3, -1)
    if x.ndim == 3:
        out = resize_image(crop_to_aspect_ratio(x, size), size, interpolation)
    else:
        h, w = crop_to_aspect_ratio(x[0], size).shape[:2]
        top, left = int(float(x.shape[1] - h) / 2), int(float(x.shape[2] - w) / 2)
        out = resize_images(x[:, top:top + h, left:left + w], size, interpolation)
    return np.moveaxis(out, -1, -3) if data_format == "channels_first" else out
