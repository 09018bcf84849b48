"""Outer loops: propose the next theta from the finished trials.

Every outer loop is a pure function of ``(kind, seed, finished trials, slot)`` where ``slot`` is
the index of the trial being proposed. That is what makes a killed search resume to the same
answer: nothing the outer loop needs lives outside the trial records. Optuna's samplers are
used through a throwaway in-memory study rebuilt from the finished trials for each proposal
(ask/tell; the GP sampler is Optuna's, nothing is hand-written here), seeded by
``(seed, slot)``; the persistent study only records.

Slot 0 is always the uniform theta (the driver forces it). Given start thetas (the built-in
portfolio's and the user's, ``Config.start_thetas``), slots ``1..K`` are those, and every loop
then runs as if slot ``K + 1`` were its slot 1, with the start thetas' scores in its history.
The model-based loops (gp, tpe, cmaes) and ``rl`` start with the same ``startup_trials``
scrambled-Sobol points; ``qmc`` is Sobol all the way; ``random`` draws uniformly from the box;
``rl`` is then the REINFORCE policy of ``search.rl``, started at the best start-up point.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from swift_sampler.errors import ConfigError

if TYPE_CHECKING:
    from swift_sampler.config import Config

__all__ = [
    "OUTER_LOOPS",
    "FinishedTrial",
    "OptunaOuterLoop",
    "OuterLoop",
    "make_outer_loop",
    "outer_loop_for",
    "param_names",
    "startup_count",
]

logger = logging.getLogger(__name__)

OuterKind = Literal["gp", "random", "tpe", "cmaes", "qmc", "rl"]
OUTER_LOOPS: tuple[OuterKind, ...] = ("gp", "random", "tpe", "cmaes", "qmc", "rl")


def param_names(dim: int) -> list[str]:
    """Names of theta's entries in the outer loops' in-memory studies: ``theta_00`` ...
    (sortable); also in persistent studies made before their readable names
    (``search.study.readable_param_names``)."""
    return [f"theta_{i:02d}" for i in range(dim)]


@dataclass(frozen=True)
class FinishedTrial:
    """What an outer loop may see of a finished trial."""

    theta: np.ndarray
    score: float
    system_attrs: Mapping[str, Any] = field(default_factory=dict)


class OuterLoop(Protocol):
    """Proposes theta for ``slot`` from the finished trials (and, with parallel workers, the
    thetas still being evaluated, so that two workers do not propose the same point)."""

    kind: str

    def suggest(
        self,
        history: Sequence[FinishedTrial],
        slot: int,
        pending: Sequence[np.ndarray] = (),
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Returns theta ``(dim,)`` in [0, 1] and system attributes to store with the trial."""
        ...

    def fixed_in_advance(self, slot: int) -> bool:
        """Whether slot ``slot``'s theta ignores the history (a Sobol or random point)."""
        ...


