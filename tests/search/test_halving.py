"""Synchronous successive halving (search.halving): screening trials stop at the first rung and
save their state, the promotion rounds continue the best 1/eta from there, and a killed or
damaged run ends where an uninterrupted one does. Real trainer, real Optuna storage, real files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from swift_sampler import SamplerSpec
from swift_sampler.cli import _cost_line
from swift_sampler.config import parse_config
from swift_sampler.errors import ConfigError
from swift_sampler.search.driver import run_search
from swift_sampler.search.objective import InnerLoop, load_paused, save_paused
from swift_sampler.search.pruning import check_pruning, rung_steps
from swift_sampler.search.rundir import RunPaths
from swift_sampler.search.setup import (
    Experiment,
    build_experiment,
    build_inner_loop,
    template_spec,
)

SYNC = {
    "data": {"name": "digits", "noise_rate": 0.3},
    "model": {"name": "mlp"},
    "train": {"epochs": 6, "lr": 0.1, "threads": 1},
    "search": {
        "trials": 9,
        "startup_trials": 3,
        "outer": "gp",
        "shared_epochs": 2,
        "finetune_epochs": 4,
        "pruner": "synchronous_halving",
        "epoch_parts": 2,
        "refresh_every": 2,
    },
}


def test_rung_steps_end_with_the_last_step() -> None:
    assert rung_steps(1, 3, 36) == [1, 3, 9, 27, 36]
    assert rung_steps(1, 3, 27) == [1, 3, 9, 27]
    assert rung_steps(2, 2, 5) == [2, 4, 5]


@pytest.mark.parametrize(
    ("stops", "history"), [([1], 0.0), ([3, 5], 0.0), ([1, 2, 4, 6, 7], 0.0), ([1, 3], 0.5)]
)
def test_a_paused_and_resumed_candidate_trains_what_an_uninterrupted_one_does(
    tmp_path: Path, stops: list[int], history: float
) -> None:
    # Features refreshed every other epoch and epochs in 2 parts: pauses land inside epochs,
    # at epoch boundaries before a refresh (step 4) and after one. With feature history the
    # features' moving average is saved and goes on from where it paused.
    trainer = build_experiment(parse_config(SYNC)).trainer  # sklearn digits, an MLP
    inner = InnerLoop(trainer, shared_epochs=2, finetune_epochs=4, epoch_parts=2, refresh_every=2)
    inner.train_shared_start(tmp_path / "shared.pt")
    spec = SamplerSpec(theta=np.random.default_rng(3).random(10), history=history)
    inner.prepare_shared_features(tuple(spec.columns), None, "")
    straight = inner.evaluate(spec)
    paused = None
    epochs = 0.0
    for k, stop in enumerate(stops):
        part = inner.evaluate(spec, stop_at=stop, resume_from=paused)
        assert part.steps == stop and part.paused is not None and not part.pruned
        epochs += part.epochs
        # Through a real file, as the promotion rounds do.
        path = tmp_path / f"paused{k}.pt"
        digest = save_paused(path, part.paused)
        paused = load_paused(path, digest)
        assert paused is not None
    end = inner.evaluate(spec, resume_from=paused)
    assert end.steps == 8 and end.paused is None
    assert end.score == straight.score
    assert (paused["history"] is None) == (history == 0.0)
    if history:  # the average matters: without it the resumed candidate ends elsewhere
        lost = dict(paused, history=paused["history"] * 0.0 + 1.0)
        assert inner.evaluate(spec, resume_from=lost).score != straight.score
    assert epochs + end.epochs == pytest.approx(4.0)
    assert load_paused(path, "0" * 64) is None  # not the file recorded: fine-tuned again
    assert load_paused(tmp_path / "missing.pt", digest) is None


def test_synchronous_halving_promotes_the_best_third_and_picks_the_last_rung_winner(
    tmp_path: Path,
) -> None:
    config = parse_config(SYNC)
    result = run_search(config, tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    rounds = saved["rounds"]
    assert rounds["steps"] == [1, 3, 8]  # min 1 step, eta 3, 4 epochs x 2 parts
    rungs = {int(k): {int(s): v for s, v in d.items()} for k, d in rounds["rungs"].items()}
    # Every screening trial stopped at step 1 (half an epoch) with that score.
    screening = sorted(saved["trials"], key=lambda t: t["slot"])
    assert len(screening) == 9 and all(t["fidelity_steps"] == 1 for t in screening)
    assert {t["slot"]: t["val_score"] for t in screening} == rungs[1]
    assert all(t["epochs"] == 0.5 for t in screening)
    # The best ceil(9/3) = 3 of rung 1 went on to step 3, the best 2 of those (finalists = 2,
    # the default; ceil(3/3) = 1 alone) to the end, where the best is the search's sampler.
    top3 = sorted(rungs[1], key=lambda s: (-rungs[1][s], s))[:3]
    assert sorted(rungs[3]) == sorted(top3)
    top2 = sorted(rungs[3], key=lambda s: (-rungs[3][s], s))[:2]
    assert sorted(rungs[8]) == sorted(top2)
    winner = min(rungs[8], key=lambda s: (-rungs[8][s], s))
    assert result.best_slot == winner
    assert result.best_score == rungs[8][winner] == saved["best"]["val_score"]
    # The winner's score is its uninterrupted fine-tune's score.
    experiment = build_experiment(config)
    inner = build_inner_loop(config, experiment.trainer)
    inner.load_shared_start(RunPaths(tmp_path / "run").shared, saved["shared_sha256"])
    spec = template_spec(config).with_theta(result.best_theta)
    assert inner.evaluate(spec).score == result.best_score
    # The cost counts the continuations: 9 x 0.5 + 3 x 1 (steps 1 -> 3) + 2 x 2.5 (3 -> 8).
    assert result.cost["finetune_epochs_run"] == pytest.approx(4.5 + 3 + 5)
    assert result.cost["continuations"] == 5
    assert "epochs trained 14 (5 promotions after the screening)" in _cost_line(result.cost)
    assert len(rounds["continuations"]) == 5
    # finalists = 1: plain successive halving, one candidate to the end.
    plain = {**SYNC, "search": {**SYNC["search"], "finalists": 1}}
    one = run_search(parse_config(plain), tmp_path / "plain")
    rungs1 = json.loads((tmp_path / "plain" / "result.json").read_text())["rounds"]["rungs"]
    assert [len(rungs1[k]) for k in ("1", "3", "8")] == [9, 3, 1]
    assert one.cost["continuations"] == 4
    # keep_uniform: the uniform sampler (slot 0) reaches the end, in the last place of any rung
    # it would have left; the rest of each rung is chosen as before.
    keep = {**SYNC, "search": {**SYNC["search"], "keep_uniform": True}}
    kept = run_search(parse_config(keep), tmp_path / "keep")
    rungs_u = json.loads((tmp_path / "keep" / "result.json").read_text())["rounds"]["rungs"]
    assert all("0" in rungs_u[k] for k in ("1", "3", "8"))
    top = sorted(rungs_u["1"], key=lambda s: (-rungs_u["1"][s], int(s)))
    expected = top[:3] if "0" in top[:3] else [*top[:2], "0"]
    assert sorted(rungs_u["3"]) == sorted(expected)
    assert kept.best_score >= rungs_u["8"]["0"]
    assert not (tmp_path / "run" / "rungs").exists()  # the states are gone with the result


class _Interrupted(BaseException):
    pass


class _StopAfter:
    """A real trainer that is interrupted (as by Ctrl-C) at its ``calls``-th training call."""

    def __init__(self, trainer: Any, calls: int) -> None:
        self._trainer = trainer
        self.calls = calls

    def train_epoch(self, *args: Any, **kwargs: Any) -> Any:
        self.calls -= 1
        if self.calls == 0:
            raise _Interrupted
        return self._trainer.train_epoch(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trainer, name)


def _same(continuation: dict[str, Any]) -> dict[str, Any]:
    """What an interrupted run must reproduce: all but the seconds (and a recomputed start's
    epochs)."""
    return {k: continuation[k] for k in ("slot", "from_step", "to_step", "score", "sha256")}


@pytest.mark.parametrize("lose_states", [False, True])
def test_rounds_interrupted_then_resumed_end_as_an_uninterrupted_run(
    tmp_path: Path, lose_states: bool
) -> None:
    config = parse_config(SYNC)
    run_search(config, tmp_path / "straight")
    a = json.loads((tmp_path / "straight" / "result.json").read_text())
    # Shared start 2 calls, screening 9 x 1 part, the first continuation 2 parts: stopped in
    # the second continuation.
    trainer = _StopAfter(build_experiment(config).trainer, 2 + 9 + 2 + 1)
    killed = tmp_path / "killed"
    with pytest.raises(_Interrupted):
        run_search(config, killed, experiment=Experiment(trainer))  # type: ignore[arg-type]
    assert not (killed / "result.json").exists()
    ledger = json.loads((killed / "rungs.json").read_text())["continuations"]
    straight = {(c["slot"], c["to_step"]): _same(c) for c in a["rounds"]["continuations"]}
    assert len(ledger) == 1 and _same(ledger[0]) == straight[(ledger[0]["slot"], 3)]
    states = sorted(p.name for p in (killed / "rungs").iterdir())
    assert len(states) == 9 + 1  # every screening trial's, and the first continuation's
    if lose_states:
        shutil.rmtree(killed / "rungs")
    again = run_search(config, killed, resume=True)
    b = json.loads((killed / "result.json").read_text())
    assert b["best"] == a["best"] and b["rounds"]["rungs"] == a["rounds"]["rungs"]
    assert again.best_score == a["best"]["val_score"]
    resumed = {(c["slot"], c["to_step"]): c for c in b["rounds"]["continuations"]}
    assert resumed[(ledger[0]["slot"], 3)] == ledger[0]  # kept as it was, not run again
    assert {k: _same(c) for k, c in resumed.items()} == straight
    extra = b["cost"]["finetune_epochs_run"] - a["cost"]["finetune_epochs_run"]
    if lose_states:  # the two others chosen at step 1 fine-tuned again to it (0.5 each), and
        # the first continued again from the shared start to step 3 (1.5) if it goes on
        first = ledger[0]["slot"]
        again_to_3 = 1.5 if str(first) in b["rounds"]["rungs"]["8"] else 0.0
        assert extra == pytest.approx(0.5 + 0.5 + again_to_3)
    else:
        assert extra == 0  # went on from the saved states: nothing trained twice


def test_a_damaged_ledger_is_reported_with_what_to_do(tmp_path: Path) -> None:
    config = parse_config(SYNC)
    run_search(config, tmp_path / "run")
    (tmp_path / "run" / "rungs.json").write_text('{"continuations": [{"slot": 1}]}')
    with pytest.raises(Exception, match=r"rungs.json is damaged .* delete it"):
        run_search(config, tmp_path / "run", resume=True)


def test_synchronous_halving_is_refused_where_it_cannot_run() -> None:
    config = parse_config(SYNC)
    with pytest.raises(ConfigError, match="does not run with `swift-sampler worker`"):
        check_pruning(config, workers=2, shared_study=True)
    with pytest.raises(ConfigError, match="does not run under torchrun"):
        check_pruning(config, world_size=2)
    check_pruning(config, workers=2)  # local --workers: the parent runs the rounds
    with pytest.raises(ConfigError, match=r"bootstrap_count: works with search\.pruner"):
        parse_config({**SYNC, "search": {**SYNC["search"], "bootstrap_count": 1}})
