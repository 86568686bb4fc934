"""Keras's text progress bar.

    1875/1875 [==============================] - 12s 6ms/step - loss: 0.5123 - accuracy: 0.8150

``verbose=1`` redraws one line in place (``\\r``) when the output is a terminal; when it is not (a file,
a pipe, a CI log) nothing is drawn until the bar is finalized, which then writes that one line.
``verbose=2`` writes a single summary line when finalized. Output goes to ``sys.stdout`` as it is at
the time of the write.
"""

import sys
import time

import numpy as np


def _format_eta(seconds):
    """'1:02:03', '2:03' or '45s'."""
    seconds = int(seconds)
    if seconds > 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if seconds > 60:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds}s"


def _format_rate(seconds, unit_name):
    """Duration of one unit as '2s/step', '6ms/step' or '80us/step'."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit_name}"
    return f"{seconds * 1e6:.0f}us/{unit_name}"


def _format_value(value):
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


class Progbar:
    """Displays a progress bar.

    Args:
        target: total number of steps expected, or None if unknown.
        width: width of the bar in characters.
        verbose: 0 (silent), 1 (live bar), 2 (one line when finalized).
        interval: minimum number of seconds between two redraws of the live bar.
        stateful_metrics: names of values shown as given; all other values are averaged over the
            steps they cover. The set is kept in the attribute ``stateful_metrics`` and may be extended.
        unit_name: name of one step in the time-per-unit display ("step", "sample").
    """

    def __init__(self, target, width=30, verbose=1, interval=0.05, stateful_metrics=None, unit_name="step"):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics = set(stateful_metrics or ())
        stream = sys.stdout
        self._dynamic_display = bool(getattr(stream, "isatty", None) and stream.isatty()) or (
            "ipykernel" in sys.modules)
        self._seen_so_far = 0
        self._values = {}  # name -> [weighted sum, weight], in the order first seen
        self._start = time.monotonic()
        self._last_update = None
        self._time_after_first_step = None
        self._prev_width = 0

    def update(self, current, values=None, finalize=None):
        """Move the bar to step ``current``.

        Args:
            current: index of the current step (1 after the first step).
            values: list of ``(name, value_for_last_step)`` pairs.
            finalize: whether this is the last update; defaults to ``current >= target``.
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for name, value in values or ():
            value = float(np.mean(value))
            if name in self.stateful_metrics:
                self._values[name] = [value, 1]
            else:
                steps = max(current - self._seen_so_far, 1)
                total = self._values.setdefault(name, [0.0, 0])
                total[0] += value * steps
                total[1] += steps
        self._seen_so_far = current

        now = time.monotonic()
        per_unit = self._step_duration(current, now)
        if self.verbose == 1:
            if not finalize and (not self._dynamic_display or (
                    self._last_update is not None and now - self._last_update < self.interval)):
                return
            line = self._bar(current)
            if self.target is not None and not finalize:
                line += " - ETA: " + _format_eta(per_unit * (self.target - current))
            else:
                line += f" - {now - self._start:.0f}s {_format_rate(per_unit, self.unit_name)}"
            line += self._metrics()
            message = line
            if self._dynamic_display:
                message = "\r" + line + " " * max(self._prev_width - len(line), 0)
                self._prev_width = len(line)
            self._write(message + ("\n" if finalize else ""))
        elif self.verbose == 2 and finalize:
            line = (f"{self._count(current)} - {now - self._start:.0f}s - "
                    f"{_format_rate(per_unit, self.unit_name)}{self._metrics()}")
            self._write(line + "\n")
        self._last_update = now

    def add(self, n, values=None):
        """Advance the bar by ``n`` steps."""
        self.update(self._seen_so_far + n, values)

    def _count(self, current):
        if self.target is None:
            return f"{int(current):7d}/Unknown"
        return f"{int(current):{len(str(self.target))}d}/{self.target}"

    def _bar(self, current):
        if self.target is None:
            return self._count(current)
        progress = min(current / self.target, 1.0) if self.target > 0 else 1.0
        filled = int(self.width * progress)
        bar = ""
        if filled > 0:
            bar = "=" * (filled - 1) + (">" if current < self.target else "=")
        return f"{self._count(current)} [{bar}{'.' * (self.width - filled)}]"

    def _metrics(self):
        return "".join(f" - {name}: {_format_value(total / max(count, 1))}"
                       for name, (total, count) in self._values.items())

    def _step_duration(self, current, now):
        """Seconds per step, leaving out the (often slow, compiling) first step once there are others."""
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per_unit

    @staticmethod
    def _write(message):
        sys.stdout.write(message)
        sys.stdout.flush()
