"""Sizes and positions of the debugger window (no DearPyGui import: tests read them too).

The window follows the viewport's size: :func:`sizes` gives every panel's size for a viewport of
(width, height); the window applies it at start and whenever the viewport is resized.
"""

TITLE = "numbacnn visual debugger"
VIEWPORT = (1280, 800)
"""Default window size (width, height); ``--size`` changes it."""

BUTTON = (112, 24)
"""Size of the toolbar buttons."""

STEP_BATCH_POS = (16, 16)
"""Where the Step batch button's top-left corner is, in window pixels: the first toolbar button."""

TABS = ("Training", "Network", "Feature maps", "Explain")
"""The tabs of the right-hand side, in order."""

GAP = 8
"""Space between panels."""


def left_width(width):
    """Width of the left column (controls, rewind, setup, status, model table)."""
    return max(3 * BUTTON[0] + 2 * GAP + 24, min(460, int(width * 0.27)))


def sizes(width, height):
    """Every panel's size for a viewport of ``width`` x ``height`` pixels, as a dict of (w, h)."""
    left = left_width(width)
    right = max(300, width - left - 3 * GAP - 8)
    body = max(300, height - 70)                       # below the tab bar
    third = (right - 2 * GAP) // 3
    quarter = (right - 3 * GAP) // 4
    top = int(body * 0.52)
    return {
        "left": (left, height - 2 * GAP),
        "right": (right, height - 2 * GAP),
        "curve": (third, top),
        "confusion": (right - 2 * third - 2 * GAP, top),
        "norm": (quarter, body - top - 40),
        "graph": (min(520, right // 2), body),
        "filters": (right - min(520, right // 2) - GAP, body),
        "maps": (right - 24, body - 200),
        "explain": (max(140, min(320, int((right - 40) / 3.6), (body - 230) // 2)),) * 2,
    }
