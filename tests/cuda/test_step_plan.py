"""The steps of fit on 'cuda' under a memory plan (kernels.cuda.memory) and a step graph
(kernels.cuda.graph): no device array created after the first step, the same launches at every step,
and the same weights as without them.

Allocations are counted twice: by ``launch.counting()`` (the wrappers' one allocation point) and by
wrapping Numba's own ``cuda.device_array`` / ``to_device`` / ``device_array_like``, which would also see an
allocation that bypassed launch.py.
"""

import warnings

import numpy as np
import pytest
from numba import cuda as numba_cuda

from numbacnn import backend, layers, models, optimizers
from numbacnn.kernels.cuda import graph as step_graph
from numbacnn.kernels.cuda import launch, memory, workspace


def small_cnn():
    return models.Sequential([
        layers.Conv2D(2, 3, activation="relu", use_bias=False, input_shape=(6, 6, 1)),
        layers.BatchNormalization(),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])


def data(n=6, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((n, 6, 6, 1), dtype=np.float32), rng.integers(0, 3, n)


def trainer(epochs=1, n=6, batch_size=2):
    backend.seed(0)
    model = small_cnn()
    model.compile(optimizer=optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], device="cuda")
    backend.seed(5)
    x, y = data(n)
    return model, model.make_trainer(x, y, batch_size=batch_size, epochs=epochs, verbose=0)


