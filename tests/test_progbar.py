"""Progbar: the text of the bar for verbose 1 (terminal and non-terminal) and verbose 2."""

import io
import re
import sys

import pytest

from numbacnn.utils import progbar as progbar_module
from numbacnn.utils.progbar import Progbar


class Clock:
    """A stand-in for the time module whose clock moves only when told."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(progbar_module, "time", fake)
    return fake


def use_terminal(monkeypatch):
    """Send stdout to a fake terminal (inside the test body: pytest re-installs its capture after setup)."""
    stream = Terminal()
    monkeypatch.setattr(sys, "stdout", stream)
    return stream


def test_verbose1_not_a_terminal_writes_one_line_at_the_end(capsys, clock):
    bar = Progbar(1875)
    clock.now = 0.756
    bar.update(1, [("loss", 0.5123), ("accuracy", 0.8150)])
    for step in (2, 100, 1874):
        clock.now = 0.756 + (step - 1) * 0.006
        bar.update(step, [("loss", 0.5123), ("accuracy", 0.8150)])
    assert capsys.readouterr().out == ""
    clock.now = 0.756 + 1874 * 0.006
    bar.update(1875, [("loss", 0.5123), ("accuracy", 0.8150)])
    out = capsys.readouterr().out
    assert out == "1875/1875 [" + "=" * 30 + "] - 12s 6ms/step - loss: 0.5123 - accuracy: 0.8150\n"


def test_verbose1_terminal_redraws_in_place(monkeypatch, clock):
    terminal = use_terminal(monkeypatch)
    bar = Progbar(10, width=10, interval=0.0)
    clock.now = 1.0
    bar.update(1, [("loss", 2.0)])
    clock.now = 2.0
    bar.update(5, [("loss", 1.0)])
    clock.now = 3.0
    bar.update(10, [("loss", 1.0)])
    frames = terminal.getvalue().split("\r")
    assert frames[0] == ""
    assert frames[1] == " 1/10 [>.........] - ETA: 9s - loss: 2.0000"
    # 4 more steps at 0.25 s each leave 5 steps: 1.25 s; loss averaged over steps (2*1 + 1*4) / 5.
    assert frames[2] == " 5/10 [====>.....] - ETA: 1s - loss: 1.2000"
    assert frames[3] == "10/10 [==========] - 3s 222ms/step - loss: 1.1000\n"


def test_verbose1_terminal_pads_a_shorter_line(monkeypatch, clock):
    terminal = use_terminal(monkeypatch)
    bar = Progbar(None, interval=0.0)
    bar.update(3, [("loss", 12345.0)])
    bar.update(4, [("loss", 1.0)], finalize=True)
    first, second = terminal.getvalue().split("\r")[1:]
    assert first == "      3/Unknown - 0s 0s/step - loss: 12345.0000"
    # (3 * 12345 + 1) / 4 = 9259 is one character shorter: one blank wipes the old line's tail.
    assert second == "      4/Unknown - 0s 0s/step - loss: 9259.0000 \n"


def test_verbose1_terminal_respects_interval(monkeypatch, clock):
    terminal = use_terminal(monkeypatch)
    bar = Progbar(100, interval=1.0)
    for step in range(1, 50):
        clock.now = step * 0.01
        bar.update(step)
    assert terminal.getvalue().count("\r") == 1  # only the first draw; the rest came too soon
    clock.now = 2.0
    bar.update(60)
    assert terminal.getvalue().count("\r") == 2


def test_verbose2_writes_one_summary_line(capsys, clock):
    bar = Progbar(20, verbose=2)
    for step in range(1, 20):
        clock.now = step * 0.5
        bar.update(step, [("loss", 1.0), ("val_loss", 3.0)])
    assert capsys.readouterr().out == ""
    clock.now = 10.0
    bar.update(20, [("loss", 1.0), ("val_loss", 3.0)])
    assert capsys.readouterr().out == "20/20 - 10s - 500ms/step - loss: 1.0000 - val_loss: 3.0000\n"


def test_verbose0_is_silent(capsys):
    bar = Progbar(3, verbose=0)
    for step in (1, 2, 3):
        bar.update(step, [("loss", 1.0)])
    assert capsys.readouterr().out == ""


def test_stateful_metrics_are_shown_as_given(capsys):
    bar = Progbar(3, stateful_metrics=["accuracy"])
    bar.update(1, [("loss", 3.0), ("accuracy", 0.1)])
    bar.update(2, [("loss", 2.0), ("accuracy", 0.2)])
    bar.update(3, [("loss", 1.0), ("accuracy", 0.9)])
    out = capsys.readouterr().out
    assert out.endswith(" - loss: 2.0000 - accuracy: 0.9000\n")


def test_add_and_small_values_use_scientific_notation(capsys):
    bar = Progbar(4, verbose=2)
    bar.add(2, [("loss", 1e-5)])
    bar.add(2, [("loss", -2e-4)])
    out = capsys.readouterr().out
    assert re.fullmatch(r"4/4 - \d+s - \d+(us|ms|s)/step - loss: -9\.5000e-05\n", out)


def test_finalize_without_target_and_explicit_finalize(capsys):
    bar = Progbar(None, verbose=2)
    bar.update(7, [("loss", 0.25)])
    assert capsys.readouterr().out == ""
    bar.update(7, finalize=True)
    assert capsys.readouterr().out.startswith("      7/Unknown - ")


@pytest.mark.parametrize("seconds, expected", [(5.9, "5s"), (75, "1:15"), (3725, "1:02:05")])
def test_eta_formats(seconds, expected):
    assert progbar_module._format_eta(seconds) == expected


@pytest.mark.parametrize("seconds, expected", [(0, "0s/step"), (2.4, "2s/step"), (0.0064, "6ms/step"),
                                               (8e-5, "80us/step")])
def test_rate_formats(seconds, expected):
    assert progbar_module._format_rate(seconds, "step") == expected
