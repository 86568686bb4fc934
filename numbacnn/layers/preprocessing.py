"""Preprocessing and augmentation layers with Keras 3's names, arguments, defaults and geometry.

Rescaling, Normalization, Resizing and CenterCrop apply on every call; RandomFlip, RandomRotation,
RandomTranslation, RandomZoom, RandomCrop, RandomContrast and RandomBrightness only with ``training=True``
(in ``fit``, or when called directly, as Keras's do), and are the identity otherwise (RandomCrop then takes
the centred crop its output shape promises). Random parameters are drawn on the host from
``numbacnn.backend.rng()`` (or the layer's own generator when it has a ``seed``), one small array per
batch; the pixel work is in ``kernels.image``. Images are ``(batch, height, width, channels)``;
``data_format="channels_first"`` inputs are moved to that layout and back.

Gradients: Rescaling, Normalization, Resizing, CenterCrop, RandomCrop and RandomFlip pass the input
gradient; the other augmentations sit at the front of a model (where numbacnn never asks for it) and
refuse a backward that needs one.
"""

import math

import numpy as np

from .. import backend
from ..kernels import ops
from .base import Layer, format_shape

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("nearest", "bilinear")


def _standardize_data_format(data_format):
    value = "channels_last" if data_format is None else str(data_format).lower()
    if value not in ("channels_last", "channels_first"):
        raise ValueError("The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
                         f"Received: data_format={data_format}")
    return value


def _fill_code(fill_mode):
    k = ops()
    return {"reflect": k.FILL_REFLECT, "wrap": k.FILL_WRAP, "constant": k.FILL_CONSTANT,
            "nearest": k.FILL_NEAREST}[fill_mode]


def _interp_code(interpolation):
    k = ops()
    return k.INTERP_NEAREST if interpolation == "nearest" else k.INTERP_BILINEAR


# ----- taps of the separable resampling (host numpy, TensorFlow's resize rules) ----------------------
def axis_taps(in_size, out_size, interpolation="bilinear", start=0, length=None, pad=0):
    """Taps ``(idx (out,K) int64, wt (out,K) float64)`` that resample one image axis.

    The source is a window of ``length`` pixels: source pixel v is input pixel ``start + v - pad`` when that
    lies in [0, in_size), else the fill value (index -1). It is resized to ``out_size`` as
    ``tf.image.resize`` does (half-pixel centres, no antialiasing; the scale and source coordinates in
    float32): bilinear reads the two neighbours of ``(o + 0.5) * scale - 0.5``, nearest reads
    ``floor((o + 0.5) * scale)``.
    """
    length = in_size if length is None else length
    o = np.arange(out_size, dtype=np.float32)
    scale = np.float32(length) / np.float32(out_size)
    if interpolation == "nearest":
        src = np.minimum(np.floor((o + np.float32(0.5)) * scale).astype(np.int64), length - 1)
        v = np.maximum(src, 0)[:, None]
        wt = np.ones((out_size, 1), np.float64)
    else:
        pos = (o + np.float32(0.5)) * scale - np.float32(0.5)
        low = np.floor(pos)
        lerp = (pos - low).astype(np.float64)
        lo_i = np.maximum(low.astype(np.int64), 0)
        hi_i = np.minimum(np.ceil(pos).astype(np.int64), length - 1)
        v = np.stack([lo_i, hi_i], axis=1)
        wt = np.stack([1.0 - lerp, lerp], axis=1)
    idx = start + v - pad
    idx = np.where((idx >= 0) & (idx < in_size), idx, -1)
    return idx.astype(np.int64), wt


def crop_taps(in_size, out_size, start):
    """Taps that copy ``out_size`` pixels from ``start`` on (a crop)."""
    idx = (start + np.arange(out_size, dtype=np.int64))[:, None]
    return idx, np.ones((out_size, 1), np.float64)


def transpose_taps(idx, wt, in_size):
    """The taps of the adjoint gather: input pixel a collects ``wt[o, p]`` from every output o with
    ``idx[o, p] == a`` (fill taps, index -1, carry no gradient). Returns (in_size, K') arrays, padded with
    weight 0."""
    rows, cols = np.nonzero((idx >= 0) & (wt != 0.0))
    src = idx[rows, cols]
    order = np.argsort(src, kind="stable")
    src, outs, weights = src[order], rows[order], wt[rows, cols][order]
    counts = np.bincount(src, minlength=in_size)
    k = max(1, int(counts.max()) if counts.size else 1)
    t_idx = np.zeros((in_size, k), np.int64)
    t_wt = np.zeros((in_size, k), np.float64)
    slot = np.arange(src.size) - np.repeat(np.cumsum(counts) - counts, counts)
    t_idx[src, slot] = outs
    t_wt[src, slot] = weights
    return t_idx, t_wt


