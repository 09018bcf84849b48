"""The study's bookkeeping, shared by the driver (one process) and the workers (many).

A trial is recorded in the persistent Optuna study with its theta, its slot and seed (user
attributes), its seconds, its cost (``cost_s``, ``cost_epochs``) and its value. Theta's entries
have readable names (``theta_01_loss_slope_0.00_0.25``; :func:`readable_param_names`) that
the study stores at creation (``param_names``, described in ``param_help``); a study made
before that has ``theta_00`` ... and keeps them (:func:`study_param_names`), and both namings
start with ``theta_NN``, which :func:`theta_of` reads. This module reads those records back
(finished trials, the history an outer loop sees, the result and its cost) and writes them
(:func:`evaluate_and_tell`). It imports neither ``search.driver`` nor ``search.workers``: both
import it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from swift_sampler.errors import ConfigError
from swift_sampler.family import SamplerSpec
from swift_sampler.search.clock import Tick
from swift_sampler.search.cost import search_cost
from swift_sampler.search.objective import InnerLoop, SharedStart, TrialScore, save_paused
from swift_sampler.search.outer import FinishedTrial, param_names, startup_count
from swift_sampler.search.pruning import Pruning
from swift_sampler.search.rundir import RunPaths, write_json
from swift_sampler.search.setup import template_spec

if TYPE_CHECKING:
    import optuna

    from swift_sampler.config import Config

__all__ = [
    "FINISHED_STATES",
    "PARAM_NAMES_ATTR",
    "RESULT_SCHEMA_VERSION",
    "SearchResult",
    "TrialRecord",
    "best_complete",
    "evaluate_and_tell",
    "finished_trials",
    "outer_history",
    "prepare_shared_features",
    "readable_param_names",
    "record_param_names",
    "search_result",
    "stopping_rule_met",
    "study_param_names",
    "theta_of",
    "trial_record",
    "trial_seconds",
    "write_outputs",
]

logger = logging.getLogger(__name__)

RESULT_SCHEMA_VERSION = 1

PARAM_NAMES_ATTR = "param_names"
"""The study user attribute that holds the names of theta's entries, in theta's order."""

_INDEX = re.compile(r"theta_(\d+)")


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial as the search reports it."""

    number: int
    slot: int
    theta: tuple[float, ...]
    score: float
    seconds: dict[str, float]
    state: str = "COMPLETE"  # or "PRUNED": score is then its last intermediate value
    epochs: float = 0  # fine-tune epochs it trained (a fraction: stopped inside an epoch)
    best_score: float = float("nan")
    """The best score of the trials scored in full when this one finished, those of an earlier,
    resumed run included (what the progress line shows as "best")."""


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
    # Synchronous halving: the promotion rounds as result.json's "rounds" (search.halving).
    rounds: dict[str, Any] | None = None


PAUSED_SHA_ATTR = "paused_sha256"
"""Trial user attribute (synchronous halving): the SHA-256 of the state a screening trial saved
at the first rung (empty when none was saved)."""

FINISHED_STATES = ("COMPLETE", "PRUNED")
"""States of a trial whose slot is done: scored in full, or stopped by the pruner."""


def finished_trials(study: optuna.Study, dim: int) -> list[optuna.trial.FrozenTrial]:
    """COMPLETE and PRUNED trials, one per slot (the first), ordered by slot."""
    from optuna.trial import TrialState

    by_slot: dict[int, Any] = {}
    states = (TrialState.COMPLETE, TrialState.PRUNED)
    for trial in study.get_trials(deepcopy=False, states=states):
        slot = int(trial.user_attrs["slot"])
        by_slot.setdefault(slot, trial)
    return [by_slot[s] for s in sorted(by_slot)]


def best_complete(trials: list[optuna.trial.FrozenTrial]) -> float:
    """The best value among ``trials`` scored in full (a pruned trial's last intermediate value
    is not a score of the whole fine-tune); nan when there is none."""
    from optuna.trial import TrialState

    values = [
        float(t.value) for t in trials if t.state == TrialState.COMPLETE and t.value is not None
    ]
    return max(values, default=float("nan"))


