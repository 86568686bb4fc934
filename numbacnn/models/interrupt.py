"""Ctrl-C during training: the model is left with the weights and optimizer state of a finished batch.

* The first Ctrl-C (SIGINT) only sets a flag: training stops after the batch it interrupted.
* A second one raises KeyboardInterrupt at once, except inside a :func:`critical` block (an optimizer
  step over all the weights), where it is held until the block ends: a step is applied to every weight
  or to none.

:func:`run` is the loop ``fit`` and the command line drive a :class:`~numbacnn.models.trainer.Trainer`
with; it says where training stopped, so that a caller can tell an interrupted run from a finished one.
Signal handlers belong to the main thread: elsewhere (the debugger's worker) these do nothing.
"""

import contextlib
import signal
import sys
import threading

__all__ = ["InterruptFlag", "critical", "run"]

_CRITICAL = {"depth": 0, "pending": False}


def _main_thread():
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def critical():
    """A block a second Ctrl-C does not cut in half: its KeyboardInterrupt is raised when the block ends.

    Wrap what must happen to all the weights or to none, e.g. ``with critical(): optimizer.apply(ws)``.
    Without an :class:`InterruptFlag` in place (Python's own Ctrl-C handling) it changes nothing.
    """
    if not _main_thread():
        yield
        return
    _CRITICAL["depth"] += 1
    try:
        yield
    finally:
        _CRITICAL["depth"] -= 1
    if _CRITICAL["depth"] == 0 and _CRITICAL["pending"]:
        _CRITICAL["pending"] = False
        raise KeyboardInterrupt


class InterruptFlag:
    """Within the block, the first Ctrl-C only sets ``raised``; a second one raises KeyboardInterrupt at
    once, or at the end of the :func:`critical` block it arrives in. Main thread only; elsewhere it does
    nothing."""

    def __init__(self):
        self.raised = False
        self._old = None

    def _handler(self, signum, frame):
        if not self.raised:
            self.raised = True
        elif _CRITICAL["depth"]:
            _CRITICAL["pending"] = True
        else:
            raise KeyboardInterrupt

    def __enter__(self):
        if _main_thread():
            _CRITICAL["pending"] = False
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None
        return False


def run(trainer, stream=None):
    """Step ``trainer`` until training ends; returns None, or ``(epoch, batch)`` (1-based: the batch of
    that epoch after which it stopped) when a Ctrl-C stopped it, after saying so on ``stream`` (stderr).
    A second Ctrl-C raises KeyboardInterrupt. The trainer is closed (on_train_end) either way."""
    flag = InterruptFlag()
    with flag:
        try:
            while not trainer.finished:
                epoch, batch = trainer.epoch, trainer.batch
                trainer.step()
                if flag.raised:
                    print(f"\nTraining interrupted at epoch {epoch + 1}, after batch {batch + 1}: the model "
                          "keeps the weights of the last finished batch.", file=stream or sys.stderr)
                    return epoch + 1, batch + 1
        finally:
            trainer.close()
    return None
