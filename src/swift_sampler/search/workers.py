"""Trials on many processes: ``search --workers K`` on one machine, ``worker`` on many.

Every worker runs the same loop on one Optuna study: claim a trial with ``study.ask()`` (trial
numbers are unique and popping a queued trial is atomic in Optuna's storages), propose theta
from the finished trials *and the thetas other workers are still evaluating* (Optuna's GP
sampler conditions on RUNNING trials; TPE uses its constant liar; the seeded loops draw per
slot), score it and tell the study, until the budget of finished slots is reached.

Dead workers. A worker records a heartbeat for its running trial (RDB storages: PostgreSQL,
MySQL); every worker calls Optuna's ``fail_stale_trials`` before it claims, which marks a trial
whose heartbeat stopped FAIL and, through ``RetryHeartbeatStaleTrialCallback``, queues a copy
with the same theta and slot. The copy is claimed like any queued trial, so a killed trial is
re-run once and its slot is counted once. A worker whose budget looks taken keeps waiting while
other trials run, since one of them may still die. JournalStorage has no heartbeat: under
``search --workers K`` the parent process watches its children and requeues the trial of one
that is killed.

The shared start (``E_s`` uniform epochs) is trained exactly once per study: under
``search --workers K`` the parent trains it before the workers start; workers that join with
``swift-sampler worker`` take a lock in the storage (``search.cluster``).

A pruned trial (``search.pruner``) is finished like a COMPLETE one: its slot is done and it is
never requeued; the pruner of a worker's trial sees the finished trials of all workers.

With several workers the trial numbers seed the proposals, so a run is not bit-for-bit
reproducible the way a single-worker run is (which worker finishes first decides what the
next proposal sees).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import random
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from swift_sampler.errors import ConfigError
from swift_sampler.family import uniform_theta
from swift_sampler.search import clock
from swift_sampler.search.outer import outer_loop_for, sobol_point, startup_count
from swift_sampler.search.pruning import Pruning
from swift_sampler.search.study import (
    evaluate_and_tell,
    outer_history,
    prepare_shared_features,
    stopping_rule_met,
    study_param_names,
    theta_of,
)

if TYPE_CHECKING:
    import optuna

    from swift_sampler.config import Config
    from swift_sampler.search.objective import InnerLoop
    from swift_sampler.search.rundir import RunPaths

__all__ = [
    "Heartbeat",
    "WorkerOptions",
    "check_directory",
    "check_journal",
    "enqueue_uniform",
    "fail_ownerless",
    "fail_stale",
    "holds_optuna_tables",
    "journal_storage",
    "make_storage",
    "owner_name",
    "redact",
    "retire_leftovers",
    "retrying",
    "run_workers",
    "storage_problem",
    "trial_loop",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker talks to the storage.

    Attributes:
        heartbeat: seconds between heartbeats of a running trial (RDB storages only).
        grace: seconds without a heartbeat after which a running trial is failed and requeued;
            a trial's epochs must not block the heartbeat thread this long.
        poll: seconds between looks at the study while waiting (shared start, last trials).
        max_retry: how many times one trial is requeued after its worker died.
    """

    heartbeat: float = 10.0
    grace: float = 60.0
    poll: float = 1.0
    max_retry: int = 3

    def __post_init__(self) -> None:
        for name in ("heartbeat", "grace", "poll"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.grace <= self.heartbeat:
            raise ConfigError(
                f"grace ({self.grace} s) must be longer than the heartbeat ({self.heartbeat} s)"
            )
        if self.max_retry < 0:
            raise ConfigError(f"max_retry must be >= 0, got {self.max_retry}")


def make_storage(url: str, options: WorkerOptions | None = None) -> Any:
    """An Optuna storage for ``url`` that several processes may write at once.

    RDB URLs (``postgresql://``, ``mysql://``) get heartbeats, a grace period and a retry of
    trials whose worker died; ``journal:///path`` is Optuna's JournalStorage on a file (no
    heartbeat). SQLite is refused: it locks under concurrent writers.

    Raises:
        ConfigError: for SQLite or a URL Optuna cannot use.
    """
    import optuna

    options = options or WorkerOptions()
    if url.startswith("journal:///"):
        return journal_storage(url)
    if url.startswith("sqlite"):
        raise ConfigError(
            f"several workers cannot share the SQLite storage {url} (it locks under concurrent "
            "writers); use postgresql://... or journal:///path"
        )
    if not url.startswith(("postgresql", "mysql")):
        raise ConfigError(
            f"a worker storage must be a postgresql://, mysql:// or journal:/// URL, got {url!r}"
        )

    def connect() -> Any:
        with warnings.catch_warnings():  # heartbeat arguments are marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url,
                heartbeat_interval=max(1, round(options.heartbeat)),
                grace_period=max(2, round(options.grace)),
                heartbeat_stale_trial_callback=Requeue(options.max_retry),
            )

    return retrying(connect, f"cannot open the study storage {redact(url)!r}")