def trial_record(
    trial: optuna.trial.FrozenTrial, dim: int, *, best_score: float, default_epochs: int = 0
) -> TrialRecord:
    """The record of a finished (COMPLETE or PRUNED) trial of the study."""
    return TrialRecord(
        number=trial.number,
        slot=int(trial.user_attrs["slot"]),
        theta=tuple(float(x) for x in theta_of(trial, dim)),
        score=float(trial.value or 0.0),
        seconds=dict(trial.user_attrs.get("seconds", {})),
        state=trial.state.name,
        epochs=_whole(float(trial.user_attrs.get("epochs", default_epochs))),
        best_score=best_score,
    )


def _whole(epochs: float) -> float:
    """``epochs`` as an int when it is whole (the JSON of a full-epoch run keeps its ints)."""
    return int(epochs) if float(epochs).is_integer() else epochs


def readable_param_names(features: Sequence[str], num_segments: int) -> list[str]:
    """Names of theta's entries that say what each one sets, in theta's (feature-major) order.

    Feature ``f``'s entries are ``theta_NN_f_at_0``, the height ``h_f(0)``, then one per
    segment, ``theta_NN_f_slope_a_b``, the slope knob of ``h_f`` on ``[a, b]`` of the
    transformed feature (0.5 flat). ``NN`` is the entry's index in theta (``result.json``).
    """
    names: list[str] = []
    for feature in features:
        names.append(f"theta_{len(names):02d}_{feature}_at_0")
        for s in range(num_segments):
            a, b = s / num_segments, (s + 1) / num_segments
            names.append(f"theta_{len(names):02d}_{feature}_slope_{a:.2f}_{b:.2f}")
    return names


def record_param_names(study: optuna.Study, config: Config) -> list[str]:
    """Stores the readable names of theta's entries, and what they mean, in a new study."""
    spec = template_spec(config)
    names = readable_param_names(spec.features, spec.num_segments)
    step = spec.lipschitz / spec.num_segments
    rise = (
        f"(2 theta - 1) x min({step:g}, the room left towards 1 or 0) over the segment (0.5 flat)"
        if spec.increments == "scaled"
        else f"(2 theta - 1) x {step:g} over the segment (0.5 flat), clipped to [0, 1]"
    )
    study.set_user_attr(
        "param_help",
        f"theta_NN_<feature>_at_0: h(0) of that feature's sampling function, in [0, 1]; "
        f"theta_NN_<feature>_slope_<a>_<b>: its slope on [a, b] of the feature's "
        f"{config.sampler.transform} value: h rises by {rise}; NN is the index in "
        "result.json's theta"
        + (
            "; an instance's weight is 1 - prod(1 - h) over the features (0 only where every "
            "h is 0)"
            if spec.combine == "noisy_or"
            else ""
        ),
    )
    study.set_user_attr(PARAM_NAMES_ATTR, names)
    return names


def study_param_names(study: optuna.Study, dim: int) -> list[str]:
    """The names theta's entries have in ``study``: the readable ones stored at its creation,
    or ``theta_00`` ... in a study made before they were (an older run directory resumed)."""
    names = study.user_attrs.get(PARAM_NAMES_ATTR)
    if names is None:
        return param_names(dim)
    if len(names) != dim:
        raise ConfigError(
            f"the study names {len(names)} parameters ({PARAM_NAMES_ATTR}), but this "
            f"configuration's theta has {dim}"
        )
    return [str(n) for n in names]


def _theta_entries(trial: optuna.trial.FrozenTrial) -> dict[int, float]:
    entries = {}
    for name, value in trial.params.items():
        match = _INDEX.match(name)
        if match is not None:
            entries[int(match.group(1))] = float(value)
    return entries


def theta_of(trial: optuna.trial.FrozenTrial, dim: int) -> np.ndarray:
    """``(dim,)`` theta of a trial, under either naming of its parameters."""
    entries = _theta_entries(trial)
    return np.array([entries[i] for i in range(dim)], dtype=np.float64)


