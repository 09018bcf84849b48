"""The workers' bookkeeping, step by step on a real Optuna storage (a journal file).

The crash tests (test_cluster.py) kill real processes; the races they can only hit by chance
are set up here deterministically: a trial failed as dead whose copy is not queued yet, a
trial claimed by a worker that died before its first heartbeat, a trial failed while its
worker was still scoring it.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from swift_sampler.search.clock import ZERO
from swift_sampler.search.workers import (
    WorkerOptions,
    fail_ownerless,
    make_storage,
    redact,
    requeue,
    taken_slots,
)


@pytest.fixture
def study(tmp_path: Path) -> optuna.Study:
    storage = make_storage(f"journal://{tmp_path}/study.journal")
    return optuna.create_study(storage=storage, study_name="s", direction="maximize")


def _claimed(study: optuna.Study, slot: int, owner: str = "host:1") -> optuna.Trial:
    trial = study.ask()
    trial.set_user_attr("owner", owner)
    trial.set_user_attr("slot", slot)
    trial.suggest_float("x", 0.0, 1.0)
    return trial


def test_a_failed_trial_keeps_its_slot_until_its_copy_is_queued(study: optuna.Study) -> None:
    options = WorkerOptions(heartbeat=1, grace=30, max_retry=3)
    study.tell(_claimed(study, 0), 0.5)
    dead = _claimed(study, 1)
    # The dead worker's trial is failed; its copy is not queued yet (two separate writes).
    study._storage.set_trial_state_values(dead._trial_id, state=TrialState.FAIL)
    trials = study.get_trials()
    assert taken_slots(trials, datetime.now(), options) == {0, 1}  # slot 1 still owed
    # Once the copy is queued, the copy holds the slot (and the failed trial no longer does).
    assert requeue(study, study._storage.get_trial(dead._trial_id), options.max_retry)
    trials = study.get_trials()
    copy = trials[-1]
    assert copy.state == TrialState.WAITING and copy.user_attrs["slot"] == 1
    assert "owner" not in copy.user_attrs  # a live worker pops it without a stale owner
    assert copy.system_attrs["failed_trial"] == dead.number
    assert copy.params == {"x": dead.params["x"]}
    assert taken_slots(trials, datetime.now(), options) == {0, 1}
    # Past the grace period, a failed trial without a copy releases its slot.
    lost = _claimed(study, 2)
    study._storage.set_trial_state_values(lost._trial_id, state=TrialState.FAIL)
    later = datetime.now().replace(year=datetime.now().year + 1)
    assert 2 not in taken_slots(study.get_trials(), later, options)
    # Claims past the budget and failed evaluations are never owed a copy.
    for reason in ("surplus", "error"):
        trial = _claimed(study, 10)
        trial.set_user_attr(reason, True)
        study.tell(trial, state=TrialState.FAIL)
    assert 10 not in taken_slots(study.get_trials(), datetime.now(), options)


def test_requeue_stops_after_max_retry(study: optuna.Study) -> None:
    trial = _claimed(study, 0)
    study.tell(trial, state=TrialState.FAIL)
    frozen = study._storage.get_trial(trial._trial_id)
    assert requeue(study, frozen, max_retry=1)
    copy = study.get_trials()[-1]
    study._storage.set_trial_state_values(copy._trial_id, state=TrialState.RUNNING)
    study._storage.set_trial_state_values(copy._trial_id, state=TrialState.FAIL)
    again = study._storage.get_trial(copy._trial_id)
    assert again.system_attrs["retry_history"] == [trial.number]
    assert not requeue(study, again, max_retry=1)  # its second failure is the last
    assert len(study.get_trials()) == 2


def test_a_trial_claimed_by_a_worker_that_died_at_once_is_requeued(study: optuna.Study) -> None:
    options = WorkerOptions(heartbeat=0.1, grace=0.3, poll=0.1)
    orphan = study.ask()  # no heartbeat, no owner: the worker died right after claiming
    owned = _claimed(study, 1)
    assert fail_ownerless(study, options) == []  # within the grace period: maybe alive
    time.sleep(0.4)
    assert fail_ownerless(study, options) == [orphan.number]
    states = {t.number: t.state for t in study.get_trials()}
    assert states[orphan.number] == TrialState.FAIL
    assert states[owned.number] == TrialState.RUNNING  # an owned trial is left to heartbeats
    copy = study.get_trials()[-1]
    assert copy.state == TrialState.WAITING
    assert copy.system_attrs["failed_trial"] == orphan.number


def test_a_score_told_after_the_trial_was_failed_is_dropped(
    study: optuna.Study, digits_inner
) -> None:
    from swift_sampler.search.study import evaluate_and_tell

    inner, spec = digits_inner
    trial = _claimed(study, 0)
    study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    score, _ = evaluate_and_tell(study, trial, inner, spec, ZERO)  # does not raise
    assert 0.0 < score.score <= 1.0
    assert study.get_trials()[0].state == TrialState.FAIL  # the copy will count, not this


@pytest.fixture
def digits_inner(tmp_path: Path):
    from swift_sampler.config import parse_config
    from swift_sampler.search.objective import InnerLoop
    from swift_sampler.search.setup import build_experiment, template_spec

    config = parse_config(
        {
            "data": {"name": "digits", "noise_rate": 0.2},
            "model": {"name": "mlp"},
            "train": {"epochs": 3},
            "search": {"shared_epochs": 1, "finetune_epochs": 1},
        }
    )
    inner = InnerLoop(build_experiment(config).trainer, shared_epochs=1, finetune_epochs=1)
    inner.train_shared_start(tmp_path / "shared.pt")
    return inner, template_spec(config)


def test_urls_are_redacted_in_messages() -> None:
    assert redact("postgresql://alice:s3cret@db:5432/x") == "postgresql://alice:***@db:5432/x"
    assert redact("journal:///tmp/x.journal") == "journal:///tmp/x.journal"


def test_a_pruned_trial_is_done_not_owed_a_requeue(study: optuna.Study) -> None:
    """PRUNED is a finished state: its slot is taken for good, counted done, and a local
    parent that looks for a dead worker's RUNNING trials never finds it."""
    from swift_sampler.search.workers import _complete_slots, _requeue_dead

    options = WorkerOptions(heartbeat=1, grace=30, max_retry=3)
    study.tell(_claimed(study, 0), 0.5)
    pruned = _claimed(study, 1, owner="host:7")
    pruned.report(0.2, 1)
    study.tell(pruned, state=TrialState.PRUNED)
    frozen = study.get_trials()[1]
    assert frozen.state == TrialState.PRUNED and frozen.intermediate_values == {1: 0.2}
    assert taken_slots(study.get_trials(), datetime.now(), options) == {0, 1}
    assert _complete_slots(study) == {0, 1}
    # Its worker dies afterwards: nothing of it is requeued.
    assert _requeue_dead(study, "host:7", options.max_retry) == []
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE, TrialState.PRUNED]


