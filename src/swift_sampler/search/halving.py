"""Synchronous successive halving (``search.pruner = "synchronous_halving"``).

Optuna's pruners decide while a trial runs, and a trial cannot wait: a candidate that reaches a
rung before ``eta`` others goes on when it is the best there so far. In a serial search the
first trials (the uniform sampler, the first start-up points) therefore run their whole
fine-tune unchallenged, and later ones must beat their full-length scores with partial ones.
Here nothing runs ahead of its competitors:

1. **Screening.** Every trial of the outer loop fine-tunes only to the first rung
   (``min_resource`` steps; a step is ``1/epoch_parts`` of a fine-tune epoch), is told
   COMPLETE with that validation score (user attribute ``fidelity_steps``), and saves its state
   there (``rungs/slot-NNN-step-S.pt``). The outer loop and the stopping rule see these
   scores, all of one fidelity.
2. **Promotion rounds**, after the last trial: the best ``ceil(n / eta)`` of each rung, and
   never fewer than ``search.finalists``, go on to the next (``min_resource * eta**k`` steps,
   then the last step), each continuing from its saved state, so a promoted candidate trains
   exactly what an uninterrupted one would. The best score at the last step picks the search's
   sampler (ties: the earliest slot). With 500 validation labels two candidates a point apart
   differ by 5 labels, less than the noise of one score; ``finalists = 2`` (default) lets the
   last decision be taken on two whole fine-tunes rather than on a partial one.

Every continuation is recorded in ``rungs.json`` (written atomically after each one) with its
score and seconds, so a killed search resumes the rounds where they stopped and its result is
the same as an uninterrupted run's: the rounds are a pure function of the screening scores.
A saved state that is missing or damaged (a worker on another machine, a lost file) is
recomputed from the shared start, at its cost: candidates are deterministic. The states are
deleted once the result is written.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from swift_sampler.errors import RunFileError
from swift_sampler.search.clock import ZERO
from swift_sampler.search.cost import search_cost
from swift_sampler.search.objective import InnerLoop, load_paused, save_paused
from swift_sampler.search.pruning import rung_steps
from swift_sampler.search.rundir import RunPaths, read_json, write_json
from swift_sampler.search.study import (
    PAUSED_SHA_ATTR,
    SearchResult,
    finished_trials,
    theta_of,
    trial_seconds,
)

if TYPE_CHECKING:
    import optuna

    from swift_sampler.config import Config
    from swift_sampler.family import SamplerSpec

__all__ = [
    "Continuation",
    "Rounds",
    "apply_rounds",
    "load_rounds",
    "remove_paused",
    "run_rounds",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Continuation:
    """One promoted candidate's fine-tune from one rung to the next."""

    slot: int
    from_step: int
    to_step: int
    score: float
    seconds: dict[str, float]
    epochs: float  # fine-tune epochs trained, a recomputed start included
    sha256: str = ""  # of the state saved at ``to_step`` (none at the last step)
    state: str = "CONTINUED"  # how the cost tells it apart from the trials

    def to_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "from_step": self.from_step,
            "to_step": self.to_step,
            "score": self.score,
            "seconds": self.seconds,
            "epochs": self.epochs,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class Rounds:
    """The promotion rounds: every continuation, and the winner at the last step."""

    steps: tuple[int, ...]
    continuations: tuple[Continuation, ...] = ()
    best_slot: int | None = None
    best_score: float = float("nan")
    rungs: dict[int, dict[int, float]] = field(default_factory=dict)  # step -> slot -> score


