"""Reference architectures as plain functions returning (uncompiled) models.

``get(name)`` finds one by name, for the command line and the visual debugger.
"""

from .._names import missing_name
from ..layers import (
    Activation,
    Add,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    MaxPooling2D,
)
from ..models import Model, Sequential
from .imagenet import (
    VGG16,
    VGG19,
    DenseNet121,
    DenseNet169,
    DenseNet201,
    ResNet50,
    ResNet50V2,
    ResNet101,
    ResNet101V2,
    ResNet152,
    ResNet152V2,
)
from .mobilenet import MobileNet
from .mobilenet_v2 import MobileNetV2
from .xception import Xception


def cifar_cnn(input_shape=(32, 32, 3), num_classes=10):
    """The CNN of seeds 000/003 (TensorFlow's CIFAR-10 tutorial): 122,570 parameters on 32x32x3."""
    return Sequential([
        Conv2D(32, (3, 3), activation="relu", input_shape=input_shape),
        MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3), activation="relu"),
        MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3), activation="relu"),
        Flatten(),
        Dense(64, activation="relu"),
        Dense(num_classes, activation="softmax"),
    ], name="cifar_cnn")


def fashion_cnn(input_shape=(28, 28, 1), num_classes=10):
    """The small default: two conv + pooling blocks and a dense head (TensorFlow's tutorial shape).

    'same' padding: after 10 epochs (Adam, batch 64) this model reached 0.9180, 0.9206 and 0.9220 test
    accuracy for seeds 1-3; with 'valid' padding (225,034 parameters, measured with the BLAS products)
    0.9081, 0.9121 and 0.9100.
    """
    return Sequential([
        Conv2D(32, (3, 3), activation="relu", padding="same", input_shape=input_shape),
        MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3), activation="relu", padding="same"),
        MaxPooling2D((2, 2)),
        Flatten(),
        Dense(128, activation="relu"),
        Dropout(0.3),
        Dense(num_classes, activation="softmax"),
    ], name="fashion_cnn")


def lenet5(input_shape=(28, 28, 1), num_classes=10):
    """LeNet-5 as seed 002 builds it for 28x28 digits: tanh, average pooling; 61,706 parameters."""
    return Sequential([
        Conv2D(6, kernel_size=5, strides=1, activation="tanh", padding="same", input_shape=input_shape),
        AveragePooling2D(),
        Conv2D(16, kernel_size=5, strides=1, activation="tanh", padding="valid"),
        AveragePooling2D(),
        Flatten(),
        Dense(120, activation="tanh"),
        Dense(84, activation="tanh"),
        Dense(num_classes, activation="softmax"),
    ], name="lenet5")


def alexnet(input_shape=(227, 227, 3), num_classes=1000):
    """AlexNet (seed 002): 5 conv + 3 dense layers on 227x227x3; 62,378,344 parameters with 1000 classes."""
    return Sequential([
        Conv2D(96, (11, 11), strides=4, activation="relu", input_shape=input_shape),
        MaxPooling2D((3, 3), strides=2),
        Conv2D(256, (5, 5), padding="same", activation="relu"),
        MaxPooling2D((3, 3), strides=2),
        Conv2D(384, (3, 3), padding="same", activation="relu"),
        Conv2D(384, (3, 3), padding="same", activation="relu"),
        Conv2D(256, (3, 3), padding="same", activation="relu"),
        MaxPooling2D((3, 3), strides=2),
        Flatten(),
        Dense(4096, activation="relu"),
        Dropout(0.5),
        Dense(4096, activation="relu"),
        Dropout(0.5),
        Dense(num_classes, activation="softmax"),
    ], name="alexnet")


def _dense_bn(x, units):
    x = Dense(units)(x)
    x = BatchNormalization()(x)
    return Activation("relu")(x)


def _conv2d_bn(x, filters, rows, cols, padding="same", strides=(1, 1)):
    x = Conv2D(filters, (rows, cols), strides=strides, padding=padding)(x)
    x = BatchNormalization()(x)
    return Activation("relu")(x)


def normal_model(input_dim=28 * 28, num_classes=10):
    """Seed 004's fully connected model with batch-norm: 1,438,482 parameters, 3,536 non-trainable."""
    x = Input(shape=(input_dim,))
    h = _dense_bn(x, 1000)
    h = _dense_bn(h, 512)
    h = _dense_bn(h, 256)
    y = Dense(num_classes, activation="softmax")(h)
    return Model(inputs=x, outputs=y)


