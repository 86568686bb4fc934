"""The visual debugger's data from a folder of images (class subfolders), without a window."""

import numpy as np
from PIL import Image

from gui.worker import prepare_data


def test_a_folder_is_the_data(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("ants", "bees"):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)).save(
                tmp_path / "photos" / name / f"{i}.png")
    (x, y), (x_val, y_val), names = prepare_data("fashion_mnist", str(tmp_path / "photos"))
    assert names == ("ants", "bees")
    assert x.shape == (16, 9, 7, 3) and x_val.shape == (4, 9, 7, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and sorted(set(y.tolist())) == [0, 1]
    (x, _), (x_val, _), _ = prepare_data("mnist", str(tmp_path / "photos"), limit=3)
    assert len(x) == 3 and len(x_val) == 3
