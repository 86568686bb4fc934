"""Small models for the saving tests: one case per layer class, and a few whole networks."""

import numpy as np

from numbacnn import layers as L
from numbacnn.models import Model, Sequential

# (id, layer factory, input shape without the batch) -- one entry per layer class numbacnn exports.
LAYER_CASES = [
    ("conv1d", lambda: L.Conv1D(3, 2, strides=2, padding="same", activation="relu"), (7, 2)),
    ("conv2d", lambda: L.Conv2D(3, (2, 3), dilation_rate=(1, 2), use_bias=False), (6, 7, 2)),
    ("conv3d", lambda: L.Conv3D(2, 2, padding="same"), (3, 4, 3, 2)),
    ("max_pooling1d", lambda: L.MaxPooling1D(2, padding="same"), (5, 2)),
    ("max_pooling2d", lambda: L.MaxPooling2D((2, 2), strides=1), (4, 4, 2)),
    ("max_pooling3d", lambda: L.MaxPooling3D(2), (4, 4, 4, 1)),
    ("average_pooling1d", lambda: L.AveragePooling1D(2), (6, 2)),
    ("average_pooling2d", lambda: L.AveragePooling2D(2, padding="same"), (5, 5, 2)),
    ("average_pooling3d", lambda: L.AveragePooling3D(2), (4, 4, 2, 1)),
    ("global_max_pooling1d", lambda: L.GlobalMaxPooling1D(), (5, 2)),
    ("global_max_pooling2d", lambda: L.GlobalMaxPooling2D(keepdims=True), (4, 4, 2)),
    ("global_max_pooling3d", lambda: L.GlobalMaxPooling3D(), (3, 3, 3, 2)),
    ("global_average_pooling1d", lambda: L.GlobalAveragePooling1D(keepdims=True), (5, 2)),
    ("global_average_pooling2d", lambda: L.GlobalAveragePooling2D(), (4, 4, 2)),
    ("global_average_pooling3d", lambda: L.GlobalAveragePooling3D(), (3, 3, 3, 2)),
    ("dense", lambda: L.Dense(3, activation="tanh", kernel_initializer="he_normal"), (4,)),
    ("batch_normalization", lambda: L.BatchNormalization(momentum=0.9, epsilon=1e-2), (3, 3, 4)),
    ("batch_normalization_no_scale", lambda: L.BatchNormalization(scale=False), (5,)),
    ("dropout", lambda: L.Dropout(0.3, seed=3), (4,)),
    ("spatial_dropout1d", lambda: L.SpatialDropout1D(0.2), (4, 3)),
    ("spatial_dropout2d", lambda: L.SpatialDropout2D(0.2), (3, 3, 2)),
    ("spatial_dropout3d", lambda: L.SpatialDropout3D(0.2), (2, 2, 2, 2)),
    ("flatten", lambda: L.Flatten(), (2, 3, 2)),
    ("reshape", lambda: L.Reshape((3, -1)), (2, 3, 2)),
    ("zero_padding1d", lambda: L.ZeroPadding1D((1, 2)), (4, 2)),
    ("zero_padding2d", lambda: L.ZeroPadding2D(((1, 0), (2, 1))), (3, 3, 2)),
    ("zero_padding3d", lambda: L.ZeroPadding3D(1), (2, 2, 2, 1)),
    ("conv1d_transpose", lambda: L.Conv1DTranspose(3, 3, strides=2, padding="same", output_padding=1),
     (4, 2)),
    ("conv2d_transpose", lambda: L.Conv2DTranspose(2, (2, 3), strides=2, activation="relu"), (3, 3, 2)),
    ("conv3d_transpose", lambda: L.Conv3DTranspose(2, 2, use_bias=False), (2, 2, 2, 1)),
    ("conv2d_groups", lambda: L.Conv2D(4, 2, groups=2), (3, 3, 2)),
    ("cropping1d", lambda: L.Cropping1D((1, 2)), (5, 2)),
    ("cropping2d", lambda: L.Cropping2D(((1, 0), (0, 1))), (3, 3, 2)),
    ("cropping3d", lambda: L.Cropping3D(((1, 0), 0, (0, 1))), (2, 2, 2, 1)),
    ("up_sampling1d", lambda: L.UpSampling1D(3), (2, 2)),
    ("up_sampling2d", lambda: L.UpSampling2D((2, 1), interpolation="bilinear"), (2, 3, 2)),
    ("up_sampling3d", lambda: L.UpSampling3D(2), (2, 1, 2, 1)),
    ("activation", lambda: L.Activation("sigmoid"), (4,)),
    ("relu", lambda: L.ReLU(max_value=2.0, negative_slope=0.1, threshold=0.5), (4,)),
    ("leaky_relu", lambda: L.LeakyReLU(negative_slope=0.2), (4,)),
    ("elu", lambda: L.ELU(alpha=0.5), (4,)),
    ("softmax", lambda: L.Softmax(), (4,)),
    ("conv1d_transpose", lambda: L.Conv1DTranspose(3, 3, strides=2, padding="same"), (5, 2)),
    ("conv2d_transpose", lambda: L.Conv2DTranspose(2, (2, 3), strides=(2, 1), output_padding=(1, 0)),
     (4, 4, 3)),
    ("conv3d_transpose", lambda: L.Conv3DTranspose(2, 2, use_bias=False), (3, 3, 2, 1)),
    ("depthwise_conv1d", lambda: L.DepthwiseConv1D(3, depth_multiplier=2), (6, 3)),
    ("depthwise_conv2d", lambda: L.DepthwiseConv2D(3, padding="same", depth_multiplier=2), (5, 5, 2)),
    ("separable_conv1d", lambda: L.SeparableConv1D(4, 3), (6, 3)),
    ("separable_conv2d", lambda: L.SeparableConv2D(4, 3, depth_multiplier=2), (5, 5, 2)),
    ("cropping1d", lambda: L.Cropping1D((1, 2)), (6, 2)),
    ("cropping2d", lambda: L.Cropping2D(((1, 0), (0, 1))), (4, 4, 2)),
    ("cropping3d", lambda: L.Cropping3D(1), (4, 4, 4, 1)),
    ("up_sampling1d", lambda: L.UpSampling1D(2), (3, 2)),
    ("up_sampling2d", lambda: L.UpSampling2D(2, interpolation="bilinear"), (3, 3, 2)),
    ("up_sampling3d", lambda: L.UpSampling3D(2), (2, 2, 2, 1)),
    ("layer_normalization", lambda: L.LayerNormalization(), (3, 4)),
    ("group_normalization", lambda: L.GroupNormalization(groups=2), (3, 3, 4)),
    ("prelu", lambda: L.PReLU(shared_axes=[1]), (3, 4)),
    ("gaussian_noise", lambda: L.GaussianNoise(0.1), (4,)),
    ("gaussian_dropout", lambda: L.GaussianDropout(0.2), (4,)),
    ("activity_regularization", lambda: L.ActivityRegularization(l1=0.01), (4,)),
    ("rescaling", lambda: L.Rescaling(1 / 255, offset=-0.5), (3, 3, 1)),
    ("normalization", lambda: L.Normalization(mean=[0.5, 1.0], variance=[2.0, 4.0]), (3, 3, 2)),
    ("resizing", lambda: L.Resizing(4, 5), (3, 3, 2)),
    ("center_crop", lambda: L.CenterCrop(2, 2), (4, 4, 1)),
    ("random_flip", lambda: L.RandomFlip("horizontal", seed=1), (4, 4, 1)),
    ("random_rotation", lambda: L.RandomRotation(0.1, seed=1), (4, 4, 1)),
    ("random_translation", lambda: L.RandomTranslation(0.1, 0.1, seed=1), (4, 4, 1)),
    ("random_zoom", lambda: L.RandomZoom(0.1, seed=1), (4, 4, 1)),
    ("random_crop", lambda: L.RandomCrop(3, 3, seed=1), (4, 4, 1)),
    ("random_contrast", lambda: L.RandomContrast(0.2, seed=1), (4, 4, 1)),
    ("random_brightness", lambda: L.RandomBrightness(0.2, seed=1), (4, 4, 1)),
]
# Merge layers take several tensors (tests/saving/test_keras_files.py's case "g" and tests/layers/
# test_merging.py keep them); Lambda is refused at construction.
NOT_ONE_INPUT = {L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum, L.Concatenate, L.Dot,
                 L.Lambda}


