"""The study's bookkeeping, shared by the driver (one process) and the workers (many).

A trial is recorded in the persistent Optuna study with its theta (``theta_00`` ...), its slot
and seed (user attributes), its seconds and its value; this module reads those records back
(finished trials, the history an outer loop sees, the result and its cost) and writes them
(:func:`evaluate_and_tell`). It imports neither ``search.driver`` nor ``search.workers``: both
import it.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from swift_sampler.errors import ConfigError
from swift_sampler.family import SamplerSpec
from swift_sampler.search.objective import InnerLoop, TrialScore
from swift_sampler.search.outer import FinishedTrial, param_names
from swift_sampler.search.rundir import RunPaths, write_json
from swift_sampler.search.setup import template_spec

if TYPE_CHECKING:
    import optuna

    from swift_sampler.config import Config

__all__ = [
    "RESULT_SCHEMA_VERSION",
    "SearchResult",
    "TrialRecord",
    "evaluate_and_tell",
    "finished_trials",
    "outer_history",
    "search_result",
    "theta_of",
    "trial_seconds",
    "write_outputs",
]

logger = logging.getLogger(__name__)

RESULT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial as the search reports it."""

    number: int
    slot: int
    theta: tuple[float, ...]
    score: float
    seconds: dict[str, float]


@dataclass(frozen=True)
class SearchResult:
    """What ``run_search`` returns; ``result.json`` holds the same and more."""

    best_theta: tuple[float, ...]
    best_score: float
    best_slot: int
    trials: tuple[TrialRecord, ...]
    spec: SamplerSpec
    cost: dict[str, float]
    paths: RunPaths


def finished_trials(study: optuna.Study, dim: int) -> list[optuna.trial.FrozenTrial]:
    """COMPLETE trials, one per slot (the first), ordered by slot."""
    from optuna.trial import TrialState

    by_slot: dict[int, Any] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        slot = int(trial.user_attrs["slot"])
        by_slot.setdefault(slot, trial)
    return [by_slot[s] for s in sorted(by_slot)]


def theta_of(trial: optuna.trial.FrozenTrial, dim: int) -> np.ndarray:
    return np.array([trial.params[n] for n in param_names(dim)], dtype=np.float64)


def outer_history(trials: list[optuna.trial.FrozenTrial], dim: int) -> list[FinishedTrial]:
    """What the outer loop sees of finished trials, in the given order."""
    return [FinishedTrial(theta_of(t, dim), float(t.value or 0.0), t.system_attrs) for t in trials]


def evaluate_and_tell(
    study: optuna.Study,
    trial: optuna.Trial,
    inner: InnerLoop,
    spec: SamplerSpec,
    outer_seconds: float,
    **user_attrs: Any,
) -> tuple[TrialScore, dict[str, float]]:
    """Scores ``spec`` and records the trial: its seconds, any ``user_attrs``, its value.

    A trial that raises is recorded FAIL (``user_attrs["error"]``) and the error re-raised
    (Optuna's convention); a resume re-runs it. A trial that another worker failed as dead
    while it was being scored keeps that state: the score is dropped with a warning (its
    requeued copy is scored instead).
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    try:
        score = inner.evaluate(spec)
    except BaseException as err:
        with suppress(Exception):  # the trial may have been failed as stale meanwhile
            trial.set_user_attr("error", f"{type(err).__name__}: {err}"[:500])
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        raise
    seconds = trial_seconds(score, outer_seconds)
    try:
        trial.set_user_attr("seconds", seconds)
        for key, value in user_attrs.items():
            trial.set_user_attr(key, value)
        if score.diverged:
            trial.set_user_attr("diverged", True)
        told = study.tell(trial, score.score, skip_if_finished=True).state
    except UpdateFinishedTrialError:
        told = TrialState.FAIL
    if told != TrialState.COMPLETE:  # failed as stale (a stalled worker): its copy counts
        logger.warning("trial %d was failed meanwhile; its score is dropped", trial.number)
    return score, seconds


def trial_seconds(score: TrialScore, outer_seconds: float) -> dict[str, float]:
    return {
        "finetune": score.train_seconds,
        "features": score.feature_seconds,
        "eval": score.eval_seconds + score.load_seconds,
        "outer": outer_seconds,
    }


def search_result(study: optuna.Study, config: Config, paths: RunPaths) -> SearchResult:
    """Summarises the study: best trial (ties: the earliest slot), trials, cost."""
    spec0 = template_spec(config)
    dim = spec0.num_params
    finished = finished_trials(study, dim)
    if not finished:
        raise ConfigError(f"the study in {paths.root} has no finished trial")
    records = tuple(
        TrialRecord(
            number=t.number,
            slot=int(t.user_attrs["slot"]),
            theta=tuple(float(x) for x in theta_of(t, dim)),
            score=float(t.value),  # type: ignore[arg-type]
            seconds=dict(t.user_attrs.get("seconds", {})),
        )
        for t in finished
    )
    best = max(records, key=lambda r: (r.score, -r.slot))
    spec = spec0.with_theta(
        best.theta,
        val_score=best.score,
        slot=best.slot,
        outer=config.search.outer,
        config_fingerprint=config.fingerprint(),
    )
    return SearchResult(
        best_theta=best.theta,
        best_score=best.score,
        best_slot=best.slot,
        trials=records,
        spec=spec,
        cost=_cost(study, records, config),
        paths=paths,
    )


def _cost(
    study: optuna.Study, records: tuple[TrialRecord, ...], config: Config
) -> dict[str, float]:
    shared = float(study.user_attrs.get("shared_seconds", 0.0))
    epoch = float(study.user_attrs.get("epoch_seconds", 0.0))
    parts = {
        "shared_start": shared,
        "finetune": sum(r.seconds.get("finetune", 0.0) for r in records),
        "features": sum(r.seconds.get("features", 0.0) for r in records),
        "eval": sum(r.seconds.get("eval", 0.0) for r in records),
        "outer": sum(r.seconds.get("outer", 0.0) for r in records),
    }
    cost = {f"{k}_s": v for k, v in parts.items()}
    cost["total_s"] = sum(parts.values())
    cost["epoch_s"] = epoch
    for key, value in parts.items():
        cost[f"{key}_epochs"] = value / epoch if epoch > 0 else float("nan")
    cost["total_epochs"] = cost["total_s"] / epoch if epoch > 0 else float("nan")
    cost["full_training_epochs"] = float(config.train.epochs)
    return cost


def write_outputs(result: SearchResult, study: optuna.Study, config: Config) -> None:
    """Writes result.json and sampler.json (the figures are the report's job)."""
    from optuna.trial import TrialState

    all_trials = []
    for t in study.get_trials(deepcopy=False):
        all_trials.append(
            {
                "number": t.number,
                "slot": t.user_attrs.get("slot"),
                "state": t.state.name,
                "theta": [t.params.get(n) for n in param_names(result.spec.num_params)],
                "val_score": t.value if t.state == TrialState.COMPLETE else None,
                "seconds": t.user_attrs.get("seconds"),
                "seed": t.user_attrs.get("seed"),
            }
        )
    data = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "config_fingerprint": config.fingerprint(),
        "outer": config.search.outer,
        "transform": config.sampler.transform,
        "features": list(config.sampler.features),
        "best": {
            "slot": result.best_slot,
            "theta": list(result.best_theta),
            "val_score": result.best_score,
            "knots": result.spec.knots().tolist(),
        },
        "trials": all_trials,
        "cost": result.cost,
        "shared_sha256": study.user_attrs.get("shared_sha256"),
    }
    write_json(result.paths.result, data)
    result.spec.save(result.paths.sampler)
