"""summary() prints Keras's layout and the exact parameter counts of the seeds' models."""

import pytest

from numbacnn import applications


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


@pytest.mark.parametrize("build, total, non_trainable", [
    (applications.cifar_cnn, 122_570, 0),
    (applications.normal_model, 1_438_482, 3_536),
    (applications.conv_model, 822_794, 256),
    (applications.conv_model_pooling, 220_682, 256),
    (applications.lenet5, 61_706, 0),
])
def test_seed_model_totals(build, total, non_trainable):
    text = _summary(build())
    assert f"Total params: {total:,}" in text
    assert f"Trainable params: {total - non_trainable:,}" in text
    assert f"Non-trainable params: {non_trainable:,}" in text


def test_alexnet_total_is_the_layer_arithmetic():
    model = applications.alexnet()
    convs = (11 * 11 * 3 * 96 + 96) + (5 * 5 * 96 * 256 + 256) + (3 * 3 * 256 * 384 + 384) \
        + (3 * 3 * 384 * 384 + 384) + (3 * 3 * 384 * 256 + 256)
    dense = (6 * 6 * 256 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert convs + dense == 62_378_344
    assert model.count_params() == 62_378_344
    assert "Total params: 62,378,344" in _summary(model)
    assert model.get_layer("conv2d").output_shape == (None, 55, 55, 96)
    assert model.get_layer("max_pooling2d").output_shape == (None, 27, 27, 96)


def test_seed_000_table_rows_match_keras():
    text = _summary(applications.cifar_cnn())
    expected_rows = [
        ("conv2d (Conv2D)", "(None, 30, 30, 32)", "896"),
        ("max_pooling2d (MaxPooling2D)", "(None, 15, 15, 32)", "0"),
        ("conv2d_1 (Conv2D)", "(None, 13, 13, 64)", "18,496"),
        ("max_pooling2d_1 (MaxPooling2D)", "(None, 6, 6, 64)", "0"),
        ("conv2d_2 (Conv2D)", "(None, 4, 4, 64)", "36,928"),
        ("flatten (Flatten)", "(None, 1024)", "0"),
        ("dense (Dense)", "(None, 64)", "65,600"),
        ("dense_1 (Dense)", "(None, 10)", "650"),
    ]
    rows = [line.split() for line in text.splitlines()]
    for name, shape, params in expected_rows:
        assert [*name.split(), *shape.split(), params] in rows, name
    assert text.splitlines()[0] == 'Model: "cifar_cnn"'
    assert "Layer (type)" in text and "Output Shape" in text and "Param #" in text


def test_functional_summary_lists_the_input_layer():
    text = _summary(applications.conv_model())
    assert "input_layer (InputLayer)" in text
    assert "(None, 28, 28, 1)" in text
    assert "batch_normalization_2 (BatchNormalization)" in text


def test_summary_follows_frozen_layers():
    model = applications.cifar_cnn()
    for layer in model.layers[:5]:
        layer.trainable = False
    text = _summary(model)
    frozen = 896 + 18_496 + 36_928
    assert f"Trainable params: {122_570 - frozen:,}" in text
    assert f"Non-trainable params: {frozen:,}" in text


def test_summary_of_an_unbuilt_model_says_how_to_build_it():
    from numbacnn.layers import Dense
    from numbacnn.models import Sequential

    with pytest.raises(ValueError, match="not yet been built"):
        Sequential([Dense(3)]).summary()