def holds_optuna_tables(url: str) -> bool:
    """Whether the database of an RDB ``url`` already holds Optuna's tables; reads only.

    Optuna's ``RDBStorage`` creates its tables when it opens a database, so a worker that only
    joins (no config, nothing to create) asks first and creates nothing in a wrong database.

    Raises:
        ConfigError: the database cannot be reached (after :func:`retrying`).
    """
    import sqlalchemy

    def look() -> bool:
        engine = sqlalchemy.create_engine(url)
        try:
            return bool(sqlalchemy.inspect(engine).has_table("studies"))
        finally:
            engine.dispose()

    return bool(retrying(look, f"cannot open the study storage {redact(url)!r}"))


def journal_storage(url: str) -> Any:
    """Optuna's JournalStorage on the file of a ``journal:///path`` URL, after
    :func:`check_journal` (which refuses a file that is not a journal, leaving it unchanged).
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(check_journal(url))))


_RECORD = b'{"op_code":'
"""How every record of Optuna's journal begins."""


def check_journal(url: str) -> Path:
    """The file of a ``journal:///path`` URL, checked before Optuna opens it.

    Optuna creates a missing file and appends its records to any file, even one that is not a
    journal, which it then cannot read; so the directory must exist, and an existing file must
    be empty or an Optuna journal: every line a JSON object with an ``"op_code"``. A last line
    without its newline may be a record another worker is writing.

    Raises:
        ConfigError: naming the file and what is wrong with it; nothing is created or written.
    """
    path = journal_file(url)
    check_directory(url, path)
    if not path.exists():
        return path
    if not path.is_file():
        raise ConfigError(f"the journal storage {path} exists and is not a file")
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            complete = line.endswith(b"\n")
            if complete and _journal_record(line):
                continue
            if not complete and (line.startswith(_RECORD) or _RECORD.startswith(line)):
                continue  # the last line, being written by another worker
            raise ConfigError(
                f"the journal storage {path} exists and is not an Optuna journal: every line "
                f'of a journal is a JSON object with an "op_code", but line {number} is '
                f"{'empty' if not line.strip() else 'not'}; choose a path that does not exist "
                "yet (or an empty file)"
            )
    return path


def journal_file(url: str) -> Path:
    """The file of a ``journal:///path`` URL: ``/path``, whether the path after the three
    slashes is written with its own leading slash (``journal:////tmp/x``, as the run
    directory's default URL is) or without (``journal:///tmp/x``)."""
    return Path("/" + url[len("journal:///") :].lstrip("/"))


def check_directory(url: str, path: Path) -> None:
    """Refuses a storage file whose directory does not exist (Optuna would say "unable to
    open database file" or "No such file or directory", without the path)."""
    parent = path.parent
    if not parent.is_dir():
        what = (
            f"{parent} is a file, not a directory"
            if parent.exists()
            else f"the directory {parent} does not exist"
        )
        raise ConfigError(f"cannot open the study storage {url!r}: {what}")


def _journal_record(line: bytes) -> bool:
    try:
        record = json.loads(line)
    except ValueError:  # not JSON, or not UTF-8
        return False
    return isinstance(record, dict) and "op_code" in record


def storage_problem(err: BaseException) -> str:
    """A storage error in one line: what comes before SQLAlchemy's ``[SQL: ...]`` block (the
    statement over several lines, its ``[parameters: ...]``) and its ``(Background on this
    error at: ...)`` line, joined."""
    kept = []
    for line in str(err).splitlines():
        line = line.strip()
        if line.startswith(("[SQL:", "(Background on this error")):
            break
        if line:
            kept.append(line)
    return " ".join(kept) or type(err).__name__


