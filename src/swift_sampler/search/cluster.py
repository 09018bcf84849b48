"""``swift-sampler worker``: join one study from any number of machines.

Every worker runs :func:`search.workers.trial_loop` on the shared study; what this module adds
is joining it: the first worker creates the study from its config (the URL left out), later
ones read the config stored in the study, and the shared start is trained exactly once.

The shared-start lock: a side study ``NAME:shared-start`` whose lowest-numbered live trial is
the lock; the worker that moves it from WAITING to RUNNING (a compare-and-set in Optuna's
storages) trains, the others wait for the checkpoint's SHA-256 to appear in the study and
verify it when they load. If the trainer dies, its lock trial goes stale, is failed and
requeued, and another worker takes over.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import suppress
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swift_sampler.errors import ConfigError
from swift_sampler.search.pruning import check_pruning
from swift_sampler.search.study import (
    prepare_shared_features,
    record_param_names,
    record_shared_start,
    search_result,
    write_outputs,
)
from swift_sampler.search.workers import (
    Heartbeat,
    WorkerOptions,
    check_journal,
    enqueue_uniform,
    fail_ownerless,
    fail_stale,
    holds_optuna_tables,
    make_storage,
    owner_name,
    redact,
    retire_leftovers,
    retrying,
    trial_loop,
)

if TYPE_CHECKING:
    import optuna

    from swift_sampler.config import Config
    from swift_sampler.search.objective import InnerLoop

__all__ = ["SHARED_SUFFIX", "join_study"]

logger = logging.getLogger(__name__)

SHARED_SUFFIX = ":shared-start"
"""Suffix of the side study whose trials are the shared-start lock."""


def _config_of(study: optuna.Study, url: str) -> Config:
    from swift_sampler.config import parse_config

    saved = study.user_attrs.get("config")
    if saved is None:
        raise ConfigError(
            f"study {study.study_name!r} in {redact(url)} holds no swift-sampler config; "
            "start the first worker with --config"
        )
    config = parse_config(saved, source=f"study {study.study_name!r}")
    if config.fingerprint() != study.user_attrs.get("fingerprint"):
        raise ConfigError(
            f"study {study.study_name!r}: its stored config does not match its fingerprint"
        )
    return config


def _open_or_create(
    storage: Any, url: str, name: str, config: Config | None
) -> tuple[Any, Config]:
    import optuna

    if config is None:
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            raise ConfigError(
                f"no study named {name!r} in {redact(url)}; start the first worker with --config"
            ) from None
        return study, _config_of(study, url)
    # The URL is left out of the stored config: workers may reach one database under other
    # host names or credentials, and a password must not be written into the study.
    config = replace(config, search=replace(config.search, storage=None, study_name=name))
    study = retrying(
        lambda: optuna.create_study(
            storage=storage, study_name=name, direction="maximize", load_if_exists=True
        ),
        f"cannot create the study {name!r} in {redact(url)}",
    )
    if study.user_attrs.get("fingerprint") is None:
        record_param_names(study, config)
        study.set_user_attr("config", config.to_dict())
        study.set_user_attr("fingerprint", config.fingerprint())
    if study.user_attrs.get("fingerprint") != config.fingerprint():
        raise ConfigError(
            f"study {name!r} in {redact(url)} was made with another configuration; join it "
            "without --config (its config is stored in the study) or choose another --study"
        )
    return study, config


def _lock_study(storage: Any, name: str) -> optuna.Study:
    """The shared-start lock study; its creator queues the first lock trial."""
    import optuna
    from optuna.exceptions import DuplicatedStudyError
    from optuna.trial import TrialState

    def open_lock() -> optuna.Study:
        try:
            lock = optuna.create_study(storage=storage, study_name=name + SHARED_SUFFIX)
        except DuplicatedStudyError:
            return optuna.load_study(study_name=name + SHARED_SUFFIX, storage=storage)
        lock.add_trial(optuna.trial.create_trial(state=TrialState.WAITING))
        return lock

    return retrying(open_lock, "cannot create the shared-start lock study")


def _shared_start(
    study: optuna.Study,
    storage: Any,
    inner: InnerLoop,
    paths: Any,
    config: Config,
    options: WorkerOptions,
    heartbeat: Heartbeat,
) -> str:
    """Trains the shared start if this worker wins the lock, else waits for it; returns
    ``"trained"`` or ``"loaded"``.

    The lock is the lowest-numbered live trial of the side study: the worker whose
    WAITING -> RUNNING compare-and-set succeeds trains into a private file, marks the lock
    COMPLETE (which fails if it was declared dead meanwhile and another worker took over),
    then moves the file to ``shared.pt`` and publishes its hash, last.
    """
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    from swift_sampler.search.setup import template_spec

    lock = _lock_study(storage, study.study_name)
    announced = False
    empty_since: float | None = None
    while True:
        digest = study.user_attrs.get("shared_sha256")
        if digest is not None:
            if not paths.shared.exists():
                raise ConfigError(
                    f"the shared start of study {study.study_name!r} is trained, but "
                    f"{paths.shared} is missing: every worker's --run-dir must be the same "
                    "directory on a filesystem all machines see"
                )
            inner.load_shared_start(paths.shared, digest)  # raises if the hash differs
            return "loaded"
        fail_stale(lock)
        fail_ownerless(lock, options)
        now = datetime.now()
        live = [
            t
            for t in lock.get_trials(deepcopy=False)
            if t.state != TrialState.FAIL
            # a winner that died between finishing and publishing the hash
            and not (
                t.state == TrialState.COMPLETE
                and t.datetime_complete is not None
                and (now - t.datetime_complete).total_seconds() > options.grace
            )
        ]
        if not live:  # every lock trial failed (or the creator died before queueing one)
            empty_since = empty_since or time.monotonic()
            if time.monotonic() - empty_since > options.poll * 3 or lock.get_trials(
                deepcopy=False
            ):
                lock.add_trial(optuna.trial.create_trial(state=TrialState.WAITING))
                empty_since = None
            time.sleep(options.poll)
            continue
        empty_since = None
        target = min(live, key=lambda t: t.number)
        if target.state == TrialState.WAITING and storage.set_trial_state_values(
            target._trial_id, state=TrialState.RUNNING
        ):
            heartbeat.beat(target._trial_id)
            storage.set_trial_user_attr(target._trial_id, "owner", owner_name())
            private = paths.root / f".shared.lock{target.number}.{os.getpid()}.pt"
            with heartbeat.keep(target._trial_id):
                logger.info("training the shared start (%d epochs)", inner.shared_epochs)
                try:
                    shared = inner.train_shared_start(private)
                    storage.set_trial_state_values(
                        target._trial_id, state=TrialState.COMPLETE, values=[1.0]
                    )
                except UpdateFinishedTrialError:  # declared dead meanwhile: not ours any more
                    logger.warning("the shared-start lock was taken over; waiting instead")
                    private.unlink(missing_ok=True)
                    continue
                except BaseException:
                    private.unlink(missing_ok=True)
                    with suppress(UpdateFinishedTrialError):
                        storage.set_trial_state_values(target._trial_id, state=TrialState.FAIL)
                    raise
            os.replace(private, paths.shared)
            spec0 = template_spec(config)
            enqueue_uniform(study, config, spec0.num_params, len(spec0.features))
            record_shared_start(study, shared)
            study.set_user_attr("shared_sha256", shared.sha256)  # last: the signal
            retire_leftovers(lock)  # spare lock trials queued by racing workers
            return "trained"
        if not announced:
            logger.info("waiting for another worker's shared start")
            announced = True
        time.sleep(options.poll)


def _check_arguments(url: str, name: str, run_dir: Path, config: Config | None) -> None:
    """Refuses a bad study name, a run directory that cannot be made, a journal file that is
    not a journal, and (without a config) a journal that does not exist or a database without
    Optuna's tables; creates nothing."""
    from swift_sampler.config import check_value

    _, problem = check_value("search", "study_name", name)  # the rule of search.study_name
    if problem is not None:
        raise ConfigError(f"--study {problem}")
    for path in (run_dir, *run_dir.parents):  # the first one that exists must be a directory
        if path.exists():
            if not path.is_dir():
                where = "" if path == run_dir else f": {path}"
                raise ConfigError(f"--run-dir {run_dir}{where} is a file, not a directory")
            if not os.access(path, os.W_OK | os.X_OK):
                raise ConfigError(f"--run-dir {run_dir}: {path} is not writable")
            break
    if url.startswith("journal:///"):
        journal = check_journal(url)
        if config is None and not journal.exists():
            raise ConfigError(
                f"no study named {name!r} in {url} (the file does not exist); start the first "
                "worker with --config"
            )
    elif (
        config is None and url.startswith(("postgresql", "mysql")) and not holds_optuna_tables(url)
    ):
        raise ConfigError(
            f"no study named {name!r} in {redact(url)} (the database holds no Optuna "
            "study); start the first worker with --config"
        )


