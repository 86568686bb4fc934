"""keras.applications models saved by Keras 3 itself (``tests/data/make_keras_application_fixtures.py``:
random but distinct weights) load into numbacnn three ways and predict what Keras predicted, to 1e-4."""

import os
import tarfile

import numpy as np
import pytest

import numbacnn as nc

ARCHIVE = os.path.join(os.path.dirname(__file__), "..", "data", "applications", "keras_applications.tar.xz")
MODELS = ("ResNet50", "ResNet50V2", "DenseNet121", "VGG16")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keras_applications")
    with tarfile.open(ARCHIVE) as tar:
        tar.extractall(folder, filter="data")
    return folder, np.load(folder / "reference.npz")


@pytest.mark.parametrize("name", MODELS)
def test_keras_saved_application_loads_and_predicts_as_keras(files, name):
    folder, ref = files
    x, expected = ref["x"], ref[f"{name}_pred"]
    loaded = nc.models.load_model(folder / f"{name}.keras")
    assert loaded.count_params() == int(ref[f"{name}_count_params"])
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-4, rtol=0)

    with open(folder / f"{name}.json") as f:
        rebuilt = nc.models.model_from_json(f.read())
    rebuilt.load_weights(folder / f"{name}.weights.h5")
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), expected, atol=1e-4, rtol=0)

    ours = getattr(nc.applications, name)(weights=folder / f"{name}.weights.h5", input_shape=(32, 32, 3),
                                          classes=10)
    assert [type(la).__name__ for la in ours.layers] == [type(la).__name__ for la in rebuilt.layers]
    named = [la.name for la in rebuilt.layers if not la.name.startswith(("input_layer", "max_pooling2d",
                                                                         "zero_padding2d"))]
    assert [la.name for la in ours.layers if la.name in named] == named  # Keras's own layer names
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, atol=1e-4, rtol=0)


def test_application_arguments():
    model = nc.applications.ResNet50V2(include_top=False, pooling="avg", input_shape=(32, 32, 3))
    assert model.output.shape == (None, 2048)
    with pytest.raises(ValueError, match="does not download"):
        nc.applications.VGG16(weights="imagenet")
    with pytest.raises(ValueError, match="at least 32x32"):
        nc.applications.DenseNet121(input_shape=(16, 16, 3))
    assert nc.applications.resnet20().count_params() == 274_042