def conv_model(input_shape=(28, 28, 1), num_classes=10):
    """Seed 004's two-conv model with batch-norm: 822,794 parameters, 256 non-trainable."""
    x = Input(shape=input_shape)
    h = _conv2d_bn(x, 64, 3, 3)
    h = _conv2d_bn(h, 32, 3, 3)
    h = Flatten()(h)
    h = _dense_bn(h, 32)
    y = Dense(num_classes, activation="softmax")(h)
    return Model(inputs=x, outputs=y)


def conv_model_pooling(input_shape=(28, 28, 1), num_classes=10):
    """Seed 004's two-conv model with max pooling: 220,682 parameters, 256 non-trainable."""
    x = Input(shape=input_shape)
    h = _conv2d_bn(x, 64, 3, 3)
    h = MaxPooling2D(2)(h)
    h = _conv2d_bn(h, 32, 3, 3)
    h = Flatten()(h)
    h = _dense_bn(h, 32)
    y = Dense(num_classes, activation="softmax")(h)
    return Model(inputs=x, outputs=y)


def _basic_block(x, filters, stride, name):
    """Two 3x3 convolutions with batch-norm, added to the shortcut (a 1x1 projection where the shape
    changes), then a relu: He et al.'s CIFAR block."""
    h = Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_1_conv")(x)
    h = Activation("relu", name=f"{name}_1_relu")(BatchNormalization(name=f"{name}_1_bn")(h))
    h = Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(h)
    h = BatchNormalization(name=f"{name}_2_bn")(h)
    if stride != 1 or x.shape[-1] != filters:
        x = Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_0_conv")(x)
        x = BatchNormalization(name=f"{name}_0_bn")(x)
    return Activation("relu", name=f"{name}_out")(Add(name=f"{name}_add")([x, h]))


def resnet20(input_shape=(32, 32, 3), num_classes=10, depth=20):
    """The CIFAR ResNet of He et al. (2016), depth 6n+2 (20: n=3): a 3x3 stem of 16 filters, three stages of n
    basic blocks with 16, 32 and 64 filters (the last two start with stride 2 and a 1x1 projection
    shortcut), global average pooling and a softmax; 274,042 parameters for ResNet-20 on 32x32x3 with
    10 classes."""
    if (depth - 2) % 6:
        raise ValueError(f"resnet20: depth must be 6n+2 (20, 32, 44, 56, ...), received {depth}")
    n = (depth - 2) // 6
    inputs = Input(shape=input_shape)
    x = Conv2D(16, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = Activation("relu", name="stem_relu")(BatchNormalization(name="stem_bn")(x))
    for stage, filters in enumerate((16, 32, 64), start=1):
        for block in range(1, n + 1):
            stride = 2 if stage > 1 and block == 1 else 1
            x = _basic_block(x, filters, stride, f"stage{stage}_block{block}")
    x = GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = Dense(num_classes, activation="softmax", name="predictions")(x)
    return Model(inputs, outputs, name=f"resnet{depth}")


__all__ = ["ARCHITECTURES", "VGG16", "VGG19", "DenseNet121", "DenseNet169", "DenseNet201", "MobileNet",
           "MobileNetV2", "ResNet50", "ResNet50V2", "ResNet101", "ResNet101V2", "ResNet152", "ResNet152V2",
           "Xception", "alexnet",
           "cifar_cnn", "conv_model", "conv_model_pooling", "fashion_cnn", "get", "lenet5", "normal_model",
           "resnet20"]


ARCHITECTURES = {
    "fashion_cnn": fashion_cnn,
    "cifar_cnn": cifar_cnn,
    "lenet5": lenet5,
    "alexnet": alexnet,
    "normal_model": normal_model,
    "conv_model": conv_model,
    "conv_model_pooling": conv_model_pooling,
    "resnet20": resnet20,
}


def get(name):
    """The architecture function called ``name`` (see ARCHITECTURES)."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"Unknown model {name!r}; known models: {', '.join(ARCHITECTURES)}") from None


__getattr__ = missing_name(__name__, lambda: globals())
