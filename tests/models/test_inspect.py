"""numbacnn.models.inspect: saliency and Grad-CAM against finite differences, the explained convolution
against the layer's own output, and Trainer.snapshot/restore against the weights saved at that epoch."""

import numpy as np
import pytest

import numbacnn as nc
from numbacnn.models import inspect

L = nc.layers


def tiny(dtype="float32", seed=0):
    """Conv(same, relu) -> BN -> Dropout -> Conv(stride 2, tanh) -> Flatten -> Dense(softmax), on 8x8x2."""
    nc.utils.set_random_seed(seed)
    model = nc.models.Sequential([
        L.Input((8, 8, 2)),
        L.Conv2D(3, 3, padding="same", activation="relu", dtype=dtype),
        L.BatchNormalization(dtype=dtype),
        L.Dropout(0.5, dtype=dtype),
        L.Conv2D(4, 3, strides=2, activation="tanh", dtype=dtype),
        L.Flatten(dtype=dtype),
        L.Dense(5, activation="softmax", dtype=dtype)], dtype=dtype)
    bn = model.layers[1]   # moving statistics away from 0 and 1, so that using them is visible
    rng = np.random.default_rng(seed + 1)
    bn.moving_mean.assign(rng.uniform(-0.5, 0.5, 3))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, 3))
    bn.gamma.assign(rng.uniform(0.5, 1.5, 3))
    return model


def predict(model, x):
    return np.asarray(model.predict(x[None], verbose=0))[0]


def numeric(f, x, eps):
    g = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        fp = f(x)
        x[i] = old - eps
        fm = f(x)
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


@pytest.fixture(scope="module")
def model64():
    return tiny("float64")


def test_saliency_is_the_finite_difference_gradient_in_inference_mode(model64):
    x = np.random.default_rng(3).random((8, 8, 2))
    c = int(np.argmax(predict(model64, x)))
    grads_before = [w.grad.copy() for w in model64.trainable_weights]
    moving = model64.layers[1].moving_mean.numpy()
    s = inspect.saliency(model64, x)
    want = numeric(lambda v: predict(model64, v)[c], x.copy(), 1e-6)
    np.testing.assert_allclose(s, want, rtol=1e-4, atol=1e-8)
    s3 = inspect.saliency(model64, x, class_index=3)
    np.testing.assert_allclose(s3, numeric(lambda v: predict(model64, v)[3], x.copy(), 1e-6),
                               rtol=1e-4, atol=1e-8)
    # nothing the trainer reads changed: weight gradients and BN's moving statistics
    for w, g in zip(model64.trainable_weights, grads_before):
        np.testing.assert_array_equal(w.grad, g)
    np.testing.assert_array_equal(model64.layers[1].moving_mean.numpy(), moving)


