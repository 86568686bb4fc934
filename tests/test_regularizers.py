"""Regularizers and constraints against Keras 3 (tests/data/make_keras_regularizer_fixtures.py): values,
gradients, projections, and a model trained two SGD steps with them from the same weights."""

import json
import os

import numpy as np
import pytest
from gradcheck import numeric_grad

from numbacnn import constraints, regularizers
from numbacnn.models import model_from_json
from numbacnn.optimizers import SGD

FIX = np.load(os.path.join(os.path.dirname(__file__), "data", "keras_regularizers.npz"))
R, C = regularizers, constraints
REGULARIZERS = {"l1": R.L1(0.03), "l2": R.L2(0.05), "l1l2": R.L1L2(0.01, 0.02),
                "orth_rows": R.OrthogonalRegularizer(0.1, "rows"),
                "orth_columns": R.OrthogonalRegularizer(0.2, "columns")}
CONSTRAINTS = {"max_norm": C.MaxNorm(0.8, axis=0), "max_norm_axis1": C.MaxNorm(1.2, axis=1),
               "non_neg": C.NonNeg(), "unit_norm": C.UnitNorm(axis=0),
               "min_max_norm": C.MinMaxNorm(0.5, 1.0, rate=0.7, axis=0)}


@pytest.mark.parametrize("name", sorted(REGULARIZERS))
def test_regularizer_value_and_gradient_match_keras(name):
    x = FIX["reg/x"]
    reg = REGULARIZERS[name]
    assert reg(x) == pytest.approx(float(FIX[f"reg/{name}/value"]), rel=1e-5)
    np.testing.assert_allclose(reg.gradient(x), FIX[f"reg/{name}/grad"], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_orthogonal_gradient_matches_finite_differences(mode):
    x = np.random.default_rng(1).normal(size=(5, 3))
    reg = R.OrthogonalRegularizer(0.3, mode)
    np.testing.assert_allclose(reg.gradient(x), numeric_grad(lambda: reg(x), x), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", sorted(CONSTRAINTS))
def test_constraint_matches_keras(name):
    np.testing.assert_allclose(CONSTRAINTS[name](FIX["con/w"]), FIX[f"con/{name}"], rtol=1e-6, atol=1e-7)


def test_string_forms_are_keras_s():
    keras_configs = json.loads(str(FIX["strings"]))
    for name, config in keras_configs.items():
        module = R if name in ("l1", "l2", "l1_l2", "L1L2", "orthogonal_regularizer",
                               "OrthogonalRegularizer") else C
        if config is None:
            with pytest.raises(ValueError, match="Could not interpret"):
                module.get(name)
        else:
            got = module.get(name).get_config()
            assert got.keys() == config.keys()
            assert all(got[k] == pytest.approx(v) if isinstance(v, float) else got[k] == v
                       for k, v in config.items())
    with pytest.raises(ValueError, match="gradient"):
        R.get(lambda w: 0.0)


def test_model_with_regularizers_and_constraints_trains_as_keras(tmp_path):
    model = model_from_json(str(FIX["model/json"]))
    conv = model.layers[0]
    assert isinstance(conv.kernel.regularizer, R.L2) and isinstance(conv.kernel.constraint, C.MaxNorm)
    assert isinstance(conv.activity_regularizer, R.L1L2)
    model.set_weights([FIX[f"model/w0_{i}"] for i in range(len(model.weights))])
    model.compile(optimizer=SGD(0.1), loss="sparse_categorical_crossentropy")
    x, y = FIX["model/x"], FIX["model/y"]
    assert model.test_on_batch(x, y) == pytest.approx(float(FIX["model/test_loss"]), rel=1e-5)
    for step in (1, 2):
        assert model.train_on_batch(x, y) == pytest.approx(float(FIX[f"model/loss{step}"]), rel=1e-5)
        for i, w in enumerate(model.get_weights()):
            np.testing.assert_allclose(w, FIX[f"model/w{step}_{i}"], rtol=1e-4, atol=1e-6,
                                       err_msg=f"step {step}, weight {i}")
    config = json.loads(model.to_json())["config"]["layers"][1]["config"]
    assert config["kernel_regularizer"]["class_name"] == "L2"
    assert config["kernel_constraint"] == {"module": "keras.constraints", "class_name": "MaxNorm",
                                           "config": {"max_value": 0.5, "axis": 0}, "registered_name": None}
    model.save(tmp_path / "reg.keras")
    from numbacnn.models import load_model

    copy = load_model(tmp_path / "reg.keras")
    assert isinstance(copy.layers[2].bias.constraint, C.UnitNorm)
