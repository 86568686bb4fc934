"""Keras's ImageNet architectures: ``VGG16``, ``VGG19``, ``ResNet50/101/152``, ``ResNet50V2/101V2/152V2``,
``DenseNet121/169/201``, with Keras's arguments, layer names, layer order and weight order, so that a file of
weights saved by Keras (``model.save_weights`` in either layout, or ``.keras``) loads into them.

``weights`` is None (random initialisation, drawn from numbacnn's seeded generator) or the path of a weights
file saved from the same architecture in Keras or numbacnn. Pretrained ImageNet weights cannot be fetched by
numbacnn: save them from Keras once (``keras.applications.ResNet50().save_weights("r50.weights.h5")``) and
pass the path. Inputs are channels-last; with ``include_top=False`` and no ``input_shape`` the default
224x224x3 is used (numbacnn needs the spatial size to plan its kernels).
"""

from ..layers import (
    Activation,
    Add,
    AveragePooling2D,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    Flatten,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    Input,
    MaxPooling2D,
    ZeroPadding2D,
)
from ..models import Model

__all__ = ["VGG16", "VGG19", "ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2",
           "DenseNet121", "DenseNet169", "DenseNet201"]

_BN_EPS = 1.001e-5


def _input(input_tensor, input_shape, default_size=224, min_size=32):
    """The image input: ``input_tensor`` itself, or an Input of ``input_shape`` (Keras's checks)."""
    if input_tensor is not None:
        return input_tensor
    if input_shape is None:
        input_shape = (default_size, default_size, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"input_shape must be (height, width, 3) (channels-last RGB), received "
                         f"{input_shape}")
    if any(d is None for d in input_shape):
        raise ValueError(f"input_shape {input_shape}: numbacnn needs the height and width")
    if min(input_shape[:2]) < min_size:
        raise ValueError(f"Input size must be at least {min_size}x{min_size}; received "
                         f"input_shape={input_shape}")
    return Input(shape=input_shape)


def _check_weights(weights):
    if weights == "imagenet":
        raise ValueError("weights='imagenet': numbacnn does not download weights. Save them from Keras once "
                         "(e.g. keras.applications.ResNet50().save_weights('resnet50.weights.h5')) and pass "
                         "weights='resnet50.weights.h5', or weights=None for random weights")
    if weights is not None and not isinstance(weights, (str, bytes)) and not hasattr(weights, "__fspath__"):
        raise ValueError(f"weights must be None or the path of a weights file, received {weights!r}")


