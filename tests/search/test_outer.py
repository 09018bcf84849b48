from __future__ import annotations

import numpy as np
import pytest

from swift_sampler.errors import ConfigError
from swift_sampler.search.outer import OUTER_LOOPS, FinishedTrial, make_outer_loop

DIM = 10


def _history(n: int, seed: int = 0) -> list[FinishedTrial]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        theta = rng.random(DIM)
        out.append(FinishedTrial(theta, float(-np.sum((theta - 0.3) ** 2)), {}))
    return out


def _run(kind: str, trials: int, seed: int) -> list[FinishedTrial]:
    loop = make_outer_loop(kind, DIM, seed=seed, startup_trials=4)
    history: list[FinishedTrial] = [FinishedTrial(np.full(DIM, 0.5), -0.4, {})]
    for slot in range(1, trials):
        theta, attrs = loop.suggest(history, slot)
        history.append(FinishedTrial(theta, float(-np.sum((theta - 0.3) ** 2)), attrs))
    return history


@pytest.mark.parametrize("kind", OUTER_LOOPS)
def test_outer_loop_contract(kind: str) -> None:
    """Every outer loop: theta in the box, and a pure function of (seed, history, slot)."""
    history = _run(kind, 9, seed=1)
    for t in history:
        assert t.theta.shape == (DIM,) and np.all((t.theta >= 0) & (t.theta <= 1))
    again = _run(kind, 9, seed=1)
    for a, b in zip(history, again, strict=True):
        np.testing.assert_array_equal(a.theta, b.theta)
    other_seed = _run(kind, 9, seed=2)
    assert not all(
        np.array_equal(a.theta, b.theta) for a, b in zip(history, other_seed, strict=True)
    )
    # Proposals are distinct points, not a stuck loop.
    assert len({tuple(np.round(t.theta, 6)) for t in history}) >= 7


@pytest.mark.parametrize("kind", ["gp", "tpe", "cmaes"])
def test_model_based_loops_ignore_global_rng_state(kind: str) -> None:
    history = _history(6)
    loop = make_outer_loop(kind, DIM, seed=3, startup_trials=2)
    np.random.seed(0)  # noqa: NPY002 (the legacy global state must not matter)
    a, _ = loop.suggest(history, 6)
    np.random.seed(1)  # noqa: NPY002
    b, _ = loop.suggest(history, 6)
    np.testing.assert_array_equal(a, b)


def test_startup_points_are_sobol_and_spread() -> None:
    loop = make_outer_loop("gp", DIM, seed=0, startup_trials=8)
    points = np.array([loop.suggest([], slot)[0] for slot in range(1, 9)])
    # Scrambled Sobol: every coordinate's 8 values fall one in each eighth of [0, 1].
    for column in points.T:
        assert sorted(np.floor(column * 8).astype(int)) == list(range(8))


def test_gp_finds_a_better_point_than_its_start() -> None:
    history = _run("gp", 16, seed=0)
    startup_best = max(t.score for t in history[:5])
    assert max(t.score for t in history[5:]) > startup_best


def test_unknown_outer_loop() -> None:
    with pytest.raises(ConfigError, match="unknown outer loop 'bo'"):
        make_outer_loop("bo", DIM)


def test_rl_starts_with_the_same_sobol_points_as_gp_and_tpe() -> None:
    history = _history(5, seed=4)
    rl = make_outer_loop("rl", DIM, seed=3, startup_trials=4)
    for kind in ("gp", "tpe"):
        model = make_outer_loop(kind, DIM, seed=3, startup_trials=4)
        for slot in range(1, 5):
            np.testing.assert_array_equal(
                rl.suggest(history[:slot], slot)[0], model.suggest(history[:slot], slot)[0]
            )


def _logit(theta: np.ndarray) -> np.ndarray:
    return np.log(theta) - np.log1p(-theta)


def _policy_mean(history: list[FinishedTrial], startup: int) -> np.ndarray:
    """Mean logit of 400 proposals for slots after the start-up (one draw per slot)."""
    loop = make_outer_loop("rl", DIM, seed=0, startup_trials=startup)
    draws = [loop.suggest(history, slot)[0] for slot in range(startup + 1, startup + 401)]
    return _logit(np.array(draws)).mean(axis=0)


def test_rl_policy_starts_at_the_best_startup_point() -> None:
    uniform = np.tile([1.0, 0.5, 0.5, 0.5, 0.5], 2)
    startup = _history(4, seed=4)
    best = max(startup, key=lambda t: t.score)
    history = [FinishedTrial(uniform, -9.0, {}), *startup]
    # sigma_init is the spread of each draw's logit: 400 draws put the mean within 0.2 of it.
    np.testing.assert_allclose(_policy_mean(history, 4), _logit(best.theta), atol=0.2)
    # The uniform trial best: its face value theta_0 = 1 is pulled inside the box (a logit of
    # 13.8 could never move); the other coordinates start where it is.
    history = [FinishedTrial(uniform, 9.0, {}), *startup]
    expected = _logit(np.clip(uniform, 0.05, 0.95))
    np.testing.assert_allclose(_policy_mean(history, 4), expected, atol=0.2)


def test_rl_replays_only_the_trials_after_the_startup() -> None:
    startup = [FinishedTrial(np.full(DIM, 0.5), 0.0, {}), *_history(4, seed=4)]
    after = _history(8, seed=5)
    loop = make_outer_loop("rl", DIM, seed=0, startup_trials=4)
    base = loop.suggest([*startup, *after], 13)[0]
    # A start-up point that is not the best does not enter the policy update...
    assert max(startup, key=lambda t: t.score) is not startup[-1]
    changed = [*startup[:-1], FinishedTrial(startup[-1].theta, -50.0, {}), *after]
    np.testing.assert_array_equal(loop.suggest(changed, 13)[0], base)
    # ...but a trial after it does.
    flipped = [*startup, *[FinishedTrial(t.theta, -t.score, {}) for t in after]]
    assert not np.allclose(loop.suggest(flipped, 13)[0], base)