def redact(url: str) -> str:
    """``url`` with its password hidden, for messages and logs."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not an SQLAlchemy URL (journal:///...): nothing secret in it
        return url


def requeue(study: optuna.Study, trial: Any, max_retry: int) -> bool:
    """Queues a copy of a failed trial: same theta, slot and attributes, without its owner.

    Optuna's ``RetryHeartbeatStaleTrialCallback`` does the same but keeps the dead worker's
    ``owner``, which would let a parent that is still failing that worker's trials fail the
    copy just after a live worker popped it. ``system_attrs["failed_trial"]`` names the first
    trial of the chain and ``retry_history`` every failed one, as Optuna's do.

    Returns:
        False when the trial has been retried ``max_retry`` times already.
    """
    import optuna
    from optuna.trial import TrialState

    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    if len(history) > max_retry:
        logger.warning("trial %d failed %d times; not requeued", trial.number, len(history))
        return False
    system_attrs = {
        **trial.system_attrs,
        "failed_trial": trial.system_attrs.get("failed_trial", trial.number),
        "retry_history": history,
    }
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs={k: v for k, v in trial.user_attrs.items() if k != "owner"},
            system_attrs=system_attrs,
        )
    )
    return True


class Requeue:
    """The storages' stale-trial callback: :func:`requeue` (picklable)."""

    def __init__(self, max_retry: int) -> None:
        self.max_retry = max_retry

    def __call__(self, study: optuna.Study, trial: Any) -> None:
        requeue(study, trial, self.max_retry)


def retrying(action: Callable[[], Any], failure: str, attempts: int = 6) -> Any:
    """``action()``, retried when concurrent workers collide.

    Workers started together on a fresh database race to create Optuna's schema (PostgreSQL:
    "duplicate key value violates unique constraint pg_type_typname_nsp_index") and the
    study; the loser's retry finds them made.

    Raises:
        ConfigError: ``failure`` and the last error, after ``attempts`` tries (an unreachable
            server, a bad URL or bad credentials end here too).
    """
    rng = random.Random()
    for attempt in range(attempts):
        try:
            return action()
        except Exception as err:  # SQLAlchemy / driver / Optuna storage errors
            last = err
            logger.debug("%s (attempt %d): %s", failure, attempt + 1, err)
            time.sleep(rng.uniform(0.1, 0.5) * (attempt + 1))
    raise ConfigError(f"{failure}: {storage_problem(last)}") from None


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    """Records heartbeats of one trial at a time from a daemon thread (RDB storages)."""

    def __init__(self, storage: Any, interval: float) -> None:
        from optuna.storages._heartbeat import is_heartbeat_enabled

        self.storage = storage
        self.interval = interval
        self.enabled = is_heartbeat_enabled(storage)

    def beat(self, trial_id: int) -> None:
        """One heartbeat now (right after a claim: a trial without any is never stale)."""
        if self.enabled:
            self.storage.record_heartbeat(trial_id)

    @contextmanager
    def keep(self, trial_id: int) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        self.storage.record_heartbeat(trial_id)
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.interval):
                try:
                    self.storage.record_heartbeat(trial_id)
                except Exception as err:  # a lost connection: the next beat retries
                    logger.warning("heartbeat of trial id %d failed: %s", trial_id, err)

        thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=2 * self.interval)  # a hung connection must not hold us


def fail_stale(study: optuna.Study) -> None:
    import optuna
    from optuna.storages import fail_stale_trials

    with warnings.catch_warnings():  # marked experimental since Optuna 2.9; we rely on it
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        fail_stale_trials(study)


def _ask(study: optuna.Study) -> optuna.Trial:
    # Optuna warns that heartbeats are meant for Study.optimize; this loop records them itself
    # (Heartbeat) and fails stale trials before every claim, which is what optimize does.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        return study.ask()