def outer_history(trials: list[optuna.trial.FrozenTrial], dim: int) -> list[FinishedTrial]:
    """What the outer loop sees of finished trials, in the given order.

    A pruned trial enters with its last intermediate value, capped at the lowest score of the
    COMPLETE trials given: the pruner judged it worse than its rung's competitors, so the
    outer loop learns that its region is poor (the order TPE gives pruned trials by itself)
    without a partly trained score ever out-ranking a finished one. Every outer loop (GP,
    TPE, CMA-ES, RL) sees the same numbers, which depend only on the trials given, so a
    resumed search proposes what an uninterrupted one does.
    """
    from optuna.trial import TrialState

    def reached(t: optuna.trial.FrozenTrial) -> float | None:
        """The trial's final value, else its last intermediate one (a pruned trial's)."""
        if t.value is not None:
            return float(t.value)
        if t.last_step is not None:
            return float(t.intermediate_values[t.last_step])
        return None

    complete = [
        v for t in trials if t.state == TrialState.COMPLETE if (v := reached(t)) is not None
    ]
    known = [v for t in trials if (v := reached(t)) is not None]
    floor = min(complete) if complete else float("inf")
    # A pruned trial that reported nothing (none does today) is as poor as the poorest known.
    nothing = min(known) if known else 0.0
    history = []
    for t in trials:
        value = reached(t)
        score = nothing if value is None else value
        if t.state == TrialState.PRUNED:
            score = min(score, floor)
        history.append(FinishedTrial(theta_of(t, dim), score, t.system_attrs))
    return history


def stopping_rule_met(
    scores: Sequence[float | None], *, startup: int, patience: int, min_improvement: float
) -> bool:
    """Whether the outer loop may stop before its budget (``search.patience``).

    True when the last ``patience`` trials were all proposed by the model (after the uniform
    trial 0 and the ``startup`` start-up trials) and raised the best score by no more than
    ``min_improvement``. A pure function of the finished trials' scores, so a resumed search
    stops where an uninterrupted one does.

    Args:
        scores: the finished trials' scores in slot order; None for a pruned trial (it never
            improves the best).
        startup: the trials between the uniform one and the model's first proposal:
            ``search.startup_trials`` plus the start thetas (``Config.start_thetas``).
        patience: trials without improvement that stop the search; 0 never stops.
        min_improvement: an improvement of at most this much does not count.
    """
    if patience <= 0 or len(scores) < 1 + startup + patience:
        return False
    before = [x for x in scores[: len(scores) - patience] if x is not None]
    after = [x for x in scores if x is not None]
    if not before:
        return False
    return max(after) - max(before) <= min_improvement


