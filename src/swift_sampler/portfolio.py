"""The built-in start portfolio: samplers that full searches found on other data.

``search.portfolio = k`` makes a search try the first ``k`` thetas below right after the
uniform trial, before its start-up points (a warm start in the sense of portfolio-based
hyper-parameter search; with a pruner they are screened like any other candidate). They come
from ``experiments/portfolio.py``: a full-fidelity search (20 trials, the default protocol) on
each of four settings (digits with an MLP, 30% pair noise; MNIST-1D with conv1d, 20% and 30%
symmetric and 20% pair noise; other data seeds than the benchmarks', never MNIST-5k, never 40%
noise), the 3 best thetas of each pooled, every pooled theta scored on every setting with
another seed, then picked greedily (each pick adds the most to the mean over settings of the
best normalised validation score; the fourth adds nothing more and is the first pooled theta
left, a tie broken by order): so the first ``k`` are the best ``k``-list in that order. The
first two come from the search on MNIST-1D with 20% symmetric noise.
``results/portfolio/summary.json`` holds the scores behind each pick.

A theta means what it means only in the family it was found for (:data:`FAMILY`); the config
refuses a portfolio with another. This module imports nothing, so the config can read it.
"""

from __future__ import annotations

__all__ = ["FAMILY", "THETAS"]

FAMILY: dict[str, object] = {
    "features": ("loss", "er"),
    "transform": "cgf",
    "segments": 4,
    "lipschitz": 2.0,
    "eps": 1e-6,
    "history": 0.0,
    "increments": "clipped",
    "combine": "product",
    "refresh": "every_epoch",
}
"""The sampler family the thetas were found in (the ``[sampler]`` defaults)."""

THETAS: tuple[tuple[float, ...], ...] = (
    # m1d-sym20 slot 11
    (
        0.4362160688637722,
        0.02030470038656436,
        0.0922521955904427,
        0.18198744310170922,
        0.43211956114546657,
        0.39077207537122793,
        0.3602997141795139,
        0.7949802315061604,
        0.6227360763386863,
        0.4958488109860484,
    ),
    # m1d-sym20 slot 2
    (
        0.6848851349204779,
        0.1509220777079463,
        0.22960107028484344,
        0.15690090600401163,
        0.8561327457427979,
        0.7942322604358196,
        0.33984385803341866,
        0.8656466761603951,
        0.8695545103400946,
        0.256519946269691,
    ),
    # digits-pair30 slot 13
    (
        0.681232514227681,
        0.0,
        0.0,
        0.0,
        1.0,
        0.9016123876108857,
        0.19698185958580006,
        1.0,
        1.0,
        0.0,
    ),
    # digits-pair30 slot 9
    (
        0.645289333401585,
        0.0,
        0.0,
        0.0,
        0.9210339039574807,
        0.7094507445813257,
        0.2513619886972815,
        0.9885820266329368,
        0.9018720546935797,
        0.20702515156673004,
    ),
)
"""The portfolio, in greedy order (``experiments/portfolio.py`` prints it)."""
