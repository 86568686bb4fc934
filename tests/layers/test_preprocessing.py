"""Preprocessing and augmentation layers: Keras 3 fixtures (tests/data/make_keras_layers21_fixtures.py, random
factors collapsed to one value), NumPy references, gradients, seeds, inference behaviour and configs."""

import json
import os

import numpy as np
import pytest
from gradcheck import check_layer_gradients

import numbacnn
from numbacnn import layers
from numbacnn.kernels.cpu import image as K
from numbacnn.layers import preprocessing as P

F = np.load(os.path.join(os.path.dirname(__file__), "..", "data", "keras_layers21.npz"))
CONFIGS = json.loads(str(F["configs"]))
PARAMS = json.loads(str(F["params"]))


def _input(case):
    return F[str(F[f"{case}/input"])]


def _run(case, layer, training=False, rtol=1e-6, atol=1e-4):
    """Forward (and backward where Keras's input gradient was recorded) against the fixture."""
    x = _input(case)
    y = layer(x, training=training)
    np.testing.assert_allclose(y, F[f"{case}/y"], rtol=rtol, atol=atol, err_msg=case)
    if f"{case}/dx" in F:
        g = np.random.default_rng(99).normal(size=y.shape).astype(np.float32)
        layer.forward(x, training=True)
        np.testing.assert_allclose(layer.backward(g), F[f"{case}/dx"], rtol=rtol, atol=atol, err_msg=case)
    if case in CONFIGS:
        ours = layer.get_config()
        theirs = CONFIGS[case]
        assert set(ours) - {"batch_input_shape"} == set(theirs), case
        for key in set(theirs) - {"name", "dtype", "seed"}:
            ours_value = json.loads(json.dumps(ours[key], default=str))
            assert ours_value == json.loads(json.dumps(theirs[key], default=str)), (case, key)
    assert layer.count_params() == PARAMS[case], case
    return y


# ----- kernels -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fill", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("interp", ["bilinear", "nearest"])
def test_affine_transform_is_tensorflows(fill, interp):
    """Transforms that reach far outside the image: every fill mode's folding, bit for bit."""
    case = f"affine_{fill}_{interp}"
    y = K.affine_transform(F["img"], F[f"{case}/t"], getattr(K, f"INTERP_{interp.upper()}"),
                           getattr(K, f"FILL_{fill.upper()}"), 2.0)
    np.testing.assert_array_equal(y, F[f"{case}/y"])


def _np_resample(x, hidx, hwt, widx, wwt, fill):
    n, _, _, c = x.shape
    y = np.zeros((n, hidx.shape[0], widx.shape[0], c))
    for i in range(hidx.shape[0]):
        for j in range(widx.shape[0]):
            for p in range(hidx.shape[1]):
                for q in range(widx.shape[1]):
                    r, s = hidx[i, p], widx[j, q]
                    v = x[:, r, s, :] if r >= 0 and s >= 0 else fill
                    y[:, i, j, :] += hwt[i, p] * wwt[j, q] * v
    return y


@pytest.mark.parametrize("in_size, out_size, interp, pad", [(7, 4, "bilinear", 0), (5, 11, "bilinear", 0),
                                                           (6, 6, "nearest", 0), (4, 9, "nearest", 0),
                                                           (5, 5, "bilinear", 2)])
def test_resample_and_its_adjoint(in_size, out_size, interp, pad):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, in_size, in_size + 1, 3))
    h = P.axis_taps(in_size, out_size, interp, length=in_size + 2 * pad, pad=pad)
    w = P.axis_taps(in_size + 1, out_size + 2, interp)
    y = K.resample(x, *h, *w, 1.5)
    np.testing.assert_allclose(y, _np_resample(x, *h, *w, 1.5), rtol=1e-12, atol=1e-12)
    # <resample(x), g> == <x, adjoint(g)> for the taps without fill
    g = rng.normal(size=y.shape)
    ht, wt = P.transpose_taps(*h, in_size), P.transpose_taps(*w, in_size + 1)
    lhs = np.sum((K.resample(x, *h, *w, 0.0)) * g)
    rhs = np.sum(x * K.resample(g, *ht, *wt, 0.0))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10)