def perturb(model, seed=0):
    """Give every weight a distinct non-trivial value (moving variances positive)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape) if w.name == "moving_variance"
                       else rng.normal(0.0, 0.5, w.shape) for w in model.weights])
    return model


def one_layer_model(case):
    _, factory, shape = case
    return perturb(Sequential([L.Input(shape=shape), factory()]))


def cnn_2d():
    """Every 2-D layer in one Sequential, the first layer given input_shape= as the seeds write it."""
    return perturb(Sequential([
        L.ZeroPadding2D(1, input_shape=(10, 10, 3)),
        L.Conv2D(4, 3, activation="relu"),
        L.BatchNormalization(),
        L.MaxPooling2D(),
        L.Conv2D(4, 3, padding="same", strides=2, use_bias=False),
        L.AveragePooling2D(1),
        L.ReLU(),
        L.LeakyReLU(),
        L.ELU(),
        L.Dropout(0.2),
        L.SpatialDropout2D(0.1),
        L.Activation("tanh"),
        L.Flatten(),
        L.Dense(6),
        L.Reshape((2, 3)),
        L.Flatten(),
        L.Dense(3),
        L.Softmax(),
    ], name="all_2d"))


def nested_functional():
    """A functional model with a shared layer (called twice) and a nested Sequential."""
    inp = L.Input(shape=(5,), name="features")
    shared = L.Dense(4, activation="tanh", name="shared")
    h = shared(shared(L.Dense(4)(inp)))
    inner = Sequential([L.Input(shape=(4,)), L.Dense(3), L.BatchNormalization()], name="inner")
    return perturb(Model(inp, L.Dense(2, activation="softmax")(inner(h)), name="nested"))


def small_cnn(num_classes=3, dropout=0.0):
    """The seeds' recipe at 8x8: conv, pooling, BN, dense head."""
    layers = [
        L.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
        L.BatchNormalization(),
        L.MaxPooling2D(),
        L.Flatten(),
        L.Dense(8, activation="relu"),
    ]
    if dropout:
        layers.append(L.Dropout(dropout))
    layers.append(L.Dense(num_classes, activation="softmax"))
    return Sequential(layers)
