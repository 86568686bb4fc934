"""Regenerate ``keras_optim_fixtures.npz``: real Keras 3 numbers for the optimizers, learning-rate
schedules, losses and metrics (tests/test_optimizers.py, test_schedules.py, test_losses.py,
test_metrics.py). Run with Keras 3 on TensorFlow (not needed by the test suite)::

    /opt/tfenv/bin/python tests/data/make_keras_optim_fixtures.py

Keys (``configs`` is one JSON string: {"opt/<case>": {"class_name", "config", ...}, ...}):

* ``opt/<case>/``: ``w`` (the float32 weights of shapes SHAPES, flattened and concatenated), ``g`` (STEPS, P)
  the gradients of each step, ``after`` (STEPS, P) the weights after each ``apply_gradients``, ``vars``
  (the optimizer's variables after the last step, in Keras's order, flattened and concatenated as float64;
  their paths and shapes are in the config's "var_names" and "var_shapes"; "keras_config" is
  ``get_config()``).
* ``sched/steps`` (int64) and ``sched/<case>/values`` (float32, the schedule at those steps).
* ``loss/<case>/``: ``y_true``, ``y_pred``, ``sw`` (per-sample weights); ``values`` = [value, value with
  the sample weights], ``grads`` (2, N, C) = dLoss/dy_pred by GradientTape without and with them,
  ``per_sample`` (reduction "none").
* ``model/<case>/``: a Dense(3) model on 4 inputs: ``w0, w1`` (kernel, bias), ``x, y``, then after each of
  two ``train_on_batch(x, y)`` the returned ``loss1``/``loss2`` and the weights ``new1_w0, ...``,
  ``new2_w0, ...``.
* ``metric/<case>/``: ``y_true``, ``y_pred``, ``sw`` stacked over three batches; ``result`` (after the three
  updates, unweighted) and ``result_sw`` (weighted).
"""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import losses, metrics, optimizers  # noqa: E402
from keras.optimizers import schedules  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_optim_fixtures.npz")
SHAPES = [(3, 2), (2,)]
STEPS = 3


def f32(a):
    return np.asarray(a, dtype=np.float32)


# ----- optimizers ----------------------------------------------------------------------------------
def sched(cls, **kwargs):
    return {"schedule": cls, "args": kwargs}


OPTIMIZERS = {
    "adamw": ("AdamW", {}),
    "adamw_amsgrad": ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1, "amsgrad": True,
                                "beta_1": 0.8}),
    "nadam": ("Nadam", {}),
    "nadam_custom": ("Nadam", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.9, "epsilon": 1e-4}),
    "adamax": ("Adamax", {}),
    "adamax_custom": ("Adamax", {"learning_rate": 0.02, "beta_1": 0.7, "beta_2": 0.95}),
    "lion": ("Lion", {}),
    "lion_custom": ("Lion", {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9, "weight_decay": 0.05}),
    "adam_ema": ("Adam", {"learning_rate": 0.01, "use_ema": True, "ema_momentum": 0.9}),
    "sgd_ema_overwrite": ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "use_ema": True,
                                  "ema_momentum": 0.8, "ema_overwrite_frequency": 2}),
    "sgd_accumulate": ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "gradient_accumulation_steps": 2}),
    "adam_accumulate_ema": ("Adam", {"learning_rate": 0.01, "gradient_accumulation_steps": 2,
                                     "use_ema": True}),
    "sgd_exponential": ("SGD", {"learning_rate": sched("ExponentialDecay", initial_learning_rate=0.1,
                                                        decay_steps=1, decay_rate=0.5)}),
    "adam_cosine_warmup": ("Adam", {"learning_rate": sched("CosineDecay", initial_learning_rate=0.001,
                                                            decay_steps=4, warmup_target=0.01,
                                                            warmup_steps=2)}),
    "nadam_piecewise_wd": ("Nadam", {"learning_rate": sched("PiecewiseConstantDecay", boundaries=[1],
                                                             values=[0.01, 0.002]),
                                     "weight_decay": 0.1}),
    "adam_clipnorm": ("Adam", {"learning_rate": 0.01, "clipnorm": 0.5}),
    "rmsprop_global_clipnorm_wd": ("RMSprop", {"learning_rate": 0.01, "global_clipnorm": 0.7,
                                               "weight_decay": 0.2}),
    "adagrad_clipvalue": ("Adagrad", {"learning_rate": 0.1, "clipvalue": 0.3}),
}