def join_study(
    url: str,
    study_name: str,
    run_dir: str | Path,
    *,
    config: Config | None = None,
    options: WorkerOptions | None = None,
    worker: str | None = None,
) -> dict[str, Any]:
    """One worker of a study shared by many machines (``swift-sampler worker``).

    Creates the study from ``config`` if it does not exist (a study that exists must have
    been made with the same config), else reads the config stored in the study. Trains the
    shared start if no other worker has (see the module docstring), then scores trials until
    the budget is finished, and writes ``result.json`` and ``sampler.json`` into ``run_dir``
    (every worker that finishes writes the same files, atomically).

    Args:
        url: ``postgresql://...`` (multi-machine) or ``journal:///path`` (one machine).
        study_name: the Optuna study.
        run_dir: where the shared checkpoint lives: the same directory for every worker, on a
            filesystem every machine sees.
        config: the run configuration, needed by the first worker only.
        options: heartbeat, grace period, polling.
        worker: a name for this worker in the trials' attributes (default host:pid).

    Returns:
        ``{"scored": trials this worker scored, "shared_start": "trained" or "loaded",
        "best_score": ..., "best_theta": [...]}``.
    """
    from swift_sampler.search.rundir import RunPaths, write_text
    from swift_sampler.search.setup import build_experiment, build_inner_loop, template_spec

    options = options or WorkerOptions()
    # Everything that can be refused is checked before the storage is opened: Optuna creates
    # a missing journal file, and the first worker writes the study into the storage.
    _check_arguments(url, study_name, Path(run_dir), config)
    experiment = None
    if config is not None:
        check_pruning(config, workers=2, shared_study=True)  # others may join: in parallel
        experiment = build_experiment(config)  # bad data or model: no study is created
    storage = make_storage(url, options)
    study, config = _open_or_create(storage, url, study_name, config)
    check_pruning(config, workers=2, shared_study=True)
    experiment = experiment or build_experiment(config)
    paths = RunPaths(Path(run_dir))
    paths.root.mkdir(parents=True, exist_ok=True)
    if not paths.config.exists():
        write_text(paths.config, config.to_toml())
    inner = build_inner_loop(config, experiment.trainer)
    heartbeat = Heartbeat(storage, options.heartbeat)
    how = _shared_start(study, storage, inner, paths, config, options, heartbeat)
    prepare_shared_features(study, inner, paths, template_spec(config))
    scored = trial_loop(study, config, inner, worker=worker or owner_name(), options=options)
    result = search_result(study, config, paths)
    write_outputs(result, study, config)
    return {
        "scored": scored,
        "shared_start": how,
        "best_score": result.best_score,
        "best_theta": list(result.best_theta),
        "best_slot": result.best_slot,
    }
