"""Figure 3 of the paper: best validation score found so far against the number of trials.

Each curve is one outer-loop method (BO, RL, random search; with the cgf or the cdf transform)
run with several seeds; the figure shows the mean best-so-far over seeds with a +-1 std band.

:func:`best_so_far` and :func:`figure3_data` are the pure numpy data step (tested on values);
:func:`plot_figure3` only draws.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike, NDArray

from swift_sampler.errors import InputDataError
from swift_sampler.report import _mpl

__all__ = ["Figure3Data", "best_so_far", "figure3_data", "plot_figure3"]


def best_so_far(scores: ArrayLike | Sequence[float]) -> NDArray[np.float64]:
    """Running maximum of per-trial scores, skipping failed (NaN) trials.

    A NaN entry carries the previous best forward; NaNs before the first finite score stay NaN.

    Args:
        scores: ``(t,)`` score of each trial in order, higher is better; NaN marks a failed
            trial. May be empty.

    Returns:
        ``(t,)`` float64, entry ``k`` the best score among trials ``0..k``.

    Raises:
        InputDataError: if ``scores`` is not 1-D or holds an infinite value.
    """
    return _best_so_far(_check_scores(scores, "scores"))


def _check_scores(scores: ArrayLike | Sequence[float], name: str) -> NDArray[np.float64]:
    try:
        s = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputDataError(f"{name} must be a sequence of numbers: {error}") from None
    if s.ndim != 1:
        raise InputDataError(f"{name} must be 1-D, got shape {s.shape}")
    infinite = np.isinf(s)
    if infinite.any():
        i = int(np.flatnonzero(infinite)[0])
        raise InputDataError(
            f"{name} must be finite or NaN (a failed trial), but entry {i} is {s[i].item()!r}"
        )
    return s


def _best_so_far(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    # fmax ignores a NaN operand, so the accumulation skips failed trials and stays NaN only
    # until the first finite score.
    return np.fmax.accumulate(scores) if scores.size else scores.copy()


@dataclass(frozen=True)
class Figure3Data:
    """Best-so-far curves of several labelled methods, each over several runs (seeds).

    Attributes:
        labels: the method labels, in the order given.
        runs: per label, one ``(t_r,)`` best-so-far array per run, each at its full length.
        mean: per label, ``(t,)`` mean over runs of best-so-far at trials ``1..t``, where ``t``
            is the label's shortest run. Runs still without a finite score at a trial (all
            trials so far failed) are left out of that trial's mean; NaN if no run has one.
        std: per label, ``(t,)`` population standard deviation (ddof 0) over the same runs.
        best: the best score any run of any label found; NaN if every trial failed.
    """

    labels: tuple[str, ...]
    runs: Mapping[str, tuple[NDArray[np.float64], ...]]
    mean: Mapping[str, NDArray[np.float64]]
    std: Mapping[str, NDArray[np.float64]]
    best: float

    def trials_to_reach(self, fraction: float = 0.99) -> dict[str, float]:
        """Mean number of trials each label needs to come within ``fraction`` of ``best``.

        For each run, the first trial (1-based) whose best-so-far is at least
        ``fraction * best`` (for a negative ``best``, ``best - (1 - fraction) * |best|``, which
        is the same rule mirrored so the target never exceeds ``best``); then the mean over the
        label's runs. A run that never gets there counts as ``inf``, so a label's value is
        ``inf`` unless every one of its runs reaches the target; all are ``inf`` when ``best``
        is NaN.

        Args:
            fraction: the share of ``best`` to reach, in (0, 1].

        Returns:
            Label -> mean trials to reach the target (a float, possibly ``inf``).

        Raises:
            InputDataError: if ``fraction`` is not a number in (0, 1].
        """
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, int | float)
            or not (0.0 < fraction <= 1.0)
        ):
            raise InputDataError(f"fraction must be a number in (0, 1], got {fraction!r}")
        target = self.best - (1.0 - fraction) * abs(self.best)
        out = {}
        for label in self.labels:
            firsts = []
            for run in self.runs[label]:
                reached = np.flatnonzero(run >= target)  # NaN (and a NaN target) never reach
                firsts.append(float(reached[0] + 1) if reached.size else float("inf"))
            out[label] = float(np.mean(firsts))
        return out


def figure3_data(curves: Mapping[str, Sequence[Sequence[float]]]) -> Figure3Data:
    """Turns per-trial scores of several methods and seeds into best-so-far curves.

    Args:
        curves: label -> runs, each run the ``(t_r,)`` per-trial validation scores of one seed
            in trial order (higher is better, NaN for a failed trial). Runs of one label may
            differ in length; the mean and std stop at the shortest.

    Returns:
        The curves and the overall best score; see :class:`Figure3Data`.

    Raises:
        InputDataError: if ``curves`` is empty, a label is not a string or has no runs, a run
            is empty or not 1-D, or a score is infinite.
    """
    if not curves:
        raise InputDataError("curves must hold at least one label")
    runs: dict[str, tuple[NDArray[np.float64], ...]] = {}
    for label, label_runs in curves.items():
        if not isinstance(label, str):
            raise InputDataError(f"curve labels must be strings, got {label!r}")
        if isinstance(label_runs, str | bytes) or len(label_runs) == 0:
            raise InputDataError(f"curve {label!r} must hold at least one run, got {label_runs!r}")
        checked = []
        for r, run in enumerate(label_runs):
            scores = _check_scores(run, f"curve {label!r} run {r}")
            if scores.size == 0:
                raise InputDataError(f"curve {label!r} run {r} must not be empty")
            best = _best_so_far(scores)
            best.setflags(write=False)
            checked.append(best)
        runs[label] = tuple(checked)

    mean, std = {}, {}
    for label, best_runs in runs.items():
        length = min(run.size for run in best_runs)
        stack = np.stack([run[:length] for run in best_runs])
        mean[label], std[label] = _nan_mean_std(stack)
        mean[label].setflags(write=False)
        std[label].setflags(write=False)
    finals = [run[-1] for best_runs in runs.values() for run in best_runs]
    finite = [value for value in finals if np.isfinite(value)]
    return Figure3Data(
        labels=tuple(runs),
        runs=MappingProxyType(runs),
        mean=MappingProxyType(mean),
        std=MappingProxyType(std),
        best=float(max(finite)) if finite else float("nan"),
    )


def _nan_mean_std(stack: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    # np.nanmean warns on an all-NaN column (every run failed so far); do it by hand instead.
    seen = ~np.isnan(stack)
    count = seen.sum(axis=0)
    safe = np.maximum(count, 1)
    mean = np.where(seen, stack, 0.0).sum(axis=0) / safe
    var = np.where(seen, (stack - mean) ** 2, 0.0).sum(axis=0) / safe
    none = count == 0
    mean[none] = np.nan
    var[none] = np.nan
    return mean, np.sqrt(var)


def plot_figure3(
    data: Figure3Data,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    ylabel: str = "validation Top-1",
) -> None:
    """Draws Figure 3 as a PNG: mean best-so-far per label with a shaded +-1 std band.

    Args:
        data: the output of :func:`figure3_data`.
        path: where to write the PNG; its folder must exist.
        title: optional axes title.
        ylabel: the y-axis label (what the scores are).
    """
    from matplotlib.ticker import MaxNLocator

    figure = _mpl.new_figure(6.4, 4.4)
    try:
        ax = figure.subplots()
        for label in data.labels:
            mean, std = data.mean[label], data.std[label]
            trials = np.arange(1, mean.size + 1)
            (line,) = ax.plot(
                trials,
                mean,
                marker="o" if mean.size <= 30 else None,
                markersize=3,
                linewidth=1.6,
                label=f"{label} ({len(data.runs[label])} runs)",
            )
            ax.fill_between(
                trials, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0
            )
        ax.set_xlabel("trial")
        ax.set_ylabel(f"best-so-far {ylabel}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        longest = max(data.mean[label].size for label in data.labels)
        ax.set_xlim(0.5, longest + 0.5)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", title="mean ± std over runs")
        if title is not None:
            ax.set_title(title)
        _mpl.save_png(figure, path)
    finally:
        figure.clear()