def aspect_crop_box(height, width, target_height, target_width):
    """The largest centred box with the target's aspect ratio: (h_start, w_start, crop_h, crop_w), as
    Keras's ``crop_to_aspect_ratio``/``smart_resize`` compute it."""
    crop_h = max(min(height, int(float(width * target_height) / target_width)), 1)
    crop_w = max(min(width, int(float(height * target_width) / target_height)), 1)
    return int(float(height - crop_h) / 2), int(float(width - crop_w) / 2), crop_h, crop_w


def aspect_pad_box(height, width, target_height, target_width):
    """Keras's ``pad_to_aspect_ratio``: (canvas_h, canvas_w, top, left). Keras pads ``top`` rows above and
    below (and ``left`` columns on each side), so the canvas is the image plus twice the offsets."""
    pad_h = max(height, int(float(width * target_height) / target_width))
    pad_w = max(width, int(float(height * target_width) / target_height))
    top, left = int(float(pad_h - height) / 2), int(float(pad_w - width) / 2)
    return height + 2 * top, width + 2 * left, top, left


class _Resampler:
    """Separable taps for one (input H, W) -> output, moved to the device once, with their adjoints."""

    def __init__(self, h_taps, w_taps, in_h, in_w, fill_value=0.0):
        k = ops()
        self.fill_value = float(fill_value)
        with k.persistent():  # kept across steps: not buffers of a step's memory plan
            self.forward_taps = tuple(k.to_device(a) for a in (*h_taps, *w_taps))
            self.backward_taps = tuple(k.to_device(a) for a in (*transpose_taps(*h_taps, in_h),
                                                               *transpose_taps(*w_taps, in_w)))

    def forward(self, x):
        return ops().resample(x, *self.forward_taps, self.fill_value)

    def backward(self, grad):
        return ops().resample(grad, *self.backward_taps, 0.0)


class _ImageLayer(Layer):
    """Shared bookkeeping: rank-4 images, the data format, the seed, the training default."""

    _random = False  # Random* layers: active only in training, and called directly they default to it

    def __init__(self, data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _standardize_data_format(data_format)
        self.seed = seed
        self._generator = None if seed is None else np.random.default_rng(seed)

    def __call__(self, inputs, training=None, **kwargs):
        if training is None:
            training = self._random  # Keras's BaseImagePreprocessingLayer.call(data, training=True)
        return super().__call__(inputs, training=training, **kwargs)

    def _rng(self):
        return self._generator if self._generator is not None else backend.rng()

    def _hw(self, shape):
        if len(shape) != 4:
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}) expected a batch of images, '
                             f"(batch, height, width, channels), received input shape {format_shape(shape)}")
        return (shape[2], shape[3]) if self.data_format == "channels_first" else (shape[1], shape[2])

    def _with_hw(self, shape, height, width):
        shape = list(shape)
        if self.data_format == "channels_first":
            shape[2], shape[3] = height, width
        else:
            shape[1], shape[2] = height, width
        return tuple(shape)

    def _to_nhwc(self, x):
        return ops().contiguous(ops().moveaxis(x, 1, -1)) if self.data_format == "channels_first" else x

    def _from_nhwc(self, x):
        return ops().contiguous(ops().moveaxis(x, -1, 1)) if self.data_format == "channels_first" else x

    def compute_output_shape(self, input_shape):
        self._hw(tuple(input_shape))
        return tuple(input_shape)

    def _no_gradient(self):
        if not self.input_grad_needed:
            return None
        raise ValueError(f'Layer "{self.name}" ({type(self).__name__}) passes no gradient to its input: '
                         "numbacnn computes augmentations at the front of a model, where no trainable weight "
                         "lies upstream. Move it before the first layer with weights.")

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