def _ledger(paths: RunPaths) -> dict[tuple[int, int], Continuation]:
    if not paths.rungs_ledger.exists():
        return {}
    data = read_json(
        paths.rungs_ledger,
        advice="delete it to run the promotion rounds again (the screening trials are kept in "
        "the study)",
    )
    try:
        done = [
            Continuation(
                slot=int(c["slot"]),
                from_step=int(c["from_step"]),
                to_step=int(c["to_step"]),
                score=float(c["score"]),
                seconds={str(k): float(v) for k, v in c["seconds"].items()},
                epochs=float(c["epochs"]),
                sha256=str(c.get("sha256", "")),
            )
            for c in data["continuations"]
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise RunFileError(
            f"{paths.rungs_ledger} is damaged ({type(err).__name__}: {err}); delete it to run "
            "the promotion rounds again (the screening trials are kept in the study)"
        ) from None
    return {(c.slot, c.to_step): c for c in done}


def _write_ledger(paths: RunPaths, done: dict[tuple[int, int], Continuation]) -> None:
    write_json(
        paths.rungs_ledger,
        {"continuations": [c.to_json() for c in done.values()]},
    )


def _chosen(pool: dict[int, float], eta: int, finalists: int, keep_uniform: bool) -> list[int]:
    """The slots of ``pool`` that go on: the best ``ceil(n / eta)``, and never fewer than
    ``finalists`` (ties: the earliest slot). With ``keep_uniform`` the uniform sampler (slot 0)
    takes the last place when it is not among them."""
    keep = min(len(pool), max(finalists, math.ceil(len(pool) / eta)))
    ranked = sorted(pool, key=lambda slot: (-pool[slot], slot))
    chosen = ranked[:keep]
    if keep_uniform and 0 in pool and 0 not in chosen:
        chosen[-1] = 0
    return chosen


def _plan(
    screened: dict[int, float],
    steps: list[int],
    eta: int,
    finalists: int,
    done: dict[tuple[int, int], Any],
    keep_uniform: bool = False,
) -> Rounds:
    """The rounds as far as ``done`` goes (``best_slot`` None while one is missing)."""
    rungs: dict[int, dict[int, float]] = {steps[0]: dict(screened)}
    pool = dict(screened)
    for step in steps[1:]:
        chosen = _chosen(pool, eta, finalists, keep_uniform)
        if any((slot, step) not in done for slot in chosen):
            return Rounds(tuple(steps), rungs=rungs)
        pool = {slot: float(done[(slot, step)].score) for slot in chosen}
        rungs[step] = dict(pool)
    best = min(pool, key=lambda slot: (-pool[slot], slot))
    return Rounds(tuple(steps), best_slot=best, best_score=pool[best], rungs=rungs)


def _screened(study: optuna.Study, dim: int) -> dict[int, tuple[float, Any]]:
    out = {}
    for t in finished_trials(study, dim):
        if t.value is not None:
            out[int(t.user_attrs["slot"])] = (float(t.value), t)
    return out


def load_rounds(study: optuna.Study, config: Config, paths: RunPaths, dim: int) -> Rounds:
    """The promotion rounds recorded so far (read only)."""
    steps = _steps(config)
    screened = _screened(study, dim)
    done = _ledger(paths)
    rounds = _plan(
        {s: v for s, (v, _) in screened.items()},
        steps,
        _eta(config),
        config.search.finalists,
        done,
        config.search.keep_uniform,
    )
    used = [
        c for c in done.values() if c.to_step in rounds.rungs and c.slot in rounds.rungs[c.to_step]
    ]
    return Rounds(
        rounds.steps,
        continuations=tuple(sorted(used, key=lambda c: (c.to_step, c.slot))),
        best_slot=rounds.best_slot,
        best_score=rounds.best_score,
        rungs=rounds.rungs,
    )


def _steps(config: Config) -> list[int]:
    s = config.search
    return rung_steps(s.min_resource, s.reduction_factor, config.epochs_split[1] * s.epoch_parts)


def _eta(config: Config) -> int:
    return int(config.search.reduction_factor)


def run_rounds(
    study: optuna.Study, config: Config, inner: InnerLoop, paths: RunPaths, spec0: SamplerSpec
) -> Rounds:
    """Runs the promotion rounds not yet recorded in ``rungs.json``; returns all of them."""
    dim = spec0.num_params
    steps = _steps(config)
    eta, finalists = _eta(config), config.search.finalists
    screened = _screened(study, dim)
    scores = {slot: value for slot, (value, _) in screened.items()}
    done = _ledger(paths)
    while True:
        rounds = _plan(scores, steps, eta, finalists, done, config.search.keep_uniform)
        if rounds.best_slot is not None:
            break
        # The first rung with a chosen candidate not yet continued: continue it.
        at = max(rounds.rungs)
        to = steps[steps.index(at) + 1]
        chosen = _chosen(rounds.rungs[at], eta, finalists, config.search.keep_uniform)
        slot = next(s for s in chosen if (s, to) not in done)
        trial = screened[slot][1]
        spec = spec0.with_theta(theta_of(trial, dim))
        sha = (
            str(trial.user_attrs.get(PAUSED_SHA_ATTR, ""))
            if at == steps[0]
            else done[(slot, at)].sha256
        )
        paused = load_paused(paths.paused(slot, at), sha)
        epochs = 0.0
        seconds: dict[str, float] = {}
        if paused is None:  # recomputed from the shared start, at its cost
            again = inner.evaluate(spec, stop_at=at)
            paused, epochs = again.paused, float(again.epochs)
            seconds = trial_seconds(again, ZERO)
        last = to == steps[-1]
        score = inner.evaluate(spec, resume_from=paused, stop_at=None if last else to)
        # A diverged candidate has nothing to go on from (and scores the worst: it is not
        # chosen again unless nothing else is, and is then recomputed).
        digest = (
            ""
            if last or score.paused is None
            else save_paused(paths.paused(slot, to), score.paused)
        )
        for key, value in trial_seconds(score, ZERO).items():
            seconds[key] = seconds.get(key, 0.0) + value
        done[(slot, to)] = Continuation(
            slot=slot,
            from_step=at,
            to_step=to,
            score=float(score.score),
            seconds=seconds,
            epochs=epochs + float(score.epochs),
            sha256=digest,
        )
        _write_ledger(paths, done)
        logger.info("slot %d: step %d -> %d, val %.4f", slot, at, to, score.score)
    return load_rounds(study, config, paths, dim)


def remove_paused(paths: RunPaths) -> None:
    """Deletes the saved states (the result no longer needs them)."""
    if paths.rungs.is_dir():
        shutil.rmtree(paths.rungs, ignore_errors=True)


def apply_rounds(
    result: SearchResult, rounds: Rounds, study: optuna.Study, config: Config
) -> SearchResult:
    """``result`` (of the screening trials) with the rounds' winner as the best sampler, the
    continuations in the cost, and the rounds for ``result.json``."""
    if rounds.best_slot is None:
        raise RunFileError("the promotion rounds are not finished")
    best = next(r for r in result.trials if r.slot == rounds.best_slot)
    spec = result.spec.with_theta(
        best.theta,
        val_score=rounds.best_score,
        slot=best.slot,
        outer=config.search.outer,
        config_fingerprint=config.fingerprint(),
    )
    cost = search_cost(study, (*result.trials, *rounds.continuations), config)
    cost["continuations"] = float(len(rounds.continuations))
    return dataclasses.replace(
        result,
        best_theta=best.theta,
        best_score=rounds.best_score,
        best_slot=best.slot,
        spec=spec,
        cost=cost,
        rounds={
            "steps": list(rounds.steps),
            "epoch_parts": config.search.epoch_parts,
            "rungs": {
                str(step): {str(slot): score for slot, score in scores.items()}
                for step, scores in rounds.rungs.items()
            },
            "continuations": [c.to_json() for c in rounds.continuations],
        },
    )
