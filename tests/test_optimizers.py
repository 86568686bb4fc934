"""Optimizers: several steps against pure-NumPy transcriptions of Keras 3's update_step, defaults, config,
get, state save/restore, clipping, weight decay and errors."""

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from numbacnn import optimizers
from numbacnn.layers.base import Layer
from numbacnn.optimizers import schedules
from numbacnn.saving.optimizer_state import keras_state, set_keras_state

SHAPES = [(3, 2), (2,), (2, 2, 1, 3)]
STEPS = 4


def keras_reference(kind, config, weights, grad_steps):
    """Keras 3's update_step for every weight, transcribed with NumPy in float64 (no clipping/decay)."""
    c = dict(config)
    lr = c.get("learning_rate", {"sgd": 0.01}.get(kind, 0.001))
    ws = [w.astype(np.float64).copy() for w in weights]
    zeros = [np.zeros_like(w) for w in ws]
    m, v, vhat, avg = ([z.copy() for z in zeros] for _ in range(4))
    acc = [np.full_like(w, c.get("initial_accumulator_value", 0.1)) for w in ws]
    for t, grads in enumerate(grad_steps, start=1):
        for i, g in enumerate(grads):
            if kind == "sgd":
                mom = c.get("momentum", 0.0)
                if mom:
                    m[i] = mom * m[i] - lr * g
                    ws[i] = ws[i] + (mom * m[i] - lr * g if c.get("nesterov") else m[i])
                else:
                    ws[i] = ws[i] - lr * g
            elif kind == "adam":
                b1, b2, eps = c.get("beta_1", 0.9), c.get("beta_2", 0.999), c.get("epsilon", 1e-7)
                alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
                m[i] = m[i] + (g - m[i]) * (1 - b1)
                v[i] = v[i] + (g**2 - v[i]) * (1 - b2)
                vhat[i] = np.maximum(vhat[i], v[i])
                ws[i] = ws[i] - m[i] * alpha / (np.sqrt(vhat[i] if c.get("amsgrad") else v[i]) + eps)
            elif kind == "rmsprop":
                rho, mom, eps = c.get("rho", 0.9), c.get("momentum", 0.0), c.get("epsilon", 1e-7)
                v[i] = rho * v[i] + (1 - rho) * g**2
                if c.get("centered"):
                    avg[i] = rho * avg[i] + (1 - rho) * g
                    increment = lr * g / np.sqrt(v[i] - avg[i] ** 2 + eps)
                else:
                    increment = lr * g / np.sqrt(v[i] + eps)
                if mom > 0:
                    m[i] = mom * m[i] + increment
                    ws[i] = ws[i] - m[i]
                else:
                    ws[i] = ws[i] - increment
            else:
                acc[i] = acc[i] + g**2
                ws[i] = ws[i] - lr * g / np.sqrt(acc[i] + c.get("epsilon", 1e-7))
    return ws


CLASSES = {"sgd": optimizers.SGD, "adam": optimizers.Adam, "rmsprop": optimizers.RMSprop,
           "adagrad": optimizers.Adagrad}
CONFIGS = [
    ("sgd", {}), ("sgd", {"learning_rate": 0.1, "momentum": 0.9}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.5, "nesterov": True}),
    ("adam", {}), ("adam", {"learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-3}),
    ("adam", {"learning_rate": 0.05, "amsgrad": True}),
    ("rmsprop", {}), ("rmsprop", {"learning_rate": 0.01, "momentum": 0.9}),
    ("rmsprop", {"centered": True, "rho": 0.8}), ("rmsprop", {"centered": True, "momentum": 0.5}),
    ("adagrad", {}), ("adagrad", {"learning_rate": 0.5, "initial_accumulator_value": 1.0, "epsilon": 1e-4}),
]


def model_weights(dtype, seed=0):
    """Weight objects of a bare layer, with random values."""
    layer = Layer(name="dense", dtype=dtype)
    rng = np.random.default_rng(seed)
    weights = [layer.add_weight(f"w{i}", shape) for i, shape in enumerate(SHAPES)]
    for w in weights:
        w.assign(rng.normal(size=w.shape))
    return weights


def grad_steps(seed=1):
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=s) for s in SHAPES] for _ in range(STEPS)]