def make_optimizer(class_name, config):
    config = dict(config)
    lr = config.get("learning_rate")
    if isinstance(lr, dict):
        config["learning_rate"] = getattr(schedules, lr["schedule"])(**lr["args"])
    return getattr(optimizers, class_name)(**config)


def _flat(arrays):
    return np.concatenate([np.asarray(a, dtype=np.float64).reshape(-1) for a in arrays])


def record_optimizers(out, configs, rng):
    for case, (class_name, config) in OPTIMIZERS.items():
        p = f"opt/{case}"
        weights = [f32(rng.normal(size=s)) for s in SHAPES]
        variables = [keras.Variable(w, name=f"w{i}") for i, w in enumerate(weights)]
        opt = make_optimizer(class_name, config)
        out[f"{p}/w"] = f32(_flat(weights))
        grads_seen, after = [], []
        for _ in range(STEPS):
            grads = [f32(rng.normal(size=s)) for s in SHAPES]
            grads_seen.append(f32(_flat(grads)))
            opt.apply_gradients(zip([tf.constant(g) for g in grads], variables))
            after.append(f32(_flat([v.numpy() for v in variables])))
        out[f"{p}/g"], out[f"{p}/after"] = np.stack(grads_seen), np.stack(after)
        out[f"{p}/vars"] = _flat([v.numpy() for v in opt.variables])
        configs[p] = {"class_name": class_name, "config": config, "keras_config": opt.get_config(),
                      "var_names": [v.path for v in opt.variables],
                      "var_shapes": [list(v.shape) for v in opt.variables]}


# ----- schedules -----------------------------------------------------------------------------------
SCHEDULES = {
    "exponential": ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.9}),
    "exponential_staircase": ("ExponentialDecay", {"initial_learning_rate": 0.05, "decay_steps": 5,
                                                   "decay_rate": 0.5, "staircase": True}),
    "piecewise": ("PiecewiseConstantDecay", {"boundaries": [5, 12], "values": [0.1, 0.01, 0.001]}),
    "cosine": ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 20}),
    "cosine_alpha": ("CosineDecay", {"initial_learning_rate": 0.02, "decay_steps": 13, "alpha": 0.1}),
    "cosine_warmup": ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 15, "warmup_target": 0.1,
                                      "warmup_steps": 6}),
    "cosine_warmup_alpha": ("CosineDecay", {"initial_learning_rate": 0.001, "decay_steps": 9, "alpha": 0.2,
                                            "warmup_target": 0.01, "warmup_steps": 4}),
    "inverse_time": ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 3,
                                          "decay_rate": 0.5}),
    "inverse_time_staircase": ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 4,
                                                    "decay_rate": 2.0, "staircase": True}),
    "polynomial": ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 17}),
    "polynomial_power_cycle": ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 6,
                                                   "end_learning_rate": 0.01, "power": 0.5,
                                                   "cycle": True}),
    "restarts": ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 5}),
    "restarts_flat": ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 4,
                                              "t_mul": 1.0, "m_mul": 0.5, "alpha": 0.1}),
}


def record_schedules(out, configs):
    steps = np.array(list(range(0, 41)) + [57, 100, 1000], dtype=np.int64)
    out["sched/steps"] = steps
    for case, (class_name, config) in SCHEDULES.items():
        p = f"sched/{case}"
        schedule = getattr(schedules, class_name)(**config)
        configs[p] = {"class_name": class_name, "config": config, "serialized": schedules.serialize(schedule)}
        out[f"{p}/values"] = f32([float(schedule(tf.constant(int(s), dtype=tf.int64))) for s in steps])


# ----- losses --------------------------------------------------------------------------------------
def _probs(rng, shape):
    z = rng.normal(size=shape)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return f32(e / e.sum(axis=-1, keepdims=True))


def _one_hot(rng, n, c):
    return f32(np.eye(c)[rng.integers(0, c, n)])


