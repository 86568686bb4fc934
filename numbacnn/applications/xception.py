"""Xception (Chollet, 2017) as ``keras.applications.Xception`` builds it: the same layers, names, arguments
and weight order, so that a Keras-saved weights file loads into it.

An entry flow of two convolutions and three blocks of two SeparableConv2D + BatchNormalization with a
strided max pooling, each added to a strided 1x1 convolution of its input; a middle flow of eight
residual blocks of three relu -> SeparableConv2D -> BatchNormalization; an exit flow like the entry's,
then two SeparableConv2D with relu and global average pooling with a Dense classifier.
"""

from ..layers import (
    Activation,
    Add,
    BatchNormalization,
    Conv2D,
    Dense,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    MaxPooling2D,
    SeparableConv2D,
)
from ..models import Model
from .mobilenet import _input_tensor

__all__ = ["Xception"]


def _sepconv_bn(x, filters, name):
    x = SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return BatchNormalization(name=f"{name}_bn")(x)


def _shortcut(x, filters):
    residual = Conv2D(filters, (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    return BatchNormalization()(residual)


def _pooled_block(x, block, filters, first_act=True):
    """Entry and exit flow: [relu] sepconv bn relu sepconv bn maxpool(3, 2), plus the strided shortcut."""
    residual = _shortcut(x, filters[1])
    if first_act:
        x = Activation("relu", name=f"block{block}_sepconv1_act")(x)
    x = _sepconv_bn(x, filters[0], f"block{block}_sepconv1")
    x = Activation("relu", name=f"block{block}_sepconv2_act")(x)
    x = _sepconv_bn(x, filters[1], f"block{block}_sepconv2")
    x = MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"block{block}_pool")(x)
    return Add()([x, residual])


def Xception(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="xception"):
    """``keras.applications.Xception`` as a functional model (input (rows, cols, 3), rows and columns at
    least 71, (299, 299, 3) by default; channels last). ``include_top`` adds global average pooling
    ``avg_pool`` and a Dense classifier ``predictions`` with ``classes`` units; without it, ``pooling``
    None, "avg" or "max" ends the model. ``weights``: None or the path of a weights file saved by Keras or
    numbacnn for the same arguments; numbacnn does not download ImageNet's weights.
    """
    if input_shape is None and input_tensor is None:
        input_shape = (299, 299, 3) if include_top else (None, None, 3)
    img_input, _ = _input_tensor("Xception", input_shape, include_top, weights, input_tensor, pooling,
                                 min_size=71)
    x = Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(img_input)
    x = BatchNormalization(name="block1_conv1_bn")(x)
    x = Activation("relu", name="block1_conv1_act")(x)
    x = Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = BatchNormalization(name="block1_conv2_bn")(x)
    x = Activation("relu", name="block1_conv2_act")(x)
    x = _pooled_block(x, 2, (128, 128), first_act=False)
    x = _pooled_block(x, 3, (256, 256))
    x = _pooled_block(x, 4, (728, 728))
    for i in range(8):
        residual = x
        prefix = f"block{i + 5}"
        for j in (1, 2, 3):
            x = Activation("relu", name=f"{prefix}_sepconv{j}_act")(x)
            x = _sepconv_bn(x, 728, f"{prefix}_sepconv{j}")
        x = Add()([x, residual])
    x = _pooled_block(x, 13, (728, 1024))
    x = _sepconv_bn(x, 1536, "block14_sepconv1")
    x = Activation("relu", name="block14_sepconv1_act")(x)
    x = _sepconv_bn(x, 2048, "block14_sepconv2")
    x = Activation("relu", name="block14_sepconv2_act")(x)
    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = GlobalMaxPooling2D()(x)
    model = Model(img_input, x, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model