def test_flip_contrast_brightness_channel_map_against_numpy():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 255, (3, 4, 5, 2)).astype(np.float32)
    flips = np.array([1, 0, 1])
    ref = x.copy()
    ref[[0, 2]] = ref[[0, 2], ::-1, ::-1]
    np.testing.assert_array_equal(K.flip_images(x, flips, True, True), ref)
    ref = x.copy()
    ref[[0, 2]] = ref[[0, 2], :, ::-1]
    np.testing.assert_array_equal(K.flip_images(x, flips, True, False), ref)
    f = np.array([0.5, 1.0, 1.7], np.float32)
    mean = x.mean(axis=(1, 2), keepdims=True)
    ref = np.clip((x - mean) * f[:, None, None, None] + mean, 10, 240)
    np.testing.assert_allclose(K.adjust_contrast(x, f, 10, 240), ref, rtol=1e-5, atol=1e-4)
    d = np.array([-30.0, 0.0, 99.0], np.float32)
    np.testing.assert_allclose(K.adjust_brightness(x, d, 0, 255), np.clip(x + d[:, None, None, None], 0, 255))
    a, b = rng.normal(size=2).astype(np.float32), rng.uniform(1, 2, 2).astype(np.float32)
    np.testing.assert_array_equal(K.channel_map(x, a, b, K.MAP_SCALE_SHIFT), x * a + b)
    np.testing.assert_array_equal(K.channel_map(x, a, b, K.MAP_SUBTRACT_DIVIDE), (x - a) / b)
    np.testing.assert_array_equal(K.channel_map(x, a, b, K.MAP_ADD_MULTIPLY), a + x * b)


# ----- always-on layers against Keras -------------------------------------------------------------------
def test_rescaling():
    _run("rescaling", layers.Rescaling(1.0 / 255, offset=-0.5))
    _run("rescaling_channels", layers.Rescaling([0.5, 2.0, -1.0], offset=[1.0, 0.0, 3.0]))


def test_normalization_adapt_and_given():
    norm = layers.Normalization()
    norm.adapt(F["img"])
    _run("normalization_adapt", norm)
    assert [w.name for w in norm.weights] == ["mean", "variance", "count"]
    assert norm.trainable_weights == []
    norm = layers.Normalization(axis=(1, 3))
    norm.adapt(F["img"])
    _run("normalization_axes", norm)
    _run("normalization_given", layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 0.0, 9.0]))
    _run("normalization_invert", layers.Normalization(mean=3.0, variance=4.0, invert=True))
    norm = layers.Normalization(axis=None)
    norm.adapt([F["img"][:1], F["img"][1:]])
    _run("normalization_batches", norm)


@pytest.mark.parametrize("h, w", [(4, 5), (11, 13), (7, 4), (3, 12)])
@pytest.mark.parametrize("interp", ["bilinear", "nearest"])
def test_resizing(h, w, interp):
    _run(f"resizing_{h}x{w}_{interp}", layers.Resizing(h, w, interpolation=interp))


def test_resizing_to_aspect_ratio_and_center_crop():
    _run("resizing_crop", layers.Resizing(5, 5, crop_to_aspect_ratio=True))
    _run("resizing_pad", layers.Resizing(6, 4, pad_to_aspect_ratio=True, fill_value=7.0))
    _run("resizing_pad_wide", layers.Resizing(4, 9, pad_to_aspect_ratio=True))
    _run("center_crop", layers.CenterCrop(4, 6))
    _run("center_crop_odd", layers.CenterCrop(5, 4))
    _run("center_crop_up", layers.CenterCrop(8, 8))


