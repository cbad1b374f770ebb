"""The one way the toolkit makes a matplotlib figure (analysis checks and report plots alike)."""

from __future__ import annotations


def new_figure(width: float, height: float):
    """Make a figure on its own Agg canvas (no pyplot, no global state or backend).

    matplotlib is imported here, on first use: importing the packages must not load it.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig
