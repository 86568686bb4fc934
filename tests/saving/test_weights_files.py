"""save_weights / load_weights: both Keras layouts, every layer type, matching, errors, atomic writes."""

import errno
import os

import h5py
import numpy as np
import pytest
from saving_models import (
    LAYER_CASES,
    NOT_ONE_INPUT,
    cnn_2d,
    nested_functional,
    one_layer_model,
    perturb,
    small_cnn,
)

from numbacnn import layers as L
from numbacnn.models import Model, Sequential, model_from_json
from numbacnn.saving import LAYER_REGISTRY, SaveFileError
from numbacnn.saving.hdf5 import read_string_list, write_string_list

LAYOUTS = ["model.weights.h5", "model.h5"]


def assert_same_weights(a, b):
    assert [w.path for w in a.weights] == [w.path for w in b.weights]
    for wa, wb in zip(a.weights, b.weights):
        assert wa.value.dtype == wb.value.dtype
        np.testing.assert_array_equal(wa.value, wb.value)


def test_the_cases_cover_every_layer_class():
    covered = {type(factory()) for _, factory, _ in LAYER_CASES}
    assert covered == set(LAYER_REGISTRY.values()) - {L.InputLayer} - NOT_ONE_INPUT


@pytest.mark.parametrize("filename", LAYOUTS)
@pytest.mark.parametrize("case", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_every_layer_round_trips(tmp_path, case, filename):
    model = one_layer_model(case)
    path = tmp_path / filename
    model.save_weights(path)
    copy = model_from_json(model.to_json())
    assert copy.layers[0].get_config() == model.layers[0].get_config()
    if model.weights:
        assert not np.array_equal(copy.weights[0].value, model.weights[0].value)
    copy.load_weights(path)
    assert_same_weights(model, copy)
    x = np.random.default_rng(1).normal(size=(2,) + model.input.shape[1:]).astype("float32")
    np.testing.assert_array_equal(copy.predict(x), model.predict(x))


@pytest.mark.parametrize("filename", LAYOUTS)
@pytest.mark.parametrize("build", [cnn_2d, nested_functional], ids=["cnn_2d", "nested_functional"])
def test_whole_networks_round_trip(tmp_path, build, filename):
    model = build()
    model.save_weights(tmp_path / filename)
    copy = perturb(build(), seed=9)
    copy.load_weights(tmp_path / filename)
    assert_same_weights(model, copy)


def test_float64_model_reads_float32_file(tmp_path):
    model = cnn_2d()
    model.save_weights(tmp_path / "w.weights.h5")
    copy = model_from_json(model.to_json().replace('"float32"', '"float64"'))
    assert copy.weights[0].value.dtype == np.float64
    copy.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(model.weights, copy.weights):
        np.testing.assert_array_equal(a.value.astype(np.float64), b.value)


# ----- the layouts, as Keras documents them -----------------------------------------------------------------
def tree(path):
    """{hdf5 path: (kind, shape, {attr: value})} of a file."""
    found = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            attrs = {k: [v.decode() if isinstance(v, bytes) else v for v in np.atleast_1d(a)]
                     if not isinstance(a, (bytes, str)) else (a.decode() if isinstance(a, bytes) else a)
                     for k, a in obj.attrs.items()}
            kind = "dataset" if isinstance(obj, h5py.Dataset) else "group"
            found[name] = (kind, obj.shape if kind == "dataset" else None, attrs)
        f.visititems(visit)
        found["/"] = ("group", None, {k: v.decode() if isinstance(v, bytes) else v for k, v in f.attrs.items()
                                      if not isinstance(v, np.ndarray)})
    return found


def small_sequential():
    return Sequential([L.Conv2D(2, 3, input_shape=(5, 5, 1)), L.MaxPooling2D(), L.Flatten(), L.Dense(3),
                       L.Dense(2, use_bias=False, name="out")])


def test_keras3_layout(tmp_path):
    model = small_sequential()
    model.save_weights(tmp_path / "m.weights.h5")
    assert tree(tmp_path / "m.weights.h5") == {
        "/": ("group", None, {}),
        "vars": ("group", None, {"name": model.name}),
        "layers": ("group", None, {}),
        "layers/conv2d": ("group", None, {}),
        "layers/conv2d/vars": ("group", None, {"name": "conv2d"}),
        "layers/conv2d/vars/0": ("dataset", (3, 3, 1, 2), {}),
        "layers/conv2d/vars/1": ("dataset", (2,), {}),
        "layers/max_pooling2d": ("group", None, {}),
        "layers/max_pooling2d/vars": ("group", None, {"name": "max_pooling2d"}),
        "layers/flatten": ("group", None, {}),
        "layers/flatten/vars": ("group", None, {"name": "flatten"}),
        "layers/dense": ("group", None, {}),
        "layers/dense/vars": ("group", None, {"name": "dense"}),
        "layers/dense/vars/0": ("dataset", (2, 3), {}),
        "layers/dense/vars/1": ("dataset", (3,), {}),
        "layers/dense_1": ("group", None, {}),
        "layers/dense_1/vars": ("group", None, {"name": "out"}),
        "layers/dense_1/vars/0": ("dataset", (3, 2), {}),
    }


def test_keras3_layout_of_nested_models_and_compiled_optimizer(tmp_path, data):
    model = nested_functional()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.train_on_batch(np.ones((2, 5), "float32"), np.array([0, 1]))
    model.save_weights(tmp_path / "n.weights.h5")
    t = tree(tmp_path / "n.weights.h5")
    assert t["vars"][2] == {"name": "nested"}
    assert t["layers/input_layer/vars"][2] == {"name": "features"}
    assert t["layers/dense/vars/0"][1] == (5, 4)
    assert t["layers/dense_1/vars"][2] == {"name": "shared"}
    assert t["layers/sequential/vars"][2] == {"name": "inner"}
    assert t["layers/sequential/layers/dense/vars/0"][1] == (4, 3)
    assert t["layers/sequential/layers/batch_normalization/vars/3"][1] == (3,)
    assert t["layers/dense_2/vars/0"][1] == (3, 2)
    assert t["optimizer/vars"][2] == {"name": "adam"}
    # iteration, learning rate, then (momentum, velocity) per trainable weight, as Keras interleaves them
    slots = sorted((k for k in t if k.startswith("optimizer/vars/")), key=lambda k: int(k.rsplit("/", 1)[1]))
    shapes = [t[k][1] for k in slots]
    weights = [w.shape for w in model.trainable_weights]
    assert shapes == [(), ()] + [s for s in weights for _ in range(2)]


def test_keras2_layout(tmp_path):
    small_sequential().save_weights(tmp_path / "m.h5")
    t = tree(tmp_path / "m.h5")
    assert t["/"][2] == {"backend": "numbacnn", "keras_version": "3.15.1"}
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert list(f.attrs["layer_names"]) == ["conv2d", "max_pooling2d", "flatten", "dense", "out"]
    assert {k: v for k, v in t.items() if k != "/"} == {
        "conv2d": ("group", None, {"weight_names": ["conv2d/kernel:0", "conv2d/bias:0"]}),
        "conv2d/conv2d": ("group", None, {}),
        "conv2d/conv2d/kernel:0": ("dataset", (3, 3, 1, 2), {}),
        "conv2d/conv2d/bias:0": ("dataset", (2,), {}),
        "max_pooling2d": ("group", None, {"weight_names": []}),
        "flatten": ("group", None, {"weight_names": []}),
        "dense": ("group", None, {"weight_names": ["dense/kernel:0", "dense/bias:0"]}),
        "dense/dense": ("group", None, {}),
        "dense/dense/kernel:0": ("dataset", (2, 3), {}),
        "dense/dense/bias:0": ("dataset", (3,), {}),
        "out": ("group", None, {"weight_names": ["out/kernel:0"]}),
        "out/out": ("group", None, {}),
        "out/out/kernel:0": ("dataset", (3, 2), {}),
    }


def test_keras2_layout_of_a_nested_model_is_one_group(tmp_path):
    nested_functional().save_weights(tmp_path / "n.h5")
    with h5py.File(tmp_path / "n.h5", "r") as f:
        names = list(f["inner"].attrs["weight_names"])
        assert names == ["dense/kernel:0", "dense/bias:0", "batch_normalization/gamma:0",
                         "batch_normalization/beta:0", "batch_normalization/moving_mean:0",
                         "batch_normalization/moving_variance:0"]
        assert f["inner/dense/kernel:0"].shape == (4, 3)
        assert "features" in f and not len(f["features"].attrs["weight_names"])


def test_layout_comes_from_the_name_and_loading_reads_either(tmp_path):
    model = small_sequential()
    model.save_weights(tmp_path / "k3.weights.h5")
    model.save_weights(tmp_path / "k2.hdf5")
    os.rename(tmp_path / "k3.weights.h5", tmp_path / "k3_renamed.h5")
    for name in ("k3_renamed.h5", "k2.hdf5"):
        copy = perturb(small_sequential(), seed=3)
        copy.load_weights(tmp_path / name)
        assert_same_weights(model, copy)
    with pytest.raises(ValueError, match=r"must end in \.weights\.h5"):
        model.save_weights(tmp_path / "w.npz")


# ----- matching ---------------------------------------------------------------------------------------------
def test_keras2_order_skips_layers_without_weights(tmp_path):
    """Sequential layers with weights are matched by order, whatever their names (Keras's rule)."""
    model = small_sequential()
    model.save_weights(tmp_path / "m.h5")
    other = Sequential([L.Conv2D(2, 3, input_shape=(5, 5, 1), name="c"), L.Dropout(0.1), L.MaxPooling2D(),
                        L.Flatten(name="f"), L.Dense(3, name="d"), L.Dense(2, use_bias=False)])
    other.load_weights(tmp_path / "m.h5")
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_by_name_loads_matching_layers_only(tmp_path):
    model = small_sequential()
    for name in ("m.h5", "m.weights.h5"):
        model.save_weights(tmp_path / name)
        other = Sequential([L.Conv2D(2, 3, input_shape=(5, 5, 1)), L.Flatten(), L.Dense(3, name="new"),
                            L.Dense(2, use_bias=False, name="out")])
        before = other.get_layer("new").get_weights()
        other.load_weights(tmp_path / name, by_name=True)
        np.testing.assert_array_equal(other.layers[0].weights[0].value, model.layers[0].weights[0].value)
        np.testing.assert_array_equal(other.get_layer("out").get_weights()[0],
                                      model.get_layer("out").get_weights()[0])
        for a, b in zip(before, other.get_layer("new").get_weights()):
            np.testing.assert_array_equal(a, b)


def new_head(num_classes):
    return Sequential([L.Conv2D(2, 3, input_shape=(5, 5, 1)), L.MaxPooling2D(), L.Flatten(), L.Dense(3),
                       L.Dense(num_classes, use_bias=False, name="out")])


@pytest.mark.parametrize("filename", LAYOUTS)
def test_skip_mismatch_warns_and_loads_the_rest(tmp_path, filename):
    model = small_sequential()
    model.save_weights(tmp_path / filename)
    other = new_head(5)
    head_before = other.get_layer("out").get_weights()[0]
    with pytest.warns(UserWarning, match=r'skipping the weights of layer "out" \(Dense\).*\(3, 2\).*\(3, 5'):
        other.load_weights(tmp_path / filename, skip_mismatch=True)
    np.testing.assert_array_equal(other.get_layer("out").get_weights()[0], head_before)
    np.testing.assert_array_equal(other.get_layer("dense").get_weights()[0],
                                  model.get_layer("dense").get_weights()[0])


def test_keras3_skip_mismatch_also_skips_layers_the_file_lacks(tmp_path):
    model = small_sequential()
    model.save_weights(tmp_path / "m.weights.h5")
    bigger = Sequential([L.Conv2D(2, 3, input_shape=(5, 5, 1)), L.MaxPooling2D(), L.Flatten(), L.Dense(3),
                         L.Dense(2, use_bias=False, name="out"), L.Dense(4, name="extra")])
    with pytest.warns(UserWarning, match=r'skipping the weights of layer "extra" \(Dense\): .* has 2 '
                                         "weights, the file holds 0"):
        bigger.load_weights(tmp_path / "m.weights.h5", skip_mismatch=True)
    np.testing.assert_array_equal(bigger.get_layer("out").get_weights()[0],
                                  model.get_layer("out").get_weights()[0])


def test_long_string_lists_are_split_as_keras_splits_them(tmp_path):
    names = [f"layer_{i:05d}_" + "x" * 40 for i in range(3000)]  # ~150 kB: over the 64 kB header limit
    with h5py.File(tmp_path / "a.h5", "w") as f:
        write_string_list(f, "layer_names", names)
        assert "layer_names" not in f.attrs
        assert {"layer_names0", "layer_names1", "layer_names2"} <= set(f.attrs)
        assert read_string_list(f, "layer_names") == names


# ----- errors -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("filename", LAYOUTS)
def test_wrong_shape_names_file_layer_and_both_shapes(tmp_path, filename):
    small_sequential().save_weights(tmp_path / filename)
    other = new_head(5)
    before = other.get_weights()
    path = str(tmp_path / filename)
    with pytest.raises(SaveFileError, match=rf'^{path}: layer "out" \(Dense\): weight \'kernel\' has shape '
                                            r"\(3, 2\) in the file, the model expects \(3, 5\)"):
        other.load_weights(path)
    for a, b in zip(before, other.get_weights()):  # nothing assigned, not even the layers that fit
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("filename", LAYOUTS)
def test_wrong_layer_count(tmp_path, filename):
    small_sequential().save_weights(tmp_path / filename)
    bigger = Sequential([L.Conv2D(2, 3, input_shape=(5, 5, 1)), L.Flatten(), L.Dense(3), L.Dense(3),
                         L.Dense(2, use_bias=False)])
    path = str(tmp_path / filename)
    with pytest.raises(SaveFileError, match=rf"^{path}: layer count mismatch: the file holds weights for 3 "
                                            r"layers \(conv2d, dense, out\), the model has 4"):
        bigger.load_weights(path)


def test_wrong_weight_count_names_the_layer(tmp_path):
    small_sequential().save_weights(tmp_path / "m.h5")
    other = Sequential([L.Conv2D(2, 3, input_shape=(5, 5, 1)), L.MaxPooling2D(), L.Flatten(), L.Dense(3),
                        L.Dense(2, name="out")])
    with pytest.raises(SaveFileError, match=r'layer "out" \(Dense\) has 2 weights, the file holds 1'):
        other.load_weights(tmp_path / "m.h5")


def test_missing_not_hdf5_and_zip_files(tmp_path):
    model = small_sequential()
    with pytest.raises(FileNotFoundError):
        model.load_weights(tmp_path / "nope.h5")
    (tmp_path / "text.h5").write_text("not weights\n")
    with pytest.raises(SaveFileError, match=rf"^{tmp_path / 'text.h5'}: not an HDF5 file$"):
        model.load_weights(tmp_path / "text.h5")
    (tmp_path / "m.keras").write_bytes(b"PK\x03\x04" + bytes(60))
    with pytest.raises(SaveFileError, match=r"not an HDF5 file \(it is a zip archive such as Keras's"):
        model.load_weights(tmp_path / "m.keras")


def test_hdf5_without_keras_weights(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(SaveFileError, match="an HDF5 file without Keras weights"):
        small_sequential().load_weights(tmp_path / "other.h5")


@pytest.mark.parametrize("filename", LAYOUTS)
def test_truncated_file(tmp_path, filename):
    model = small_sequential()
    path = tmp_path / filename
    model.save_weights(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SaveFileError, match=rf"^{path}: cannot (open|read) the (HDF5 )?file, it is truncated "
                                            "or corrupted"):
        small_sequential().load_weights(path)


@pytest.mark.parametrize("filename", LAYOUTS)
def test_corrupted_file(tmp_path, filename):
    """Bytes overwritten past the signature: the file's structures no longer parse."""
    path = tmp_path / filename
    small_sequential().save_weights(path)
    data = bytearray(path.read_bytes())
    data[8:len(data)] = bytes(len(data) - 8)
    path.write_bytes(bytes(data))
    with pytest.raises(SaveFileError, match=rf"^{path}: cannot (open|read) the (HDF5 )?file, it is truncated "
                                            "or corrupted"):
        small_sequential().load_weights(path)


def test_unbuilt_models_and_existing_files(tmp_path):
    unbuilt = Sequential([L.Dense(2)])
    with pytest.raises(ValueError, match="not built yet"):
        unbuilt.save_weights(tmp_path / "u.weights.h5")
    small_sequential().save_weights(tmp_path / "m.weights.h5")
    with pytest.raises(ValueError, match="not built yet"):
        unbuilt.load_weights(tmp_path / "m.weights.h5")
    with pytest.raises(FileExistsError, match="overwrite=False"):
        small_sequential().save_weights(tmp_path / "m.weights.h5", overwrite=False)


# ----- atomic writes ---------------------------------------------------------------------------------------
def fail_on_dataset(monkeypatch, after):
    """Make h5py's create_dataset raise ENOSPC (a full disk) once ``after`` datasets were written."""
    original = h5py.Group.create_dataset
    calls = []

    def create_dataset(self, *args, **kwargs):
        calls.append(args[0] if args else kwargs.get("name"))
        if len(calls) > after:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", create_dataset)
    return calls


@pytest.mark.parametrize("filename", LAYOUTS + ["model_file.h5"])
def test_interrupted_save_keeps_the_old_file(tmp_path, monkeypatch, filename):
    path = tmp_path / filename
    old = small_sequential()
    save = (lambda m: m.save(path)) if filename == "model_file.h5" else (lambda m: m.save_weights(path))
    save(old)
    new = perturb(small_sequential(), seed=4)
    calls = fail_on_dataset(monkeypatch, after=2)
    with pytest.raises(OSError, match="No space left on device"):
        save(new)
    assert len(calls) == 3
    monkeypatch.undo()
    assert os.listdir(tmp_path) == [filename]  # no temporary file left behind
    check = perturb(small_sequential(), seed=5)
    check.load_weights(path)
    assert_same_weights(old, check)
    save(new)
    check.load_weights(path)
    assert_same_weights(new, check)


def test_save_creates_the_directory(tmp_path):
    model = small_sequential()
    model.save_weights(tmp_path / "a" / "b" / "m.weights.h5")
    assert (tmp_path / "a" / "b" / "m.weights.h5").is_file()


def test_functional_shared_layer_weights_are_saved_once(tmp_path):
    inp = L.Input(shape=(3,))
    shared = L.Dense(3)
    model = Model(inp, shared(shared(inp)))
    model.save_weights(tmp_path / "s.weights.h5")
    with h5py.File(tmp_path / "s.weights.h5", "r") as f:
        assert sorted(f["layers"]) == ["dense", "input_layer"]


def test_weights_h5_carries_the_optimizer_state(tmp_path, data):
    """As Keras 3: a compiled model's .weights.h5 holds the optimizer; compile, then load, to resume."""
    x, y = data
    model = small_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    for i in range(3):
        model.train_on_batch(x[4 * i:4 * i + 4], y[4 * i:4 * i + 4])
    model.save_weights(tmp_path / "m.weights.h5")
    saved = model.get_weights()
    copy = small_cnn()
    copy.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    copy.load_weights(tmp_path / "m.weights.h5")
    assert copy.optimizer.iterations == 3
    assert copy.train_on_batch(x[12:], y[12:]) == model.train_on_batch(x[12:], y[12:])
    for a, b in zip(model.weights, copy.weights):
        np.testing.assert_array_equal(a.value, b.value)
    other = small_cnn()
    other.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    with pytest.warns(UserWarning, match="the optimizer state was not loaded: the file holds 18 optimizer "
                                         "variables, optimizer 'rmsprop' has 10"):
        other.load_weights(tmp_path / "m.weights.h5")
    for a, b in zip(saved, other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_saved_files_get_ordinary_permissions(tmp_path):
    """The atomic write's temporary file is private (0600); the saved file must not stay so."""
    model = Sequential([L.Dense(2, input_shape=(3,))])
    umask = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.weights.h5"
        model.save_weights(fresh)
        assert fresh.stat().st_mode & 0o777 == 0o644
        kept = tmp_path / "kept.h5"
        kept.write_bytes(b"")
        kept.chmod(0o640)
        model.save_weights(kept)
        assert kept.stat().st_mode & 0o777 == 0o640  # replacing a file keeps its permissions
    finally:
        os.umask(umask)