def sobol_point(dim: int, index: int, seed: int) -> np.ndarray:
    """Point ``index`` of the scrambled Sobol sequence in ``[0, 1]^dim`` of ``seed`` (the
    start-up points are indices ``slot - 1``)."""
    from scipy.stats import qmc

    engine = qmc.Sobol(dim, scramble=True, seed=np.random.default_rng([seed, 7]))
    if index > 0:
        engine.fast_forward(index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "balance properties" for n = 1
        return np.asarray(engine.random(1)[0], dtype=np.float64)


class OptunaOuterLoop:
    """An Optuna sampler (or a Sobol / uniform-random design) behind ``OuterLoop``.

    Args:
        kind: ``"gp"``, ``"tpe"``, ``"cmaes"``, ``"qmc"`` or ``"random"``.
        dim: length of theta.
        seed: search seed.
        startup_trials: Sobol points after the uniform trial 0, before the model-based
            sampler takes over (gp, tpe, cmaes only).
    """

    def __init__(self, kind: str, dim: int, *, seed: int = 0, startup_trials: int = 8) -> None:
        if kind not in ("gp", "tpe", "cmaes", "qmc", "random"):
            raise ConfigError(f"unknown Optuna outer loop {kind!r}")
        self.kind = kind
        self.dim = dim
        self.seed = seed
        self.startup_trials = startup_trials

    def fixed_in_advance(self, slot: int) -> bool:
        return self.kind in ("qmc", "random") or slot <= self.startup_trials

    def _sampler(self, slot: int, *, pending: bool) -> Any:
        import optuna

        seed = int(np.random.SeedSequence([self.seed, slot]).generate_state(1)[0])
        if self.kind == "gp":  # Optuna's GP sampler conditions on RUNNING trials itself
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=0)
        if self.kind == "tpe":
            return optuna.samplers.TPESampler(seed=seed, n_startup_trials=0, constant_liar=pending)
        return optuna.samplers.CmaEsSampler(
            seed=seed, n_startup_trials=0, warn_independent_sampling=False
        )

    def suggest(
        self,
        history: Sequence[FinishedTrial],
        slot: int,
        pending: Sequence[np.ndarray] = (),
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if self.kind == "random":
            return np.random.default_rng([self.seed, slot]).random(self.dim), {}
        if self.kind == "qmc" or slot <= self.startup_trials or not history:
            return sobol_point(self.dim, max(slot - 1, 0), self.seed), {}
        return self._ask(history, slot, pending)

    def _ask(
        self,
        history: Sequence[FinishedTrial],
        slot: int,
        pending: Sequence[np.ndarray],
    ) -> tuple[np.ndarray, dict[str, Any]]:
        import optuna
        from optuna.distributions import BaseDistribution, FloatDistribution
        from optuna.trial import TrialState, create_trial

        names = param_names(self.dim)
        dists: dict[str, BaseDistribution] = {n: FloatDistribution(0.0, 1.0) for n in names}
        study = optuna.create_study(
            storage=optuna.storages.InMemoryStorage(),
            direction="maximize",
            sampler=self._sampler(slot, pending=bool(pending)),
        )
        study.add_trials(
            [
                create_trial(
                    state=TrialState.COMPLETE,
                    params={n: float(v) for n, v in zip(names, t.theta, strict=True)},
                    distributions=dists,
                    value=t.score,
                    system_attrs=dict(t.system_attrs),
                )
                for t in history
            ]
            + [
                create_trial(
                    state=TrialState.RUNNING,
                    params={n: float(v) for n, v in zip(names, theta, strict=True)},
                    distributions=dists,
                )
                for theta in pending
            ]
        )
        trial = _ask_single_threaded(study, dists)
        theta = np.array([trial.params[n] for n in names], dtype=np.float64)
        attrs = dict(study._storage.get_trial_system_attrs(trial._trial_id))
        return np.clip(theta, 0.0, 1.0), attrs


def _ask_single_threaded(study: Any, dists: dict[str, Any]) -> Any:
    """``study.ask`` with one torch thread: the GP's matrices are tiny, and two threads made
    each proposal 1.7x slower on the 2-core reference machine (0.25 s vs 0.14 s, 30 trials)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return study.ask(dists)
    finally:
        torch.set_num_threads(threads)


RL_INIT_MARGIN = 0.05
"""The REINFORCE policy's initial mean is the best start-up theta clipped to
``[RL_INIT_MARGIN, 1 - RL_INIT_MARGIN]``: at a face of the box (the uniform trial's
``theta_0 = 1``) the logit is 13.8 and a policy there could not move in 30 trials."""


class _ReinforceAdapter:
    """The REINFORCE agent with the same start as the model-based loops.

    Slot 0 is the forced uniform theta and slots ``1..startup_trials`` are the same
    scrambled-Sobol points as GP and TPE get. The policy then starts at the best of those
    ``startup_trials + 1`` finished trials (the first entries of the history) and replays only
    the trials after them: the start-up points are not draws from the policy, and their far
    logits would swamp its first update.
    """

    kind = "rl"

    def __init__(self, dim: int, *, seed: int, startup_trials: int, config: Any = None) -> None:
        from swift_sampler.search.rl import ReinforceConfig

        self.dim = dim
        self.seed = seed
        self.startup_trials = startup_trials
        self.config = config if config is not None else ReinforceConfig()
        # Start-up trials that are not slots of this loop: the start thetas before its Sobol
        # points, less any Sobol point skipped as a repeat (set by make_outer_loop).
        self.warm = 0

    def fixed_in_advance(self, slot: int) -> bool:
        return slot < self.startup_trials + 1

    def suggest(
        self,
        history: Sequence[FinishedTrial],
        slot: int,
        pending: Sequence[np.ndarray] = (),
    ) -> tuple[np.ndarray, dict[str, Any]]:
        from swift_sampler.search.rl import ReinforceOuterLoop

        start = self.startup_trials + 1
        if slot < start or not history:
            return sobol_point(self.dim, max(slot - 1, 0), self.seed), {}
        first = history[: start + self.warm]
        best = max(range(len(first)), key=lambda i: first[i].score)  # ties: the earliest
        init = np.clip(first[best].theta, RL_INIT_MARGIN, 1.0 - RL_INIT_MARGIN)
        loop = ReinforceOuterLoop(self.dim, seed=self.seed, config=self.config, init_mean=init)
        # Draws are seeded by the slot, so parallel workers (distinct slots) never coincide.
        pairs = [(t.theta, t.score) for t in history[start + self.warm :]]
        return loop.suggest(pairs, slot), {}


class _StartThetas:
    """Slots ``1..K`` are the given thetas; slot ``K + j`` is the wrapped loop's ``j``-th slot
    (its Sobol points and seeds as without start thetas), with the whole history. A start-up
    point equal to a start theta is skipped (a portfolio theta may be a Sobol point of some
    seed), so no theta is scored twice.

    Attributes:
        startup_count: the trials between the uniform one and the model's first proposal:
            the start thetas and the start-up points that were not skipped.
    """

    def __init__(self, loop: OuterLoop, thetas: Sequence[Sequence[float]], startup: int) -> None:
        self.loop = loop
        self.kind = loop.kind
        self.thetas = [np.asarray(t, dtype=np.float64) for t in thetas]
        self._repeats: dict[int, bool] = {}
        skipped = sum(self._repeats_a_start(i) for i in range(1, startup + 1))
        self.startup_count = len(self.thetas) + startup - skipped

    def fixed_in_advance(self, slot: int) -> bool:
        if slot <= len(self.thetas):
            return True
        return self.loop.fixed_in_advance(self._inner_slot(slot - len(self.thetas)))

    def _repeats_a_start(self, inner: int) -> bool:
        if inner not in self._repeats:
            repeats = False
            if self.loop.fixed_in_advance(inner):
                point = self.loop.suggest([], inner)[0]
                repeats = any(np.array_equal(point, t) for t in self.thetas)
            self._repeats[inner] = repeats
        return self._repeats[inner]

    def _inner_slot(self, j: int) -> int:
        inner = count = 0
        while count < j:
            inner += 1
            if not self._repeats_a_start(inner):
                count += 1
        return inner

    def suggest(
        self,
        history: Sequence[FinishedTrial],
        slot: int,
        pending: Sequence[np.ndarray] = (),
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if 1 <= slot <= len(self.thetas):
            return self.thetas[slot - 1].copy(), {"start_theta": slot - 1}
        if slot < 1:
            return self.loop.suggest(history, slot, pending)
        return self.loop.suggest(history, self._inner_slot(slot - len(self.thetas)), pending)


def make_outer_loop(
    kind: str,
    dim: int,
    *,
    seed: int = 0,
    startup_trials: int = 8,
    start_thetas: Sequence[Sequence[float]] = (),
) -> OuterLoop:
    """Builds the outer loop named ``kind`` (one of ``OUTER_LOOPS``); ``start_thetas`` (each
    of length ``dim``) fill slots ``1..K`` before it."""
    bad = [i for i, t in enumerate(start_thetas) if len(t) != dim]
    if bad:
        size = len(start_thetas[bad[0]])
        raise ConfigError(f"start theta {bad[0]} has {size} entries, not {dim}")
    loop: OuterLoop
    if kind == "rl":
        loop = _ReinforceAdapter(dim, seed=seed, startup_trials=startup_trials)
    elif kind not in OUTER_LOOPS:
        raise ConfigError(f"unknown outer loop {kind!r}; known: {list(OUTER_LOOPS)}")
    else:
        loop = OptunaOuterLoop(kind, dim, seed=seed, startup_trials=startup_trials)
    if not start_thetas:
        return loop
    wrapped = _StartThetas(loop, start_thetas, startup_trials)
    if isinstance(loop, _ReinforceAdapter):  # the policy starts after every start-up trial
        loop.warm = wrapped.startup_count - startup_trials
    return wrapped


def startup_count(config: Config) -> int:
    """The trials between the uniform one and the outer loop's first model-based proposal
    (what ``search.patience`` waits for): the start thetas and the Sobol start-up points, less
    any start-up point that repeats a start theta (it is skipped)."""
    loop = outer_loop_for(config, config.sampler.num_params)
    if isinstance(loop, _StartThetas):
        return loop.startup_count
    return config.search.startup_trials


def outer_loop_for(config: Config, dim: int) -> OuterLoop:
    """The outer loop of ``config``'s ``[search]``, its start thetas first."""
    s = config.search
    return make_outer_loop(
        s.outer,
        dim,
        seed=s.seed,
        startup_trials=s.startup_trials,
        start_thetas=config.start_thetas,
    )
