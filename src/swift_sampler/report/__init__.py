"""Reports: pure data steps for the paper's figures and the PNG plots drawn from them.

Each figure is split in two, as Optuna does: a ``*_data`` function that only computes (numpy,
tested on values) and a ``plot_*`` function that only draws it. This package is the only one that
imports matplotlib, and it does so lazily inside the drawing functions, so importing it costs
nothing and changes no global state. Nothing below this layer imports it.
"""

from __future__ import annotations

from swift_sampler.report.figure1 import DISCARD_FACTOR, Figure1Data, figure1_data, plot_figure1
from swift_sampler.report.figure3 import Figure3Data, best_so_far, figure3_data, plot_figure3

__all__ = [
    "DISCARD_FACTOR",
    "Figure1Data",
    "Figure3Data",
    "best_so_far",
    "figure1_data",
    "figure3_data",
    "plot_figure1",
    "plot_figure3",
]
