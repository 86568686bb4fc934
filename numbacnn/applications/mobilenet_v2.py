"""MobileNetV2 (Sandler et al., 2018) as ``keras.applications.MobileNetV2`` builds it: the same layers,
names, arguments and weight order, so that a Keras-saved weights file loads into it.

A 3x3 convolution with stride 2, 17 inverted residual blocks (a 1x1 expansion, Conv2D -> BatchNormalization
-> ReLU(6), except in the first; a 3x3 DepthwiseConv2D -> BatchNormalization -> ReLU(6); a linear 1x1
projection -> BatchNormalization; an ``Add`` with the block's input where the shapes agree), a 1x1
convolution to 1280 channels, and global average pooling with a Dense classifier.
"""

from ..layers import (
    Add,
    BatchNormalization,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    ReLU,
    ZeroPadding2D,
)
from ..models import Model
from .mobilenet import _input_tensor

__all__ = ["MobileNetV2"]

# (filters at alpha = 1, stride, expansion) of the 17 inverted residual blocks
_BLOCKS = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6),
           (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6),
           (320, 1, 6))


def _make_divisible(v, divisor=8):
    """Keras's rounding of a channel count to a multiple of ``divisor`` (never 10% below ``v``)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _correct_pad(shape):
    """Keras's ``imagenet_utils.correct_pad`` for a 3x3 kernel with stride 2: one cell after an even (or
    unknown) size, one on each side of an odd one."""
    adjust = [1 if s is None else 1 - s % 2 for s in shape[1:3]]
    return ((1 - adjust[0], 1), (1 - adjust[1], 1))


def _batchnorm(x, name):
    return BatchNormalization(epsilon=1e-3, momentum=0.999, name=name)(x)


def _inverted_res_block(inputs, expansion, stride, alpha, filters, block_id):
    in_channels = inputs.shape[-1]
    pointwise_filters = _make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_"
    if block_id:
        x = Conv2D(expansion * in_channels, kernel_size=1, padding="same", use_bias=False, activation=None,
                   name=f"{prefix}expand")(x)
        x = _batchnorm(x, f"{prefix}expand_BN")
        x = ReLU(6.0, name=f"{prefix}expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = ZeroPadding2D(padding=_correct_pad(x.shape), name=f"{prefix}pad")(x)
    x = DepthwiseConv2D(kernel_size=3, strides=stride, activation=None, use_bias=False,
                        padding="same" if stride == 1 else "valid", name=f"{prefix}depthwise")(x)
    x = _batchnorm(x, f"{prefix}depthwise_BN")
    x = ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = Conv2D(pointwise_filters, kernel_size=1, padding="same", use_bias=False, activation=None,
               name=f"{prefix}project")(x)
    x = _batchnorm(x, f"{prefix}project_BN")
    if in_channels == pointwise_filters and stride == 1:
        return Add(name=f"{prefix}add")([inputs, x])
    return x


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights=None, input_tensor=None, pooling=None,
                classes=1000, classifier_activation="softmax", name=None):
    """``keras.applications.MobileNetV2`` as a functional model (input (rows, cols, 3), channels last).

    alpha scales the blocks' filters (rounded to multiples of 8); ``include_top`` adds global average
    pooling and a Dense classifier ``predictions`` with ``classes`` units; without it, ``pooling`` None,
    "avg" or "max" ends the model. ``weights``: None or the path of a weights file saved by Keras or
    numbacnn for the same arguments; numbacnn does not download ImageNet's weights (download Keras's file
    yourself and pass its path).
    """
    img_input, rows = _input_tensor("MobileNetV2", input_shape, include_top, weights, input_tensor, pooling)
    x = Conv2D(_make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2), padding="same", use_bias=False,
               name="Conv1")(img_input)
    x = _batchnorm(x, "bn_Conv1")
    x = ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(_BLOCKS):
        x = _inverted_res_block(x, filters=filters, alpha=alpha, stride=stride, expansion=expansion,
                                block_id=block_id)
    last_block_filters = _make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = Conv2D(last_block_filters, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = _batchnorm(x, "Conv_1_bn")
    x = ReLU(6.0, name="out_relu")(x)
    if include_top:
        x = GlobalAveragePooling2D()(x)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = GlobalMaxPooling2D()(x)
    model = Model(img_input, x, name=name if name is not None else f"mobilenetv2_{alpha:0.2f}_{rows}")
    if weights is not None:
        model.load_weights(weights)
    return model
