"""A small folder of class subfolders of JPEG, PNG, BMP and GIF files, made the same way by the tests and by
``tests/data/make_image_dataset_fixtures.py`` (which records what real Keras reads from it).

    root/
      dogs/   d0.png (RGB 9x7)  d1.jpg (RGB 12x10)  sub/d3.png (L 5x5)  notes.txt
      cats/   c0.gif (P 8x8)  c1.png (RGBA 7x11)  C2.JPG (RGB 10x6)  c3.png (L 16x4)
      birds/  b0.jpeg (L 9x9)  b1.png (RGB 3x13)  b2.bmp (RGB 6x8)
      .hidden/x.png    loose.png

Sizes are (width x height). Pixels come from a seeded generator: smooth gradients plus noise, so that
JPEG's rounding stays small and resizing has something to interpolate.
"""

from pathlib import Path

import numpy as np

FILES = [
    # (relative path, Pillow mode, (width, height))
    ("dogs/d0.png", "RGB", (9, 7)),
    ("dogs/d1.jpg", "RGB", (12, 10)),
    ("dogs/sub/d3.png", "L", (5, 5)),
    ("cats/c0.gif", "P", (8, 8)),
    ("cats/c1.png", "RGBA", (7, 11)),
    ("cats/C2.JPG", "RGB", (10, 6)),
    ("cats/c3.png", "L", (16, 4)),
    ("birds/b0.jpeg", "L", (9, 9)),
    ("birds/b1.png", "RGB", (3, 13)),
    ("birds/b2.bmp", "RGB", (6, 8)),
]
IGNORED = ["dogs/notes.txt", ".hidden/x.png", "loose.png"]

# The cases recorded with Keras by tests/data/make_image_dataset_fixtures.py: name -> keyword arguments
# of image_dataset_from_directory (besides the directory)
CASES = {
    "rgb_bilinear": dict(image_size=(6, 5), batch_size=4, shuffle=False),
    "gray_nearest_cat": dict(image_size=(4, 6), color_mode="grayscale", interpolation="nearest",
                             label_mode="categorical", batch_size=3, class_names=["dogs"], shuffle=False),
    "bicubic_binary": dict(image_size=(5, 5), interpolation="bicubic",
                                label_mode="binary", class_names=["dogs", "birds"], shuffle=False),
    "area_crop": dict(image_size=(4, 7), interpolation="area", crop_to_aspect_ratio=True, shuffle=False),
    "lanczos3": dict(image_size=(7, 4), interpolation="lanczos3", shuffle=False),
    "lanczos5": dict(image_size=(5, 6), interpolation="lanczos5", shuffle=False),
    "gaussian": dict(image_size=(6, 6), interpolation="gaussian", shuffle=False),
    "mitchellcubic": dict(image_size=(5, 8), interpolation="mitchellcubic", shuffle=False),
    "bilinear_crop": dict(image_size=(5, 8), crop_to_aspect_ratio=True, shuffle=False),
    "bilinear_up": dict(image_size=(20, 17), shuffle=False),
    "pad_bilinear": dict(image_size=(6, 6), pad_to_aspect_ratio=True, shuffle=False),
    "manual_labels": dict(image_size=(3, 4), labels=[0, 1, 2, 1, 0, 1, 2, 0, 1, 2, 0, 3], shuffle=False),
    "no_labels": dict(image_size=(3, 3), labels=None, shuffle=False),
    "split_train": dict(image_size=(4, 4), validation_split=0.3, subset="training", seed=7),
    "split_val": dict(image_size=(4, 4), validation_split=0.3, subset="validation", seed=7),
    "shuffled": dict(image_size=(4, 4), seed=123),
    "split_unshuffled_val": dict(image_size=(4, 4), validation_split=0.25, subset="validation",
                                 shuffle=False),
}


def _pixels(rng, mode, size):
    w, h = size
    channels = {"RGB": 3, "L": 1, "RGBA": 4, "P": 3}[mode]
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(40 + 180 * (xx / max(w - 1, 1)) * (c + 1) / channels
                      + 30 * (yy / max(h - 1, 1))) for c in range(channels)], axis=-1)
    noise = rng.integers(-12, 13, size=base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def make_image_folder(root):
    """Write the folder under ``root`` (a path); returns ``root`` as a Path."""
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(2026)
    for rel, mode, size in FILES:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        a = _pixels(rng, mode, size)
        if mode == "L":
            img = Image.fromarray(a[..., 0], "L")
        elif mode == "P":
            img = Image.fromarray(a, "RGB").quantize(colors=16, method=Image.Quantize.MEDIANCUT, dither=0)
        else:
            img = Image.fromarray(a, mode)
        ext = path.suffix.lower()
        if ext in (".jpg", ".jpeg"):
            img.save(path, format="JPEG", quality=90)
        elif ext == ".bmp":
            img.save(path, format="BMP")
        elif ext == ".gif":
            img.save(path, format="GIF")
        else:
            img.save(path, format="PNG")
    (root / "dogs" / "notes.txt").write_text("not an image\n")
    (root / ".hidden").mkdir(exist_ok=True)
    Image.new("RGB", (4, 4), (255, 0, 0)).save(root / ".hidden" / "x.png")
    Image.new("RGB", (4, 4), (0, 255, 0)).save(root / "loose.png")
    return root
