"""Training curves as seed 004 draws them: per-epoch accuracy and loss, train dash-dot, validation solid.

matplotlib is an optional extra (``pip install "numbacnn[plot]"``); it is imported only when a plot is drawn,
through ``matplotlib.figure.Figure``, so no pyplot window or global backend is involved.
"""

from pathlib import Path

MISSING_MATPLOTLIB = 'plotting needs matplotlib: pip install "numbacnn[plot]" (or pip install matplotlib)'


def require_matplotlib():
    """matplotlib's Figure and MaxNLocator; ImportError with the pip command when it is not installed."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as err:
        raise ImportError(MISSING_MATPLOTLIB) from err
    return Figure, MaxNLocator


def plot_history(history, path, metrics=("accuracy", "loss"), title=None):
    """Draw one panel per metric (train ``-.``, validation ``-`` when present) into ``path`` (PNG, SVG...).

    ``history`` is a History (``model.fit``'s return value) or its ``.history`` dict. Metrics missing from
    it are skipped; a ValueError is raised when none is there. Returns the path.
    """
    logs = getattr(history, "history", history)
    shown = [m for m in metrics if logs.get(m)]
    if not shown:
        raise ValueError(f"plot_history: none of {list(metrics)} in the history (it has {sorted(logs)})")
    figure_class, locator = require_matplotlib()
    fig = figure_class(figsize=(5.5 * len(shown), 4), facecolor="white")
    axes = fig.subplots(1, len(shown), squeeze=False)[0]
    for ax, name in zip(axes, shown):
        train = logs[name]
        epochs = range(1, len(train) + 1)
        ax.plot(epochs, train, "b-.", label="train")
        val = logs.get("val_" + name)
        if val:
            ax.plot(range(1, len(val) + 1), val, "b-", label="validation")
        ax.xaxis.set_major_locator(locator(integer=True))
        ax.set_xlabel("epochs")
        ax.set_ylabel(name)
        ax.grid(True, color="#dddddd")
        ax.set_axisbelow(True)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(Path(path))
    return path