def enqueue_uniform(study: optuna.Study, config: Config, dim: int, num_features: int) -> None:
    """Queues the uniform trial (slot 0) unless it is finished, running or queued already."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
    if any(t.user_attrs.get("slot") == 0 for t in study.get_trials(deepcopy=False, states=states)):
        return
    theta = uniform_theta(num_features, dim // num_features - 1)
    study.enqueue_trial(
        {n: float(v) for n, v in zip(study_param_names(study, dim), theta, strict=True)},
        user_attrs={"slot": 0, "seed": config.search.seed, "outer": config.search.outer},
        skip_if_exists=False,
    )


def _slot(trial: Any) -> int:
    return int(trial.user_attrs.get("slot", trial.number))


def _done(trials: list[Any]) -> list[Any]:
    """Finished trials (COMPLETE or PRUNED: a pruned trial is done, never requeued)."""
    return [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]


def _complete_slots(study: optuna.Study) -> set[int]:

    return {_slot(t) for t in _done(study.get_trials(deepcopy=False))}


NOT_REQUEUED = ("surplus", "duplicate", "error", "interrupted")
"""User attributes of FAIL trials that are not re-run: claims past the budget, copies of a
finished slot, trials whose evaluation raised, trials of a run that was resumed."""


def _owed(trial: Any, trials: list[Any], now: datetime, options: WorkerOptions) -> bool:
    """A trial just failed as dead whose copy may not be queued yet.

    Failing a trial and queueing its copy are two writes; between them the slot must still
    count as taken, or another worker opens a new slot and the killed one is never re-run.
    After ``grace`` seconds without a copy (the failing process died in between) it is
    released.
    """
    from optuna.trial import TrialState

    if trial.state != TrialState.FAIL or "slot" not in trial.user_attrs:
        return False
    if any(key in trial.user_attrs for key in NOT_REQUEUED):
        return False
    if len(trial.system_attrs.get("retry_history", [])) >= options.max_retry:
        return False
    if any(trial.number in t.system_attrs.get("retry_history", []) for t in trials):
        return False  # its copy exists
    end = trial.datetime_complete
    return end is not None and (now - end).total_seconds() < options.grace


def taken_slots(trials: list[Any], now: datetime, options: WorkerOptions) -> set[int]:
    """Slots finished, running, queued, or owed a requeue (:func:`_owed`)."""
    from optuna.trial import TrialState

    live = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
    return {_slot(t) for t in trials if t.state in live or _owed(t, trials, now, options)}


def fail_ownerless(study: optuna.Study, options: WorkerOptions) -> list[int]:
    """Fails and requeues RUNNING trials that never got an owner within ``grace`` seconds.

    A worker records a heartbeat and then its ``owner`` right after claiming; killed before
    that, its trial has no heartbeat, which Optuna's stale check skips, and no owner for a
    local parent to match. Returns the failed trial numbers.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    now = datetime.now()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        start = trial.datetime_start
        if "owner" in trial.user_attrs or start is None:
            continue
        if (now - start).total_seconds() < options.grace:
            continue
        try:
            if study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                requeue(study, study._storage.get_trial(trial._trial_id), options.max_retry)
                failed.append(trial.number)
        except UpdateFinishedTrialError:  # another worker failed it first
            continue
    if failed:
        logger.warning("trials %s were claimed by a worker that died at once; requeued", failed)
    return failed


