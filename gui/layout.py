"""Fixed sizes and positions of the debugger window (no DearPyGui import: tests read them too)."""

TITLE = "numbacnn visual debugger"
VIEWPORT = (1280, 800)
"""Default window size (width, height); ``--size`` changes it."""

LEFT_WIDTH = 390
"""Width of the left column (controls, setup, status, model table)."""

BUTTON = (112, 24)
"""Size of the toolbar buttons."""

STEP_BATCH_POS = (16, 16)
"""Where the Step batch button's top-left corner is, in window pixels: the first toolbar button."""

PLOT_ROW_HEIGHT = 200
ACTIVATION_ROW_HEIGHT = 345
WEIGHT_ROW_HEIGHT = 185
