"""MobileNet (Howard et al., 2017) as ``keras.applications.MobileNet`` builds it: the same layers, names,
arguments and weight order, so that a Keras-saved ``.weights.h5`` (or Keras 2 ``.h5``) loads into it.

A chain: a 3x3 convolution with stride 2, then 13 blocks of DepthwiseConv2D -> BatchNormalization ->
ReLU(6) -> 1x1 Conv2D -> BatchNormalization -> ReLU(6) (a stride-2 block pads the bottom and right by one
pixel first and convolves 'valid', as Keras does), then global average pooling and a 1x1 convolution as
the classifier.
"""

from ..layers import (
    Activation,
    BatchNormalization,
    Conv2D,
    DepthwiseConv2D,
    Dropout,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    Input,
    KerasTensor,
    ReLU,
    Reshape,
    ZeroPadding2D,
)
from ..models import Model

__all__ = ["MobileNet"]

# (pointwise filters at alpha = 1, strides) of the 13 depthwise blocks
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
           (512, 1), (1024, 2), (1024, 1))


def _conv_block(x, filters, alpha, strides):
    x = Conv2D(int(filters * alpha), (3, 3), padding="same", use_bias=False, strides=strides, name="conv1")(x)
    x = BatchNormalization(name="conv1_bn")(x)
    return ReLU(6.0, name="conv1_relu")(x)


def _depthwise_conv_block(x, filters, alpha, depth_multiplier, strides, block_id):
    if strides != 1:
        x = ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = DepthwiseConv2D((3, 3), padding="same" if strides == 1 else "valid",
                        depth_multiplier=depth_multiplier, strides=strides, use_bias=False,
                        name=f"conv_dw_{block_id}")(x)
    x = BatchNormalization(name=f"conv_dw_{block_id}_bn")(x)
    x = ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = Conv2D(int(filters * alpha), (1, 1), padding="same", use_bias=False, strides=(1, 1),
               name=f"conv_pw_{block_id}")(x)
    x = BatchNormalization(name=f"conv_pw_{block_id}_bn")(x)
    return ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


def _input_shape(model, input_shape, include_top, min_size):
    """Keras's rule for an application without ImageNet weights: (224, 224, 3) by default; otherwise 3
    values, channels last, rows and columns at least ``min_size`` (None allowed without the classifier)."""
    if input_shape is None:
        return (224, 224, 3) if include_top else (None, None, 3)
    shape = tuple(None if d is None else int(d) for d in input_shape)
    if len(shape) != 3:
        raise ValueError(f"{model}: input_shape must be (rows, cols, channels), received {input_shape!r}")
    if include_top and None in shape[:2]:
        raise ValueError(f"{model}: with include_top=True the input size must be known, received "
                         f"input_shape={input_shape!r}")
    if any(d is not None and d < min_size for d in shape[:2]):
        raise ValueError(f"{model}: input rows and columns must be at least {min_size}, received "
                         f"input_shape={input_shape!r}")
    return shape


def _input_tensor(model, input_shape, include_top, weights, input_tensor, pooling, min_size=32):
    """The checks every application shares and its input: ``(input tensor, rows)``."""
    if weights == "imagenet":
        raise ValueError(f"{model}: numbacnn does not download ImageNet weights; download Keras's file for "
                         "these arguments and pass weights=<its path>")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"{model}: pooling must be None, 'avg' or 'max', received pooling={pooling!r}")
    if input_tensor is not None:
        if not isinstance(input_tensor, KerasTensor):
            raise ValueError(f"{model}: input_tensor must be a symbolic tensor from numbacnn.layers.Input, "
                             f"received {type(input_tensor).__name__}")
        return input_tensor, input_tensor.shape[1]
    shape = _input_shape(model, input_shape, include_top, min_size)
    return Input(shape=shape), shape[0]


def MobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3, include_top=True, weights=None,
              input_tensor=None, pooling=None, classes=1000, classifier_activation="softmax", name=None):
    """``keras.applications.MobileNet`` as a functional model (input (rows, cols, 3), channels last).

    alpha scales every layer's filters (int(filters * alpha)); depth_multiplier is the depthwise layers';
    dropout the rate before the classifier; ``include_top`` adds global average pooling (kept 4-D),
    dropout, a 1x1 convolution ``conv_preds`` with ``classes`` filters, a reshape to (classes,) and the
    activation; without it, ``pooling`` None, "avg" or "max" ends the model. ``weights``: None (random
    initial weights) or the path of a weights file saved by Keras or numbacnn for the same arguments
    (``model.load_weights``). numbacnn does not download ImageNet's weights: for ``weights="imagenet"``
    download Keras's file for your alpha and size yourself and pass its path.
    """
    img_input, rows = _input_tensor("MobileNet", input_shape, include_top, weights, input_tensor, pooling)
    x = _conv_block(img_input, 32, alpha, strides=(2, 2))
    for block_id, (filters, strides) in enumerate(_BLOCKS, start=1):
        x = _depthwise_conv_block(x, filters, alpha, depth_multiplier, strides, block_id)
    if include_top:
        x = GlobalAveragePooling2D(keepdims=True)(x)
        x = Dropout(dropout, name="dropout")(x)
        x = Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = Reshape((classes,), name="reshape_2")(x)
        x = Activation(classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = GlobalMaxPooling2D()(x)
    if name is None:
        name = f"mobilenet_{alpha:0.2f}_{rows}"
    model = Model(img_input, x, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model
