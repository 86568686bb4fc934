"""gui.images: colour maps, grids and upscaling against hand-worked expectations (no display needed)."""

import numpy as np
import pytest

from gui import images


def test_colormap_ends_and_clipping():
    rgb = images.colormap(np.array([[-1.0, 0.0], [1.0, 2.0]]))
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.float32
    np.testing.assert_allclose(rgb[0, 0], rgb[0, 1])                 # below 0 clips to the first colour
    np.testing.assert_allclose(rgb[1, 0], [0.993, 0.906, 0.144], atol=1e-6)
    np.testing.assert_allclose(images.colormap(0.5, "diverging"), [0.969, 0.969, 0.969], atol=1e-6)


def test_normalize_and_symmetric():
    np.testing.assert_allclose(images.normalize([2.0, 4.0, 3.0]), [0.0, 1.0, 0.5])
    np.testing.assert_allclose(images.normalize(np.full(3, 7.0)), 0.5)
    np.testing.assert_allclose(images.symmetric([-2.0, 0.0, 1.0]), [0.0, 0.5, 0.75])
    np.testing.assert_allclose(images.symmetric([1.0, 0.0], scale=4.0), [0.625, 0.5])
    np.testing.assert_allclose(images.symmetric(np.zeros(2)), 0.5)


def test_upscale_is_nearest_neighbour():
    img = np.arange(4, dtype=np.float32).reshape(2, 2, 1)
    np.testing.assert_array_equal(images.upscale(img, 2)[..., 0],
                                  [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
    assert images.fit(np.zeros((3, 5, 3)), (40, 40)).shape == (24, 40, 3)    # factor min(40//5, 40//3) = 8
    assert images.fit(np.zeros((30, 50, 3)), (40, 40)).shape == (30, 50, 3)  # never below 1


@pytest.mark.parametrize("n, h, w, box, expected", [
    (4, 3, 3, (100, 100), (2, 16)),      # 2x2 grid of 48-px tiles: 2 * 49 - 1 = 97 <= 100
    (1, 5, 5, (20, 10), (1, 2)),
    (6, 2, 2, (100, 10), (6, 5)),        # one row of 10-px tiles fits a wide box best
    (32, 26, 26, (190, 112), (8, 1)),    # too big even at 1: 8x4 needs the least shrinking (0.88)
])
def test_grid_fit(n, h, w, box, expected):
    assert images.grid_fit(n, h, w, box) == expected


def test_tile_places_tiles_and_gaps():
    tiles = np.stack([np.full((2, 2, 3), v, np.float32) for v in (0.1, 0.2, 0.3)])
    out = images.tile(tiles, cols=2, scale=2)
    assert out.shape == (2 * 5 - 1, 2 * 5 - 1, 3)
    np.testing.assert_allclose(out[0:4, 0:4], 0.1)
    np.testing.assert_allclose(out[0:4, 5:9], 0.2)
    np.testing.assert_allclose(out[5:9, 0:4], 0.3)
    np.testing.assert_allclose(out[4, 0], images.BACKGROUND, atol=1e-6)        # the gap row
    np.testing.assert_allclose(out[5:9, 5:9].reshape(-1, 3), np.tile(images.BACKGROUND, (16, 1)),
                               atol=1e-6)                                        # the empty cell


def test_filter_grid_one_channel_maps_zero_to_white_and_sign_to_colour():
    kernel = np.zeros((3, 3, 1, 4), np.float32)
    kernel[0, 0, 0, 0], kernel[0, 0, 0, 1] = 1.0, -1.0
    out = images.filter_grid(kernel, (100, 100))
    assert out.shape == (99, 99, 3)                                  # 2x2 tiles of 48 px, 3 px apart
    red, blue, white = out[0, 0], out[0, 51], out[47, 47]
    np.testing.assert_allclose(out[0, 48], images.SEPARATOR, atol=1e-6)   # a grey gap, not dark nor white
    np.testing.assert_allclose(white, [0.969, 0.969, 0.969], atol=1e-6)
    assert red[0] > red[2] and blue[2] > blue[0]


def test_filter_grid_three_channels_is_the_kernel_in_colour():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(2, 2, 3, 1)).astype(np.float32)
    out = images.filter_grid(kernel, (2, 2))
    np.testing.assert_allclose(out, images.normalize(kernel[..., 0]), atol=1e-6)


def test_filter_grid_many_channels_has_a_row_per_filter():
    out = images.filter_grid(np.ones((3, 3, 5, 4), np.float32), (10, 10))   # too small a box: scale 2
    assert out.shape == (4 * 9 - 3, 5 * 9 - 3, 3)
    with pytest.raises(ValueError, match=r"\(KH, KW, C, F\) kernel, received shape \(3, 3, 4\)"):
        images.filter_grid(np.ones((3, 3, 4)), (10, 10))


def test_feature_grid_shapes():
    rng = np.random.default_rng(1)
    maps = images.feature_grid(rng.random((4, 4, 6)), (100, 100))
    cols, scale = images.grid_fit(6, 4, 4, (100, 100), 2)
    assert maps.shape[1] == cols * (4 * scale + 2) - 2 and maps.shape[0] <= 100
    vector = images.feature_grid(np.arange(10.0), (50, 50))
    assert vector.shape[0] <= 50 and vector.shape[1] <= 50
    np.testing.assert_allclose(vector[-1, -1], images.BACKGROUND, atol=1e-6)   # 10 values, 4x3 grid
    assert images.feature_grid(rng.random((7, 3)), (70, 30)).shape == (30, 70, 3)   # (L, C) -> C x L
    middle = rng.random((3, 4, 4, 2))
    np.testing.assert_array_equal(images.feature_grid(middle, (50, 50)),
                                  images.feature_grid(middle[1], (50, 50)))


def test_rgba_and_sample_image():
    flat = images.rgba(np.zeros((2, 3, 3), np.float32))
    assert flat.shape == (24,) and flat.dtype == np.float32 and flat[3::4].tolist() == [1.0] * 6
    grey = images.sample_image(np.full((2, 2, 1), 0.5))
    assert grey.shape == (2, 2, 3) and np.all(grey == 0.5)
    assert images.sample_image(np.zeros(16)).shape == (4, 4, 3)
    assert images.sample_image(np.full((2, 2, 3), 2.0)).max() == 1.0


def test_feature_maps_share_one_colour_scale_per_layer():
    act = np.zeros((2, 2, 2), np.float32)
    act[..., 1] = 3.0                                     # map 0 all 0, map 1 all 3: the layer's min and max
    out = images.feature_grid(act, (5, 2))
    assert images.layer_range(act) == (0.0, 3.0)
    np.testing.assert_allclose(out[0, 0], images.colormap(0.0), atol=1e-6)
    np.testing.assert_allclose(out[0, -1], images.colormap(1.0), atol=1e-6)
    fixed = images.feature_grid(act, (5, 2), scale_range=(0.0, 6.0))
    np.testing.assert_allclose(fixed[0, -1], images.colormap(0.5), atol=1e-6)


def test_heat_overlay_keeps_the_picture_where_there_is_no_heat():
    sample = np.full((2, 2, 3), 0.4, np.float32)
    heat = np.array([[0.0, 1.0], [0.0, 0.0]])
    out = images.heat_overlay(sample, heat, alpha=0.5)
    np.testing.assert_allclose(out[0, 0], 0.5 * 0.4 + 0.5 * images.colormap(0.0, "hot"), atol=1e-6)
    np.testing.assert_allclose(out[0, 1], 0.5 * 0.4 + 0.5 * images.colormap(1.0, "hot"), atol=1e-6)
