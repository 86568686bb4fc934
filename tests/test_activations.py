"""numbacnn.activations: names, get/serialize, the module-level functions and every backward."""

import json
import os

import numpy as np
import pytest
from gradcheck import numeric_grad

from numbacnn import activations

NAMES = ["linear", "relu", "leaky_relu", "relu6", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign",
         "silu", "gelu", "hard_sigmoid", "hard_silu", "exponential", "mish", "softmax", "log_softmax"]


@pytest.mark.parametrize("name", NAMES)
def test_get_by_name_and_function_round_trip(name):
    act = activations.get(name)
    assert act.name == name
    assert activations.serialize(act) == name
    fn = getattr(activations, name)
    assert activations.get(fn).name == name
    assert activations.serialize(fn) == name
    assert activations.get({"class_name": "function", "config": name}).name == name


def test_get_none_aliases_and_objects():
    assert activations.get(None).name == "linear"
    assert activations.get("swish").name == "silu"
    assert activations.get("hard_swish").name == "hard_silu"
    assert activations.swish is activations.silu
    act = activations.get("tanh")
    assert activations.get(act) is act


def test_unknown_activation_raises():
    with pytest.raises(ValueError, match="Unknown activation function 'relux'"):
        activations.get("relux")
    with pytest.raises(ValueError, match="Could not interpret activation"):
        activations.get(lambda x: x)


def test_module_functions_match_keras_examples():
    x = [-10, -5, 0.0, 5, 10]
    np.testing.assert_array_equal(activations.relu(x), [0, 0, 0, 5, 10])
    np.testing.assert_array_equal(activations.relu(x, negative_slope=0.5), [-5, -2.5, 0, 5, 10])
    np.testing.assert_array_equal(activations.relu(x, max_value=5.0), [0, 0, 0, 5, 5])
    np.testing.assert_array_equal(activations.relu(x, threshold=5.0), [0, 0, 0, 0, 10])
    np.testing.assert_allclose(activations.leaky_relu(np.array([-1.0, 2.0])), [-0.2, 2.0])
    np.testing.assert_allclose(activations.softmax(np.array([1.0, 2.0, 1.0])),
                               [0.21194157, 0.5761169, 0.21194157], rtol=1e-6)
    np.testing.assert_allclose(activations.elu(np.array([-1.0, 1.0])), [np.exp(-1) - 1, 1.0])
    np.testing.assert_allclose(activations.gelu(np.array([1.0]), approximate=True), [0.8411920], rtol=1e-6)
    np.testing.assert_allclose(activations.hard_sigmoid(np.array([-4.0, 0.0, 1.5])), [0.0, 0.5, 0.75])


def test_dtypes_are_kept_and_ints_become_float32():
    assert activations.sigmoid(np.zeros(3, np.float64)).dtype == np.float64
    assert activations.sigmoid(np.zeros(3, np.float32)).dtype == np.float32
    assert activations.tanh([1, 2]).dtype == np.float32


def test_softmax_axis():
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    np.testing.assert_allclose(activations.softmax(x, axis=1).sum(axis=1), 1.0, rtol=1e-12)
    assert activations.get("softmax").forward(x).shape == x.shape


@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_finite_differences(name):
    act = activations.get(name)
    rng = np.random.default_rng(3)
    z = rng.uniform(-4, 4, size=(3, 5))
    z[np.abs(z) < 0.05] += 0.1  # keep clear of the kinks at 0
    z[np.abs(np.abs(z) - 3) < 0.05] += 0.1
    g = rng.standard_normal(z.shape)
    a = act.forward(z)
    dz = act.backward(g.copy(), z, a)
    expected = numeric_grad(lambda: float(np.sum(act.forward(z) * g)), z)
    np.testing.assert_allclose(dz, expected, rtol=1e-6, atol=1e-7)


# ----- Keras 3 fixtures (tests/data/make_keras_layers21_fixtures.py) ------------------------------------
_FIX = np.load(os.path.join(os.path.dirname(__file__), "data", "keras_layers21.npz"))
_KERAS_NAMES = ["relu6", "hard_sigmoid", "hard_silu", "hard_swish", "mish", "softplus", "softsign", "selu",
                "silu", "swish", "gelu", "log_softmax", "elu", "sigmoid", "tanh", "exponential", "leaky_relu",
                "gelu_approximate"]


@pytest.mark.parametrize("name", _KERAS_NAMES)
def test_values_and_gradients_match_keras(name):
    """Each activation by name (gelu also with approximate=True) against Keras 3's value and gradient of
    sum(f(z) * g), on float32 points across [-7, 7] with the kinks at 0 and +-3."""
    act = activations.ActivationFunction("gelu", activations.get("gelu").kind, (1.0,)) \
        if name == "gelu_approximate" else activations.get(name)
    z, g = _FIX["act/z"], _FIX["act/g"]
    a = act.forward(z)
    np.testing.assert_allclose(a, _FIX[f"act/{name}/a"], rtol=2e-6, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(act.backward(g, z, a), _FIX[f"act/{name}/dz"], rtol=2e-6, atol=2e-6,
                               err_msg=name)


def test_new_activations_by_name_in_layers():
    from numbacnn import layers

    x = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    for name in ("hard_swish", "mish", "gelu", "log_softmax", "relu6", "selu", "softsign"):
        dense = layers.Dense(3, activation=name)
        act = layers.Activation(name)
        assert dense.get_config()["activation"] == activations.get(name).name
        assert act(x).shape == x.shape
        np.testing.assert_allclose(act(x), activations.get(name).forward(x), rtol=1e-6)
    np.testing.assert_allclose(activations.log_softmax(x), np.log(activations.softmax(x)), rtol=1e-5,
                               atol=1e-6)
    config = json.loads(str(_FIX["configs"]))["activation_hard_swish"]
    assert layers.Activation("hard_swish").get_config()["activation"] == config["activation"]
