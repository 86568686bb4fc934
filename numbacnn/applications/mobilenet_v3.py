"""MobileNetV3 Small and Large (Howard et al., 2019) as ``keras.applications.MobileNetV3Small/Large``
build them: the same layers, names, arguments, layer order and weight order, so that a Keras-saved weights
file loads.

The input (pixels in [0, 255]) is rescaled to [-1, 1] (``include_preprocessing``), then a 3x3 stride-2
convolution, inverted residual blocks (a 1x1 expansion, a depthwise convolution, optional squeeze-and-
excitation, a linear 1x1 projection, an ``Add`` with the block's input where the shapes agree) using relu or
hard_swish, a 1x1 convolution to 6x the last width, and the classifier: global average pooling (kept 4-D),
a 1x1 convolution to 1024/1280 channels, dropout, a 1x1 convolution to ``classes``, a flatten.
``minimalistic`` drops squeeze-and-excitation and hard_swish and uses 3x3 kernels throughout.

Keras writes hard_sigmoid as tensor arithmetic, ``ReLU(6.0)(x + 3.0) * (1.0 / 6.0)``; numbacnn builds
models from layers whose gradients it knows, so the shift and the scale are ``Rescaling`` layers (the same
float32 arithmetic, no weights): Keras's files load, their layer lists differ only there.
"""

from ..layers import (
    Activation,
    Add,
    BatchNormalization,
    Conv2D,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    Multiply,
    ReLU,
    Rescaling,
    ZeroPadding2D,
)
from ..models import Model
from .efficientnet import _correct_pad
from .imagenet import _check_weights, _input

__all__ = ["MobileNetV3Small", "MobileNetV3Large"]

# (expansion, filters at alpha = 1, kernel (None: the model's 5, or 3 when minimalistic), stride,
#  squeeze-and-excitation, hard_swish (else relu)) of each inverted residual block
_SMALL = ((1, 16, 3, 2, True, False), (72.0 / 16, 24, 3, 2, False, False), (88 / 24, 24, 3, 1, False, False),
          (4, 40, None, 2, True, True), (6, 40, None, 1, True, True), (6, 40, None, 1, True, True),
          (3, 48, None, 1, True, True), (3, 48, None, 1, True, True), (6, 96, None, 2, True, True),
          (6, 96, None, 1, True, True), (6, 96, None, 1, True, True))
_LARGE = ((1, 16, 3, 1, False, False), (4, 24, 3, 2, False, False), (3, 24, 3, 1, False, False),
          (3, 40, None, 2, True, False), (3, 40, None, 1, True, False), (3, 40, None, 1, True, False),
          (6, 80, 3, 2, False, True), (2.5, 80, 3, 1, False, True), (2.3, 80, 3, 1, False, True),
          (2.3, 80, 3, 1, False, True), (6, 112, 3, 1, True, True), (6, 112, 3, 1, True, True),
          (6, 160, None, 2, True, True), (6, 160, None, 1, True, True), (6, 160, None, 1, True, True))