def retire_leftovers(study: optuna.Study) -> None:
    """Once the budget is finished, queued copies are not needed: recorded FAIL (surplus)."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        try:
            study._storage.set_trial_user_attr(trial._trial_id, "surplus", True)
            study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        except (UpdateFinishedTrialError, RuntimeError):  # popped or retired meanwhile
            continue


def _claim(
    study: optuna.Study,
    budget: int,
    options: WorkerOptions,
    heartbeat: Heartbeat,
    stop: Callable[[list[Any]], bool] | None = None,
) -> optuna.Trial | None:
    """A RUNNING trial to evaluate, or None once the budget of slots is finished (or
    ``stop(trials)``, the stopping rule, says the search may end).

    Queued trials (the uniform one, requeued ones) come first: ``ask`` pops them. A new trial
    whose slot would exceed the budget is recorded FAIL (``surplus``) and not evaluated; while
    the budget is taken but not finished the worker waits, in case a running trial dies.
    """
    from optuna.trial import TrialState

    waited = 0.0
    while True:
        fail_stale(study)
        fail_ownerless(study, options)
        trials = study.get_trials(deepcopy=False)
        done = {_slot(t) for t in _done(trials)}
        if len(done) >= budget or (stop is not None and stop(trials)):
            retire_leftovers(study)
            return None
        taken = taken_slots(trials, datetime.now(), options)
        if len(taken) >= budget and not any(t.state == TrialState.WAITING for t in trials):
            if waited >= 60:  # say what the study is waiting for, once a minute
                running = [t.number for t in trials if t.state == TrialState.RUNNING]
                logger.info("budget taken; waiting for running trials %s", running)
                waited = 0.0
            time.sleep(options.poll)  # the last trials are running: one of them may die
            waited += options.poll
            continue
        trial = _ask(study)
        heartbeat.beat(trial._trial_id)
        trial.set_user_attr("owner", owner_name())
        if "slot" in trial.user_attrs:  # a queued trial: uniform or requeued
            if trial.user_attrs["slot"] in _complete_slots(study):
                _drop(study, trial, "duplicate")  # its slot finished meanwhile
                continue
            return trial
        earlier = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number]
        if len(taken_slots(earlier, datetime.now(), options)) >= budget:
            _drop(study, trial, "surplus")  # other workers took the last slots meanwhile
            continue
        trial.set_user_attr("slot", trial.number)
        return trial


def _drop(study: optuna.Study, trial: optuna.Trial, reason: str) -> None:
    from optuna.trial import TrialState

    trial.set_user_attr(reason, True)
    study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)


REPEAT_SOBOL_OFFSET = 1 << 20
"""Where the Sobol points that replace a repeated proposal start: far past the start-up
points (index ``slot - 1``), so a replacement is never one of them."""


def _theta_of_claim(
    study: optuna.Study, trial: optuna.Trial, outer: Any, dim: int, config: Config
) -> np.ndarray:
    """The claimed trial's theta: its queued values, else a proposal for its slot."""
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState

    names = study_param_names(study, dim)
    frozen = study._storage.get_trial(trial._trial_id)
    fixed = frozen.system_attrs.get("fixed_params", {})
    if set(names) <= set(frozen.params) | set(fixed):  # queued with its theta
        return np.array([trial.suggest_float(n, 0.0, 1.0) for n in names])
    slot = _slot(trial)
    outer_seed = config.search.seed
    finished = _done(study.get_trials(deepcopy=False))
    history = outer_history(sorted(finished, key=lambda t: t.number), dim)
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    pending = [
        theta_of(t, dim)
        for t in running
        if t.number != trial.number and set(names) <= set(t.params)
    ]
    theta, attrs = outer.suggest(history, slot, pending)
    # Two workers proposing at the same moment see neither each other's claim (a theta is
    # written after its proposal) and, from the same history, a GP can put both on one point
    # (often a corner of the box). Read what is taken now and replace a repeat by a Sobol
    # point drawn for this slot: no theta is scored twice.
    taken = [t.theta for t in history] + pending
    taken += [
        theta_of(t, dim)
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if t.number != trial.number and set(names) <= set(t.params)
    ]
    redraw = 0
    while any(np.allclose(theta, other, rtol=0.0, atol=1e-9) for other in taken):
        theta, attrs = sobol_point(dim, REPEAT_SOBOL_OFFSET + 64 * slot + redraw, outer_seed), {}
        redraw += 1
    dist = FloatDistribution(0.0, 1.0)
    for key, value in attrs.items():  # before the params: a requeued copy carries both
        study._storage.set_trial_system_attr(trial._trial_id, key, value)
    for key, value in {"seed": config.search.seed, "outer": config.search.outer}.items():
        trial.set_user_attr(key, value)
    for name, value in zip(names, theta, strict=True):
        study._storage.set_trial_param(
            trial._trial_id, name, dist.to_internal_repr(float(value)), dist
        )
    return np.asarray(theta, dtype=np.float64)


def trial_loop(
    study: optuna.Study,
    config: Config,
    inner: InnerLoop,
    *,
    worker: int | str,
    options: WorkerOptions | None = None,
    paths: RunPaths | None = None,
) -> int:
    """Claims, scores and records trials until the study's budget of slots is finished.

    ``paths``: the run directory where synchronous halving's screening trials save their
    states (none saved without it: the promotion rounds then fine-tune them again).

    Returns:
        The number of trials this worker scored.
    """
    from optuna.exceptions import UpdateFinishedTrialError

    from swift_sampler.search.setup import template_spec

    options = options or WorkerOptions()
    heartbeat = Heartbeat(study._storage, options.heartbeat)
    spec0 = template_spec(config)
    dim = spec0.num_params
    s = config.search
    outer = outer_loop_for(config, dim)
    pruning = Pruning.from_config(config)

    def competitors() -> list[Any]:
        return sorted(_done(study.get_trials(deepcopy=False)), key=lambda t: t.number)

    def stop(trials: list[Any]) -> bool:
        by_slot = sorted(_done(trials), key=_slot)
        return stopping_rule_met(
            [t.value if t.state.name == "COMPLETE" else None for t in by_slot],
            startup=startup_count(config),
            patience=s.patience,
            min_improvement=s.min_improvement,
        )

    scored = 0
    while True:
        t0 = clock.now()
        trial = _claim(study, s.trials, options, heartbeat, stop)
        if trial is None:
            return scored
        with heartbeat.keep(trial._trial_id):
            try:
                theta = _theta_of_claim(study, trial, outer, dim, config)
            except UpdateFinishedTrialError:  # failed as dead meanwhile (a stalled worker)
                continue
            score, _ = evaluate_and_tell(
                study,
                trial,
                inner,
                spec0.with_theta(theta),
                clock.now() - t0,
                pruning=pruning,
                competitors=competitors,
                paths=paths,
                worker=worker,
            )
        scored += 1
        logger.debug("worker %s trial %d: val %.4f", worker, trial.number, score.score)