# ----- always-on layers -------------------------------------------------------------------------------
class Rescaling(Layer):
    """``x * scale + offset`` (scale and offset scalars or per-channel sequences), e.g.
    ``Rescaling(1. / 255)``."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.offset = offset
        self._params = None

    def _coefficients(self, shape):
        size = shape[-1]
        try:
            a = np.broadcast_to(np.asarray(self.scale, dtype=np.float64), (size,))
            b = np.broadcast_to(np.asarray(self.offset, dtype=np.float64), (size,))
        except ValueError:
            raise ValueError(f'Layer "{self.name}" (Rescaling): scale {self.scale!r} and offset '
                             f"{self.offset!r} must be scalars or have {size} values (the last axis of "
                             f"input shape {format_shape(shape)})") from None
        return a, b

    def compute_output_shape(self, input_shape):
        self._coefficients(tuple(input_shape))
        return tuple(input_shape)

    def forward(self, x, training=False):
        k = ops()
        shape = tuple(x.shape)
        key = (shape[-1], x.dtype)
        if self._params is None or self._params[0] != key:
            a, b = self._coefficients(shape)
            with k.persistent():  # kept across steps: not buffers of a step's memory plan
                self._params = (key, k.to_device(a.astype(x.dtype)), k.to_device(b.astype(x.dtype)),
                                k.to_device(np.zeros(a.shape, x.dtype)))
        _, a, b, zero = self._params
        if training:
            self._cache = (a, zero)
        return k.channel_map(x, a, b, k.MAP_SCALE_SHIFT)

    def backward(self, grad):
        if not self.input_grad_needed:
            return None
        a, zero = self._cache
        k = ops()
        return k.channel_map(k.contiguous(grad), a, zero, k.MAP_SCALE_SHIFT)

    def get_config(self):
        def plain(v):
            return np.asarray(v).tolist() if isinstance(v, np.ndarray) else v
        return {**super().get_config(), "scale": plain(self.scale), "offset": plain(self.offset)}


class Normalization(Layer):
    """``(x - mean) / max(sqrt(variance), epsilon)`` per feature of ``axis`` (``invert=True``:
    ``mean + x * max(sqrt(variance), epsilon)``). ``mean``/``variance`` given, or learnt by ``adapt(data)``,
    in which case they are the non-trainable weights mean, variance and count, as Keras has them."""

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, (int, np.integer)):
            axis = (int(axis),)
        else:
            axis = tuple(int(a) for a in axis)
        self.axis = axis
        self.input_mean = mean
        self.input_variance = variance
        self.invert = bool(invert)
        if (mean is not None) != (variance is not None):
            raise ValueError("When setting values directly, both `mean` and `variance` must be set. "
                             f"Received: mean={mean} and variance={variance}")
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError("When setting values directly, `mean` and `variance` must have the same "
                                 f"shape. Received: mean shape {np.shape(mean)} and variance shape "
                                 f"{np.shape(variance)}")
            if len(np.shape(mean)) > len(self.axis):
                raise ValueError("The rank of `mean` must be less than or equal to the number of axes "
                                 f"({len(self.axis)}). Received: mean shape {np.shape(mean)} for axis "
                                 f"{self.axis}")
        self.adapt_mean = self.adapt_variance = self.count = None
        self._params = None

    def _keep_axes(self, shape):
        ndim = len(shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(f'Layer "{self.name}" (Normalization): all `axis` values must be in the range '
                             f"[-ndim, ndim). Received inputs with ndim={ndim}, while axis={self.axis}")
        keep = tuple(sorted(a % ndim for a in self.axis))
        for d in keep:
            if shape[d] is None:
                raise ValueError(f'Layer "{self.name}" (Normalization): all `axis` values to be kept must '
                                 f"have a known shape. Received axis={self.axis}, input shape "
                                 f"{format_shape(shape)}")
        return keep

    def compute_output_shape(self, input_shape):
        self._keep_axes(tuple(input_shape))
        return tuple(input_shape)

    def build(self, input_shape):
        keep = self._keep_axes(input_shape)
        self._keep = keep
        self._stats_shape = tuple(input_shape[d] for d in keep)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight("mean", self._stats_shape, "zeros", trainable=False)
            self.adapt_variance = self.add_weight("variance", self._stats_shape, "ones", trainable=False)
            self.count = self.add_weight("count", (), "zeros", trainable=False)

    def _broadcast_shape(self, ndim, shape):
        return [shape[d] if d in self._keep else 1 for d in range(ndim)]

    def adapt(self, data):
        """Set mean and variance from ``data``: an array, or an iterable of batches (combined as Keras)."""
        if isinstance(data, np.ndarray) or hasattr(data, "shape"):
            batches, first = None, np.asarray(data)
        else:
            batches = iter(data)
            first = next(batches, None)
            if first is None:
                raise ValueError("adapt() received an empty iterable (no batches). "
                                 "Expected at least one batch.")
            first = np.asarray(first[0] if isinstance(first, tuple) else first)
        if self.input_mean is not None:
            raise ValueError(f'Layer "{self.name}" (Normalization) was given mean and variance; adapt() '
                             "learns them only when they are not given")
        if not self.built:
            self.maybe_build(tuple(first.shape))
        reduce = tuple(d for d in range(first.ndim) if d not in self._keep)
        for d in self._keep:
            if d > 0 and first.shape[d] != self._build_input_shape[d]:
                raise ValueError(f"The layer was built with input_shape={self._build_input_shape}, but "
                                 "adapt() is being called with data with an incompatible shape, "
                                 f"data.shape={first.shape}")
        if batches is None:
            mean, var = np.mean(first, axis=reduce), np.var(first, axis=reduce)
        else:
            mean = np.zeros(self._stats_shape)
            var = np.zeros(self._stats_shape)
            total = 0
            for batch in [first] + [np.asarray(b[0] if isinstance(b, tuple) else b) for b in batches]:
                b_mean = np.mean(batch.astype(self.dtype), axis=reduce)
                b_var = np.var(batch.astype(self.dtype), axis=reduce)
                count = math.prod(batch.shape[d] for d in reduce) if reduce else 1
                total += count
                w_new = float(count) / total
                w_old = 1.0 - w_new
                new_mean = mean * w_old + b_mean * w_new
                var = (var + (mean - new_mean) ** 2) * w_old + (b_var + (b_mean - new_mean) ** 2) * w_new
                mean = new_mean
        self.adapt_mean.assign(np.asarray(mean, dtype=self.dtype).reshape(self.adapt_mean.shape))
        self.adapt_variance.assign(np.asarray(var, dtype=self.dtype).reshape(self.adapt_variance.shape))
        self._params = None

    def _coefficients(self, shape, dtype):
        """Host arrays (mean, denominator) of ``dtype`` over shape[first kept axis:], flattened: the kernel
        sees x as (M, K) rows of that many values."""
        ndim = len(shape)
        bshape = tuple(self._broadcast_shape(ndim, shape))
        if self.input_mean is not None:
            mean = np.asarray(self.input_mean, dtype=np.float64)
            var = np.asarray(self.input_variance, dtype=np.float64)
            if mean.ndim > 0:
                expanded = [1] * ndim
                for i in range(1, mean.ndim + 1):
                    expanded[self._keep[-i]] = mean.shape[-i]
                mean, var = mean.reshape(expanded), var.reshape(expanded)
            mean, var = np.broadcast_to(mean, bshape), np.broadcast_to(var, bshape)
        else:
            mean = self.adapt_mean.numpy().reshape(bshape)
            var = self.adapt_variance.numpy().reshape(bshape)
        mean = mean.astype(dtype)
        denom = np.maximum(np.sqrt(var.astype(dtype)), dtype.type(backend.epsilon()))
        first = self._first_kept(ndim)
        tail = tuple(shape[first:])
        mean = np.broadcast_to(mean.reshape(bshape[first:]), tail).reshape(-1)
        denom = np.broadcast_to(denom.reshape(bshape[first:]), tail).reshape(-1)
        return np.ascontiguousarray(mean, dtype), np.ascontiguousarray(denom, dtype)

    def _first_kept(self, ndim):
        return self._keep[0] if self._keep else ndim

    def forward(self, x, training=False):
        k = ops()
        key = (tuple(x.shape)[self._first_kept(x.ndim):], x.dtype)
        if self._params is None or self._params[0] != key:
            mean, denom = self._coefficients(tuple(x.shape), np.dtype(x.dtype))
            with k.persistent():  # kept across steps: not buffers of a step's memory plan
                self._params = (key, k.to_device(mean), k.to_device(denom), k.to_device(np.zeros_like(mean)))
        _, mean, denom, zero = self._params
        if training:
            self._cache = (denom, zero)
        if self.invert:
            return k.channel_map(x, mean, denom, k.MAP_ADD_MULTIPLY)
        return k.channel_map(x, mean, denom, k.MAP_SUBTRACT_DIVIDE)

    def backward(self, grad):
        if not self.input_grad_needed:
            return None
        denom, zero = self._cache
        k = ops()
        mode = k.MAP_ADD_MULTIPLY if self.invert else k.MAP_SUBTRACT_DIVIDE
        return k.channel_map(k.contiguous(grad), zero, denom, mode)

    def set_weights(self, weights):
        super().set_weights(weights)
        self._params = None

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "invert": self.invert,
                "mean": np.array(self.input_mean).tolist(),
                "variance": np.array(self.input_variance).tolist()}


class Resizing(_ImageLayer):
    """Resize images to (height, width): bilinear or nearest, as ``tf.image.resize``; optionally the
    largest centred crop (``crop_to_aspect_ratio``) or a padding with ``fill_value``
    (``pad_to_aspect_ratio``) of the target's aspect ratio first."""

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, antialias=False,
                 data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height = int(height)
        self.width = int(width)
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f'Layer "{self.name}" (Resizing): numbacnn resizes with interpolation '
                             f'"bilinear" or "nearest", received interpolation={interpolation!r}')
        if fill_mode != "constant":
            raise ValueError("Invalid value for argument `fill_mode`. Only `'constant'` is supported. "
                             f"Received: fill_mode={fill_mode}")
        if pad_to_aspect_ratio and crop_to_aspect_ratio:
            raise ValueError("Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be `True`.")
        if antialias:
            raise ValueError(f'Layer "{self.name}" (Resizing): numbacnn resizes without antialiasing '
                             "(antialias=False, Keras's default)")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.antialias = False
        self._resamplers = {}

    def compute_output_shape(self, input_shape):
        self._hw(tuple(input_shape))
        return self._with_hw(input_shape, self.height, self.width)

    def _resampler(self, h, w):
        key = (h, w, backend.get_device())
        if key not in self._resamplers:
            th, tw = self.height, self.width
            if self.crop_to_aspect_ratio:
                hs, ws, ch, cw = aspect_crop_box(h, w, th, tw)
                taps = (axis_taps(h, th, self.interpolation, start=hs, length=ch),
                        axis_taps(w, tw, self.interpolation, start=ws, length=cw))
            elif self.pad_to_aspect_ratio:
                ph, pw, top, left = aspect_pad_box(h, w, th, tw)
                taps = (axis_taps(h, th, self.interpolation, length=ph, pad=top),
                        axis_taps(w, tw, self.interpolation, length=pw, pad=left))
            else:
                taps = (axis_taps(h, th, self.interpolation), axis_taps(w, tw, self.interpolation))
            self._resamplers[key] = _Resampler(*taps, h, w, self.fill_value)
        return self._resamplers[key]

    def forward(self, x, training=False):
        x = self._to_nhwc(x)
        r = self._resampler(x.shape[1], x.shape[2])
        if training:
            self._cache = r
        return self._from_nhwc(r.forward(x))

    def backward(self, grad):
        if not self.input_grad_needed:
            return None
        return self._from_nhwc(self._cache.backward(self._to_nhwc(ops().contiguous(grad))))

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias}