def _depth(v, divisor=8):
    """Keras's ``mobilenet_v3._depth``: ``v`` rounded to a multiple of 8, never 10% below it."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _batchnorm(x, name):
    return BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)(x)


def _activation(x, hard_swish):
    return Activation("hard_swish")(x) if hard_swish else ReLU()(x)


def _hard_sigmoid(x):
    """relu6(x + 3) / 6 as Keras writes it: (x + 3.0), ReLU(6.0), times float32(1/6)."""
    x = Rescaling(1.0, offset=3.0)(x)
    return Rescaling(1.0 / 6.0)(ReLU(6.0)(x))


def _se_block(inputs, filters, se_ratio, prefix):
    x = GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(inputs)
    x = Conv2D(_depth(filters * se_ratio), 1, padding="same", name=f"{prefix}squeeze_excite_conv")(x)
    x = ReLU(name=f"{prefix}squeeze_excite_relu")(x)
    x = Conv2D(filters, 1, padding="same", name=f"{prefix}squeeze_excite_conv_1")(x)
    return Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, _hard_sigmoid(x)])


def _inverted_res_block(x, expansion, filters, kernel_size, stride, se_ratio, hard_swish, block_id):
    shortcut = x
    in_filters = x.shape[-1]
    prefix = "expanded_conv_"
    if block_id:
        prefix = f"expanded_conv_{block_id}_"
        x = Conv2D(_depth(in_filters * expansion), 1, padding="same", use_bias=False,
                   name=f"{prefix}expand")(x)
        x = _activation(_batchnorm(x, f"{prefix}expand_bn"), hard_swish)
    if stride == 2:
        x = ZeroPadding2D(_correct_pad(x.shape, kernel_size), name=f"{prefix}depthwise_pad")(x)
    x = DepthwiseConv2D(kernel_size, strides=stride, padding="same" if stride == 1 else "valid",
                        use_bias=False, name=f"{prefix}depthwise")(x)
    x = _activation(_batchnorm(x, f"{prefix}depthwise_bn"), hard_swish)
    if se_ratio:
        x = _se_block(x, _depth(in_filters * expansion), se_ratio, prefix)
    x = Conv2D(filters, 1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = _batchnorm(x, f"{prefix}project_bn")
    if stride == 1 and in_filters == filters:
        x = Add(name=f"{prefix}add")([shortcut, x])
    return x


def _mobilenet_v3(blocks, last_point_ch, model, input_shape, alpha, minimalistic, include_top, weights,
                  input_tensor, classes, pooling, dropout_rate, classifier_activation, include_preprocessing,
                  name):
    _check_weights(weights)
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"{model}: pooling must be None, 'avg' or 'max', received pooling={pooling!r}")
    kernel, se_ratio, hard_swish = (3, None, False) if minimalistic else (5, 0.25, True)
    img_input = _input(input_tensor, input_shape)
    x = img_input
    if include_preprocessing:
        x = Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = Conv2D(16, 3, strides=(2, 2), padding="same", use_bias=False, name="conv")(x)
    x = _activation(_batchnorm(x, "conv_bn"), hard_swish)
    for block_id, (expansion, filters, size, stride, se, swish) in enumerate(blocks):
        x = _inverted_res_block(x, expansion, _depth(filters * alpha), kernel if size is None else size,
                                stride, se_ratio if se else None, hard_swish and swish, block_id)
    last_conv_ch = _depth(x.shape[-1] * 6)
    if alpha > 1.0:
        last_point_ch = _depth(last_point_ch * alpha)
    x = Conv2D(last_conv_ch, 1, padding="same", use_bias=False, name="conv_1")(x)
    x = _activation(_batchnorm(x, "conv_1_bn"), hard_swish)
    if include_top:
        x = GlobalAveragePooling2D(keepdims=True)(x)
        x = Conv2D(last_point_ch, 1, padding="same", use_bias=True, name="conv_2")(x)
        x = _activation(x, hard_swish)
        if dropout_rate > 0:
            x = Dropout(dropout_rate)(x)
        x = Conv2D(classes, 1, padding="same", name="logits")(x)
        x = Flatten()(x)
        x = Activation(classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = GlobalMaxPooling2D(name="max_pool")(x)
    result = Model(img_input, x, name=name)
    if weights is not None:
        result.load_weights(weights)
    return result


def MobileNetV3Small(input_shape=None, alpha=1.0, minimalistic=False, include_top=True, weights=None,
                     input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
                     classifier_activation="softmax", include_preprocessing=True, name="MobileNetV3Small"):
    """``keras.applications.MobileNetV3Small``: 11 inverted residual blocks, a 1024-channel head.

    alpha scales the blocks' filters (rounded to multiples of 8); ``include_preprocessing`` maps pixels in
    [0, 255] to [-1, 1]; ``weights``: None or the path of a weights file saved by Keras or numbacnn for the
    same arguments (numbacnn does not download ImageNet's weights).
    """
    return _mobilenet_v3(_SMALL, 1024, "MobileNetV3Small", input_shape, alpha, minimalistic, include_top,
                         weights, input_tensor, classes, pooling, dropout_rate, classifier_activation,
                         include_preprocessing, name)


def MobileNetV3Large(input_shape=None, alpha=1.0, minimalistic=False, include_top=True, weights=None,
                     input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
                     classifier_activation="softmax", include_preprocessing=True, name="MobileNetV3Large"):
    """``keras.applications.MobileNetV3Large``: 15 inverted residual blocks, a 1280-channel head.

    Arguments as ``MobileNetV3Small``.
    """
    return _mobilenet_v3(_LARGE, 1280, "MobileNetV3Large", input_shape, alpha, minimalistic, include_top,
                         weights, input_tensor, classes, pooling, dropout_rate, classifier_activation,
                         include_preprocessing, name)
