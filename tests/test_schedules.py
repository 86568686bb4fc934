"""Learning-rate schedules against Keras 3's values (tests/data/make_keras_optim_fixtures.py), their config
and serialization, and an optimizer evaluating one at its iteration count."""

import json
from pathlib import Path

import numpy as np
import pytest

from numbacnn import optimizers
from numbacnn.optimizers import schedules

FIXTURES = np.load(Path(__file__).parent / "data" / "keras_optim_fixtures.npz")
CONFIGS = json.loads(str(FIXTURES["configs"]))
CASES = sorted(k.split("/")[1] for k in CONFIGS if k.startswith("sched/"))


@pytest.mark.parametrize("case", CASES)
def test_values_match_keras(case):
    spec = CONFIGS[f"sched/{case}"]
    schedule = getattr(schedules, spec["class_name"])(**spec["config"])
    got = np.array([schedule(int(s)) for s in FIXTURES["sched/steps"]], dtype=np.float32)
    expected = FIXTURES[f"sched/{case}/values"]
    np.testing.assert_array_max_ulp(got, expected, maxulp=2)


@pytest.mark.parametrize("case", CASES)
def test_serialization_matches_keras(case):
    spec = CONFIGS[f"sched/{case}"]
    schedule = getattr(schedules, spec["class_name"])(**spec["config"])
    assert schedules.serialize(schedule) == spec["serialized"]
    again = schedules.deserialize(spec["serialized"])
    assert type(again) is type(schedule) and again.get_config() == schedule.get_config()
    assert isinstance(schedule(3), float)


def test_base_class_and_custom_schedule():
    class Halving(schedules.LearningRateSchedule):
        def __init__(self, start):
            self.start = start

        def __call__(self, step):
            return self.start / 2 ** step

        def get_config(self):
            return {"start": self.start}

    opt = optimizers.SGD(learning_rate=Halving(1.0))
    w = np.zeros(1)
    for _ in range(3):
        opt.apply_gradients([(np.ones(1), w)])
    np.testing.assert_allclose(w, [-1.75])
    again = optimizers.deserialize(optimizers.serialize(opt), custom_objects={"Halving": Halving})
    assert again.learning_rate == 1.0
    with pytest.raises(NotImplementedError, match="must override `__call__"):
        schedules.LearningRateSchedule()(0)
    with pytest.raises(ValueError, match="Unknown learning rate schedule 'Halving'"):
        optimizers.deserialize(optimizers.serialize(opt))


def test_errors():
    with pytest.raises(ValueError, match="`decay_steps` must be > 0"):
        schedules.ExponentialDecay(0.1, 0, 0.9)
    with pytest.raises(ValueError, match="length of boundaries should be 1 less"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2])


def test_optimizer_follows_the_schedule_step_by_step():
    """Adam under CosineDecay with warm-up steps with the schedule's rate at iterations 0, 1, 2, ..."""
    schedule = schedules.CosineDecay(0.0, decay_steps=5, warmup_target=0.1, warmup_steps=2)
    opt = optimizers.SGD(learning_rate=schedule)
    w = np.zeros(1, dtype=np.float32)
    expected = np.float32(0)
    for step in range(8):
        assert opt.learning_rate == schedule(step)
        opt.apply_gradients([(np.ones(1, np.float32), w)])
        expected -= np.float32(schedule(step))
    np.testing.assert_allclose(w, [expected], rtol=1e-6)