def evaluate_and_tell(
    study: optuna.Study,
    trial: optuna.Trial,
    inner: InnerLoop,
    spec: SamplerSpec,
    outer: Tick,
    *,
    pruning: Pruning | None = None,
    competitors: Callable[[], Sequence[optuna.trial.FrozenTrial]] | None = None,
    paths: RunPaths | None = None,
    **user_attrs: Any,
) -> tuple[TrialScore, dict[str, float]]:
    """Scores ``spec`` and records the trial: its seconds, epochs, any ``user_attrs``, its
    value. ``outer`` is the time the outer loop spent proposing it.

    With ``pruning``, the validation score at each rung is reported as the trial's
    intermediate value (step = parts of a fine-tune epoch done) and the pruner, asked against
    ``competitors()`` (finished trials), may stop it: the trial is then told PRUNED (its value
    is its last intermediate value, Optuna's convention) with the epochs it ran. With
    synchronous halving (``pruning.synchronous``) the trial fine-tunes to the first rung only,
    is told COMPLETE with that score (user attribute ``fidelity_steps``) and saves its state
    there in ``paths`` for the promotion rounds (``search.halving``).

    A trial that raises is recorded FAIL (``user_attrs["error"]``) and the error re-raised
    (Optuna's convention); a resume re-runs it. A trial that another worker failed as dead
    while it was being scored keeps that state: the score is dropped with a warning (its
    requeued copy is scored instead).
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    report = None
    if pruning is not None and not pruning.synchronous:

        def report(step: int, value: float) -> bool:
            try:
                trial.report(value, step)
                if step >= pruning.max_resource:
                    return False
                frozen = study._storage.get_trial(trial._trial_id)
                prune, attrs = pruning.should_prune(
                    competitors() if competitors is not None else [], frozen
                )
                for key, attr in attrs.items():
                    study._storage.set_trial_system_attr(trial._trial_id, key, attr)
            except UpdateFinishedTrialError:  # failed as dead meanwhile: stop, its copy counts
                return True
            return prune

    screening = pruning is not None and pruning.synchronous
    try:
        if screening:
            assert pruning is not None
            score = inner.evaluate(spec, stop_at=pruning.min_resource)
            digest = ""
            if score.paused is not None and paths is not None:
                slot = int(trial.user_attrs["slot"])
                digest = save_paused(paths.paused(slot, score.steps), score.paused)
            trial.set_user_attr("fidelity_steps", score.steps)
            trial.set_user_attr(PAUSED_SHA_ATTR, digest)
        else:
            score = inner.evaluate(
                spec, report=report, report_at=None if pruning is None else pruning.rung_steps()
            )
    except BaseException as err:
        with suppress(Exception):  # the trial may have been failed as stale meanwhile
            trial.set_user_attr("error", f"{type(err).__name__}: {err}"[:500])
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        raise
    seconds = trial_seconds(score, outer)
    expected = TrialState.PRUNED if score.pruned else TrialState.COMPLETE
    try:
        trial.set_user_attr("seconds", seconds)
        trial.set_user_attr("epochs", score.epochs)
        # The trial's cost as numbers a dashboard can sort and plot: wall seconds, and
        # training-epoch equivalents of the shared start's epoch on the CPU clock (what
        # result.json's cost sums up; the wall clock for a study without CPU times).
        wall = sum(v for k, v in seconds.items() if not k.startswith("cpu_"))
        trial.set_user_attr("cost_s", wall)
        cpu = sum(v for k, v in seconds.items() if k.startswith("cpu_"))
        epoch_cpu = float(study.user_attrs.get("epoch_cpu_seconds", 0.0))
        epoch = float(study.user_attrs.get("epoch_seconds", 0.0))
        if epoch_cpu > 0 and cpu > 0:
            trial.set_user_attr("cost_epochs", cpu / epoch_cpu)
        elif epoch > 0:
            trial.set_user_attr("cost_epochs", wall / epoch)
        for key, value in user_attrs.items():
            trial.set_user_attr(key, value)
        if score.diverged:
            trial.set_user_attr("diverged", True)
        if score.pruned:
            told = study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True).state
        else:
            told = study.tell(trial, score.score, skip_if_finished=True).state
    except UpdateFinishedTrialError:
        told = TrialState.FAIL
    if told != expected:  # failed as stale (a stalled worker): its copy counts
        logger.warning("trial %d was failed meanwhile; its score is dropped", trial.number)
    return score, seconds


def prepare_shared_features(
    study: optuna.Study, inner: InnerLoop, paths: RunPaths, spec: SamplerSpec
) -> None:
    """Makes the shared start's features ready in ``inner`` (computed, or loaded from
    ``shared_features.npz`` when it belongs to the study's checkpoint) and adds the seconds
    of a computation to the study's ``shared_features_seconds`` (and its CPU seconds to
    ``shared_features_cpu_seconds``), which the cost counts once."""
    digest = str(study.user_attrs.get("shared_sha256", ""))
    spent = inner.prepare_shared_features(tuple(spec.columns), paths.shared_features, digest)
    if spent.wall > 0:
        for key, value in (
            ("shared_features_seconds", spent.wall),
            ("shared_features_cpu_seconds", spent.cpu),
        ):
            study.set_user_attr(key, float(study.user_attrs.get(key, 0.0)) + value)


def record_shared_start(study: optuna.Study, shared: SharedStart) -> None:
    """The shared start's cost in the study's user attributes (its hash is set apart: it is
    the signal that the checkpoint is ready)."""
    study.set_user_attr("shared_seconds", shared.seconds)
    study.set_user_attr("setup_seconds", shared.setup_seconds)
    study.set_user_attr("shared_epochs", shared.epochs)
    study.set_user_attr("epoch_seconds", shared.epoch_seconds)
    study.set_user_attr("shared_cpu_seconds", shared.cpu_seconds)
    study.set_user_attr("setup_cpu_seconds", shared.setup_cpu_seconds)
    study.set_user_attr("epoch_cpu_seconds", shared.epoch_cpu_seconds)


def trial_seconds(score: TrialScore, outer: Tick) -> dict[str, float]:
    """A trial's seconds by part (wall), and the same parts on the CPU clock (``cpu_*``)."""
    seconds = {
        "finetune": score.train_seconds,
        "features": score.feature_seconds,
        "eval": score.eval_seconds + score.load_seconds,
        "outer": outer.wall,
    }
    if score.cpu:
        seconds.update({f"cpu_{k}": v for k, v in score.cpu.items()})
        seconds["cpu_outer"] = outer.cpu
    return seconds