def _center_crop_or_resize(layer, h, w, th, tw):
    """CenterCrop's rule: the centred (th, tw) window when it fits, else Keras's smart_resize (the largest
    centred box of the target's aspect ratio, resized bilinearly)."""
    if h >= th and w >= tw:
        return crop_taps(h, th, (h - th) // 2), crop_taps(w, tw, (w - tw) // 2)
    hs, ws, ch, cw = aspect_crop_box(h, w, th, tw)
    return (axis_taps(h, th, "bilinear", start=hs, length=ch),
            axis_taps(w, tw, "bilinear", start=ws, length=cw))


class CenterCrop(_ImageLayer):
    """The centred (height, width) window of each image (resized up first where the image is smaller)."""

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height = int(height)
        self.width = int(width)
        self._resamplers = {}

    def compute_output_shape(self, input_shape):
        self._hw(tuple(input_shape))
        return self._with_hw(input_shape, self.height, self.width)

    def forward(self, x, training=False):
        x = self._to_nhwc(x)
        h, w = x.shape[1], x.shape[2]
        key = (h, w, backend.get_device())
        if key not in self._resamplers:
            taps = _center_crop_or_resize(self, h, w, self.height, self.width)
            self._resamplers[key] = _Resampler(*taps, h, w)
        r = self._resamplers[key]
        if training:
            self._cache = r
        return self._from_nhwc(r.forward(x))

    def backward(self, grad):
        if not self.input_grad_needed:
            return None
        return self._from_nhwc(self._cache.backward(self._to_nhwc(ops().contiguous(grad))))

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


# ----- random augmentations ---------------------------------------------------------------------------
def _factor_pair(factor, bounds, name, layer):
    """Keras's BaseImagePreprocessingLayer._set_factor: a number f gives (max(-|f|, lower bound), |f|), a
    pair is sorted."""
    msg = (f"The `{name}` argument should be a number (or a list of two numbers) in the range "
           f"[{bounds[0]}, {bounds[1]}]. Received: {name}={factor}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or factor[0] > bounds[1] or factor[1] < bounds[0]:
            raise ValueError(msg)
        return tuple(sorted(float(f) for f in factor))
    if isinstance(factor, (int, float, np.floating)) and not isinstance(factor, bool):
        if factor < bounds[0] or factor > bounds[1]:
            raise ValueError(msg)
        return (float(max(-abs(float(factor)), bounds[0])), abs(float(factor)))
    raise ValueError(msg)


def _range_pair(factor, name, allow_minus_one=True):
    """RandomTranslation/RandomZoom's factors: a number f gives (-|f|, |f|); every value in [-1, 1]
    (RandomZoom: (-1, 1])."""
    lo_ok = (lambda v: v >= -1.0) if allow_minus_one else (lambda v: v > -1.0)
    msg = (f"The `{name}` argument should be a number (or a list of two numbers) in the range "
           f"{'[' if allow_minus_one else '('}-1.0, 1.0]. Received: {name}={factor}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(lo_ok(f) and f <= 1.0 for f in factor):
            raise ValueError(msg)
        return tuple(sorted(float(f) for f in factor))
    if isinstance(factor, (int, float, np.floating)) and not isinstance(factor, bool):
        if not (lo_ok(factor) and factor <= 1.0):
            raise ValueError(msg)
        return (-abs(float(factor)), abs(float(factor)))
    raise ValueError(msg)


class RandomFlip(_ImageLayer):
    """In training, flips each image with probability 1/2: left-right ("horizontal"), upside down
    ("vertical"), or both at once ("horizontal_and_vertical", one draw per image, as Keras)."""

    _random = True

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        if mode not in ("horizontal", "vertical", "horizontal_and_vertical"):
            raise ValueError(f'Layer "{self.name}" (RandomFlip): mode must be "horizontal", "vertical" or '
                             f'"horizontal_and_vertical", received mode={mode!r}')
        self.mode = mode

    def _flip(self, x, flips):
        return ops().flip_images(x, flips, self.mode != "vertical", self.mode != "horizontal")

    def forward(self, x, training=False):
        if not training:
            self._cache = None
            return x
        flips = (self._rng().random(x.shape[0]) <= 0.5).astype(np.int64)
        flips = ops().to_device(flips)
        self._cache = flips
        return self._from_nhwc(self._flip(self._to_nhwc(x), flips))

    def backward(self, grad):
        if not self.input_grad_needed:
            return None
        if self._cache is None:
            return grad
        return self._from_nhwc(self._flip(self._to_nhwc(ops().contiguous(grad)), self._cache))

    def get_config(self):
        return {**super().get_config(), "seed": self.seed, "mode": self.mode}


class _AffineAugmentation(_ImageLayer):
    """A random affine warp per image (TensorFlow's projective transform) with Keras's fill modes."""

    _random = True

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        if fill_mode not in _FILL_MODES:
            raise NotImplementedError(f"Unknown `fill_mode` {fill_mode}. Expected of one {_FILL_MODES}.")
        if interpolation not in _INTERPOLATIONS:
            raise NotImplementedError(f"Unknown `interpolation` {interpolation}. Expected of one "
                                      f"{_INTERPOLATIONS}.")
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = fill_value

    def transforms(self, n, height, width):
        """(n, 8) float32 transforms, one per image (drawn from the generator)."""
        raise NotImplementedError

    def forward(self, x, training=False):
        self._cache = None
        if not training:
            return x
        x = self._to_nhwc(x)
        t = self.transforms(x.shape[0], x.shape[1], x.shape[2])
        k = ops()
        y = k.affine_transform(x, k.to_device(t), _interp_code(self.interpolation),
                               _fill_code(self.fill_mode), float(self.fill_value))
        self._cache = True
        return self._from_nhwc(y)

    def backward(self, grad):
        return grad if self._cache is None else self._no_gradient()


class RandomRotation(_AffineAugmentation):
    """In training, rotates each image by an angle drawn in ``factor * 360`` degrees (counter-clockwise
    for positive values) about its centre."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed, fill_value=fill_value,
                         data_format=data_format, **kwargs)
        self.factor = _factor_pair(factor, (-1, 1), "factor", self)

    @staticmethod
    def rotation_matrices(angles_deg, height, width):
        """Keras's _compute_affine_matrix for pure rotations about the centre, in float32."""
        f32 = np.float32
        angle = np.asarray(angles_deg, f32) * f32(math.pi / 180.0)
        cx = f32(0.5) * (f32(width) - f32(1))
        cy = f32(0.5) * (f32(height) - f32(1))
        cos, sin = np.cos(angle), np.sin(angle)
        zero = np.zeros_like(angle)
        a0, a1 = cos, -sin
        a2 = cx - cx * a0 - cy * a1
        b0, b1 = sin, cos
        b2 = cy - cx * b0 - cy * b1
        return np.stack([a0, a1, a2, b0, b1, b2, zero, zero], axis=1).astype(f32)

    def transforms(self, n, height, width):
        angles = self._rng().uniform(self.factor[0] * 360.0, self.factor[1] * 360.0, n)
        return self.rotation_matrices(angles, height, width)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "interpolation": self.interpolation, "seed": self.seed}


class RandomTranslation(_AffineAugmentation):
    """In training, shifts each image by fractions of its height and width drawn in the factors' ranges."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed, fill_value=fill_value,
                         data_format=data_format, **kwargs)
        self.height_factor = height_factor
        self.width_factor = width_factor
        self.height_lower, self.height_upper = _range_pair(height_factor, "height_factor")
        self.width_lower, self.width_upper = _range_pair(width_factor, "width_factor")

    @staticmethod
    def translation_matrices(dx, dy):
        """Keras's _get_translation_matrix: output pixel (x, y) reads (x - dx, y - dy)."""
        dx, dy = np.asarray(dx, np.float32), np.asarray(dy, np.float32)
        one, zero = np.ones_like(dx), np.zeros_like(dx)
        return np.stack([one, zero, -dx, zero, one, -dy, zero, zero], axis=1).astype(np.float32)

    def transforms(self, n, height, width):
        gen = self._rng()
        dy = (gen.uniform(self.height_lower, self.height_upper, n).astype(np.float32) * np.float32(height))
        dx = (gen.uniform(self.width_lower, self.width_upper, n).astype(np.float32) * np.float32(width))
        return self.translation_matrices(dx, dy)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor, "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "seed": self.seed,
                "fill_value": self.fill_value}


class RandomZoom(_AffineAugmentation):
    """In training, zooms each image about its centre: a factor drawn in ``1 + height_factor`` (and
    ``1 + width_factor``, or the same draw when it is None); negative factors zoom in."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear",
                 seed=None, fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed, fill_value=fill_value,
                         data_format=data_format, **kwargs)
        self.height_factor = height_factor
        self.width_factor = width_factor
        self.height_lower, self.height_upper = _range_pair(height_factor, "height_factor", False)
        if width_factor is not None:
            self.width_lower, self.width_upper = _range_pair(width_factor, "width_factor", False)

    @staticmethod
    def zoom_matrices(width_zoom, height_zoom, height, width):
        """Keras's _get_zoom_matrix: scales about the centre ((size - 1) / 2)."""
        f32 = np.float32
        zx, zy = np.asarray(width_zoom, f32), np.asarray(height_zoom, f32)
        x_off = (f32(width) - f32(1.0)) / f32(2.0) * (f32(1.0) - zx)
        y_off = (f32(height) - f32(1.0)) / f32(2.0) * (f32(1.0) - zy)
        zero = np.zeros_like(zx)
        return np.stack([zx, zero, x_off, zero, zy, y_off, zero, zero], axis=1).astype(f32)

    def transforms(self, n, height, width):
        gen = self._rng()
        hz = gen.uniform(1.0 + self.height_lower, 1.0 + self.height_upper, n)
        wz = hz
        if self.width_factor is not None:
            wz = gen.uniform(1.0 + self.width_lower, 1.0 + self.width_upper, n)
        return self.zoom_matrices(wz, hz, height, width)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor, "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "seed": self.seed,
                "fill_value": self.fill_value}


