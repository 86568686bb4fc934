"""Pictures of arrays for the debugger's textures: colour maps, tile grids, nearest-neighbour upscaling.

Pure NumPy, no DearPyGui. Pictures are float32 RGB images in 0..1, (H, W, 3), made at an integer
magnification of the data (so that a texture is never stretched up); :func:`rgba` turns one into the
flat RGBA buffer a DearPyGui raw texture takes.
"""

import math

import numpy as np

_VIRIDIS = np.array([
    [0.267, 0.005, 0.329], [0.283, 0.141, 0.458], [0.254, 0.265, 0.530], [0.207, 0.372, 0.553],
    [0.164, 0.471, 0.558], [0.128, 0.567, 0.551], [0.135, 0.659, 0.518], [0.267, 0.749, 0.441],
    [0.478, 0.821, 0.318], [0.741, 0.873, 0.150], [0.993, 0.906, 0.144],
])
_DIVERGING = np.array([[0.129, 0.400, 0.674], [0.404, 0.663, 0.812], [0.969, 0.969, 0.969],
                       [0.937, 0.541, 0.384], [0.698, 0.094, 0.169]])
BACKGROUND = (0.16, 0.16, 0.18)
"""Colour of the gaps between feature-map tiles."""
SEPARATOR = (0.55, 0.55, 0.6)
"""Colour of the gaps between filters (their white is 0, so the gaps must not be dark nor white)."""
_HOT = np.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.1], [0.9, 0.2, 0.0], [1.0, 0.7, 0.0], [1.0, 1.0, 0.8]])


def stops(name):
    """The colour stops (N, 3) in 0..1 of the map ``name``: "viridis", "diverging" or "hot"."""
    return {"viridis": _VIRIDIS, "diverging": _DIVERGING, "hot": _HOT}[name]


def colormap(values, name="viridis"):
    """Values in 0..1 (any shape) -> RGB (shape + (3,)) on ``viridis`` or the blue-white-red ``diverging``."""
    table = stops(name)
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float32)), 0.0, 1.0)
    grid = np.linspace(0.0, 1.0, len(table))
    return np.stack([np.interp(v, grid, table[:, c]) for c in range(3)], axis=-1).astype(np.float32)


def normalize(a):
    """Min-max scale to 0..1 (a constant array becomes 0.5)."""
    a = np.asarray(a, dtype=np.float32)
    lo, hi = float(a.min()), float(a.max())
    if not hi > lo:
        return np.full(a.shape, 0.5, np.float32)
    return (a - lo) / (hi - lo)


def symmetric(a, scale=None):
    """Scale to 0..1 with 0 at 0.5: ``a / (2 * max|a|) + 0.5`` (``scale`` replaces max|a|)."""
    a = np.asarray(a, dtype=np.float32)
    scale = float(np.abs(a).max()) if scale is None else float(scale)
    if not scale > 0:
        return np.full(a.shape, 0.5, np.float32)
    return np.clip(a / (2 * scale) + 0.5, 0.0, 1.0)


def upscale(img, factor):
    """Nearest-neighbour upscaling by an integer factor along both image axes."""
    factor = max(1, int(factor))
    if factor == 1:
        return img
    return np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)


