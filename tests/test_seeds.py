"""The seed programs (../shared/seeds/) as their authors wrote them, with only the import lines changed.

Data sets are replaced by small random arrays of the same shapes (no download in tests) and the
epoch counts cut to one, so that the programs' own calls are what is exercised.
"""

import warnings

import numpy as np
import pytest

RNG = np.random.default_rng(0)


def _images(n, shape, classes=10):
    return RNG.random((n,) + shape, dtype=np.float32), RNG.integers(0, classes, size=n)


def test_seed_000_and_003_cifar_cnn(capsys):
    from numbacnn.layers import Conv2D, Dense, Flatten, MaxPooling2D  # was: from keras.layers import ...
    from numbacnn.models import Sequential  # was: from keras.models import Sequential

    train_images, train_labels = _images(48, (32, 32, 3))
    test_images, test_labels = _images(16, (32, 32, 3))

    model = Sequential()
    model.add(Conv2D(32, (3, 3), activation="relu", input_shape=(32, 32, 3)))
    model.add(MaxPooling2D((2, 2)))
    model.add(Conv2D(64, (3, 3), activation="relu"))
    model.add(MaxPooling2D((2, 2)))
    model.add(Conv2D(64, (3, 3), activation="relu"))
    model.add(Flatten())
    model.add(Dense(64, activation="relu"))
    model.add(Dense(10, activation="softmax"))
    model.summary()

    model.compile(optimizer="adam",
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(train_images, train_labels, epochs=1,
                        validation_data=(test_images, test_labels))

    out = capsys.readouterr().out
    assert "Total params: 122,570" in out
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}


def test_seed_001_keras1_spellings():
    from numbacnn.layers import Activation, Convolution2D, Dense, Dropout, Flatten, MaxPooling2D
    from numbacnn.models import Sequential

    in_shape = (32, 32, 3)
    cls_num = 3
    x, y = _images(24, in_shape, cls_num)
    y = np.eye(cls_num, dtype=np.float32)[y]

    model = Sequential()
    model.add(Convolution2D(32, 3, 3, padding="same", input_shape=in_shape))
    model.add(Activation("relu"))
    model.add(Convolution2D(32, 2, 2))
    model.add(Activation("relu"))
    model.add(MaxPooling2D())
    model.add(Dropout(0.5))
    model.add(Flatten())
    model.add(Dense(cls_num))
    model.add(Activation("softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=8, nb_epoch=1, verbose=0)
    assert any("nb_epoch" in str(w.message) for w in caught)
    loss, acc = model.evaluate(x, y, verbose=0)
    assert np.isfinite(loss) and 0.0 <= acc <= 1.0
    assert model.layers[0].kernel.shape == (3, 3, 3, 32)
    assert model.layers[2].kernel.shape == (2, 2, 32, 32)


def test_seed_002_lenet5_keras_namespace(capsys):
    import numbacnn as keras  # was: from tensorflow import keras

    train_x, train_y = _images(32, (28, 28, 1))
    val_x, val_y = _images(8, (28, 28, 1))
    lenet_5_model = keras.models.Sequential([
        keras.layers.Conv2D(6, kernel_size=5, strides=1, activation="tanh", input_shape=train_x[0].shape,
                            padding="same"),
        keras.layers.AveragePooling2D(),
        keras.layers.Conv2D(16, kernel_size=5, strides=1, activation="tanh", padding="valid"),
        keras.layers.AveragePooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(120, activation="tanh"),
        keras.layers.Dense(84, activation="tanh"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    lenet_5_model.compile(optimizer="adam", loss=keras.losses.sparse_categorical_crossentropy,
                          metrics=["accuracy"])
    lenet_5_model.fit(train_x, train_y, epochs=1, validation_data=(val_x, val_y), verbose=0)
    lenet_5_model.evaluate(val_x, val_y, verbose=0)
    lenet_5_model.summary()
    assert "Total params: 61,706" in capsys.readouterr().out


def test_seed_002_alexnet_shapes():
    import numbacnn as keras

    alexnet = keras.applications.alexnet()
    shapes = [layer.output_shape for layer in alexnet.layers[:8]]
    assert shapes[0] == (None, 55, 55, 96)   # ((227-11)/4+1)
    assert shapes[1] == (None, 27, 27, 96)   # ((55-3)/2+1)
    assert alexnet.output_shape == (None, 1000)


@pytest.mark.parametrize("which, total", [("normal_model", 1_438_482), ("conv_model", 822_794),
                                          ("conv_model_pooling", 220_682)])
def test_seed_004_functional_models(which, total, capsys):
    from numbacnn.layers import Activation, Conv2D, Dense, Flatten, Input, MaxPooling2D
    from numbacnn.layers import BatchNormalization as BN
    from numbacnn.models import Model
    from numbacnn.utils import to_categorical

    def Dense_bn(x, units):
        x = Dense(units)(x)
        x = BN()(x)
        x = Activation("relu")(x)
        return x

    def Conv2D_bn(x, filters, length, width, padding="same", strides=(1, 1)):
        x = Conv2D(filters, (length, width), strides=strides, padding=padding)(x)
        x = BN()(x)
        x = Activation("relu")(x)
        return x

    def normal_model():
        x = Input(shape=(28 * 28,))
        x2 = Dense_bn(x, 1000)
        x3 = Dense_bn(x2, 512)
        x4 = Dense_bn(x3, 256)
        y = Dense(10, activation="softmax")(x4)
        model = Model(inputs=x, outputs=y)
        model.compile(optimizer="SGD", loss="categorical_crossentropy", metrics=["accuracy"])
        return model

    def conv_model():
        x = Input(shape=(28, 28, 1))
        x2 = Conv2D_bn(x, 64, 3, 3)
        x3 = Conv2D_bn(x2, 32, 3, 3)
        x4 = Flatten()(x3)
        x5 = Dense_bn(x4, 32)
        y = Dense(10, activation="softmax")(x5)
        model = Model(inputs=x, outputs=y)
        model.compile(optimizer="SGD", loss="categorical_crossentropy", metrics=["accuracy"])
        return model

    def conv_model_pooling():
        x = Input(shape=(28, 28, 1))
        x2 = Conv2D_bn(x, 64, 3, 3)
        x3 = MaxPooling2D(2)(x2)
        x4 = Conv2D_bn(x3, 32, 3, 3)
        x5 = Flatten()(x4)
        x6 = Dense_bn(x5, 32)
        y = Dense(10, activation="softmax")(x6)
        model = Model(inputs=x, outputs=y)
        model.compile(optimizer="SGD", loss="categorical_crossentropy", metrics=["accuracy"])
        return model

    images, labels = _images(20, (28, 28, 1))
    train_labels = to_categorical(labels, 10)
    x_train = images.reshape(-1, 28 * 28) if which == "normal_model" else images
    model = {"normal_model": normal_model, "conv_model": conv_model,
             "conv_model_pooling": conv_model_pooling}[which]()
    model.summary()
    his = model.fit(x_train, train_labels, batch_size=128, validation_split=0.3, verbose=1, epochs=1)
    w = his.history
    assert len(w["accuracy"]) == len(w["val_accuracy"]) == 1
    assert f"Total params: {total:,}" in capsys.readouterr().out