class RandomCrop(_ImageLayer):
    """In training, a random (height, width) window, one offset per batch (as Keras draws it); at inference,
    and in training when the image is not larger than the target in both dimensions, the largest centred
    box of the target's aspect ratio resized to (height, width).

    Keras 3.15 returns the input unchanged at inference, which contradicts its own output shape; numbacnn
    returns the centred crop that the shape and Keras's documentation promise.
    """

    _random = True

    def __init__(self, height, width, seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self.height = int(height)
        self.width = int(width)
        self._resamplers = {}

    def compute_output_shape(self, input_shape):
        self._hw(tuple(input_shape))
        return self._with_hw(input_shape, self.height, self.width)

    def _resampler(self, key, make):
        key = key + (backend.get_device(),)
        if key not in self._resamplers:
            self._resamplers[key] = make()
        return self._resamplers[key]

    def forward(self, x, training=False):
        x = self._to_nhwc(x)
        h, w = x.shape[1], x.shape[2]
        th, tw = self.height, self.width
        if training and h > th and w > tw:
            gen = self._rng()
            hs = int(gen.uniform(0, float(h - th + 1)))
            ws = int(gen.uniform(0, float(w - tw + 1)))
            r = self._resampler((h, w, hs, ws),
                                lambda: _Resampler(crop_taps(h, th, hs), crop_taps(w, tw, ws), h, w))
        else:
            def make():
                hs, ws, ch, cw = aspect_crop_box(h, w, th, tw)
                if (ch, cw) == (th, tw):
                    return _Resampler(crop_taps(h, th, hs), crop_taps(w, tw, ws), h, w)
                return _Resampler(axis_taps(h, th, "bilinear", start=hs, length=ch),
                                  axis_taps(w, tw, "bilinear", start=ws, length=cw), h, w)
            r = self._resampler((h, w), make)
        if training:
            self._cache = r
        return self._from_nhwc(r.forward(x))

    def backward(self, grad):
        if not self.input_grad_needed:
            return None
        return self._from_nhwc(self._cache.backward(self._to_nhwc(ops().contiguous(grad))))

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width, "seed": self.seed}