def fit(img, box):
    """``img`` upscaled by the largest integer factor (at least 1) that keeps it within ``box`` (w, h)."""
    h, w = img.shape[:2]
    return upscale(img, min(box[0] // w, box[1] // h))


def grid_fit(n, h, w, box, gap=1):
    """``(cols, scale)`` for ``n`` tiles of h x w in a grid within ``box`` (width, height).

    The largest integer tile magnification that fits wins; when even 1 does not fit, the column count
    whose grid needs the least shrinking, at scale 1.
    """
    best, best_key = (1, 1), None
    for cols in range(1, n + 1):
        rows = math.ceil(n / cols)
        scale = min(((box[0] + gap) // cols - gap) // w, ((box[1] + gap) // rows - gap) // h)
        shrink = min(box[0] / (cols * (w + gap) - gap), box[1] / (rows * (h + gap) - gap))
        key = (scale, -rows * cols) if scale >= 1 else (0, shrink)
        if best_key is None or key > best_key:
            best, best_key = (cols, max(1, scale)), key
    return best


def tile(tiles, cols, scale=1, gap=1, background=BACKGROUND):
    """``tiles`` (N, h, w, 3), each magnified ``scale`` times, in rows of ``cols``, ``gap`` pixels apart."""
    tiles = upscale(tiles.transpose(1, 2, 0, 3), scale).transpose(2, 0, 1, 3)
    n, h, w, _ = tiles.shape
    rows = math.ceil(n / cols)
    out = np.empty((rows * (h + gap) - gap, cols * (w + gap) - gap, 3), np.float32)
    out[...] = background
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tiles[i]
    return out


def rgba(img):
    """(H, W, 3) RGB in 0..1 -> flat float32 RGBA buffer of H*W*4 values for a raw texture."""
    h, w = img.shape[:2]
    out = np.ones((h, w, 4), np.float32)
    out[..., :3] = img
    return out.ravel()


def filter_grid(kernel, box, max_in=32, max_out=64):
    """Conv2D kernels (KH, KW, C, F) as a tile grid fitted to ``box`` (width, height).

    One input channel: one tile per filter on the blue-white-red map (white is 0, scaled by the layer's
    max |w|). Three: one RGB tile per filter (min-max scaled per filter). Otherwise one row per filter
    (the first ``max_out``) of one tile per input channel (the first ``max_in``), each tile at least
    2 pixels per weight, so the grid may be larger than the box.
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim != 4:
        raise ValueError(f"filter_grid expects a (KH, KW, C, F) kernel, received shape {kernel.shape}")
    kh, kw, c, f = kernel.shape
    if c == 3:
        tiles = np.stack([normalize(kernel[..., i]) for i in range(f)])
    else:
        k = kernel[:, :, :max_in, :max_out]
        tiles = colormap(symmetric(k, np.abs(kernel).max()), "diverging")    # (KH, KW, c, f, 3)
        tiles = tiles.transpose(3, 2, 0, 1, 4).reshape(-1, kh, kw, 3)        # filter-major
    gap = 3
    if c in (1, 3):
        cols, scale = grid_fit(len(tiles), kh, kw, box, gap)
        return tile(tiles, cols, scale, gap, SEPARATOR)
    cols = min(c, max_in)
    rows = len(tiles) // cols
    scale = max(2, min(((box[0] + gap) // cols - gap) // kw, ((box[1] + gap) // rows - gap) // kh))
    return tile(tiles, cols, scale, gap, SEPARATOR)


def feature_grid(act, box, max_maps=64, scale_range=None):
    """One layer's output for one sample as a picture for ``box`` (width, height).

    (H, W, C): one viridis tile per channel (the first ``max_maps``) in the grid that fits the box best;
    (L, C): a C x L image; (N,): a near-square image of the N values; (D, H, W, C): the middle depth slice.
    One colour scale for the whole layer: its min (dark blue) to its max (yellow), or ``scale_range``.
    :func:`layer_range` gives the (min, max) that a colour bar beside the picture shows.
    """
    act = np.asarray(act, dtype=np.float32)
    if act.ndim > 3:
        return feature_grid(act[act.shape[0] // 2], box, max_maps, scale_range)
    lo, hi = layer_range(act) if scale_range is None else scale_range
    unit = (act - lo) / (hi - lo) if hi > lo else np.full(act.shape, 0.5, np.float32)
    if act.ndim == 3:
        maps = unit[:, :, :max_maps].transpose(2, 0, 1)
        tiles = colormap(maps)
        cols, scale = grid_fit(len(tiles), act.shape[0], act.shape[1], box, 2)
        return tile(tiles, cols, scale, 2)
    if act.ndim == 2:
        return fit(colormap(unit.T), box)
    cols = math.ceil(math.sqrt(act.size * box[0] / box[1]))
    rows = math.ceil(act.size / cols)
    img = np.empty((rows * cols, 3), np.float32)
    img[...] = BACKGROUND
    img[:act.size] = colormap(unit)
    return fit(img.reshape(rows, cols, 3), box)


def layer_range(act):
    """(min, max) of a layer's output as float (the colour scale of :func:`feature_grid`)."""
    act = np.asarray(act, dtype=np.float32)
    if act.size == 0:
        return 0.0, 1.0
    return float(act.min()), float(act.max())


def heat_overlay(sample_rgb, heat, alpha=0.55):
    """The input picture (H, W, 3) in grey with ``heat`` (H, W) in 0..1 on the "hot" map laid over it."""
    grey = np.repeat(np.asarray(sample_rgb, np.float32).mean(axis=-1, keepdims=True), 3, axis=-1)
    return np.clip((1 - alpha) * grey + alpha * colormap(heat, "hot"), 0.0, 1.0)


def sample_image(x):
    """An input sample (H, W, 1|3) or (N,) in 0..1 as RGB (grey for one channel)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        side = math.isqrt(x.size)
        x = x.reshape(side, side, 1) if side * side == x.size else x.reshape(1, -1, 1)
    if x.ndim == 2:
        x = x[..., None]
    x = np.clip(x, 0.0, 1.0)
    return np.repeat(x[..., :1], 3, axis=-1) if x.shape[-1] != 3 else x
