"""EfficientNet B0-B3 (Tan and Le, 2019) as ``keras.applications.EfficientNetB0..B3`` build them: the same
layers, names, arguments, layer order and weight order, so that a file of weights saved by Keras loads.

The input (pixels in [0, 255]) is rescaled by 1/255 and normalized by a ``Normalization`` layer (its mean,
variance and count are non-trainable weights, as in Keras; a fresh model has mean 0 and variance 1), then a
3x3 stride-2 stem, 7 stages of MBConv blocks (a 1x1 expansion, a depthwise convolution, squeeze-and-
excitation, a linear 1x1 projection and, where the shapes agree, a residual ``add`` after a per-sample
``Dropout(noise_shape=(None, 1, 1, 1))`` of a rate growing with depth), a 1x1 convolution to 1280 (scaled)
channels and the classifier. ``width_coefficient`` scales the channels (rounded to multiples of 8),
``depth_coefficient`` the number of blocks per stage.
"""

import math

from ..layers import (
    Activation,
    BatchNormalization,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Dropout,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    Normalization,
    Rescaling,
    Reshape,
    ZeroPadding2D,
    add,
    multiply,
)
from ..models import Model
from .imagenet import _check_weights, _input

__all__ = ["EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3"]

# (kernel size, repeats, filters in, filters out, expansion, strides) of the 7 stages at width 1, depth 1;
# every block has squeeze-and-excitation with ratio 0.25 and an identity skip where the shapes agree
_STAGES = ((3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2), (3, 3, 40, 80, 6, 2),
           (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2), (3, 1, 192, 320, 6, 1))
_SE_RATIO = 0.25


def _correct_pad(shape, kernel_size):
    """Keras's ``imagenet_utils.correct_pad``: the zero padding before a stride-2 'valid' convolution of
    ``kernel_size`` that centres the kernels as 'same' would (one cell less before an even size)."""
    half = kernel_size // 2
    adjust = [1 if s is None else 1 - s % 2 for s in shape[1:3]]
    return ((half - adjust[0], half), (half - adjust[1], half))


def _round_filters(filters, width_coefficient, divisor=8):
    filters *= width_coefficient
    rounded = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * filters else rounded)


def _mbconv(inputs, activation, drop_rate, name, filters_in, filters_out, kernel_size, strides, expansion):
    """One MBConv block, Keras's ``efficientnet.block`` with its layer names (``{name}expand_conv``, ...)."""
    filters = filters_in * expansion
    x = inputs
    if expansion != 1:
        x = Conv2D(filters, 1, padding="same", use_bias=False, name=f"{name}expand_conv")(x)
        x = BatchNormalization(axis=3, name=f"{name}expand_bn")(x)
        x = Activation(activation, name=f"{name}expand_activation")(x)
    if strides == 2:
        x = ZeroPadding2D(_correct_pad(x.shape, kernel_size), name=f"{name}dwconv_pad")(x)
    x = DepthwiseConv2D(kernel_size, strides=strides, padding="valid" if strides == 2 else "same",
                        use_bias=False, name=f"{name}dwconv")(x)
    x = BatchNormalization(axis=3, name=f"{name}bn")(x)
    x = Activation(activation, name=f"{name}activation")(x)
    se = GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
    se = Reshape((1, 1, filters), name=f"{name}se_reshape")(se)
    se = Conv2D(max(1, int(filters_in * _SE_RATIO)), 1, padding="same", activation=activation,
                name=f"{name}se_reduce")(se)
    se = Conv2D(filters, 1, padding="same", activation="sigmoid", name=f"{name}se_expand")(se)
    x = multiply([x, se], name=f"{name}se_excite")
    x = Conv2D(filters_out, 1, padding="same", use_bias=False, name=f"{name}project_conv")(x)
    x = BatchNormalization(axis=3, name=f"{name}project_bn")(x)
    if strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = add([x, inputs], name=f"{name}add")
    return x


def _efficientnet(width_coefficient, depth_coefficient, default_size, dropout_rate, name, include_top,
                  weights, input_tensor, input_shape, pooling, classes, classifier_activation,
                  drop_connect_rate=0.2, activation="swish"):
    _check_weights(weights)
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"{name}: pooling must be None, 'avg' or 'max', received pooling={pooling!r}")
    inputs = _input(input_tensor, input_shape, default_size=default_size)
    x = Rescaling(1.0 / 255.0)(inputs)
    x = Normalization(axis=3)(x)
    x = ZeroPadding2D(_correct_pad(x.shape, 3), name="stem_conv_pad")(x)
    x = Conv2D(_round_filters(32, width_coefficient), 3, strides=2, padding="valid", use_bias=False,
               name="stem_conv")(x)
    x = BatchNormalization(axis=3, name="stem_bn")(x)
    x = Activation(activation, name="stem_activation")(x)

    def repeats(count):
        return int(math.ceil(depth_coefficient * count))

    total = float(sum(repeats(stage[1]) for stage in _STAGES))
    b = 0
    for i, (kernel_size, count, filters_in, filters_out, expansion, strides) in enumerate(_STAGES):
        filters_in = _round_filters(filters_in, width_coefficient)
        filters_out = _round_filters(filters_out, width_coefficient)
        for j in range(repeats(count)):
            x = _mbconv(x, activation, drop_connect_rate * b / total, f"block{i + 1}{chr(j + 97)}_",
                        filters_in if j == 0 else filters_out, filters_out, kernel_size,
                        strides if j == 0 else 1, expansion)
            b += 1
    x = Conv2D(_round_filters(1280, width_coefficient), 1, padding="same", use_bias=False, name="top_conv")(x)
    x = BatchNormalization(axis=3, name="top_bn")(x)
    x = Activation(activation, name="top_activation")(x)
    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = Dropout(dropout_rate, name="top_dropout")(x)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = GlobalMaxPooling2D(name="max_pool")(x)
    model = Model(inputs, x, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


def _builder(width_coefficient, depth_coefficient, default_size, dropout_rate, default_name):
    def build(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
              classifier_activation="softmax", name=default_name):
        return _efficientnet(width_coefficient, depth_coefficient, default_size, dropout_rate, name,
                             include_top, weights, input_tensor, input_shape, pooling, classes,
                             classifier_activation)

    build.__name__ = build.__qualname__ = default_name.replace("efficientnetb", "EfficientNetB")
    build.__doc__ = (f"``keras.applications.{build.__name__}``: width x{width_coefficient}, depth "
                     f"x{depth_coefficient}, default input {default_size}x{default_size}x3 (pixels in "
                     f"[0, 255]), dropout {dropout_rate} before the classifier. ``weights``: None or the "
                     "path of a weights file saved by Keras or numbacnn for the same arguments.")
    return build


EfficientNetB0 = _builder(1.0, 1.0, 224, 0.2, "efficientnetb0")
EfficientNetB1 = _builder(1.0, 1.1, 240, 0.2, "efficientnetb1")
EfficientNetB2 = _builder(1.1, 1.2, 260, 0.3, "efficientnetb2")
EfficientNetB3 = _builder(1.2, 1.4, 300, 0.3, "efficientnetb3")
