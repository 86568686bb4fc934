"""Regenerate ``image_dataset_fixtures.npz``: what real Keras 3's ``image_dataset_from_directory`` reads from
the folder of ``tests/image_folder.py``, for tests/utils/test_image_dataset.py.

Run in an environment with Keras 3 and TensorFlow (not needed by the test suite itself)::

    KERAS_BACKEND=tensorflow python tests/data/make_image_dataset_fixtures.py

For every case ``<c>`` the file holds ``<c>/class_names``, ``<c>/file_paths`` (relative to the folder, in the
dataset's order), and, for the unshuffled cases, every batch concatenated: ``<c>/x`` and ``<c>/y``.
The shuffled cases record only the file order: TensorFlow's per-epoch shuffle buffer is its own.
TensorFlow refuses a GIF in "grayscale" or "rgba" ("channels must be 0 or 3 for GIF") and a BMP in
"grayscale", and "rgba" for a JPEG, so the grayscale case keeps the dogs only and no case asks for
"rgba"; numbacnn converts them all, as Pillow does.
"""

import os
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from image_folder import CASES, make_image_folder  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "image_dataset_fixtures.npz")



def main():
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = str(make_image_folder(os.path.join(tmp, "photos")))
        for name, kwargs in CASES.items():
            ds = keras.utils.image_dataset_from_directory(root, verbose=False, **kwargs)
            out[f"{name}/class_names"] = np.array(ds.class_names if ds.class_names is not None else [])
            out[f"{name}/file_paths"] = np.array([os.path.relpath(p, root) for p in ds.file_paths])
            if kwargs.get("shuffle", True):
                continue
            xs, ys = [], []
            for batch in ds:
                if isinstance(batch, tuple):
                    xs.append(batch[0].numpy())
                    ys.append(batch[1].numpy())
                else:
                    xs.append(batch.numpy())
            out[f"{name}/x"] = np.concatenate(xs)
            if ys:
                out[f"{name}/y"] = np.concatenate(ys)
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT}: {len(out)} arrays, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
