"""Tests of the REINFORCE outer loop: replayable suggestions, the update rule, and learning."""

from __future__ import annotations

import doctest
import math
import re
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from swift_sampler.errors import ConfigError
from swift_sampler.search import rl
from swift_sampler.search.rl import ReinforceConfig, ReinforceOuterLoop

DIM = 10
TARGET = np.linspace(0.2, 0.8, DIM)  # the optimum of the synthetic objective

History = list[tuple[np.ndarray, float]]


def run_sequential(
    loop: ReinforceOuterLoop, objective: Callable[[np.ndarray], float], trials: int
) -> History:
    """Runs a sequential search: trial k asks slot k with every earlier result known.

    Args:
        loop: the outer loop.
        objective: theta ``(dim,)`` -> score, higher is better.
        trials: number of trials.

    Returns:
        ``(theta, score)`` of every trial, in order.
    """
    history: History = []
    for slot in range(trials):
        theta = loop.suggest(history, slot)
        history.append((theta, objective(theta)))
    return history


def quadratic(seed: int, noise: float = 0.01) -> Callable[[np.ndarray], float]:
    """``-||theta - TARGET||^2`` plus Gaussian noise seeded by ``seed`` (drawn in call order)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7919]))

    def objective(theta: np.ndarray) -> float:
        return -float(np.sum((theta - TARGET) ** 2)) + noise * float(rng.standard_normal())

    return objective


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def logit(theta: np.ndarray | float) -> np.ndarray:
    t = np.clip(np.asarray(theta, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(t / (1 - t))


def reference_policy(
    history: History, config: ReinforceConfig, init_mean: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The policy computed incrementally, one batch at a time, straight from the formulas."""
    mu = logit(init_mean)
    log_sigma = np.full(init_mean.shape, math.log(config.sigma_init))
    baseline = None
    b = config.batch_size
    for start in range(0, len(history) // b * b, b):
        batch = history[start : start + b]
        z = np.stack([logit(theta) for theta, _ in batch])
        s = np.array([score for _, score in batch])
        baseline = s.mean() if baseline is None else baseline
        adv = s - baseline
        if adv.std() > 0:
            adv = adv / adv.std()
        sigma = np.exp(log_sigma)
        # Plain REINFORCE gradients of log N(z; mu, sigma).
        g_mu = np.mean(adv[:, None] * (z - mu) / sigma**2, axis=0)
        g_log_sigma = np.mean(adv[:, None] * ((z - mu) ** 2 / sigma**2 - 1), axis=0)
        if config.natural_gradient:
            g_mu, g_log_sigma = g_mu * sigma**2, g_log_sigma / 2
        mu = np.clip(mu + config.learning_rate * g_mu, logit(0.0), logit(1.0))
        if config.learn_sigma:
            log_sigma = np.clip(
                log_sigma + config.learning_rate * g_log_sigma,
                math.log(config.sigma_min),
                math.log(config.sigma_max),
            )
        d = config.baseline_decay
        baseline = d * baseline + (1 - d) * s.mean()
    return mu, np.exp(log_sigma)


@pytest.fixture(scope="module")
def history() -> History:
    """30 trials of a real run (7 full batches of 4 and a partial one), first one forced."""
    loop = ReinforceOuterLoop(DIM, seed=3)
    objective = quadratic(3)
    first = np.full(DIM, 0.5)
    return [(first, objective(first)), *run_sequential(loop, objective, 30)[1:]]


# --- determinism ------------------------------------------------------------------------------


def test_same_seed_history_slot_give_the_same_theta(history: History) -> None:
    a = ReinforceOuterLoop(DIM, seed=11).suggest(history, 30)
    b = ReinforceOuterLoop(DIM, seed=11).suggest(history, 30)
    np.testing.assert_array_equal(a, b)


def test_other_slot_or_seed_gives_another_theta(history: History) -> None:
    loop = ReinforceOuterLoop(DIM, seed=11)
    a = loop.suggest(history, 30)
    assert np.abs(a - loop.suggest(history, 31)).min() > 0
    assert np.abs(a - ReinforceOuterLoop(DIM, seed=12).suggest(history, 30)).min() > 0


def test_slot_draws_from_the_documented_stream(history: History) -> None:
    # The contract a resumed search relies on: z = mu + sigma * N(0, 1) from SeedSequence([seed,
    # slot]), whatever happened before.
    loop = ReinforceOuterLoop(DIM, seed=5)
    mu, sigma = loop.policy(history)
    noise = np.random.default_rng(np.random.SeedSequence([5, 17])).standard_normal(DIM)
    np.testing.assert_allclose(loop.suggest(history, 17), sigmoid(mu + sigma * noise), rtol=1e-12)


def test_global_numpy_state_is_neither_used_nor_changed(history: History) -> None:
    # The legacy global state is what is under test, hence the NPY002 exemptions.
    loop = ReinforceOuterLoop(DIM, seed=2)
    saved = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(0)  # noqa: NPY002
        a = loop.suggest(history, 30)
        # The global stream continues as if nothing had drawn from it.
        untouched = np.random.RandomState(0).random_sample(3)
        np.testing.assert_array_equal(np.random.random_sample(3), untouched)  # noqa: NPY002
        np.random.seed(12345)  # noqa: NPY002
        np.testing.assert_array_equal(loop.suggest(history, 30), a)
    finally:
        np.random.set_state(saved)  # noqa: NPY002


def test_resume_from_a_prefix_reproduces_the_run() -> None:
    # A search killed after 13 trials and resumed by a new process asks the same thetas.
    full = run_sequential(ReinforceOuterLoop(DIM, seed=4), quadratic(4), 24)
    objective = quadratic(4)
    resumed = run_sequential(ReinforceOuterLoop(DIM, seed=4), objective, 13)
    loop = ReinforceOuterLoop(DIM, seed=4)  # a fresh object: nothing carried over
    for slot in range(13, 24):
        theta = loop.suggest(resumed, slot)
        resumed.append((theta, objective(theta)))
    for (a, sa), (b, sb) in zip(full, resumed, strict=True):
        np.testing.assert_array_equal(a, b)
        assert sa == sb


# --- replay and the update rule ---------------------------------------------------------------


def test_empty_history_gives_the_initial_policy() -> None:
    init = np.linspace(0.1, 0.9, DIM)
    mu, sigma = ReinforceOuterLoop(DIM, init_mean=init).policy([])
    np.testing.assert_allclose(sigmoid(mu), init, rtol=1e-12)
    np.testing.assert_array_equal(sigma, np.full(DIM, 1.0))  # the default sigma_init


def test_one_step_by_hand() -> None:
    # dim 1, mu 0, sigma 0.5; samples z = 0.5 and -0.25 (eps = 1, -0.5) scored 1 and 0.
    # Baseline 0.5, advantages +-0.5 normalised to +-1.
    # mean(a * eps) = 0.75 and mean(a * (eps^2 - 1)) = 0.375.
    batch = [(sigmoid(np.array([0.5])), 1.0), (sigmoid(np.array([-0.25])), 0.0)]
    small = {"batch_size": 2, "learning_rate": 0.1, "sigma_init": 0.5}
    natural = ReinforceOuterLoop(1, config=ReinforceConfig(**small))
    mu, sigma = natural.policy(batch)
    assert mu[0] == pytest.approx(0.1 * 0.75 * 0.5)  # lr * mean(a * eps) * sigma
    assert sigma[0] == pytest.approx(0.5 * math.exp(0.1 * 0.375 / 2))
    plain = ReinforceOuterLoop(1, config=ReinforceConfig(**small, natural_gradient=False))
    mu, sigma = plain.policy(batch)
    assert mu[0] == pytest.approx(0.1 * 0.75 / 0.5)  # lr * mean(a * eps) / sigma
    assert sigma[0] == pytest.approx(0.5 * math.exp(0.1 * 0.375))


@pytest.mark.parametrize(
    "config",
    [
        ReinforceConfig(),
        ReinforceConfig(natural_gradient=False, learning_rate=0.03),
        ReinforceConfig(learn_sigma=False, batch_size=3, baseline_decay=0.0),
        ReinforceConfig(batch_size=1),
    ],
    ids=["default", "plain", "fixed-sigma", "batch-1"],
)
def test_replay_equals_the_incremental_policy(history: History, config: ReinforceConfig) -> None:
    init = np.linspace(0.3, 0.7, DIM)
    loop = ReinforceOuterLoop(DIM, seed=0, config=config, init_mean=init)
    for n in (0, 4, 13, len(history)):
        mu, sigma = loop.policy(history[:n])
        ref_mu, ref_sigma = reference_policy(history[:n], config, init)
        np.testing.assert_allclose(mu, ref_mu, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(sigma, ref_sigma, rtol=1e-10)
    # The history did move the policy, so the comparison above is not between two no-ops.
    assert np.abs(loop.policy(history)[0] - logit(init)).max() > 0.05


def test_a_partial_batch_waits(history: History) -> None:
    loop = ReinforceOuterLoop(DIM)
    mu8, sigma8 = loop.policy(history[:8])
    for n in (9, 10, 11):
        mu, sigma = loop.policy(history[:n])
        np.testing.assert_array_equal(mu, mu8)
        np.testing.assert_array_equal(sigma, sigma8)
    assert not np.array_equal(loop.policy(history[:12])[0], mu8)


def test_sigma_stays_fixed_unless_learned(history: History) -> None:
    config = ReinforceConfig(learn_sigma=False, sigma_init=0.3)
    _, sigma = ReinforceOuterLoop(DIM, config=config).policy(history)
    np.testing.assert_array_equal(sigma, np.full(DIM, 0.3))
    _, sigma = ReinforceOuterLoop(DIM).policy(history)
    assert np.abs(sigma - ReinforceConfig().sigma_init).max() > 1e-3


def test_parallel_slots_ahead_of_the_history(history: History) -> None:
    # Four workers ask slots 30..33 before any result arrives: four different thetas, one policy.
    loop = ReinforceOuterLoop(DIM, seed=1)
    thetas = np.stack([loop.suggest(history, slot) for slot in range(30, 34)])
    assert len({row.tobytes() for row in thetas}) == 4


# --- learning ---------------------------------------------------------------------------------

SEEDS = (0, 1, 2, 3)
BUDGET = 200


def _distance(loop: ReinforceOuterLoop, history: History) -> float:
    mu, _ = loop.policy(history)
    return float(np.linalg.norm(sigmoid(mu) - TARGET))


SMALL_STEP = ReinforceConfig(learning_rate=0.1, sigma_init=0.5)
"""The learning tests' config (the defaults before experiments/rl_step.py chose new ones)."""


@pytest.fixture(scope="module")
def default_runs() -> dict[int, tuple[ReinforceOuterLoop, History]]:
    """One sequential run of the small-step loop per seed, shared by the learning tests."""
    runs = {}
    for seed in SEEDS:
        loop = ReinforceOuterLoop(DIM, seed=seed, config=SMALL_STEP)
        runs[seed] = (loop, run_sequential(loop, quadratic(seed), BUDGET))
    return runs


START = float(np.linalg.norm(0.5 - TARGET))  # 0.61, the initial mean's distance


def _check_learned(distances: list[float]) -> None:
    assert np.mean(distances) < 0.5 * START, distances
    assert max(distances) < 0.7 * START, distances


def test_it_learns_the_optimum_of_a_noisy_quadratic(
    default_runs: dict[int, tuple[ReinforceOuterLoop, History]],
) -> None:
    # Measured: 0.29, 0.20, 0.24, 0.36, mean 0.28 (-54%); with the update's sign flipped the
    # mean ends at ~1.2, twice as far as it started.
    _check_learned([_distance(loop, history) for loop, history in default_runs.values()])


def test_the_default_config_learns_too() -> None:
    # The defaults (lr 0.2, sigma 1: chosen for 40-100 trial searches by rl_step.py) start
    # wider. Measured after 200 trials: 0.37, 0.34, 0.32, 0.28, mean 0.33 (-46%); the flipped
    # update ends at ~1.2.
    distances = []
    for seed in SEEDS:
        loop = ReinforceOuterLoop(DIM, seed=seed)
        distances.append(_distance(loop, run_sequential(loop, quadratic(seed), BUDGET)))
    assert np.mean(distances) < 0.6 * START and max(distances) < 0.7 * START, distances


@pytest.mark.parametrize(
    "config",
    [
        ReinforceConfig(learn_sigma=False),
        ReinforceConfig(natural_gradient=False, learn_sigma=False, learning_rate=0.03),
    ],
    ids=["fixed-sigma", "plain-small-lr"],
)
def test_other_configs_learn_too(config: ReinforceConfig) -> None:
    # Measured: 0.13-0.24 for both.
    distances = []
    for seed in SEEDS:
        loop = ReinforceOuterLoop(DIM, seed=seed, config=config)
        distances.append(_distance(loop, run_sequential(loop, quadratic(seed), BUDGET)))
    _check_learned(distances)


def test_it_beats_random_search_with_the_same_budget(
    default_runs: dict[int, tuple[ReinforceOuterLoop, History]],
) -> None:
    margins = []
    for seed, (_, history) in default_runs.items():
        best = max(score for _, score in history)
        uniform = np.random.default_rng(seed).random((BUDGET, DIM))
        random_best = -float(np.sum((uniform - TARGET) ** 2, axis=1).min())
        assert best > random_best, (seed, best, random_best)
        margins.append(best - random_best)
    # The initial policy's expected score is about -0.43 and random search's best of 200 about
    # -0.3; REINFORCE's best is about -0.05 (worst seed -0.10).
    assert np.mean(margins) > 0.15, margins


def test_the_plain_gradient_stays_bounded_where_it_is_unstable() -> None:
    # Default learning rate and a learned sigma: the plain gradient overshoots, but the mean
    # stays in the representable logit range and sigma in [sigma_min, sigma_max].
    config = ReinforceConfig(natural_gradient=False, learning_rate=0.3)
    loop = ReinforceOuterLoop(DIM, seed=0, config=config)
    history = run_sequential(loop, quadratic(0), 120)
    thetas = np.stack([theta for theta, _ in history])
    assert np.all((thetas >= 0) & (thetas <= 1))
    mu, sigma = loop.policy(history)
    assert np.all(np.abs(mu) <= 13.82)
    assert np.all((sigma >= 0.05 - 1e-12) & (sigma <= 4.0 + 1e-12))


# --- invariants and bad input -----------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    thetas=hnp.arrays(np.float64, (9, 3), elements=st.floats(0, 1)),
    scores=hnp.arrays(np.float64, 9, elements=st.floats(-1e6, 1e6)),
    seed=st.integers(0, 2**32 - 1),
    slot=st.integers(0, 10**6),
    batch_size=st.integers(1, 4),
)
def test_suggestions_stay_inside_the_box(
    thetas: np.ndarray, scores: np.ndarray, seed: int, slot: int, batch_size: int
) -> None:
    config = ReinforceConfig(batch_size=batch_size, learning_rate=1.0)
    loop = ReinforceOuterLoop(3, seed=seed, config=config)
    history = [(t, float(s)) for t, s in zip(thetas, scores, strict=True)]
    theta = loop.suggest(history, slot)
    assert theta.shape == (3,)
    assert np.all((theta >= 0) & (theta <= 1))
    mu, sigma = loop.policy(history)
    assert np.all(np.isfinite(mu))
    assert np.all((sigma >= 0.05 - 1e-12) & (sigma <= 4.0 + 1e-12))


INSIDE = "finite and inside [0, 1]"
SCORES = "history scores must be finite numbers"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dim": 0}, "dim must be a positive integer, got 0"),
        ({"dim": 2.0}, "dim must be a positive integer, got 2.0"),
        ({"dim": 3, "seed": -1}, "seed must be a non-negative integer, got -1"),
        ({"dim": 2, "init_mean": [0.5, 0.5, 0.5]}, "init_mean must have shape (2,), got (3,)"),
        ({"dim": 2, "init_mean": [0.5, 1.5]}, f"init_mean must be {INSIDE}, but entry 1 is 1.5"),
        (
            {"dim": 2, "init_mean": [math.nan, 0.5]},
            f"init_mean must be {INSIDE}, but entry 0 is nan",
        ),
    ],
)
def test_bad_constructor_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        ReinforceOuterLoop(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
        ({"learning_rate": math.nan}, "learning_rate must be a finite number > 0, got nan"),
        ({"sigma_min": 0.0}, "sigma_min must be a finite number > 0, got 0.0"),
        ({"sigma_min": 1.5}, "sigma_min <= sigma_init <= sigma_max must hold, got 1.5, 1.0, 4.0"),
        ({"sigma_max": 0.4}, "sigma_min <= sigma_init <= sigma_max must hold, got 0.05, 1.0, 0.4"),
        ({"baseline_decay": 1.0}, "baseline_decay must be in [0, 1), got 1.0"),
        ({"learn_sigma": "yes"}, "learn_sigma must be a bool, got 'yes'"),
    ],
)
def test_bad_config(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        ReinforceConfig(**kwargs)


def test_bad_config_reports_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        ReinforceConfig(batch_size=-2, baseline_decay=-0.1)
    assert "batch_size must be a positive integer, got -2" in str(info.value)
    assert "baseline_decay must be in [0, 1), got -0.1" in str(info.value)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ((np.array([0.5, 0.5, 0.5]), 1.0), "history[2] theta must have shape (2,), got (3,)"),
        ((np.array([0.5, -0.1]), 1.0), f"history[2] theta must be {INSIDE}, but entry 1 is -0.1"),
        (
            (np.array([math.nan, 0.5]), 1.0),
            f"history[2] theta must be {INSIDE}, but entry 0 is nan",
        ),
        ((np.array([0.5, 0.5]), math.inf), f"{SCORES}, but entry 2 has score inf"),
        ((np.array([0.5, 0.5]), "0.9"), f"{SCORES}, but entry 2 has score '0.9'"),
        ((np.array([0.5, 0.5]),), "history entries must be (theta, score) pairs, but entry 2 is"),
    ],
)
def test_bad_history(entry: tuple, message: str) -> None:
    good = [(np.array([0.2, 0.3]), 0.5), (np.array([0.0, 1.0]), 0.7)]
    loop = ReinforceOuterLoop(2)
    with pytest.raises(ConfigError, match=re.escape(message)):
        loop.suggest([*good, entry], 3)
    with pytest.raises(ConfigError, match=re.escape(message)):
        loop.policy([*good, entry])


@pytest.mark.parametrize("slot", [-1, 1.0, True])
def test_bad_slot(slot: object) -> None:
    with pytest.raises(
        ConfigError, match=re.escape(f"slot must be a non-negative integer, got {slot!r}")
    ):
        ReinforceOuterLoop(2).suggest([], slot)  # type: ignore[arg-type]


def test_docstring_example_runs() -> None:
    result = doctest.testmod(rl, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