LOSSES = {
    "huber": ("Huber", {}, "regression"),
    "huber_delta": ("Huber", {"delta": 0.3}, "regression"),
    "log_cosh": ("LogCosh", {}, "regression"),
    "kl_divergence": ("KLDivergence", {}, "distribution"),
    "hinge": ("Hinge", {}, "binary"),
    "hinge_signed": ("Hinge", {}, "signed"),
    "squared_hinge": ("SquaredHinge", {}, "binary"),
    "squared_hinge_signed": ("SquaredHinge", {}, "signed"),
    "categorical_hinge": ("CategoricalHinge", {}, "one_hot_scores"),
    "categorical_focal": ("CategoricalFocalCrossentropy", {}, "one_hot"),
    "categorical_focal_custom": ("CategoricalFocalCrossentropy", {"alpha": 0.5, "gamma": 1.5,
                                                                   "label_smoothing": 0.1}, "one_hot"),
    "categorical_focal_logits": ("CategoricalFocalCrossentropy", {"from_logits": True}, "one_hot_logits"),
    "binary_focal": ("BinaryFocalCrossentropy", {}, "binary_probs"),
    "binary_focal_balanced": ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.4,
                                                          "gamma": 3.0, "label_smoothing": 0.2},
                              "binary_probs"),
    "binary_focal_logits": ("BinaryFocalCrossentropy", {"from_logits": True, "gamma": 1.0},
                            "binary_logits"),
    "mse_sum": ("MeanSquaredError", {"reduction": "sum"}, "regression"),
    "mae": ("MeanAbsoluteError", {}, "regression"),
    "cce": ("CategoricalCrossentropy", {}, "one_hot"),
    "scce_logits": ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse_logits"),
    "bce": ("BinaryCrossentropy", {}, "binary_probs"),
}


def _loss_data(rng, kind, n=5, c=3):
    if kind == "regression":
        return f32(rng.normal(size=(n, c))), f32(rng.normal(size=(n, c)) * 1.5)
    if kind == "distribution":
        return _probs(rng, (n, c)), _probs(rng, (n, c))
    if kind == "binary":
        return f32(rng.integers(0, 2, (n, c))), f32(rng.normal(size=(n, c)))
    if kind == "signed":
        return f32(rng.choice([-1.0, 1.0], (n, c))), f32(rng.normal(size=(n, c)))
    if kind == "one_hot_scores":
        return _one_hot(rng, n, c), f32(rng.normal(size=(n, c)))
    if kind == "one_hot":
        return _one_hot(rng, n, c), _probs(rng, (n, c))
    if kind == "one_hot_logits":
        return _one_hot(rng, n, c), f32(rng.normal(size=(n, c)) * 2)
    if kind == "binary_probs":
        return f32(rng.integers(0, 2, (n, c))), f32(rng.uniform(0.02, 0.98, (n, c)))
    if kind == "binary_logits":
        return f32(rng.integers(0, 2, (n, c))), f32(rng.normal(size=(n, c)) * 2)
    if kind == "sparse_logits":
        return rng.integers(0, c, n).astype(np.int64), f32(rng.normal(size=(n, c)))
    raise ValueError(kind)


def _value_and_grad(loss, y_true, y_pred, sw=None):
    p = tf.Variable(y_pred)
    with tf.GradientTape() as tape:
        value = loss(y_true, p, sample_weight=sw)
    return f32(value.numpy()), f32(tape.gradient(value, p).numpy())


def record_losses(out, configs, rng):
    for case, (class_name, config, kind) in LOSSES.items():
        p = f"loss/{case}"
        y_true, y_pred = _loss_data(rng, kind)
        sw = f32(rng.uniform(0.0, 2.0, len(y_pred)))
        loss = getattr(losses, class_name)(**config)
        configs[p] = {"class_name": class_name, "config": config, "keras_config": loss.get_config()}
        out[f"{p}/y_true"], out[f"{p}/y_pred"], out[f"{p}/sw"] = y_true, y_pred, sw
        value, grad = _value_and_grad(loss, y_true, y_pred)
        value_sw, grad_sw = _value_and_grad(loss, y_true, y_pred, sw)
        out[f"{p}/values"], out[f"{p}/grads"] = f32([value, value_sw]), np.stack([grad, grad_sw])
        per_sample = getattr(losses, class_name)(**{**config, "reduction": "none"})
        out[f"{p}/per_sample"] = f32(per_sample(y_true, y_pred).numpy())