@pytest.mark.parametrize("kind,config", CONFIGS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_steps_match_keras_formulas(kind, config, dtype):
    weights = model_weights(dtype)
    expected = keras_reference(kind, config, [w.value for w in weights], grad_steps())
    values = [w.value for w in weights]
    opt = CLASSES[kind](**config)
    for grads in grad_steps():
        for w, g in zip(weights, grads):
            w.grad[...] = g
        opt.apply(weights)
    assert opt.iterations == STEPS
    tol = {"rtol": 1e-12, "atol": 1e-14} if dtype == "float64" else {"rtol": 2e-5, "atol": 2e-6}
    for w, value, ref in zip(weights, values, expected):
        assert w.value is value and w.value.dtype == np.dtype(dtype)
        np.testing.assert_allclose(w.value, ref, **tol)


@pytest.mark.parametrize("kind,config", CONFIGS[::3])
def test_apply_gradients_on_plain_arrays(kind, config):
    arrays = [w.value.copy() for w in model_weights("float64")]
    expected = keras_reference(kind, config, arrays, grad_steps())
    opt = CLASSES[kind](**config)
    for step, grads in enumerate(grad_steps(), start=1):
        assert opt.apply_gradients(list(zip(grads, arrays))) == step
    for a, ref in zip(arrays, expected):
        np.testing.assert_allclose(a, ref, rtol=1e-12, atol=1e-14)


def test_apply_with_keras_signature_and_subsets():
    arrays = [np.ones(3), np.ones(2)]
    opt = optimizers.SGD(learning_rate=0.5)
    opt.apply([np.ones(3), np.ones(2)], arrays)
    opt.apply([np.ones(2)], arrays[1:])
    np.testing.assert_allclose(arrays[0], 0.5)
    np.testing.assert_allclose(arrays[1], 0.0)
    assert opt.iterations == 2


def test_defaults_and_names():
    expected = {
        optimizers.SGD: ("SGD", {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False}),
        optimizers.Adam: ("adam", {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
                                   "amsgrad": False}),
        optimizers.RMSprop: ("rmsprop", {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0,
                                         "epsilon": 1e-07, "centered": False}),
        optimizers.Adagrad: ("adagrad", {"learning_rate": 0.001, "initial_accumulator_value": 0.1,
                                         "epsilon": 1e-07}),
    }
    base = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
            "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
            "loss_scale_factor": None, "gradient_accumulation_steps": None}
    for cls, (name, args) in expected.items():
        opt = cls()
        assert opt.name == name
        assert opt.get_config() == {"name": name, **base, **args}


@pytest.mark.parametrize("identifier,cls", [("adam", optimizers.Adam), ("Adam", optimizers.Adam),
                                            ("sgd", optimizers.SGD), ("SGD", optimizers.SGD),
                                            ("rmsprop", optimizers.RMSprop), ("RMSprop", optimizers.RMSprop),
                                            ("adagrad", optimizers.Adagrad), ("Adagrad", optimizers.Adagrad)])
def test_get_by_name(identifier, cls):
    assert type(optimizers.get(identifier)) is cls


def test_get_objects_dicts_and_unknown():
    opt = optimizers.Adam(learning_rate=0.1)
    assert optimizers.get(opt) is opt and optimizers.get(None) is None
    again = optimizers.get({"class_name": "Adam", "config": {"learning_rate": 0.1, "amsgrad": True}})
    assert type(again) is optimizers.Adam and again.learning_rate == 0.1 and again.amsgrad
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier: 'adadelta'"):
        optimizers.get("adadelta")


@pytest.mark.parametrize("kind,config", CONFIGS)
def test_config_round_trip(kind, config):
    opt = CLASSES[kind](**config, clipnorm=1.0)
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert type(again) is type(opt) and again.get_config() == opt.get_config()
    assert type(CLASSES[kind].from_config(opt.get_config())) is type(opt)


def test_learning_rate_is_a_settable_float():
    opt = optimizers.SGD(learning_rate=1)
    assert opt.learning_rate == 1.0 and isinstance(opt.learning_rate, float)
    w = np.zeros(2)
    opt.apply_gradients([(np.ones(2), w)])
    opt.learning_rate = 0.25
    opt.apply_gradients([(np.ones(2), w)])
    np.testing.assert_allclose(w, -1.25)
    assert opt.get_config()["learning_rate"] == 0.25
    with pytest.raises(ValueError, match="`learning_rate` should be a float.*'fast'"):
        opt.learning_rate = "fast"