def search_result(study: optuna.Study, config: Config, paths: RunPaths) -> SearchResult:
    """Summarises the study: best trial (ties: the earliest slot), trials, cost."""
    spec0 = template_spec(config)
    dim = spec0.num_params
    finished = finished_trials(study, dim)
    if not finished:
        raise ConfigError(f"the study in {paths.root} has no finished trial")
    records = tuple(
        trial_record(
            t,
            dim,
            best_score=best_complete(finished[: i + 1]),
            default_epochs=config.epochs_split[1],
        )
        for i, t in enumerate(finished)
    )
    complete = [r for r in records if r.state == "COMPLETE"]
    if not complete:
        raise ConfigError(f"the study in {paths.root} has no trial scored in full")
    best = max(complete, key=lambda r: (r.score, -r.slot))
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
        cost=search_cost(study, records, config),
        paths=paths,
    )


def stopped_early(records: Sequence[TrialRecord], config: Config) -> bool:
    """Whether the stopping rule ended the search before its ``trials`` (records by slot)."""
    s = config.search
    return len(records) < s.trials and stopping_rule_met(
        [r.score if r.state == "COMPLETE" else None for r in records],
        startup=startup_count(config),
        patience=s.patience,
        min_improvement=s.min_improvement,
    )


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
                "theta": [_theta_entries(t).get(i) for i in range(result.spec.num_params)],
                "val_score": t.value if t.state == TrialState.COMPLETE else None,
                "intermediate_values": {str(k): v for k, v in t.intermediate_values.items()},
                "epochs": t.user_attrs.get("epochs"),
                **(
                    {"fidelity_steps": t.user_attrs["fidelity_steps"]}
                    if "fidelity_steps" in t.user_attrs
                    else {}
                ),
                "seconds": t.user_attrs.get("seconds"),
                "seed": t.user_attrs.get("seed"),
            }
        )
    data = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "config_fingerprint": config.fingerprint(),
        "outer": config.search.outer,
        "pruner": config.search.pruner,
        "stopped_early": stopped_early(result.trials, config),
        "transform": config.sampler.transform,
        "features": list(config.sampler.features),
        # Only when it is not the default, so a clipped search's result.json is as before.
        **({"increments": "scaled"} if config.sampler.increments == "scaled" else {}),
        **({"combine": "noisy_or"} if config.sampler.combine == "noisy_or" else {}),
        **({"refresh": "once"} if config.sampler.refresh == "once" else {}),
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
    if result.rounds is not None:
        data["rounds"] = result.rounds
    write_json(result.paths.result, data)
    result.spec.save(result.paths.sampler)