def test_grad_cam_weights_are_mean_finite_difference_gradients(model64):
    x = np.random.default_rng(4).random((8, 8, 2))
    out = inspect.grad_cam(model64, x, class_index=2)
    assert out["layer"] == "conv2d_1" == inspect.last_conv_layer(model64)
    assert out["cam"].shape == (3, 3) and out["heatmap"].shape == (8, 8)
    # d p_2 / d A by finite differences on the tail of the network (A = conv2d_1's output)
    acts = dict(model64.activations(x[None]))
    a = acts["conv2d_1"][0].astype(np.float64)
    tail = model64.layers[4:]

    def p2(v):
        y = v[None]
        for layer in tail:
            y = layer.forward(y, training=False)
        return float(y[0, 2])

    g = numeric(p2, a.copy(), 1e-6)
    np.testing.assert_allclose(out["weights"], g.mean(axis=(0, 1)), rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(out["cam"], np.maximum(a @ out["weights"], 0), rtol=1e-6, atol=1e-12)
    assert 0.0 <= out["heatmap"].min() and out["heatmap"].max() <= 1.0


@pytest.mark.parametrize("layer, index", [("conv2d", (0, 0, 1)), ("conv2d", (4, 7, 2)),
                                          ("conv2d_1", (1, 2, 3)), ("conv2d_1", (2, 2, 0))])
def test_explained_dot_product_is_the_feature_map_value(layer, index):
    model = tiny("float32")
    x = np.random.default_rng(5).random((8, 8, 2)).astype(np.float32)
    e = inspect.explain_conv_cell(model, x, layer, index)
    feature_map = dict(model.activations(x[None]))[layer][0]
    assert e["value"] == feature_map[index]
    np.testing.assert_allclose(e["output"], feature_map[index], rtol=2e-6, atol=2e-7)   # float32 precision
    np.testing.assert_allclose(e["products"], e["patch"] * e["kernel"])
    assert e["sum"] == pytest.approx(float(e["products"].sum(dtype=np.float64)))
    assert e["pre_activation"] == pytest.approx(e["sum"] + e["bias"], rel=1e-6)
    np.testing.assert_array_equal(e["kernel"], model.get_layer(layer).kernel.numpy()[..., index[2]])
    if layer == "conv2d":      # 'same' 3x3: the corner cell reads padding above and to the left
        assert e["input_name"] == "input"
        np.testing.assert_array_equal(e["patch"][e["rows"] >= 0][:, e["cols"] >= 0],
                                      x[e["rows"][e["rows"] >= 0]][:, e["cols"][e["cols"] >= 0]])
        if index[:2] == (0, 0):
            assert list(e["rows"]) == [-1, 0, 1] and list(e["cols"]) == [-1, 0, 1]
    else:                      # valid, stride 2: rows 2i..2i+2 of the previous layer's output
        assert e["input_name"] == "dropout" and list(e["rows"]) == [2 * index[0] + k for k in range(3)]
        prev = dict(model.activations(x[None]))["dropout"][0]
        np.testing.assert_array_equal(e["patch"], prev[e["rows"]][:, e["cols"]])
        assert e["activation"] == "tanh"


def test_explain_refuses_what_is_not_a_convolution():
    model = tiny()
    with pytest.raises(ValueError, match='"dense" is Dense'):
        inspect.explain_conv_cell(model, np.zeros((8, 8, 2)), "dense", (0, 0, 0))
    with pytest.raises(ValueError, match="outside its output"):
        inspect.explain_conv_cell(model, np.zeros((8, 8, 2)), "conv2d", (8, 0, 0))
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        inspect.grad_cam(model, np.zeros((8, 8, 2)), "nope")


def test_graph_lists_every_layer_with_its_inbound():
    graph = inspect.model_graph(tiny())
    assert [g["name"] for g in graph][1:] == ["conv2d", "batch_normalization", "dropout", "conv2d_1",
                                               "flatten", "dense"]
    assert graph[2]["inbound"] == ["conv2d"] and tuple(graph[-1]["output_shapes"][0]) == (None, 5)


def test_a_rewound_snapshot_equals_the_weights_saved_at_that_epoch(tmp_path):
    model = tiny()
    model.compile(optimizer=nc.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((24, 8, 8, 2)).astype(np.float32)
    y = rng.integers(0, 5, 24)
    trainer = model.make_trainer(x, y, batch_size=8, epochs=3)
    history = inspect.WeightHistory()
    saved = {}

    def at_epoch_end(t, logs):
        saved[t.epoch + 1] = path = tmp_path / f"epoch{t.epoch + 1}.weights.h5"
        model.save_weights(str(path))

    trainer.on_epoch_end.append(at_epoch_end)
    history.add(trainer.snapshot(), "epoch")
    while not trainer.finished:
        trainer.step()
        if trainer.batch == 0:
            history.add(trainer.snapshot(), "epoch")
    assert [s["epoch"] for _, s in history.items] == [0, 1, 2, 3]
    trainer.epochs = 5
    trainer.restore(history[1])                           # back to the end of epoch 1
    reference = tiny()
    reference.load_weights(str(saved[1]))
    for w, r in zip(model.weights, reference.weights):
        np.testing.assert_array_equal(w.numpy(), r.numpy(), err_msg=w.path)
    assert (trainer.epoch, trainer.batch, trainer.finished) == (1, 0, False)
    # training on from there repeats epoch 2's first step exactly when the shuffle is replayed
    mid = None
    trainer.step()
    mid = trainer.snapshot()
    trainer.step()
    after = trainer.weights()
    trainer.restore(mid)
    trainer.step()
    for path, value in trainer.weights().items():
        np.testing.assert_array_equal(value, after[path], err_msg=path)


def test_weight_history_stays_within_its_budget():
    one = {"epoch": 0, "batch": 1, "weights": {"a/kernel": np.zeros(1000, np.float32)}, "optimizer": [],
           "order": None}
    history = inspect.WeightHistory(max_bytes=10 * 4000 + 100)
    history.add(dict(one, batch=0), "epoch")
    for b in range(1, 40):
        history.add(dict(one, batch=b), "batch")
    assert history.nbytes <= history.max_bytes
    assert history.items[0][0] == "epoch" and history[-1]["batch"] == 39
    kept = [s["batch"] for _, s in history.items]
    assert kept == sorted(kept) and len(kept) >= 5


def residual(dtype="float64"):
    """A branch and a merge: conv -> BN -> relu, a 1x1 projection beside it, Add, conv, pooling, Dense."""
    nc.utils.set_random_seed(2)
    inputs = L.Input((6, 6, 2))
    a = L.Conv2D(3, 3, padding="same", use_bias=False, dtype=dtype, name="branch_conv")(inputs)
    a = L.Activation("relu", dtype=dtype)(L.BatchNormalization(dtype=dtype, name="branch_bn")(a))
    b = L.Conv2D(3, 1, dtype=dtype, name="shortcut")(inputs)
    x = L.Add(dtype=dtype, name="merge")([a, b])
    x = L.Conv2D(2, 3, strides=2, activation="relu", dtype=dtype, name="after_merge")(x)
    x = L.GlobalAveragePooling2D(dtype=dtype)(x)
    model = nc.models.Model(inputs, L.Dense(4, activation="softmax", dtype=dtype)(x))
    bn = model.get_layer("branch_bn")
    rng = np.random.default_rng(7)
    bn.moving_mean.assign(rng.uniform(-0.3, 0.3, 3))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, 3))
    return model


def test_graph_models_branches_and_merges():
    model = residual()
    graph = inspect.model_graph(model)
    merge = next(g for g in graph if g["name"] == "merge")
    assert sorted(merge["inbound"]) == sorted(["activation", "shortcut"])
    x = np.random.default_rng(8).random((6, 6, 2))
    c = int(np.argmax(predict(model, x)))
    np.testing.assert_allclose(inspect.saliency(model, x), numeric(lambda v: predict(model, v)[c], x.copy(),
                                                                   1e-6), rtol=1e-4, atol=1e-9)
    e = inspect.explain_conv_cell(model, x, "after_merge", (1, 1, 1))
    acts = dict(model.activations(x[None]))
    assert e["input_name"] == "merge"
    np.testing.assert_array_equal(e["patch"], acts["merge"][0][2:5, 2:5])   # stride 2, valid
    np.testing.assert_allclose(e["output"], acts["after_merge"][0][1, 1, 1], rtol=1e-9, atol=1e-12)
    assert inspect.grad_cam(model, x)["layer"] == "after_merge"