@pytest.mark.parametrize("kind", OUTER_LOOPS)
def test_start_thetas_fill_the_first_slots_then_the_loop_runs_as_without(kind: str) -> None:
    starts = [np.full(DIM, 0.25), np.linspace(0.0, 1.0, DIM)]
    warm = make_outer_loop(kind, DIM, seed=5, startup_trials=3, start_thetas=starts)
    cold = make_outer_loop(kind, DIM, seed=5, startup_trials=3)
    history = [FinishedTrial(np.full(DIM, 0.5), -0.4, {})]
    for slot, theta in enumerate(starts, start=1):
        proposed, attrs = warm.suggest(history, slot)
        np.testing.assert_array_equal(proposed, theta)
        assert attrs == {"start_theta": slot - 1}
        history.append(FinishedTrial(proposed, float(-np.sum((proposed - 0.3) ** 2)), attrs))
    # Slot 3 of the warm loop is slot 1 of the cold one: the same first Sobol point (the
    # model-free loops), and for every loop the same point given the same history.
    np.testing.assert_array_equal(warm.suggest(history, 3)[0], cold.suggest(history, 1)[0])
    with pytest.raises(ConfigError, match="start theta 0 has 9 entries, not 10"):
        make_outer_loop(kind, DIM, start_thetas=[np.full(9, 0.5)])


def test_a_model_sees_the_start_thetas_scores() -> None:
    """After the start-up points the GP's proposal depends on the start thetas' scores."""
    starts = [np.full(DIM, 0.3), np.full(DIM, 0.9)]
    loop = make_outer_loop("gp", DIM, seed=0, startup_trials=2, start_thetas=starts)
    history = [FinishedTrial(np.full(DIM, 0.5), -0.4, {})]
    for slot in range(1, 5):
        theta, attrs = loop.suggest(history, slot)
        history.append(FinishedTrial(theta, float(-np.sum((theta - 0.3) ** 2)), attrs))
    base = loop.suggest(history, 5)[0]
    swapped = [*history[:1], *(FinishedTrial(t.theta, -t.score, {}) for t in history[1:3])]
    assert not np.allclose(loop.suggest([*swapped, *history[3:]], 5)[0], base)


def test_rl_policy_may_start_at_a_start_theta() -> None:
    uniform = np.tile([1.0, 0.5, 0.5, 0.5, 0.5], 2)
    start = np.full(DIM, 0.3)
    startup = _history(4, seed=4)
    history = [FinishedTrial(uniform, -9.0, {}), FinishedTrial(start, 9.0, {}), *startup]
    loop = make_outer_loop("rl", DIM, seed=0, startup_trials=4, start_thetas=[start])
    draws = [loop.suggest(history, slot)[0] for slot in range(6, 406)]
    np.testing.assert_allclose(_logit(np.array(draws)).mean(axis=0), _logit(start), atol=0.2)


@pytest.mark.parametrize("kind", ["gp", "qmc", "rl"])
def test_a_start_up_point_equal_to_a_start_theta_is_skipped(kind: str) -> None:
    cold = make_outer_loop(kind, DIM, seed=0, startup_trials=3)
    sobol = [cold.suggest([], slot)[0] for slot in (1, 2, 3)]
    warm = make_outer_loop(kind, DIM, seed=0, startup_trials=3, start_thetas=[sobol[1]])
    # Slot 1 is the start theta; then Sobol points 1 and 3, never point 2 a second time.
    got = [warm.suggest([], slot)[0] for slot in (1, 2, 3)]
    for a, b in zip(got, [sobol[1], sobol[0], sobol[2]], strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_portfolio_repeats_a_seed_0_sobol_point_which_is_skipped_and_not_counted() -> None:
    """The portfolio's second theta is the second Sobol point of a seed-0 search (it was found
    as one): a seed-0 search with it skips that point, and its start-up count says so."""
    from swift_sampler import portfolio
    from swift_sampler.config import parse_config
    from swift_sampler.search.outer import startup_count

    seed0 = {"search": {"portfolio": 2, "startup_trials": 3, "seed": 0}}
    assert startup_count(parse_config(seed0)) == 2 + 3 - 1
    seed1 = {"search": {**seed0["search"], "seed": 1}, "final": {"seeds": [2]}}
    assert startup_count(parse_config(seed1)) == 2 + 3
    assert startup_count(parse_config({"search": {"startup_trials": 3}})) == 3
    # RL: the policy starts at the best of the uniform, start and start-up trials (5), and
    # replays the trials after them.
    starts = portfolio.THETAS[:2]
    loop = make_outer_loop("rl", DIM, seed=0, startup_trials=3, start_thetas=starts)
    history = [FinishedTrial(np.tile([1.0, 0.5, 0.5, 0.5, 0.5], 2), -9.0, {})]
    for slot in range(1, 5):
        theta, attrs = loop.suggest(history, slot)
        history.append(FinishedTrial(theta, -1.0 if slot != 4 else 9.0, attrs))
    assert len({tuple(t.theta) for t in history}) == 5  # nothing proposed twice
    draws = [loop.suggest(history, slot)[0] for slot in range(5, 405)]
    expected = _logit(np.clip(history[4].theta, 0.05, 0.95))  # the best of the five
    np.testing.assert_allclose(_logit(np.array(draws)).mean(axis=0), expected, atol=0.2)