def test_keras2_lr_spelling_is_deprecated():
    with pytest.warns(DeprecationWarning, match="lr.*learning_rate"):
        opt = optimizers.Adam(lr=0.02)
    assert opt.learning_rate == 0.02
    with pytest.warns(UserWarning, match="decay"):
        optimizers.SGD(decay=1e-6)


@pytest.mark.parametrize("kind,config", [c for c in CONFIGS if c[1]])
def test_state_restores_training(kind, config):
    weights = model_weights("float64")
    opt = CLASSES[kind](**config)
    steps = grad_steps()
    twin_values = None
    for n, grads in enumerate(steps):
        if n == 2:
            twin_values = [w.value.copy() for w in weights]
            twin = CLASSES[kind](**config)
            twin.build(twin_values)
            twin.set_state(opt.get_state())
            assert twin.iterations == 2
        opt.apply_gradients(list(zip(grads, weights)))
        if twin_values is not None:
            twin.apply_gradients(list(zip(grads, twin_values)))
    for w, t in zip(weights, twin_values):
        np.testing.assert_array_equal(w.value, t)


def test_variables_follow_keras_order():
    weights = model_weights("float32")
    opt = optimizers.Adam(amsgrad=True)
    assert opt.variable_names == ["iteration", "learning_rate"]
    opt.build(weights)
    names = opt.variable_names
    assert names[:2] == ["iteration", "learning_rate"]
    assert names[2:5] == ["dense_w0_momentum", "dense_w1_momentum", "dense_w2_momentum"]
    assert names[5] == "dense_w0_velocity" and names[-1] == "dense_w2_velocity_hat"
    variables = opt.variables
    assert len(variables) == len(names) == 2 + 3 * 3
    assert [v.shape for v in variables[2:5]] == SHAPES and variables[2].dtype == np.float32
    assert len(optimizers.SGD().variables) == 2 and len(optimizers.RMSprop(momentum=0.5, centered=True)
                                                         .variables) == 2
    adagrad = optimizers.Adagrad(initial_accumulator_value=0.3)
    adagrad.build(weights)
    np.testing.assert_array_equal(adagrad.variables[2], np.full((3, 2), 0.3, np.float32))


def test_set_state_errors():
    opt = optimizers.Adam()
    with pytest.raises(ValueError, match="not built yet"):
        opt.set_state([])
    opt.build([np.zeros((2, 2))])
    with pytest.raises(ValueError, match="has 4 variables, received 3"):
        opt.set_state(opt.get_state()[:3])
    state = opt.get_state()
    state[3] = np.zeros(3)
    with pytest.raises(ValueError, match=r"'variable_0_velocity' has shape \(2, 2\), received shape \(3,\)"):
        opt.set_state(state)


def test_clipping_and_weight_decay():
    g = np.array([3.0, 4.0])
    for kwargs, expected_grad in [({"clipnorm": 1.0}, g / 5), ({"clipvalue": 3.5}, [3.0, 3.5]),
                                  ({"global_clipnorm": 10.0}, g)]:
        w = np.zeros(2)
        optimizers.SGD(learning_rate=1.0, **kwargs).apply_gradients([(g, w)])
        np.testing.assert_allclose(w, -np.asarray(expected_grad))
    a, b = np.zeros(2), np.zeros(1)
    optimizers.SGD(learning_rate=1.0, global_clipnorm=6.5).apply_gradients([(g, a), (np.array([12.0]), b)])
    np.testing.assert_allclose(np.concatenate([a, b]), -np.array([3.0, 4.0, 12.0]) / 2)
    w = np.array([2.0, -4.0])
    optimizers.SGD(learning_rate=0.1, weight_decay=0.5).apply_gradients([(np.ones(2), w)])
    np.testing.assert_allclose(w, np.array([2.0, -4.0]) * (1 - 0.05) - 0.1)


def test_none_gradients_are_skipped_with_a_warning():
    a, b = np.ones(2), np.ones(2)
    opt = optimizers.SGD(learning_rate=1.0)
    with pytest.warns(UserWarning, match="Gradients do not exist"):
        opt.apply_gradients([(np.ones(2), a), (None, b)])
    np.testing.assert_array_equal(a, 0.0)
    np.testing.assert_array_equal(b, 1.0)
    with pytest.raises(ValueError, match="No gradients provided"):
        opt.apply_gradients([(None, a)])


def test_errors():
    with pytest.raises(ValueError, match=r"Argument\(s\) not recognized: \{'beta': 0.5\}"):
        optimizers.Adam(beta=0.5)
    with pytest.raises(ValueError, match="loss_scale_factor.*not supported"):
        optimizers.Adam(loss_scale_factor=128.0)
    with pytest.raises(ValueError, match="Only one of `clipnorm`, `clipvalue` and `global_clipnorm`"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match=r"`momentum` must be a float between \[0, 1\]"):
        optimizers.SGD(momentum=1.5)
    opt = optimizers.SGD()
    opt.apply_gradients([(np.ones(2), np.ones(2))])
    with pytest.raises(ValueError, match="Unknown variable"):
        opt.apply_gradients([(np.ones(2), np.ones(2))])
    w = np.ones(3)
    with pytest.raises(ValueError, match=r"has shape \(2,\), the variable has shape \(3,\)"):
        optimizers.SGD().apply_gradients([(np.ones(2), w)])
    with pytest.raises(ValueError, match="C-contiguous"):
        optimizers.SGD().apply_gradients([(np.ones(2), np.ones((2, 2))[:, 0])])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimizers.SGD(momentum=0).apply_gradients([(np.ones(2), np.ones(2))])


# ----- against real Keras 3 (tests/data/make_keras_optim_fixtures.py) --------------------------------------
FIXTURES = np.load(Path(__file__).parent / "data" / "keras_optim_fixtures.npz")
CONFIGS_KERAS = json.loads(str(FIXTURES["configs"]))
KERAS_SHAPES = [(3, 2), (2,)]
OPT_CASES = sorted(k.split("/")[1] for k in CONFIGS_KERAS if k.startswith("opt/"))


def _split(flat, shapes):
    out, at = [], 0
    for shape in shapes:
        size = int(np.prod(shape, dtype=np.int64))
        out.append(flat[at:at + size].reshape(shape))
        at += size
    return out


def _numbacnn_optimizer(spec):
    config = dict(spec["config"])
    lr = config.get("learning_rate")
    if isinstance(lr, dict):
        config["learning_rate"] = getattr(schedules, lr["schedule"])(**lr["args"])
    return getattr(optimizers, spec["class_name"])(**config)


@pytest.mark.parametrize("case", OPT_CASES)
def test_steps_and_state_match_keras(case):
    spec = CONFIGS_KERAS[f"opt/{case}"]
    prefix = f"opt/{case}"
    weights = [w.copy() for w in _split(FIXTURES[f"{prefix}/w"], KERAS_SHAPES)]
    opt = _numbacnn_optimizer(spec)
    for step, (grads, after) in enumerate(zip(FIXTURES[f"{prefix}/g"], FIXTURES[f"{prefix}/after"]), start=1):
        opt.apply_gradients(zip(_split(grads, KERAS_SHAPES), weights))
        for w, expected in zip(weights, _split(after, KERAS_SHAPES)):
            np.testing.assert_allclose(w, expected, rtol=4e-7, atol=2e-8, err_msg=f"{case}, step {step}")
    names, values = keras_state(opt)
    keras_names = [n.split("/", 1)[1] for n in spec["var_names"]]
    assert len(values) == len(keras_names)
    expected = _split(FIXTURES[f"{prefix}/vars"], [tuple(s) for s in spec["var_shapes"]])
    for name, keras_name, value, ref in zip(names, keras_names, values, expected):
        kind = re.sub(r"_\d+$", "", keras_name).rsplit("_", 1)[-1]  # Keras's "variable_2": Nadam's product
        assert name.split("/", 1)[1].endswith(kind), (names, keras_names)
        np.testing.assert_allclose(np.asarray(value, dtype=np.float64), ref, rtol=1e-6, atol=1e-7,
                                   err_msg=f"{case}: {keras_name}")


@pytest.mark.parametrize("case", OPT_CASES)
def test_config_matches_keras(case):
    spec = CONFIGS_KERAS[f"opt/{case}"]
    keras_config, config = spec["keras_config"], _numbacnn_optimizer(spec).get_config()
    assert list(config) == list(keras_config)
    for key, value in keras_config.items():
        if key == "name":  # Keras numbers a class's second instance ("nadam_2"); SGD and RMSprop keep
            if spec["class_name"] not in ("SGD", "RMSprop"):  # numbacnn's older names "SGD", "rmsprop"
                assert config["name"] in (value, value.rsplit("_", 1)[0])
        elif key == "learning_rate" and isinstance(value, float):
            assert np.float32(config[key]) == np.float32(value)  # Keras keeps it in a float32 variable
        else:
            assert config[key] == value, key
    again = optimizers.deserialize({"class_name": spec["class_name"], "config": keras_config})
    assert list(again.get_config()) == list(keras_config)
    assert again.learning_rate == pytest.approx(_numbacnn_optimizer(spec).learning_rate, rel=1e-7)