# ----- metrics -------------------------------------------------------------------------------------
METRICS = {
    "precision": ("Precision", {}, "binary"),
    "precision_thresholds": ("Precision", {"thresholds": [0.2, 0.5, 0.7]}, "binary"),
    "precision_top_k": ("Precision", {"top_k": 2}, "multilabel"),
    "precision_class_id": ("Precision", {"class_id": 1, "thresholds": 0.4}, "multilabel"),
    "recall": ("Recall", {}, "binary"),
    "recall_thresholds": ("Recall", {"thresholds": [0.3, 0.6]}, "binary"),
    "recall_top_k_class": ("Recall", {"top_k": 1, "class_id": 2}, "multilabel"),
    "auc": ("AUC", {}, "binary"),
    "auc_pr": ("AUC", {"curve": "PR"}, "binary"),
    "auc_pr_majoring": ("AUC", {"curve": "PR", "summation_method": "majoring", "num_thresholds": 50},
                        "binary"),
    "auc_minoring": ("AUC", {"summation_method": "minoring", "num_thresholds": 13}, "binary"),
    "auc_thresholds": ("AUC", {"thresholds": [0.1, 0.35, 0.5, 0.8]}, "binary"),
    "auc_multilabel": ("AUC", {"multi_label": True}, "multilabel"),
    "auc_multilabel_weights": ("AUC", {"multi_label": True, "label_weights": [0.2, 1.0, 0.5],
                                       "curve": "PR"}, "multilabel"),
    "auc_logits": ("AUC", {"from_logits": True}, "binary_logits"),
    "f1_none": ("F1Score", {}, "one_hot"),
    "f1_micro": ("F1Score", {"average": "micro", "threshold": 0.4}, "multilabel"),
    "f1_macro": ("F1Score", {"average": "macro"}, "one_hot"),
    "f1_weighted": ("F1Score", {"average": "weighted", "threshold": 0.5}, "multilabel"),
    "fbeta_2": ("FBetaScore", {"beta": 2.0, "average": "macro", "threshold": 0.45}, "multilabel"),
    "fbeta_half_none": ("FBetaScore", {"beta": 0.5}, "one_hot"),
    "top_k": ("TopKCategoricalAccuracy", {"k": 2}, "one_hot"),
    "sparse_top_k": ("SparseTopKCategoricalAccuracy", {"k": 2}, "sparse"),
    "mean_iou": ("MeanIoU", {"num_classes": 3}, "sparse_pred_labels"),
    "mean_iou_dense": ("MeanIoU", {"num_classes": 3, "sparse_y_true": False, "sparse_y_pred": False,
                                   "ignore_class": 0}, "one_hot"),
    "accuracy": ("CategoricalAccuracy", {}, "one_hot"),
    "sparse_accuracy": ("SparseCategoricalAccuracy", {}, "sparse"),
    "binary_accuracy": ("BinaryAccuracy", {}, "binary"),
}


def _metric_data(rng, kind, n=8, c=3):
    if kind == "binary":
        return f32(rng.integers(0, 2, (n, 1))), f32(rng.uniform(0, 1, (n, 1)))
    if kind == "binary_logits":
        return f32(rng.integers(0, 2, (n, 1))), f32(rng.normal(size=(n, 1)) * 2)
    if kind == "multilabel":
        return f32(rng.integers(0, 2, (n, c))), f32(rng.uniform(0, 1, (n, c)))
    if kind == "one_hot":
        return _one_hot(rng, n, c), _probs(rng, (n, c))
    if kind == "sparse":
        return rng.integers(0, c, n).astype(np.int64), _probs(rng, (n, c))
    if kind == "sparse_pred_labels":
        return rng.integers(0, c, n).astype(np.int64), rng.integers(0, c, n).astype(np.int64)
    raise ValueError(kind)


