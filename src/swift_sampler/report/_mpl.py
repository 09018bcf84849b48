"""The one door to matplotlib: build an Agg-backed figure and save it to the caller's path.

Figures are created as plain ``matplotlib.figure.Figure`` objects with an explicit
``FigureCanvasAgg``, not through ``pyplot``: nothing is registered with pyplot's figure manager
(so no figure is ever left open) and the caller's global backend is never switched, which
matters inside a notebook. matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 120


def new_figure(width: float, height: float) -> Figure:
    """A ``width`` x ``height`` inch figure rendered by Agg, with constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: str | os.PathLike[str]) -> None:
    """Write ``figure`` as a PNG to ``path`` (its folder must exist).

    The image is rendered in memory first, so a drawing error leaves no half-written file, and
    written atomically, so a full disk or a kill leaves the old figure (``DiskFullError``).
    """
    from swift_sampler._io import write_bytes_atomic

    buffer = io.BytesIO()
    # Constrained layout can leave a title above the canvas when square (aspect-equal) axes sit
    # next to colorbars and an outside legend; a tight bounding box keeps every artist in.
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.1)
    write_bytes_atomic(path, buffer.getbuffer())