@pytest.mark.parametrize("case", OPT_CASES)
def test_keras_state_round_trips_mid_training(case):
    spec = CONFIGS_KERAS[f"opt/{case}"]
    prefix = f"opt/{case}"
    weights = [w.copy() for w in _split(FIXTURES[f"{prefix}/w"], KERAS_SHAPES)]
    steps = [_split(g, KERAS_SHAPES) for g in FIXTURES[f"{prefix}/g"]]
    opt = _numbacnn_optimizer(spec)
    opt.apply_gradients(zip(steps[0], weights))
    twin_weights = [w.copy() for w in weights]
    twin = _numbacnn_optimizer(spec)
    twin.build(twin_weights)
    assert set_keras_state(twin, keras_state(opt)[1]) is None
    assert twin.iterations == opt.iterations
    for grads in steps[1:]:
        opt.apply_gradients(zip(grads, weights))
        twin.apply_gradients(zip([g.copy() for g in grads], twin_weights))
    for w, t in zip(weights, twin_weights):
        np.testing.assert_array_equal(w, t)


def test_new_optimizers_defaults_names_and_get():
    assert optimizers.AdamW().get_config()["weight_decay"] == 0.004 and optimizers.AdamW().name == "adam_w"
    assert optimizers.Nadam().name == "nadam" and optimizers.Adamax().name == "adamax"
    lion = optimizers.Lion()
    assert (lion.learning_rate, lion.beta_1, lion.beta_2) == (0.001, 0.9, 0.99)
    for name, cls in [("adamw", optimizers.AdamW), ("Nadam", optimizers.Nadam), ("adamax", optimizers.Adamax),
                      ("lion", optimizers.Lion)]:
        assert type(optimizers.get(name)) is cls
        again = optimizers.deserialize(optimizers.serialize(cls(learning_rate=0.5)))
        assert type(again) is cls and again.get_config() == cls(learning_rate=0.5).get_config()
    with pytest.raises(ValueError, match="`weight_decay` must be a float"):
        optimizers.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match=r"`beta_1` must be in the \[0, 1\] range"):
        optimizers.Lion(beta_1=0.0)
    with pytest.raises(ValueError, match="gradient_accumulation_steps` must be an integer >= 2"):
        optimizers.SGD(gradient_accumulation_steps=1)
    with pytest.raises(ValueError, match=r"`ema_momentum` must be in the range \[0, 1\]"):
        optimizers.SGD(use_ema=True, ema_momentum=1.5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_new_optimizers_match_numpy_formulas(dtype):
    """Four steps of Nadam, Adamax and Lion against float64 transcriptions of Keras's update_step."""
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=7)
    grads = [rng.normal(size=7) for _ in range(4)]
    tol = {"rtol": 1e-12, "atol": 1e-14} if dtype == "float64" else {"rtol": 2e-5, "atol": 2e-6}
    lr, b1, b2, eps = 0.01, 0.8, 0.95, 1e-7
    # Nadam
    w, m, v, prod = w0.copy(), np.zeros(7), np.zeros(7), 1.0
    for t, g in enumerate(grads, start=1):
        u_t, u_next = b1 * (1 - 0.5 * 0.96 ** t), b1 * (1 - 0.5 * 0.96 ** (t + 1))
        prod *= u_t
        m += (g - m) * (1 - b1)
        v += (g * g - v) * (1 - b2)
        m_hat = u_next * m / (1 - prod * u_next) + (1 - u_t) * g / (1 - prod)
        w -= lr * m_hat / (np.sqrt(v / (1 - b2 ** t)) + eps)
    got = w0.astype(dtype)
    opt = optimizers.Nadam(learning_rate=lr, beta_1=b1, beta_2=b2)
    for g in grads:
        opt.apply_gradients([(g, got)])
    np.testing.assert_allclose(got, w, **tol)
    # Adamax
    w, m, u = w0.copy(), np.zeros(7), np.zeros(7)
    for t, g in enumerate(grads, start=1):
        m += (g - m) * (1 - b1)
        u = np.maximum(b2 * u, np.abs(g))
        w -= lr * m / ((1 - b1 ** t) * (u + eps))
    got = w0.astype(dtype)
    opt = optimizers.Adamax(learning_rate=lr, beta_1=b1, beta_2=b2)
    for g in grads:
        opt.apply_gradients([(g, got)])
    np.testing.assert_allclose(got, w, **tol)
    # Lion
    w, m = w0.copy(), np.zeros(7)
    for g in grads:
        w -= lr * np.sign(m * b1 + g * (1 - b1))
        m = m * b2 + g * (1 - b2)
    got = w0.astype(dtype)
    opt = optimizers.Lion(learning_rate=lr, beta_1=b1, beta_2=b2)
    for g in grads:
        opt.apply_gradients([(g, got)])
    np.testing.assert_allclose(got, w, **tol)


