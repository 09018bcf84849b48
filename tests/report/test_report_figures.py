from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from swift_sampler.errors import InputDataError
from swift_sampler.report import (
    best_so_far,
    figure1_data,
    figure3_data,
    plot_figure1,
    plot_figure3,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Four instances on a 2 x 2 grid (rows: Er bin, columns: loss bin); n = 4, so the discard
# threshold is 0.1 / 4 = 0.025 and only instance 1 (p = 0) is below it.
LOSS = [0.1, 0.9, 0.9, 0.2]
ER = [0.1, 0.1, 0.2, 0.8]
PROB = [0.4, 0.0, 0.1, 0.5]
NOISY = [False, True, True, False]


def _realistic(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Ranks, probabilities and noise flags: 40% noisy at high loss / low Er, zeroed there."""
    rng = np.random.default_rng(seed)
    noisy = rng.random(n) < 0.4
    loss = np.where(noisy, rng.normal(3.0, 0.8, n), rng.gamma(1.2, 0.5, n))
    er = np.where(noisy, rng.beta(2, 5, n), rng.beta(5, 2, n))
    loss_rank = (np.argsort(np.argsort(loss)) + 1) / n
    er_rank = (np.argsort(np.argsort(er)) + 1) / n
    weight = np.exp(-2 * loss_rank)
    weight[(loss_rank > 0.55) & (er_rank < 0.5)] = 0.0
    return loss_rank, er_rank, weight / weight.sum(), noisy


def _assert_png(path: Path, *, min_width: int, min_height: int) -> tuple[int, int]:
    import matplotlib.image
    import matplotlib.pyplot as plt

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    height, width = image.shape[:2]
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert width >= min_width and height >= min_height
    assert width < 4000 and height < 4000
    assert image[..., :3].std() > 0.05  # not a blank canvas
    assert plt.get_fignums() == []
    return width, height


# ----------------------------------------------------------------------------- figure 1 data


def test_figure1_grids_on_hand_built_example() -> None:
    data = figure1_data(LOSS, ER, PROB, NOISY, bins=2)
    np.testing.assert_array_equal(data.edges, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(data.count, [[1, 2], [1, 0]])
    np.testing.assert_array_equal(data.noisy_count, [[0, 2], [0, 0]])
    # mean(p * n): cell (0, 0) 0.4 * 4; cell (0, 1) mean(0, 0.1) * 4; cell (1, 0) 0.5 * 4.
    expected = np.array([[1.6, 0.2], [2.0, np.nan]])
    np.testing.assert_allclose(data.relative_probability, expected, equal_nan=True)
    fraction = data.noisy_fraction()
    assert fraction is not None
    np.testing.assert_allclose(fraction, np.array([[0.0, 1.0], [0.0, np.nan]]), equal_nan=True)
    assert data.bins == 2 and data.num_instances == 4 and data.num_discarded == 1
    assert data.noisy_mass == pytest.approx(0.1)
    assert data.clean_mass == pytest.approx(0.9)
    assert data.noise_rate == pytest.approx(0.5)
    assert data.precision == pytest.approx(1.0)  # the one discarded instance is noisy
    assert data.recall == pytest.approx(0.5)  # one of the two noisy instances is discarded
    np.testing.assert_array_equal(data.noisy_points, [[0.9, 0.1], [0.9, 0.2]])


def test_figure1_rank_on_edges_and_at_one() -> None:
    data = figure1_data([0.0, 0.5, 1.0], [1.0, 0.5, 0.0], [0.2, 0.3, 0.5], bins=2)
    # Bins are [lo, hi) and rank 1 joins the last: loss -> columns 0, 1, 1; Er -> rows 1, 1, 0.
    np.testing.assert_array_equal(data.count, [[0, 1], [1, 1]])
    np.testing.assert_allclose(data.relative_probability, [[np.nan, 1.5], [0.6, 0.9]])


def test_figure1_precision_recall_hand_computed() -> None:
    # n = 5, threshold 0.02: instances 0, 1 and 4 are discarded; 0 and 3 are noisy.
    probability = [0.0, 0.01, 0.5, 0.49, 0.0]
    noisy = np.array([1, 0, 0, 1, 0])
    data = figure1_data([0.1] * 5, [0.1] * 5, probability, noisy, bins=4)
    assert data.num_discarded == 3
    assert data.precision == pytest.approx(1 / 3)
    assert data.recall == pytest.approx(1 / 2)
    assert data.noisy_mass == pytest.approx(0.49)


def test_figure1_precision_recall_zero_over_zero_is_zero() -> None:
    uniform = [0.25] * 4
    none_discarded = figure1_data(LOSS, ER, uniform, NOISY)
    assert none_discarded.num_discarded == 0 and none_discarded.precision == 0.0
    assert none_discarded.recall == 0.0
    none_noisy = figure1_data(LOSS, ER, PROB, [False] * 4)
    assert none_noisy.recall == 0.0 and none_noisy.precision == 0.0
    assert none_noisy.noisy_mass == 0.0 and none_noisy.noise_rate == 0.0


def test_figure1_masses_sum_to_one_and_realistic_sampler_avoids_noise() -> None:
    loss_rank, er_rank, probability, noisy = _realistic()
    data = figure1_data(loss_rank, er_rank, probability, noisy)
    assert data.noisy_mass is not None and data.clean_mass is not None
    assert data.noisy_mass + data.clean_mass == pytest.approx(1.0)
    assert data.noisy_count is not None
    assert data.count.sum() == 3000 and data.noisy_count.sum() == noisy.sum()
    # Mean relative probability weighted by cell counts is sum(p) * n / n = 1.
    filled = data.count > 0
    weighted = (data.relative_probability[filled] * data.count[filled]).sum() / 3000
    assert weighted == pytest.approx(1.0)
    assert data.precision is not None and data.recall is not None
    assert data.noisy_mass < 0.1 and data.precision > 0.9 and data.recall > 0.8


def test_figure1_without_noise_flags() -> None:
    data = figure1_data(LOSS, ER, PROB, bins=2)
    assert data.noisy_count is None and data.noisy_points is None and data.noisy_mass is None
    assert data.precision is None and data.recall is None and data.noisy_fraction() is None
    np.testing.assert_allclose(data.relative_probability[0], [1.6, 0.2])


def test_figure1_noisy_points_subsample_is_seeded_and_capped() -> None:
    loss_rank, er_rank, probability, noisy = _realistic()
    first = figure1_data(loss_rank, er_rank, probability, noisy, max_points=100, seed=3)
    again = figure1_data(loss_rank, er_rank, probability, noisy, max_points=100, seed=3)
    other = figure1_data(loss_rank, er_rank, probability, noisy, max_points=100, seed=4)
    assert first.noisy_points is not None and first.noisy_points.shape == (100, 2)
    assert again.noisy_points is not None
    np.testing.assert_array_equal(first.noisy_points, again.noisy_points)
    assert other.noisy_points is not None
    assert not np.array_equal(first.noisy_points, other.noisy_points)
    noisy_pairs = set(zip(loss_rank[noisy], er_rank[noisy], strict=True))
    assert all(tuple(point) in noisy_pairs for point in first.noisy_points)
    full = figure1_data(loss_rank, er_rank, probability, noisy)
    assert full.noisy_points is not None and len(full.noisy_points) == min(2000, noisy.sum())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss_rank": [0.1, 0.2, 0.3]}, r"same length.*loss_rank has 3.*er_rank has 4"),
        ({"noisy": [True, False]}, r"noisy has 2"),
        (
            {"loss_rank": [0.1, 1.5, 0.2, 0.3]},
            r"loss_rank must be finite and in \[0, 1\].*1 is 1.5",
        ),
        ({"er_rank": [0.1, 0.2, -0.1, 0.3]}, r"er_rank .*entry 2 is -0.1"),
        ({"er_rank": [0.1, 0.2, np.nan, 0.3]}, r"er_rank .*entry 2 is nan"),
        ({"probability": [0.5, -0.1, 0.3, 0.3]}, r"probability must be finite and >= 0.*-0.1"),
        ({"probability": [0.5, np.inf, 0.3, 0.3]}, r"probability .*entry 1 is inf"),
        ({"noisy": [0, 1, 2, 0]}, r"noisy must be bool \(or 0/1\).*entry 2 is 2"),
        ({"loss_rank": []}, r"loss_rank must not be empty"),
        ({"loss_rank": [[0.1, 0.2], [0.3, 0.4]]}, r"loss_rank must be 1-D"),
        ({"bins": 0}, r"bins must be an integer >= 1, got 0"),
        ({"bins": 2.5}, r"bins .*got 2.5"),
        ({"seed": -1}, r"seed must be a non-negative integer, got -1"),
    ],
)
def test_figure1_bad_inputs_name_the_value(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "loss_rank": LOSS,
        "er_rank": ER,
        "probability": PROB,
        "noisy": NOISY,
    }
    arguments.update(kwargs)
    with pytest.raises(InputDataError, match=message):
        figure1_data(**arguments)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- figure 3 data


def test_best_so_far_skips_failed_trials() -> None:
    result = best_so_far([math.nan, 0.3, math.nan, 0.2, 0.5, math.nan, 0.4])
    np.testing.assert_array_equal(result, [np.nan, 0.3, 0.3, 0.3, 0.5, 0.5, 0.5])
    assert best_so_far([]).shape == (0,)
    np.testing.assert_array_equal(best_so_far([math.nan, math.nan]), [np.nan, np.nan])
    np.testing.assert_array_equal(best_so_far(np.array([2, 1, 3])), [2.0, 2.0, 3.0])


def test_best_so_far_refuses_infinite_and_nd() -> None:
    with pytest.raises(InputDataError, match=r"finite or NaN .*entry 1 is inf"):
        best_so_far([0.1, math.inf])
    with pytest.raises(InputDataError, match=r"must be 1-D"):
        best_so_far([[0.1, 0.2]])


def test_figure3_mean_std_and_trials_to_reach() -> None:
    curves = {
        "BO": [[0.5, 0.9, 1.0], [0.8, 0.995, 0.97, 0.99]],
        "random": [[0.1, 0.2, math.nan]],
    }
    data = figure3_data(curves)
    assert data.labels == ("BO", "random") and data.best == 1.0
    # Best-so-far runs: [0.5, 0.9, 1.0] and [0.8, 0.995, 0.995, 0.995], cut to length 3.
    np.testing.assert_allclose(data.mean["BO"], [0.65, 0.9475, 0.9975])
    np.testing.assert_allclose(data.std["BO"], [0.15, 0.0475, 0.0025])
    np.testing.assert_allclose(data.mean["random"], [0.1, 0.2, 0.2])
    np.testing.assert_array_equal(data.std["random"], [0.0, 0.0, 0.0])
    assert [run.size for run in data.runs["BO"]] == [3, 4]
    # Target 0.99: BO run 0 first reaches it at trial 3, run 1 at trial 2 -> 2.5; random never.
    assert data.trials_to_reach(0.99) == {"BO": 2.5, "random": math.inf}
    # Target 0.15: BO at trial 1 in both runs; random at trial 2.
    assert data.trials_to_reach(0.15) == {"BO": 1.0, "random": 2.0}
    assert data.trials_to_reach(1.0)["BO"] == math.inf  # run 1 never reaches 1.0 exactly


def test_figure3_leading_failures_and_all_failed() -> None:
    data = figure3_data({"a": [[math.nan, 0.5], [math.nan, math.nan]]})
    np.testing.assert_array_equal(data.mean["a"], [np.nan, 0.5])
    np.testing.assert_array_equal(data.std["a"], [np.nan, 0.0])
    assert data.best == 0.5
    assert data.trials_to_reach() == {"a": math.inf}  # the all-failed run never reaches
    failed = figure3_data({"a": [[math.nan]]})
    assert math.isnan(failed.best) and failed.trials_to_reach() == {"a": math.inf}


def test_figure3_negative_scores_target_never_exceeds_best() -> None:
    data = figure3_data({"a": [[-2.0, -1.0]]})
    # best -1, fraction 0.5: target -1 - 0.5 * 1 = -1.5, first reached at trial 2.
    assert data.trials_to_reach(0.5) == {"a": 2.0}


def test_figure3_results_are_read_only() -> None:
    data = figure3_data({"a": [[0.1, 0.2]]})
    with pytest.raises(ValueError, match="read-only"):
        data.mean["a"][0] = 1.0
    with pytest.raises(TypeError):
        data.mean["b"] = np.zeros(2)  # type: ignore[index]


@pytest.mark.parametrize(
    ("curves", "message"),
    [
        ({}, r"at least one label"),
        ({"a": []}, r"curve 'a' must hold at least one run"),
        ({"a": [[]]}, r"curve 'a' run 0 must not be empty"),
        ({"a": [[0.1], [0.2, -math.inf]]}, r"curve 'a' run 1 must be finite or NaN.*-inf"),
        ({3: [[0.1]]}, r"labels must be strings, got 3"),
    ],
)
def test_figure3_bad_inputs(curves: dict[object, object], message: str) -> None:
    with pytest.raises(InputDataError, match=message):
        figure3_data(curves)  # type: ignore[arg-type]


@pytest.mark.parametrize("fraction", [0.0, 1.5, -0.1, True, "0.9"])
def test_trials_to_reach_refuses_bad_fraction(fraction: object) -> None:
    data = figure3_data({"a": [[0.1]]})
    with pytest.raises(InputDataError, match=r"fraction must be a number in \(0, 1\]"):
        data.trials_to_reach(fraction)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- plots


@pytest.fixture(scope="module", autouse=True)
def _matplotlib_imported() -> None:
    # Pay matplotlib's import once, in setup, rather than inside the first plot test's timing.
    import matplotlib.image
    import matplotlib.pyplot  # noqa: F401


def test_plot_figure1_writes_two_panel_png(tmp_path: Path) -> None:
    loss_rank, er_rank, probability, noisy = _realistic(n=1000)
    path = tmp_path / "figure1.png"
    plot_figure1(figure1_data(loss_rank, er_rank, probability, noisy), path, title="Fig. 1")
    width, height = _assert_png(path, min_width=800, min_height=300)
    assert width > 1.5 * height  # two square panels side by side


def test_plot_figure1_without_noise_is_one_panel(tmp_path: Path) -> None:
    loss_rank, er_rank, probability, _ = _realistic(n=500)
    path = tmp_path / "figure1.png"
    plot_figure1(figure1_data(loss_rank, er_rank, probability), str(path))
    width, height = _assert_png(path, min_width=400, min_height=300)
    assert width < 1.5 * height


def test_plot_figure1_noise_fraction_with_zero_and_empty_cells(tmp_path: Path) -> None:
    # All probability on one instance; every other cell is zero or empty.
    plot_figure1(
        figure1_data([0.1, 0.9], [0.1, 0.9], [1.0, 0.0], [False, True], bins=3),
        tmp_path / "a.png",
        noise="fraction",
    )
    _assert_png(tmp_path / "a.png", min_width=600, min_height=250)


def test_plot_figure1_all_probabilities_zero(tmp_path: Path) -> None:
    # Nothing positive to scale the colours by.
    plot_figure1(figure1_data([0.5], [0.5], [0.0], [True]), tmp_path / "b.png")
    _assert_png(tmp_path / "b.png", min_width=600, min_height=250)


def test_plot_figure1_refuses_unknown_noise_panel(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match=r"noise must be 'count' or 'fraction', got 'x'"):
        plot_figure1(figure1_data(LOSS, ER, PROB, NOISY), tmp_path / "f.png", noise="x")  # type: ignore[arg-type]
    assert not (tmp_path / "f.png").exists()


def test_plot_figure3_writes_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    curves = {
        label: [0.7 + 0.1 * (1 - np.exp(-rate * np.arange(30))) + rng.normal(0, 0.01, 30)] * 3
        for label, rate in (("BO, cgf", 0.3), ("BO, cdf", 0.2), ("random", 0.05))
    }
    curves["RL, cgf"] = [[math.nan, 0.6, 0.7], [0.5, math.nan, 0.8, 0.9]]
    path = tmp_path / "figure3.png"
    plot_figure3(figure3_data(curves), path, title="Fig. 3", ylabel="val acc")
    _assert_png(path, min_width=500, min_height=350)


def test_plot_figure3_single_trial(tmp_path: Path) -> None:
    plot_figure3(figure3_data({"a": [[0.5]]}), tmp_path / "one.png")
    _assert_png(tmp_path / "one.png", min_width=500, min_height=350)


def test_report_import_pulls_neither_matplotlib_nor_torch() -> None:
    code = (
        "import sys, swift_sampler.report\n"
        "print('matplotlib' in sys.modules, 'torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]