def _plain(value):
    """JSON for the numpy / tensor values in a metric's config (AUC's label_weights)."""
    return np.asarray(value).tolist()


def record_metrics(out, configs, rng):
    for case, (class_name, config, kind) in METRICS.items():
        p = f"metric/{case}"
        configs[p] = {"class_name": class_name, "config": config}
        batches = []
        for _ in range(3):
            y_true, y_pred = _metric_data(rng, kind)
            sw = f32(rng.uniform(0.0, 2.0, len(y_pred)))
            if class_name == "MeanIoU":
                sw = np.round(sw).astype(np.float32)  # MeanIoU's int confusion matrix: whole weights
            batches.append((y_true, y_pred, sw))
        for i, key in enumerate(("y_true", "y_pred", "sw")):
            out[f"{p}/{key}"] = np.stack([b[i] for b in batches])
        plain = getattr(metrics, class_name)(**config)
        weighted = getattr(metrics, class_name)(**config)
        configs[p]["keras_config"] = json.loads(json.dumps(plain.get_config(), default=_plain))
        for y_true, y_pred, sw in batches:
            plain.update_state(y_true, y_pred)
            weighted.update_state(y_true, y_pred, sample_weight=sw)
        out[f"{p}/result"] = f32(plain.result())
        out[f"{p}/result_sw"] = f32(weighted.result())


# ----- whole models: train_on_batch -----------------------------------------------------------------
MODELS = {
    "nadam_cosine_huber": ({"class_name": "Nadam", "config": {"learning_rate": sched(
        "CosineDecay", initial_learning_rate=0.01, decay_steps=5, warmup_target=0.05, warmup_steps=1)}},
        {"class_name": "Huber", "config": {"delta": 0.5}}, None, "regression"),
    "adamw_categorical_focal": ({"class_name": "AdamW",
                                 "config": {"learning_rate": 0.01, "weight_decay": 0.05}},
                                "categorical_focal_crossentropy", "softmax", "one_hot"),
    "lion_binary_focal_logits": ({"class_name": "Lion", "config": {"learning_rate": 0.005}},
                                 {"class_name": "BinaryFocalCrossentropy", "config": {"from_logits": True}},
                                 None, "binary"),
    "adamax_squared_hinge": ({"class_name": "Adamax", "config": {"learning_rate": 0.02}}, "squared_hinge",
                             "tanh", "signed"),
    "sgd_ema_kld": ({"class_name": "SGD", "config": {"learning_rate": 0.1, "momentum": 0.9, "use_ema": True}},
                    "kld", "softmax", "distribution"),
}


def record_models(out, configs, rng):
    for case, (opt_spec, loss_spec, activation, kind) in MODELS.items():
        p = f"model/{case}"
        configs[p] = {"optimizer": opt_spec, "loss": loss_spec, "activation": activation}
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation=activation)])
        weights = [f32(rng.normal(0, 0.5, (4, 3))), f32(rng.normal(0, 0.1, 3))]
        model.set_weights(weights)
        loss = loss_spec if isinstance(loss_spec, str) else getattr(losses, loss_spec["class_name"])(
            **loss_spec["config"])
        model.compile(optimizer=make_optimizer(opt_spec["class_name"], opt_spec["config"]), loss=loss)
        x = f32(rng.normal(size=(6, 4)))
        y = _loss_data(rng, kind, n=6)[0]
        out[f"{p}/w0"], out[f"{p}/w1"], out[f"{p}/x"], out[f"{p}/y"] = weights[0], weights[1], x, y
        for step in (1, 2):
            out[f"{p}/loss{step}"] = f32(model.train_on_batch(x, y))
            for i, w in enumerate(model.get_weights()):
                out[f"{p}/new{step}_w{i}"] = f32(w)


def main():
    rng = np.random.default_rng(21)
    out, configs = {}, {}
    record_optimizers(out, configs, rng)
    record_schedules(out, configs)
    record_losses(out, configs, rng)
    record_metrics(out, configs, rng)
    record_models(out, configs, rng)
    out["configs"] = np.array(json.dumps(configs))
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT}: {len(out)} arrays, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