# ----- random layers against Keras, factors collapsed ----------------------------------------------------
@pytest.mark.parametrize("fill", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("interp", ["bilinear", "nearest"])
def test_rotation_zoom_translation(fill, interp):
    kw = dict(fill_mode=fill, interpolation=interp, fill_value=5.0)
    _run(f"rotation_{fill}_{interp}", layers.RandomRotation((0.1, 0.1), **kw), training=True)
    _run(f"zoom_{fill}_{interp}", layers.RandomZoom((-0.3, -0.3), (0.45, 0.45), **kw), training=True)
    _run(f"translation_{fill}_{interp}", layers.RandomTranslation((0.35, 0.35), (-0.6, -0.6), **kw),
         training=True)


def test_far_transforms_contrast_brightness_crop():
    _run("rotation_big", layers.RandomRotation((0.37, 0.37), fill_mode="wrap"), training=True)
    _run("translation_far", layers.RandomTranslation((1.0, 1.0), (-1.0, -1.0)), training=True)
    _run("translation_far_wrap", layers.RandomTranslation((0.9, 0.9), (-1.0, -1.0), fill_mode="wrap"),
         training=True)
    _run("zoom_out", layers.RandomZoom((0.8, 0.8)), training=True)
    _run("contrast", layers.RandomContrast((-0.3, 0.3)), training=True)
    _run("contrast_clip", layers.RandomContrast((-0.9, 0.9), value_range=(20, 200)), training=True)
    _run("brightness", layers.RandomBrightness((0.1, 0.1)), training=True)
    _run("brightness_unit", layers.RandomBrightness((-0.3, -0.3), value_range=(0, 1)), training=True)
    _run("random_crop_resize", layers.RandomCrop(6, 5), training=True)
    _run("flip", layers.RandomFlip("horizontal", seed=3), training=False)


# ----- training only, seeds, defaults --------------------------------------------------------------------
RANDOM_LAYERS = [
    lambda seed=None: layers.RandomFlip(seed=seed),
    lambda seed=None: layers.RandomRotation(0.2, seed=seed),
    lambda seed=None: layers.RandomTranslation(0.2, 0.3, seed=seed),
    lambda seed=None: layers.RandomZoom(0.3, seed=seed),
    lambda seed=None: layers.RandomCrop(5, 6, seed=seed),
    lambda seed=None: layers.RandomContrast(0.5, seed=seed),
    lambda seed=None: layers.RandomBrightness(0.3, seed=seed),
]


@pytest.mark.parametrize("make", RANDOM_LAYERS)
def test_random_layers_are_off_at_inference_and_reproducible(make):
    x = F["img"]
    layer = make()
    y_inf = layer(x, training=False)
    if isinstance(layer, layers.RandomCrop):
        # the largest centred box of the target's aspect ratio, resized (Keras's documented inference)
        np.testing.assert_array_equal(y_inf, layers.Resizing(5, 6, crop_to_aspect_ratio=True)(x))
    else:
        np.testing.assert_array_equal(y_inf, x)
    numbacnn.utils.set_random_seed(5)
    a = make()(x)  # called directly, a random layer trains (Keras's call(data, training=True))
    numbacnn.utils.set_random_seed(5)
    b = make()(x, training=True)
    np.testing.assert_array_equal(a, b)
    c = make(seed=11)(x, training=True)
    d = make(seed=11)(x, training=True)
    np.testing.assert_array_equal(c, d)
    assert not np.array_equal(make(seed=11)(x, training=True), make(seed=12)(x, training=True)) or \
        isinstance(layer, layers.RandomFlip)


def test_random_flip_flips_whole_samples_with_one_draw():
    x = np.random.default_rng(0).normal(size=(64, 3, 4, 1)).astype(np.float32)
    y = layers.RandomFlip("horizontal_and_vertical", seed=0)(x, training=True)
    flipped = np.array([np.array_equal(y[i], x[i, ::-1, ::-1]) for i in range(64)])
    same = np.array([np.array_equal(y[i], x[i]) for i in range(64)])
    assert np.all(flipped | same) and 10 < flipped.sum() < 54


def test_random_crop_trains_on_one_window_per_batch():
    x = np.arange(2 * 9 * 10, dtype=np.float32).reshape(2, 9, 10, 1)
    y = layers.RandomCrop(4, 3, seed=2)(x, training=True)
    starts = [(i, j) for i in range(6) for j in range(8) if np.array_equal(y[0], x[0, i:i + 4, j:j + 3])]
    assert len(starts) == 1
    i, j = starts[0]
    np.testing.assert_array_equal(y[1], x[1, i:i + 4, j:j + 3])


def test_channels_first_is_the_transpose():
    x = F["img"]
    xt = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    for make in (lambda df: layers.Resizing(4, 5, data_format=df),
                 lambda df: layers.CenterCrop(3, 3, data_format=df),
                 lambda df: layers.RandomRotation(0.2, seed=1, data_format=df)):
        y = make("channels_last")(x, training=True)
        yt = make("channels_first")(xt, training=True)
        np.testing.assert_allclose(np.moveaxis(yt, 1, -1), y, rtol=1e-6)


# ----- gradients -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: layers.Rescaling([0.5, -2.0], offset=1.0),
    lambda: layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 0.5]),
    lambda: layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 0.5], invert=True),
    lambda: layers.Resizing(3, 7),
    lambda: layers.Resizing(6, 2, interpolation="nearest"),
    lambda: layers.Resizing(4, 4, pad_to_aspect_ratio=True, fill_value=3.0),
    lambda: layers.CenterCrop(3, 2),
    lambda: layers.CenterCrop(6, 6),
    lambda: layers.RandomCrop(3, 4),
    lambda: layers.RandomFlip(),
], ids=["rescaling", "normalization", "normalization_invert", "resizing", "resizing_nearest", "resizing_pad",
        "center_crop", "center_crop_up", "random_crop", "random_flip"])