def test_learning_rate_schedule_and_callable():
    schedule = schedules.ExponentialDecay(0.5, decay_steps=1, decay_rate=0.5)
    opt = optimizers.SGD(learning_rate=schedule)
    assert opt.learning_rate == 0.5 and opt.variable_names == ["iteration"]
    w = np.zeros(1)
    opt.apply_gradients([(np.ones(1), w)])
    assert opt.iterations == 1 and opt.learning_rate == 0.25
    opt.apply_gradients([(np.ones(1), w)])
    np.testing.assert_allclose(w, [-0.75])
    assert [v.shape for v in opt.variables] == [()]
    with pytest.raises(TypeError, match="learning rate is not settable"):
        opt.learning_rate = 0.1
    config = opt.get_config()
    assert config["learning_rate"]["class_name"] == "ExponentialDecay"
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert isinstance(again._learning_rate, schedules.ExponentialDecay) and again.learning_rate == 0.5
    calls = []
    opt = optimizers.SGD(learning_rate=lambda: calls.append(1) or 0.5)
    w = np.zeros(1)
    opt.apply_gradients([(np.ones(1), w)])
    assert calls and w[0] == -0.5 and opt.learning_rate == 0.5
    opt.learning_rate = 0.25  # a number replaces a callable, as in Keras
    assert opt.learning_rate == 0.25 and opt.variable_names == ["iteration", "learning_rate"]


def test_ema_finalize_and_accumulation_iterations():
    w = np.array([1.0, 2.0])
    opt = optimizers.SGD(learning_rate=1.0, use_ema=True, ema_momentum=0.5)
    opt.apply_gradients([(np.ones(2), w)])  # w = [0, 1]; first step copies: average = w
    opt.apply_gradients([(np.ones(2), w)])  # w = [-1, 0]; average = 0.5*[0, 1] + 0.5*[-1, 0]
    np.testing.assert_allclose(opt.variables[2], [-0.5, 0.5])
    opt.finalize_variable_values()
    np.testing.assert_allclose(w, [-0.5, 0.5])
    opt = optimizers.SGD(learning_rate=1.0, gradient_accumulation_steps=3)
    w = np.zeros(1)
    for n, g in enumerate([1.0, 2.0, 6.0], start=1):
        opt.apply_gradients([(np.array([g]), w)])
        assert opt.iterations == n // 3
    np.testing.assert_allclose(w, [-3.0])
    assert opt.variables[0] == 3 and opt.variable_names[2] == "variable_0_gradient_accumulator"


def test_exclude_from_weight_decay():
    layer = Layer(name="dense", dtype="float64")
    kernel, bias = layer.add_weight("kernel", (2,)), layer.add_weight("bias", (2,))
    kernel.assign(np.ones(2))
    bias.assign(np.ones(2))
    opt = optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    kernel.grad[...] = 0.0
    bias.grad[...] = 0.0
    opt.apply([kernel, bias])
    np.testing.assert_allclose(kernel.value, 0.95)
    np.testing.assert_allclose(bias.value, 1.0)
    with pytest.raises(ValueError, match="before the optimizer is built"):
        opt.exclude_from_weight_decay(var_names=["kernel"])
    opt = optimizers.SGD(learning_rate=0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_list=[kernel])
    opt.apply([kernel, bias])
    np.testing.assert_allclose(kernel.value, 0.95)
    np.testing.assert_allclose(bias.value, 0.95)


MODEL_CASES = sorted(k.split("/")[1] for k in CONFIGS_KERAS if k.startswith("model/"))


