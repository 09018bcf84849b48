"""Figure 1 of the paper: where the noisy instances lie in (loss, Er) space, and what SS samples.

Panel (a) is the density of noisy-label instances over the two ranked features; panel (b) the
sampling probability the learned sampler gives each region, relative to uniform sampling. A good
sampler shows low probability where panel (a) is dense.

The work is split Optuna-style: :func:`figure1_data` is a pure numpy step that bins the instances
and computes the summary numbers (tested on values), and :func:`plot_figure1` only draws it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from swift_sampler.errors import InputDataError
from swift_sampler.report import _checks, _mpl

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DISCARD_FACTOR", "Figure1Data", "figure1_data", "plot_figure1"]

# An instance counts as "discarded" by the sampler (flagged as noisy) when its probability is
# below a tenth of uniform, 0.1 / n: with n draws an epoch it then comes up less than once in
# ten epochs on average.
DISCARD_FACTOR = 0.1

_LOSS_LABEL = "loss rank (cdf)"
_ER_LABEL = "Er rank (cdf)"
_EMPTY = "0.85"  # light grey: cells without instances
_OVERLAY = "#00b300"  # green reads on black, white, red and blue cells alike


@dataclass(frozen=True)
class Figure1Data:
    """Binned features, probabilities and noise of one training set, ready to draw.

    Every grid is indexed ``grid[i, j]`` with ``i`` the Er-rank bin (the y axis, rows) and ``j``
    the loss-rank bin (the x axis, columns), as an image of the (loss, Er) square is drawn.
    Bin ``k`` holds ranks in ``[edges[k], edges[k + 1])``; the last bin also holds rank 1.

    Attributes:
        edges: ``(bins + 1,)`` bin edges, shared by both ranks, from 0 to 1.
        count: ``(bins, bins)`` int64, number of instances in each cell.
        relative_probability: ``(bins, bins)`` float64, per cell the mean of
            ``probability * n`` (1 is uniform sampling, 0 never drawn); NaN in empty cells.
        num_instances: ``n``.
        num_discarded: instances with probability below ``DISCARD_FACTOR / n``.
        noisy_count: ``(bins, bins)`` int64, number of noisy instances per cell; None without
            noise flags (as are all the fields below).
        noisy_mass: total probability of the noisy instances.
        clean_mass: total probability of the clean instances; ``noisy_mass + clean_mass`` is the
            sum of the probabilities (1 when they sum to 1).
        noise_rate: fraction of the instances that are noisy.
        precision: of the discarded instances, the fraction that are noisy (0 when none are
            discarded).
        recall: of the noisy instances, the fraction that are discarded (0 when none are
            noisy).
        noisy_points: ``(k, 2)`` float64 ``(loss_rank, Er rank)`` of a seeded random subsample
            of the noisy instances (all of them when there are few), for overlaying on a plot.
    """

    edges: NDArray[np.float64]
    count: NDArray[np.int64]
    relative_probability: NDArray[np.float64]
    num_instances: int
    num_discarded: int
    noisy_count: NDArray[np.int64] | None = None
    noisy_mass: float | None = None
    clean_mass: float | None = None
    noise_rate: float | None = None
    precision: float | None = None
    recall: float | None = None
    noisy_points: NDArray[np.float64] | None = None

    @property
    def bins(self) -> int:
        """Number of bins along each axis."""
        return int(self.edges.size - 1)

    def noisy_fraction(self) -> NDArray[np.float64] | None:
        """``(bins, bins)`` share of noisy instances in each cell (NaN if empty), or None."""
        if self.noisy_count is None:
            return None
        out = np.full(self.count.shape, np.nan)
        filled = self.count > 0
        out[filled] = self.noisy_count[filled] / self.count[filled]
        return out


def figure1_data(
    loss_rank: ArrayLike,
    er_rank: ArrayLike,
    probability: ArrayLike,
    noisy: ArrayLike | None = None,
    *,
    bins: int = 20,
    max_points: int = 2000,
    seed: int = 0,
) -> Figure1Data:
    """Bins instances on a ``bins`` x ``bins`` grid of (loss rank, Er rank) and summarises them.

    Args:
        loss_rank: ``(n,)`` loss of each instance mapped to [0, 1] by its empirical cdf.
        er_rank: ``(n,)`` renormed entropy Er of each instance, likewise in [0, 1].
        probability: ``(n,)`` sampling probability of each instance, finite and >= 0. Meant to
            sum to 1 (as a sampler's do); used as given, not renormalised.
        noisy: ``(n,)`` bool (or 0/1), True where the label is noisy; None when unknown, in
            which case only the probability grid and ``num_discarded`` are computed.
        bins: number of equal-width bins along each rank axis.
        max_points: at most this many noisy instances are kept in ``noisy_points``.
        seed: seed of the subsample drawn for ``noisy_points`` (no global RNG is touched).

    Returns:
        The grids and summary numbers; see :class:`Figure1Data`.

    Raises:
        InputDataError: if an array is empty or not 1-D, the lengths differ, a rank is outside
            [0, 1] or not finite, a probability is negative or not finite, a noise flag is not
            0/1, or ``bins``, ``max_points`` or ``seed`` is not a valid integer.
    """
    loss = _checks.check_rank(loss_rank, "loss_rank")
    er = _checks.check_rank(er_rank, "er_rank")
    p = _checks.check_probability(probability, "probability")
    arrays: dict[str, np.ndarray] = {"loss_rank": loss, "er_rank": er, "probability": p}
    flags = None
    if noisy is not None:
        flags = _checks.check_flags(noisy, "noisy")
        arrays["noisy"] = flags
    n = _checks.check_same_length(arrays)
    bins = _checks.check_positive_int(bins, "bins")
    max_points = _checks.check_positive_int(max_points, "max_points")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputDataError(f"seed must be a non-negative integer, got {seed!r}")

    edges = np.linspace(0.0, 1.0, bins + 1)
    cell = _cell_index(er, edges) * bins + _cell_index(loss, edges)
    count = np.bincount(cell, minlength=bins * bins).reshape(bins, bins)
    total = np.bincount(cell, weights=p * n, minlength=bins * bins).reshape(bins, bins)
    relative = np.full((bins, bins), np.nan)
    filled = count > 0
    relative[filled] = total[filled] / count[filled]
    discarded = p < DISCARD_FACTOR / n
    data = Figure1Data(
        edges=edges,
        count=count.astype(np.int64),
        relative_probability=relative,
        num_instances=n,
        num_discarded=int(discarded.sum()),
    )
    if flags is None:
        return data

    noisy_count = np.bincount(cell[flags], minlength=bins * bins).reshape(bins, bins)
    num_noisy = int(flags.sum())
    caught = int((flags & discarded).sum())
    noisy_index = np.flatnonzero(flags)
    if noisy_index.size > max_points:
        rng = np.random.default_rng(seed)
        noisy_index = np.sort(rng.choice(noisy_index, size=max_points, replace=False))
    return Figure1Data(
        edges=edges,
        count=data.count,
        relative_probability=relative,
        num_instances=n,
        num_discarded=data.num_discarded,
        noisy_count=noisy_count.astype(np.int64),
        noisy_mass=float(p[flags].sum()),
        clean_mass=float(p[~flags].sum()),
        noise_rate=num_noisy / n,
        precision=caught / data.num_discarded if data.num_discarded else 0.0,
        recall=caught / num_noisy if num_noisy else 0.0,
        noisy_points=np.column_stack([loss[noisy_index], er[noisy_index]]),
    )


def _cell_index(rank: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.intp]:
    # searchsorted against the very edges we report keeps binning consistent with them (floor of
    # rank * bins can disagree by one at an edge); rank 1 joins the last bin.
    index = np.searchsorted(edges, rank, side="right") - 1
    return np.minimum(index, edges.size - 2)


def plot_figure1(
    data: Figure1Data,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    noise: Literal["count", "fraction"] = "count",
) -> None:
    """Draws Figure 1 as a PNG: noisy-instance density (left) and sampling probability (right).

    The left panel shows, per cell, the number of noisy instances (``noise="count"``) or their
    share of the cell (``noise="fraction"``). The right panel shows ``relative_probability`` on a
    log colour scale centred on uniform sampling (1); cells whose probability is below the
    colour scale (e.g. zeroed by the sampler) are drawn black, empty cells light grey, and the
    subsample of noisy instances is overlaid as small hollow circles. Without noise flags only
    the right panel is drawn.

    Args:
        data: the output of :func:`figure1_data`.
        path: where to write the PNG; its folder must exist.
        title: optional title over the whole figure.
        noise: what the left panel shows, ``"count"`` or ``"fraction"``.

    Raises:
        InputDataError: if ``noise`` is not one of the two choices.
    """
    if noise not in ("count", "fraction"):
        raise InputDataError(f"noise must be 'count' or 'fraction', got {noise!r}")
    with_noise = data.noisy_count is not None
    figure = _mpl.new_figure(11.0 if with_noise else 5.8, 4.8)
    try:
        axes = figure.subplots(1, 2 if with_noise else 1, squeeze=False)[0]
        if with_noise:
            _draw_noise(figure, axes[0], data, noise)
        _draw_probability(figure, axes[-1], data)
        if title is not None:
            figure.suptitle(title)
        _mpl.save_png(figure, path)
    finally:
        figure.clear()


def _square_axes(ax: Axes) -> None:
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_aspect("equal")
    ax.set_xlabel(_LOSS_LABEL)
    ax.set_ylabel(_ER_LABEL)


def _draw_noise(
    figure: Figure, ax: Axes, data: Figure1Data, noise: Literal["count", "fraction"]
) -> None:
    import matplotlib as mpl

    cmap = mpl.colormaps["Reds"].with_extremes(bad=_EMPTY)
    if noise == "count":
        assert data.noisy_count is not None
        values = np.ma.masked_where(data.count == 0, data.noisy_count.astype(np.float64))
        vmax = max(1.0, float(data.noisy_count.max()))
        label = "noisy instances per cell"
        panel = "(a) density of noisy instances"
    else:
        fraction = data.noisy_fraction()
        assert fraction is not None
        values = np.ma.masked_invalid(fraction)
        vmax = 1.0
        label = "share of noisy instances in cell"
        panel = "(a) share of noisy instances"
    mesh = ax.pcolormesh(data.edges, data.edges, values, cmap=cmap, vmin=0.0, vmax=vmax)
    _square_axes(ax)
    ax.set_title(f"{panel}\nnoise rate {data.noise_rate:.1%} of {data.num_instances} instances")
    figure.colorbar(mesh, ax=ax, label=label, shrink=0.9)


def _draw_probability(figure: Figure, ax: Axes, data: Figure1Data) -> None:
    import matplotlib as mpl
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Patch

    relative = data.relative_probability
    positive = relative[np.isfinite(relative) & (relative > 0)]
    # Symmetric on a log scale around 1 (uniform), so over- and under-sampling read alike;
    # at most 100x either way so one tiny cell cannot wash out the rest.
    span = max(float(positive.max()), 1.0 / float(positive.min())) if positive.size else 2.0
    span = min(max(span, 2.0), 100.0)
    low, high = 1.0 / span, span
    norm = LogNorm(vmin=low, vmax=high, clip=False)
    cmap = mpl.colormaps["RdBu_r"].with_extremes(under="black", over="darkred", bad=_EMPTY)
    # LogNorm masks values <= 0 as "bad"; lift them below vmin so they show as "under" (black),
    # which keeps them apart from empty cells (NaN, grey).
    shown = np.where(relative > 0, relative, low / 10.0)
    values = np.ma.masked_invalid(np.where(np.isnan(relative), np.nan, shown))
    mesh = ax.pcolormesh(data.edges, data.edges, values, cmap=cmap, norm=norm)
    extend: Literal["neither", "both", "min", "max"] = "neither"
    below = bool((relative < low).any())
    above = bool((relative > high).any())
    if below and above:
        extend = "both"
    elif below:
        extend = "min"
    elif above:
        extend = "max"
    figure.colorbar(
        mesh, ax=ax, extend=extend, shrink=0.9, label="sampling probability / uniform (log scale)"
    )
    _square_axes(ax)
    panel = "(b) sampling probability of the SS sampler"
    handles: list[Artist] = [
        Patch(facecolor="black", label=f"< {low:.2g}x"),
        Patch(facecolor=_EMPTY, edgecolor="0.6", label="empty"),
    ]
    if data.noisy_mass is None:
        ax.set_title(f"{panel}\n{data.num_discarded} of {data.num_instances} instances < 0.1x")
    else:
        ax.set_title(
            f"{panel}\nnoisy mass {data.noisy_mass:.3f}, "
            f"detector precision {data.precision:.2f} recall {data.recall:.2f}"
        )
        points = data.noisy_points
        if points is not None and points.size:
            handles.append(
                ax.scatter(
                    points[:, 0],
                    points[:, 1],
                    s=6,
                    marker="o",
                    facecolors="none",
                    edgecolors=_OVERLAY,
                    linewidths=0.5,
                    alpha=0.7,
                    label=f"noisy instances ({len(points)})",
                )
            )
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncol=len(handles),
        fontsize="small",
        frameon=False,
        handletextpad=0.4,
        columnspacing=1.0,
    )