def test_gradients(make):
    numbacnn.backend.set_floatx("float64")
    layer = make()
    x = np.random.default_rng(2).normal(size=(2, 5, 5, 2))
    if isinstance(layer, layers.Normalization):
        layer.maybe_build(x.shape)
    check_layer_gradients(layer, x)


def test_augmentations_refuse_a_needed_gradient_and_skip_an_unneeded_one():
    layer = layers.RandomRotation(0.1)
    x = F["img"]
    layer.forward(x, training=True)
    layer.input_grad_needed = False
    assert layer.backward(x) is None
    layer.input_grad_needed = True
    with pytest.raises(ValueError, match="passes no gradient to its input"):
        layer.backward(x)


# ----- errors, configs, models -----------------------------------------------------------------------------
def test_errors_name_the_layer_and_values():
    with pytest.raises(ValueError, match=r"expected a batch of images.*received input shape \(None, 5\)"):
        layers.CenterCrop(2, 2).compute_output_shape((None, 5))
    with pytest.raises(NotImplementedError, match="Unknown `fill_mode` mirror"):
        layers.RandomRotation(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="factor"):
        layers.RandomRotation(1.5)
    with pytest.raises(ValueError, match="antialias"):
        layers.Resizing(3, 3, antialias=True)
    with pytest.raises(ValueError, match="both `mean` and `variance`"):
        layers.Normalization(mean=1.0)


def test_a_model_with_augmentation_trains_and_round_trips_json():
    numbacnn.utils.set_random_seed(0)
    model = numbacnn.models.Sequential([
        layers.Input((8, 8, 1)), layers.Rescaling(1.0 / 255), layers.RandomFlip("horizontal"),
        layers.RandomRotation(0.1), layers.RandomZoom(0.1), layers.RandomTranslation(0.1, 0.1),
        layers.RandomContrast(0.2, value_range=(0, 1)), layers.RandomBrightness(0.1, value_range=(0, 1)),
        layers.RandomCrop(6, 6), layers.Resizing(5, 5), layers.CenterCrop(4, 4),
        layers.Flatten(), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).uniform(0, 255, (16, 8, 8, 1)).astype(np.float32)
    y = np.arange(16) % 3
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    p1, p2 = model.predict(x, verbose=0), model.predict(x, verbose=0)
    np.testing.assert_array_equal(p1, p2)  # augmentation is off at inference
    clone = numbacnn.models.model_from_json(model.to_json())
    assert [type(la).__name__ for la in clone.layers] == [type(la).__name__ for la in model.layers]
