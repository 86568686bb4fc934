"""image_dataset_from_directory against real Keras 3.15 (fixtures recorded by
tests/data/make_image_dataset_fixtures.py on the folder of tests/image_folder.py), and its errors."""

import os
from pathlib import Path

import numpy as np
import pytest
from image_folder import CASES, FILES, make_image_folder

from numbacnn.utils import image_dataset_from_directory

FIXTURES = np.load(Path(__file__).resolve().parents[1] / "data" / "image_dataset_fixtures.npz")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return str(make_image_folder(tmp_path_factory.mktemp("images") / "photos"))


def _tolerance(rel, kwargs):
    """How far a pixel may be from TensorFlow's: JPEG is decoded with libjpeg's accurate integer IDCT by
    Pillow and the fast one by TensorFlow (a few units in 255); a colour file read as grayscale is
    converted by Pillow's rounding instead of libpng's or libjpeg's (one unit); everything else is exact
    up to float32 rounding."""
    if rel.lower().endswith((".jpg", ".jpeg")):
        return 4.0
    mode = dict((r, m) for r, m, _ in FILES).get(rel, "RGB")
    if kwargs.get("color_mode") == "grayscale" and mode != "L":
        return 1.0
    return 2e-3


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_classes_files_and_arrays_as_keras(photos, name):
    kwargs = CASES[name]
    ds = image_dataset_from_directory(photos, verbose=False, **kwargs)
    assert (ds.class_names or []) == list(FIXTURES[f"{name}/class_names"])
    rel = [os.path.relpath(p, photos) for p in ds.file_paths]
    assert rel == list(FIXTURES[f"{name}/file_paths"])
    if f"{name}/x" not in FIXTURES:
        return
    xs, ys = [], []
    for batch in ds:
        if isinstance(batch, tuple):
            xs.append(batch[0])
            ys.append(batch[1])
        else:
            xs.append(batch)
    x = np.concatenate(xs)
    expected = FIXTURES[f"{name}/x"]
    assert x.dtype == np.float32 and x.shape == expected.shape
    for i, r in enumerate(rel):
        np.testing.assert_allclose(x[i], expected[i], rtol=0, atol=_tolerance(r, kwargs), err_msg=r)
    if ys:
        y = np.concatenate(ys)
        assert y.dtype == FIXTURES[f"{name}/y"].dtype
        np.testing.assert_array_equal(y, FIXTURES[f"{name}/y"])


def test_batches_and_lengths(photos):
    ds = image_dataset_from_directory(photos, image_size=(4, 4), batch_size=4, shuffle=False, verbose=False)
    assert len(ds) == 3 and [len(ds[i][0]) for i in range(3)] == [4, 4, 2]
    assert ds[-1][0].shape == (2, 4, 4, 3)
    with pytest.raises(IndexError):
        ds[3]
    first = next(iter(ds.take(1)))
    np.testing.assert_array_equal(first[0], ds[0][0])
    single = image_dataset_from_directory(photos, image_size=(4, 4), batch_size=None, shuffle=False,
                                          verbose=False)
    x, y = single[0]
    assert x.shape == (4, 4, 3) and y.shape == () and len(single) == 10


def test_subset_both_and_reshuffling(photos):
    train, val = image_dataset_from_directory(photos, image_size=(4, 4), validation_split=0.3, subset="both",
                                              seed=7, verbose=False)
    rel = lambda ds: [os.path.relpath(p, photos) for p in ds.file_paths]  # noqa: E731
    assert rel(train) == list(FIXTURES["split_train/file_paths"])
    assert rel(val) == list(FIXTURES["split_val/file_paths"])
    assert not set(train.file_paths) & set(val.file_paths)
    labels = lambda ds: sorted(np.concatenate([y for _, y in ds]).tolist())  # noqa: E731
    names = train.class_names
    assert labels(train) == sorted(names.index(p.split("/")[0]) for p in rel(train))
    first = [y.tolist() for _, y in train]      # the training set is reshuffled each pass, with the seed
    second = [y.tolist() for _, y in train]
    assert sorted(sum(first, [])) == sorted(sum(second, []))


def test_gif_bmp_and_rgba_where_tensorflow_refuses(photos):
    """TensorFlow cannot give a GIF or BMP in grayscale nor a JPEG in RGBA; Pillow converts them."""
    gray = image_dataset_from_directory(photos, image_size=(5, 5), color_mode="grayscale", shuffle=False,
                                        verbose=False)
    rgba = image_dataset_from_directory(photos, image_size=(5, 5), color_mode="rgba", shuffle=False,
                                        verbose=False)
    assert np.concatenate([x for x, _ in gray]).shape == (10, 5, 5, 1)
    x = np.concatenate([x for x, _ in rgba])
    assert x.shape == (10, 5, 5, 4)
    jpeg = [i for i, p in enumerate(rgba.file_paths) if p.lower().endswith((".jpg", ".jpeg"))]
    np.testing.assert_array_equal(x[jpeg, ..., 3], 255.0)  # opaque


@pytest.mark.parametrize("kwargs, message", [
    (dict(label_mode="sparse"), "label_mode"),
    (dict(color_mode="cmyk"), "color_mode"),
    (dict(interpolation="hamming"), "interpolation"),
    (dict(image_size=(3, 3, 3)), "image_size"),
    (dict(validation_split=0.2), "subset"),
    (dict(validation_split=0.2, subset="training"), "seed"),
    (dict(validation_split=1.5, subset="training", seed=1), "between 0 and 1"),
    (dict(label_mode="binary"), "exactly 2"),
    (dict(class_names=["dogs", "horses"]), "did not match"),
    (dict(labels=[0, 1]), "match the number of files"),
    (dict(crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), "Only one of"),
])
def test_argument_errors(photos, kwargs, message):
    with pytest.raises(ValueError, match=message):
        image_dataset_from_directory(photos, verbose=False, **kwargs)


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        image_dataset_from_directory(str(tmp_path / "nope"), verbose=False)
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(ValueError, match="No images found"):
        image_dataset_from_directory(str(tmp_path / "empty"), verbose=False)


def test_prints_what_keras_prints(photos, capsys):
    image_dataset_from_directory(photos, validation_split=0.3, subset="training", seed=1)
    out = capsys.readouterr().out
    assert "Found 10 files belonging to 3 classes." in out and "Using 7 files for training." in out