def test_a_proposal_that_repeats_a_running_theta_is_replaced(
    study: optuna.Study, tmp_path: Path
) -> None:
    """Two workers proposing at once see neither's claim (a theta is written after its
    proposal), and a GP given the same history can put both on one point; CI hit it once
    under load (7 distinct thetas of 8). The race cannot be forced with a real GP, so a
    stand-in outer loop repeats the theta a running trial holds: the claim must get the Sobol
    point drawn for its slot instead, and never a theta already taken."""
    import numpy as np

    from swift_sampler.config import load_config
    from swift_sampler.search.outer import param_names, sobol_point
    from swift_sampler.search.workers import REPEAT_SOBOL_OFFSET, _theta_of_claim

    path = tmp_path / "c.toml"
    path.write_text('[data]\nname = "digits"\n[model]\nname = "mlp"\n[search]\nseed = 3\n')
    config = load_config(path)
    dim = 10
    names = param_names(dim)
    running = study.ask()
    running.set_user_attr("slot", 5)
    held = np.linspace(0.05, 0.95, dim)
    for name, value in zip(names, held, strict=True):
        running.suggest_float(name, float(value), float(value))  # fixed: a written claim

    class Repeats:
        def suggest(self, history, slot, pending):  # type: ignore[no-untyped-def]
            assert any(np.allclose(p, held) for p in pending)  # it was told, and repeats
            return held.copy(), {"from": "gp"}

    mine = study.ask()
    mine.set_user_attr("slot", 6)
    theta = _theta_of_claim(study, mine, Repeats(), dim, config)
    assert not np.allclose(theta, held)
    np.testing.assert_allclose(theta, sobol_point(dim, REPEAT_SOBOL_OFFSET + 64 * 6, 3))
    stored = study._storage.get_trial(mine._trial_id)
    np.testing.assert_allclose([stored.params[n] for n in names], theta)
    assert "from" not in stored.system_attrs  # the repeat's attributes are not kept