def _finish(inputs, x, name, include_top, pooling, classes, classifier_activation, weights,
            top_name="avg_pool"):
    """The classifier head (or pooling), the model, and the weights file."""
    if include_top:
        x = GlobalAveragePooling2D(name=top_name)(x)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = GlobalMaxPooling2D(name="max_pool")(x)
    elif pooling is not None:
        raise ValueError(f"pooling must be None, 'avg' or 'max', received {pooling!r}")
    model = Model(inputs, x, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


def _bn(x, name):
    return BatchNormalization(axis=3, epsilon=_BN_EPS, name=name)(x)


# ----- VGG -------------------------------------------------------------------------------------------------
def _vgg(convs_per_block, name, include_top, weights, input_tensor, input_shape, pooling, classes,
         classifier_activation):
    _check_weights(weights)
    inputs = _input(input_tensor, input_shape)
    x = inputs
    for block, (convs, filters) in enumerate(zip(convs_per_block, (64, 128, 256, 512, 512)), start=1):
        for i in range(1, convs + 1):
            x = Conv2D(filters, 3, activation="relu", padding="same", name=f"block{block}_conv{i}")(x)
        x = MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
    if include_top:
        x = Flatten(name="flatten")(x)
        x = Dense(4096, activation="relu", name="fc1")(x)
        x = Dense(4096, activation="relu", name="fc2")(x)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
        return _finish(inputs, x, name, False, None, classes, None, weights)
    return _finish(inputs, x, name, False, pooling, classes, None, weights)


def VGG16(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg16"):
    """VGG16 (13 convolutions in 5 blocks, fc1/fc2 of 4096): 138,357,544 parameters at 224x224."""
    return _vgg((2, 2, 3, 3, 3), name, include_top, weights, input_tensor, input_shape, pooling, classes,
                classifier_activation)


def VGG19(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg19"):
    """VGG19 (16 convolutions in 5 blocks): 143,667,240 parameters at 224x224."""
    return _vgg((2, 2, 4, 4, 4), name, include_top, weights, input_tensor, input_shape, pooling, classes,
                classifier_activation)


# ----- ResNet (v1: post-activation bottlenecks; v2: pre-activation) -----------------------------------------
def _bottleneck_v1(x, filters, stride, project, name):
    if project:
        shortcut = Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = _bn(shortcut, f"{name}_0_bn")
    else:
        shortcut = x
    x = Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = Activation("relu", name=f"{name}_1_relu")(_bn(x, f"{name}_1_bn"))
    x = Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = Activation("relu", name=f"{name}_2_relu")(_bn(x, f"{name}_2_bn"))
    x = _bn(Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x), f"{name}_3_bn")
    x = Add(name=f"{name}_add")([shortcut, x])
    return Activation("relu", name=f"{name}_out")(x)


def _bottleneck_v2(x, filters, stride, project, name):
    preact = Activation("relu", name=f"{name}_preact_relu")(_bn(x, f"{name}_preact_bn"))
    if project:
        shortcut = Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = Activation("relu", name=f"{name}_1_relu")(_bn(x, f"{name}_1_bn"))
    x = ZeroPadding2D(((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = Activation("relu", name=f"{name}_2_relu")(_bn(x, f"{name}_2_bn"))
    x = Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return Add(name=f"{name}_out")([shortcut, x])


def _stack_v1(x, filters, blocks, first_stride, name):
    x = _bottleneck_v1(x, filters, first_stride, True, f"{name}_block1")
    for i in range(2, blocks + 1):
        x = _bottleneck_v1(x, filters, 1, False, f"{name}_block{i}")
    return x


def _stack_v2(x, filters, blocks, last_stride, name):
    """v2 stacks project in their first block and stride in their last (Keras's layout)."""
    x = _bottleneck_v2(x, filters, 1, True, f"{name}_block1")
    for i in range(2, blocks):
        x = _bottleneck_v2(x, filters, 1, False, f"{name}_block{i}")
    return _bottleneck_v2(x, filters, last_stride, False, f"{name}_block{blocks}")


def _resnet(blocks, preact, name, include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation):
    _check_weights(weights)
    inputs = _input(input_tensor, input_shape)
    x = ZeroPadding2D(((3, 3), (3, 3)), name="conv1_pad")(inputs)
    x = Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    if not preact:
        x = Activation("relu", name="conv1_relu")(_bn(x, "conv1_bn"))
    x = ZeroPadding2D(((1, 1), (1, 1)), name="pool1_pad")(x)
    x = MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    widths = (64, 128, 256, 512)
    for stage, (filters, count) in enumerate(zip(widths, blocks), start=2):
        label = f"conv{stage}"
        if preact:
            x = _stack_v2(x, filters, count, 2 if stage < 5 else 1, label)
        else:
            x = _stack_v1(x, filters, count, 1 if stage == 2 else 2, label)
    if preact:
        x = Activation("relu", name="post_relu")(_bn(x, "post_bn"))
    return _finish(inputs, x, name, include_top, pooling, classes, classifier_activation, weights)


def _resnet_builder(blocks, preact, default_name):
    def build(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
              classifier_activation="softmax", name=default_name):
        return _resnet(blocks, preact, name, include_top, weights, input_tensor, input_shape, pooling,
                       classes, classifier_activation)

    build.__name__ = build.__qualname__ = default_name.replace("resnet", "ResNet").replace("v2", "V2")
    build.__doc__ = (f"Keras's {build.__name__}: stages of {blocks} bottleneck blocks "
                     f"({'pre' if preact else 'post'}-activation).")
    return build


ResNet50 = _resnet_builder((3, 4, 6, 3), False, "resnet50")
ResNet101 = _resnet_builder((3, 4, 23, 3), False, "resnet101")
ResNet152 = _resnet_builder((3, 8, 36, 3), False, "resnet152")
ResNet50V2 = _resnet_builder((3, 4, 6, 3), True, "resnet50v2")
ResNet101V2 = _resnet_builder((3, 4, 23, 3), True, "resnet101v2")
ResNet152V2 = _resnet_builder((3, 8, 36, 3), True, "resnet152v2")


# ----- DenseNet ---------------------------------------------------------------------------------------------
def _dense_layer(x, growth, name):
    h = Activation("relu", name=f"{name}_0_relu")(_bn(x, f"{name}_0_bn"))
    h = Conv2D(4 * growth, 1, use_bias=False, name=f"{name}_1_conv")(h)
    h = Activation("relu", name=f"{name}_1_relu")(_bn(h, f"{name}_1_bn"))
    h = Conv2D(growth, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(h)
    return Concatenate(axis=3, name=f"{name}_concat")([x, h])


def _transition(x, name):
    x = Activation("relu", name=f"{name}_relu")(_bn(x, f"{name}_bn"))
    x = Conv2D(int(x.shape[3] * 0.5), 1, use_bias=False, name=f"{name}_conv")(x)
    return AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def _densenet(blocks, name, include_top, weights, input_tensor, input_shape, pooling, classes,
              classifier_activation):
    _check_weights(weights)
    inputs = _input(input_tensor, input_shape)
    x = ZeroPadding2D(((3, 3), (3, 3)))(inputs)
    x = Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = Activation("relu", name="conv1_relu")(_bn(x, "conv1_bn"))
    x = ZeroPadding2D(((1, 1), (1, 1)))(x)
    x = MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, count in enumerate(blocks, start=2):
        for i in range(1, count + 1):
            x = _dense_layer(x, 32, f"conv{stage}_block{i}")
        if stage < 5:
            x = _transition(x, f"pool{stage}")
    x = Activation("relu", name="relu")(_bn(x, "bn"))
    return _finish(inputs, x, name, include_top, pooling, classes, classifier_activation, weights)


def _densenet_builder(blocks, default_name):
    def build(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
              classifier_activation="softmax", name=default_name):
        return _densenet(blocks, name, include_top, weights, input_tensor, input_shape, pooling, classes,
                         classifier_activation)

    build.__name__ = build.__qualname__ = default_name.replace("densenet", "DenseNet")
    build.__doc__ = f"Keras's {build.__name__}: dense blocks of {blocks} layers, growth rate 32."
    return build


DenseNet121 = _densenet_builder((6, 12, 24, 16), "densenet121")
DenseNet169 = _densenet_builder((6, 12, 32, 32), "densenet169")
DenseNet201 = _densenet_builder((6, 12, 48, 32), "densenet201")