class RandomContrast(_ImageLayer):
    """In training, ``clip((x - mean) * f + mean, *value_range)`` per image and channel, f drawn in
    ``[1 - factor[0], 1 + factor[1]]`` per image (Keras 3's rule: a number ``factor`` gives
    ``(0, factor)``, so f in [1, 1 + factor])."""

    _random = True

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = _factor_pair(factor, (0, 1), "factor", self)
        if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
            raise ValueError("The `value_range` argument should be a list of two numbers. "
                             f"Received: value_range={value_range}")
        self.value_range = tuple(value_range)  # a JSON round trip gives a list; the config stays the same

    def forward(self, x, training=False):
        self._cache = None
        if not training:
            return x
        x = self._to_nhwc(x)
        f = self._rng().uniform(1.0 - self.factor[0], 1.0 + self.factor[1], x.shape[0]).astype(x.dtype)
        k = ops()
        self._cache = True
        return self._from_nhwc(k.adjust_contrast(x, k.to_device(f), self.value_range[0], self.value_range[1]))

    def backward(self, grad):
        return grad if self._cache is None else self._no_gradient()

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range,
                "seed": self.seed}


class RandomBrightness(_ImageLayer):
    """In training, adds ``delta * (value_range[1] - value_range[0])`` to each image, delta drawn in the
    factor's range per image, and clips to ``value_range``."""

    _random = True

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = _factor_pair(factor, (-1, 1), "factor", self)
        if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
            raise ValueError("The `value_range` argument should be a list of two numbers. "
                             f"Received: value_range={value_range}")
        self.value_range = sorted(value_range)

    def forward(self, x, training=False):
        self._cache = None
        if not training:
            return x
        lo, hi = self.value_range
        delta = self._rng().uniform(self.factor[0], self.factor[1], x.shape[0]) * (hi - lo)
        k = ops()
        self._cache = True
        return k.adjust_brightness(x, k.to_device(delta.astype(x.dtype)), lo, hi)

    def backward(self, grad):
        return grad if self._cache is None else self._no_gradient()

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range,
                "seed": self.seed}