@pytest.fixture
def numba_allocations(monkeypatch):
    """A list that gets one entry per device array Numba creates (by any of its public functions)."""
    made = []
    for name in ("device_array", "to_device", "device_array_like"):
        original = getattr(numba_cuda, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            made.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(numba_cuda, name, counted)
    return made


def steps_counted(trainer_, steps, numba_allocations):
    """[(Counts, Numba allocations)] of each of ``steps`` steps."""
    out = []
    for _ in range(steps):
        before = len(numba_allocations)
        with launch.counting() as counts:
            trainer_.step()
        out.append((counts, len(numba_allocations) - before))
    return out


def test_no_device_array_is_created_after_the_first_step(cuda, numba_allocations):
    model, t = trainer(epochs=2)  # 3 steps an epoch
    per_step = steps_counted(t, 6, numba_allocations)
    (plan, _), = model._step_plans.values()
    assert plan.steps == 6 and plan.replans == 0 and plan.allocated > 10
    first, made = per_step[0]
    assert first.allocations == made >= plan.allocated  # and the optimizer's slots, which outlive the step
    for counts, made in per_step[1:]:
        assert counts.allocations == 0 and made == 0, per_step
        assert counts.planned == plan.allocated
    # the same launches at every step; the first also fills Adam's two slots of the 5 weights with zeros
    launches = [counts.launches for counts, _ in per_step]
    assert len(set(launches[1:])) == 1 and launches[0] == launches[1] + 2 * 5, launches


def test_the_plan_gives_the_same_weights_bit_for_bit(cuda, monkeypatch):
    planned, t = trainer(epochs=1)
    t.run_epoch()
    monkeypatch.setenv("NUMBACNN_CUDA_PLAN", "0")
    plain, t = trainer(epochs=1)
    t.run_epoch()
    assert not hasattr(plain, "_step_plans") and planned._step_plans
    for a, b in zip(planned.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(planned.optimizer.get_state(), plain.optimizer.get_state()):
        np.testing.assert_array_equal(a, b)


def test_a_last_short_batch_gets_a_plan_of_its_own(cuda, numba_allocations):
    model, t = trainer(epochs=2, n=5)  # batches of 2, 2, 1
    per_step = steps_counted(t, 6, numba_allocations)
    assert per_step[1][0].allocations == 0
    assert per_step[2][0].allocations > 0  # the first batch of 1
    assert all(counts.allocations == 0 for counts, _ in per_step[3:])
    assert sorted(plan.steps for plan, _ in model._step_plans.values()) == [2, 4]
    assert all(plan.replans == 0 for plan, _ in model._step_plans.values())


def test_evaluate_and_predict_run_under_plans_of_their_own(cuda, monkeypatch):
    model, _ = trainer()
    x, y = data(4)
    first = model.evaluate(x, y, batch_size=2, verbose=0)
    predicted = model.predict(x, batch_size=2)
    # evaluate() tries the loss once on a dummy prediction of all the targets before its steps: not a step
    monkeypatch.setattr(model, "_check_targets", lambda ys: None)
    with launch.counting() as counts:
        again = model.evaluate(x, y, batch_size=2, verbose=0)
        np.testing.assert_array_equal(model.predict(x, batch_size=2), predicted)
    assert counts.allocations == 0 and counts.planned > 0
    assert first == again
    np.testing.assert_allclose(model.predict(x, batch_size=4), predicted, rtol=0, atol=1e-6)
    assert {key[0] for key in model._step_plans} == {"test", "predict"}


def test_a_plan_that_differs_records_again_and_never_hands_out_a_wrong_array(cuda):
    plan = memory.StepPlan("t")
    with plan.step():
        a = launch.empty((4,), np.float32)
        b = launch.empty((2, 3), np.float64)
    with plan.step():
        assert launch.empty((4,), np.float32) is a
        assert launch.empty((2, 3), np.float64) is b
    assert plan.replans == 0 and plan.allocated == 2
    with plan.step():
        assert launch.empty((4,), np.float32) is a
        c = launch.empty((5,), np.float32)  # differs: a new array, recorded from here on
        d = launch.empty((2, 3), np.float64)
    assert c is not b and d is not b and plan.replans == 1
    with plan.step():
        assert [launch.empty((4,), np.float32), launch.empty((5,), np.float32)] == [a, c]
    assert plan.replans == 2  # ended one request short of the record
    with plan.step():
        launch.empty((4,), np.float32)
        launch.empty((5,), np.float32)
    assert plan.replans == 2


def test_workspace_buffers_are_reused_within_a_step_the_same_way_at_every_step(cuda):
    plan = memory.StepPlan("ws")
    seen = []
    for _ in range(3):
        with plan.step():
            first = workspace.workspace_take((8, 3), np.float32)
            workspace.workspace_give(first.reshape(24))
            second = workspace.workspace_take((8, 3), np.float32)
            third = workspace.workspace_take((8, 3), np.float32)
            seen.append((first, second, third))
    assert all(s[0] is s[1] is seen[0][0] and s[2] is seen[0][2] for s in seen)
    assert seen[0][2] is not seen[0][0] and plan.allocated == 2 and plan.replans == 0


def test_step_graph_fallback_replays_three_steps_to_the_same_weights(cuda, monkeypatch):
    plain, t = trainer()
    for _ in range(3):
        t.step()
    monkeypatch.setattr(step_graph, "_fallback_said", False)
    monkeypatch.setenv("NUMBACNN_CUDA_GRAPH", "1")
    graphed, t = trainer()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with launch.counting() as counts:
            for _ in range(3):
                t.step()
    said = [str(w.message) for w in caught if "CUDA graphs are not used" in str(w.message)]
    (plan, graph), = graphed._step_plans.values()
    assert graph.steps == 3 and graph.segments >= 2
    assert graph.mismatches == 0  # what changes per step is read from memory, not from kernel arguments
    assert graph.replayed == 2 * graph.segments
    if step_graph.capture_unavailable_reason() is None:  # a GPU whose driver captures: graphs, said nothing
        assert graph.captured == graph.segments and not said, said
    else:  # the simulator: the recorded launches one by one, said once
        assert len(said) == 1 and graph.captured == 0, said
    assert plan.replans == 0 and counts.allocations == plan.allocated + 2 * 5  # and Adam's slots
    for a, b in zip(plain.get_weights(), graphed.get_weights()):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)


def test_a_changed_scalar_argument_is_run_as_called_and_recorded_again(cuda, monkeypatch):
    from numbacnn.kernels.cuda import arrays

    monkeypatch.setattr(step_graph, "_fallback_said", True)  # said once already
    graph = step_graph.StepGraph("t", capture=False)
    a = arrays.zeros((3,), np.float32)
    for value in (1.0, 1.0, 2.0):
        with graph.step():
            arrays.fill(a, value)
            assert arrays.to_host(a).tolist() == [value] * 3
    assert graph.mismatches == 1 and graph.replayed == 1