def _worker(config: Config, run_dir: str, url: str, threads: int, index: int) -> None:
    import optuna
    import torch

    from swift_sampler.search.rundir import RunPaths
    from swift_sampler.search.setup import build_experiment, build_inner_loop, template_spec

    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    paths = RunPaths(Path(run_dir))
    study = optuna.load_study(study_name=config.search.study_name, storage=make_storage(url))
    experiment = build_experiment(config)
    inner = build_inner_loop(config, experiment.trainer)
    inner.load_shared_start(paths.shared, study.user_attrs["shared_sha256"])
    prepare_shared_features(study, inner, paths, template_spec(config))
    trial_loop(study, config, inner, worker=index, paths=paths)


def _requeue_dead(study: optuna.Study, owner: str, max_retry: int) -> list[int]:
    """Fails the RUNNING trials of a dead local worker and queues a copy of each."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    requeued = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get("owner") != owner:
            continue
        try:
            failed = study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        except UpdateFinishedTrialError:  # failed as stale by a heartbeat check already
            continue
        if failed and requeue(study, study._storage.get_trial(trial._trial_id), max_retry):
            requeued.append(trial.number)
    return requeued


def run_workers(
    config: Config,
    run_dir: Path,
    url: str,
    *,
    workers: int,
    threads_per_worker: int,
    poll: Callable[[], None] | None = None,
    max_restarts: int | None = None,
) -> None:
    """Runs ``workers`` processes (spawned) until the study holds its budget of slots.

    A worker killed by a signal (SIGKILL, the OOM killer) has its running trial failed and
    requeued, and a new worker takes its place (at most ``max_restarts`` times, default
    ``workers``). A worker that exits with an error stops the run: the others are terminated
    and the error reported; ``--resume`` continues.

    Args:
        poll: called about once a second while the workers run (progress reporting).

    Raises:
        RuntimeError: if a worker process fails, or is killed more than ``max_restarts`` times.
    """
    import optuna

    context = multiprocessing.get_context("spawn")
    study = optuna.load_study(study_name=config.search.study_name, storage=make_storage(url))
    restarts_left = workers if max_restarts is None else max_restarts
    host = socket.gethostname()

    def start(index: int) -> multiprocessing.process.BaseProcess:
        process = context.Process(
            target=_worker,
            args=(config, str(run_dir), url, threads_per_worker, index),
            name=f"swift-sampler-worker-{index}",
        )
        process.start()
        return process

    processes = {index: start(index) for index in range(workers)}
    try:
        while processes:
            for index, process in list(processes.items()):
                process.join(timeout=1.0 / len(processes))
                if process.exitcode is None:
                    continue
                del processes[index]
                if process.exitcode == 0:
                    continue
                if process.exitcode > 0:
                    raise RuntimeError(
                        f"worker process {process.name} failed (exit code {process.exitcode}); "
                        "rerun with --resume"
                    )
                requeued = _requeue_dead(study, f"{host}:{process.pid}", WorkerOptions().max_retry)
                logger.warning(
                    "worker %d was killed (signal %d); trials %s requeued",
                    index,
                    -process.exitcode,
                    requeued,
                )
                if restarts_left <= 0:
                    raise RuntimeError(
                        f"worker processes were killed too often ({process.name}, signal "
                        f"{-process.exitcode}); rerun with --resume"
                    )
                restarts_left -= 1
                processes[index] = start(index)
            if poll is not None:
                poll()
    except BaseException:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.join()
        raise