@pytest.mark.parametrize("case", MODEL_CASES)
def test_dense_model_train_on_batch_matches_keras(case):
    """A Dense(3) model compiled with a new optimizer (a schedule, EMA, weight decay) and a new loss: two
    train_on_batch steps give Keras's losses and weights."""
    from numbacnn import layers, losses, models

    spec, prefix = CONFIGS_KERAS[f"model/{case}"], f"model/{case}"
    model = models.Sequential([layers.Input((4,)), layers.Dense(3, activation=spec["activation"])])
    model.set_weights([FIXTURES[f"{prefix}/w0"], FIXTURES[f"{prefix}/w1"]])
    loss = spec["loss"]
    if isinstance(loss, dict):
        loss = getattr(losses, loss["class_name"])(**loss["config"])
    model.compile(optimizer=_numbacnn_optimizer(spec["optimizer"]), loss=loss)
    x, y = FIXTURES[f"{prefix}/x"], FIXTURES[f"{prefix}/y"]
    for step in (1, 2):
        assert model.train_on_batch(x, y) == pytest.approx(float(FIXTURES[f"{prefix}/loss{step}"]), rel=2e-6)
        for i, w in enumerate(model.get_weights()):
            np.testing.assert_allclose(w, FIXTURES[f"{prefix}/new{step}_w{i}"], rtol=2e-6, atol=1e-7,
                                       err_msg=f"{case}: step {step}, weight {i}")


@pytest.mark.parametrize("make", [
    lambda: optimizers.Nadam(schedules.ExponentialDecay(0.05, 2, 0.5), use_ema=True),
    lambda: optimizers.AdamW(0.01, amsgrad=True, gradient_accumulation_steps=2),
    lambda: optimizers.Lion(schedules.PiecewiseConstantDecay([1], [0.01, 0.005]), weight_decay=0.1),
    lambda: optimizers.Adamax(0.02)])
@pytest.mark.parametrize("how", ["model_file", "weights_file"])
def test_state_survives_saving_and_training_goes_on_identically(tmp_path, make, how):
    from numbacnn import layers, models

    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(12, 4)).astype("float32"), rng.integers(0, 3, 12)

    def build():
        model = models.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
        model.set_weights([np.full((4, 3), 0.1, "float32"), np.zeros(3, "float32")])
        model.compile(optimizer=make(), loss="sparse_categorical_crossentropy")
        return model

    model = build()
    for i in range(3):
        model.train_on_batch(x[4 * i:4 * i + 4], y[4 * i:4 * i + 4])
    if how == "model_file":
        model.save(tmp_path / "m.h5")
        copy = models.load_model(tmp_path / "m.h5")
    else:
        model.save_weights(tmp_path / "m.weights.h5")
        copy = build()
        copy.load_weights(tmp_path / "m.weights.h5")
    assert type(copy.optimizer) is type(model.optimizer)
    assert copy.optimizer.get_config() == model.optimizer.get_config()
    for a, b in zip(model.optimizer.get_state(), copy.optimizer.get_state()):
        np.testing.assert_array_equal(a, b)
    for _ in range(2):
        assert copy.train_on_batch(x[:4], y[:4]) == model.train_on_batch(x[:4], y[:4])
    for a, b in zip(model.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_learning_rate_callbacks_drive_the_new_optimizers():
    from numbacnn import callbacks, layers, models

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 4)).astype("float32"), rng.integers(0, 3, 16)

    def build(optimizer):
        model = models.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
        return model

    model = build(optimizers.AdamW(0.01))
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0,
                        callbacks=[callbacks.LearningRateScheduler(lambda epoch, lr: 0.01 / (epoch + 1))])
    assert model.optimizer.learning_rate == pytest.approx(0.01 / 3)
    np.testing.assert_allclose(history.history["learning_rate"], [0.01, 0.005, 0.01 / 3], rtol=1e-7)
    model = build(optimizers.Nadam(0.01))
    plateau = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[plateau])
    assert model.optimizer.learning_rate == pytest.approx(0.005)  # the first epoch improves on inf
    model = build(optimizers.Lion(schedules.InverseTimeDecay(0.01, 1, 1.0)))
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[callbacks.History()])
    assert model.optimizer.iterations == 4 and model.optimizer.learning_rate == pytest.approx(0.01 / 5)
    with pytest.raises(TypeError, match="not settable"):
        model.fit(x, y, epochs=1, batch_size=8, verbose=0,
                  callbacks=[callbacks.LearningRateScheduler(lambda epoch: 0.1)])
