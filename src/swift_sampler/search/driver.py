"""The search end to end: shared start, trials on an Optuna study, resume, the result files.

Every trial (theta, score, timings, state, seed) is recorded in an Optuna storage: SQLite in the
run directory by default, or any storage URL (``journal:///path`` selects Optuna's
JournalStorage on a file). A search killed at any moment (SIGKILL included) and started again
with ``resume=True`` keeps every finished trial, re-runs the one that was running (it is marked
FAIL and its slot proposed again), reuses the shared checkpoint after checking its hash, and
ends with the same best theta as an uninterrupted run: the proposal for slot k depends only on
the finished trials of slots 0..k-1 and the seed (see ``search.outer``), and a trial's score
only on its theta and the seed. With a pruner (``search.pruner``) "finished" means COMPLETE or
PRUNED, and whether slot k is pruned depends only on its own intermediate values and the
finished trials of slots 0..k-1 (``search.pruning``), so the same holds. The stopping rule
(``search.patience``) reads the same finished trials, so a resumed search stops where an
uninterrupted one does.

Module layout: this driver imports ``search.workers`` (parallel trials), ``search.halving``
(synchronous halving's promotion rounds) and ``search.study`` (the records all of them read
and write); none imports the driver.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from swift_sampler import distributed
from swift_sampler._io import disk_full_error, is_disk_full
from swift_sampler.config import MISSING, added_default, start_problems
from swift_sampler.errors import ConfigError, DiskFullError, InputDataError, RunFileError
from swift_sampler.family import uniform_theta
from swift_sampler.search import clock
from swift_sampler.search.halving import apply_rounds, remove_paused, run_rounds
from swift_sampler.search.objective import InnerLoop
from swift_sampler.search.outer import outer_loop_for, startup_count
from swift_sampler.search.pruning import Pruning, check_pruning
from swift_sampler.search.rundir import RunPaths, locked, write_npz, write_text
from swift_sampler.search.setup import (
    Experiment,
    build_experiment,
    build_inner_loop,
    template_spec,
)
from swift_sampler.search.study import (
    SearchResult,
    TrialRecord,
    best_complete,
    evaluate_and_tell,
    finished_trials,
    outer_history,
    prepare_shared_features,
    record_param_names,
    record_shared_start,
    search_result,
    stopping_rule_met,
    study_param_names,
    trial_record,
    write_outputs,
)
from swift_sampler.search.workers import (
    check_directory,
    check_journal,
    enqueue_uniform,
    journal_file,
    journal_storage,
    run_workers,
    storage_problem,
)

if TYPE_CHECKING:
    import optuna

    from swift_sampler.config import Config

__all__ = [
    "ProgressFactory",
    "SearchResult",
    "TrialRecord",
    "open_study",
    "run_search",
    "search_result",
]

logger = logging.getLogger(__name__)


class ProgressBar(Protocol):
    def update(self, n: int = 1) -> None: ...

    def close(self) -> None: ...


class ProgressFactory(Protocol):
    """Makes a progress bar for a phase; the CLI passes tqdm, the library default is silent."""

    def __call__(self, description: str, total: int) -> ProgressBar: ...


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _silent(description: str, total: int) -> ProgressBar:
    return _Silent()


def _storage(url: str) -> Any:
    if url.startswith("journal:///"):
        return journal_storage(url)
    return url


def check_storage(url: str) -> None:
    """Refuses a storage file that cannot be opened, before anything is created: a
    ``sqlite:///`` or ``journal:///`` file in a directory that does not exist, or an existing
    file that is not an Optuna journal (:func:`search.workers.check_journal`)."""
    if url.startswith("journal:///"):
        check_journal(url)
        return
    db = _sqlite_file(url)
    if db is not None and not str(db).startswith("file:"):  # not SQLite's URI form
        check_directory(url, db)


def storage_url(paths: RunPaths, config: Config, *, workers: int = 1) -> str:
    """The run's storage URL: the config's, else the run directory's default."""
    return config.search.storage or paths.default_storage(workers)


def _sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (None for other storages or in-memory)."""
    if not url.startswith("sqlite:///") or url in ("sqlite://", "sqlite:///:memory:"):
        return None
    return Path(url[len("sqlite:///") :].split("?", 1)[0])


def _journal_file(url: str) -> Path | None:
    """The file of a ``journal:///`` URL (None for other storages)."""
    return journal_file(url) if url.startswith("journal:///") else None


def _damaged(db: Path, detail: str) -> RunFileError:
    return RunFileError(
        f"the study {db} is damaged ({detail}), so the search cannot be resumed from it; "
        f"start a new search in another --run-dir (or move {db.name} and config.toml out of "
        f"{db.parent}), or restore {db.name} from a backup"
    )


def check_sqlite_study(db: Path) -> None:
    """Raises RunFileError if the SQLite file ``db`` exists but is not a sound database.

    Catches a file that is not SQLite (a text file in its place), a truncated one and
    overwritten pages (``PRAGMA quick_check``), before Optuna meets them mid-search.
    """
    if not db.exists():
        return
    if not db.is_file():
        raise _damaged(db, "it is not a file")
    with open(db, "rb") as handle:
        header = handle.read(16)
    if header and header != b"SQLite format 3\x00":
        raise _damaged(db, "it is not an SQLite database")
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check")]
        finally:
            conn.close()
    except sqlite3.OperationalError as err:
        if "locked" in str(err) or "busy" in str(err):
            return  # another process holds it (a worker, a writer): in use, not damaged
        raise _damaged(db, str(err)) from None
    except sqlite3.DatabaseError as err:
        raise _damaged(db, str(err)) from None
    if rows != ["ok"]:
        raise _damaged(db, "; ".join(str(r) for r in rows[:3]))


_FULL_MESSAGES = ("database or disk is full", "disk is full")
_DAMAGED_MESSAGES = ("malformed", "not a database", "file is encrypted")


@contextmanager
def storage_errors(url: str, paths: RunPaths) -> Iterator[None]:
    """Turns the storage's errors for a full disk or a damaged SQLite file into ours.

    Optuna reports both as ``StorageInternalError`` ("invalid data in the commit") with the
    SQLite error as its cause; the message then says what happened and to which file.
    """
    try:
        yield
    except (DiskFullError, RunFileError, ConfigError):
        raise
    except Exception as err:
        ours = _storage_error(err, url, paths)
        if ours is None:
            raise
        raise ours from err


def _storage_error(err: BaseException, url: str, paths: RunPaths) -> Exception | None:
    """Our error for a storage error caused by a full disk or a damaged SQLite file."""
    db = _sqlite_file(url)
    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        text = str(cause).lower()
        if is_disk_full(cause) or (
            isinstance(cause, sqlite3.Error) and any(m in text for m in _FULL_MESSAGES)
        ):
            return disk_full_error(db or _journal_file(url) or paths.root / "study", cause)
        if (
            db is not None
            and isinstance(cause, sqlite3.DatabaseError)
            and any(m in text for m in _DAMAGED_MESSAGES)
        ):
            return _damaged(db, str(cause).splitlines()[0])
        cause = cause.__cause__ or cause.__context__
    return None


def open_study(paths: RunPaths, config: Config, *, create: bool, workers: int = 1) -> optuna.Study:
    """Opens (or creates) the run's study and checks it belongs to this config.

    Raises:
        RunFileError: if the study is an SQLite file that is damaged.
    """
    import optuna

    url = storage_url(paths, config, workers=workers)
    db = _sqlite_file(url)
    if db is not None:
        check_sqlite_study(db)
    if not url.startswith(("sqlite://", "postgresql", "mysql", "journal:///")):
        raise ConfigError(
            f"search.storage must be an Optuna storage URL (sqlite:///..., postgresql://..., "
            f"mysql://... or journal:///path), got {url!r}"
        )
    name = config.search.study_name
    storage = _storage(url)
    if create:
        try:
            existing = optuna.get_all_study_names(storage)
        except Exception as err:  # SQLAlchemy / driver errors for a bad URL
            ours = _storage_error(err, url, paths)
            if ours is not None:
                raise ours from err
            raise ConfigError(
                f"cannot open the study storage {url!r}: {storage_problem(err)}"
            ) from None
        if name in existing:
            raise ConfigError(
                f"a study named {name!r} already exists in {url}; resume it from its run "
                "directory with --resume, or set another search.study_name"
            )
        study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    else:
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            raise ConfigError(f"no study named {name!r} in {url}: nothing to resume") from None
    saved = study.user_attrs.get("fingerprint")
    if saved is None:  # a new study (or one killed before its fingerprint was written)
        record_param_names(study, config)
        study.set_user_attr("fingerprint", config.fingerprint())
        study.set_user_attr("config", config.to_dict())
    elif saved != config.fingerprint():
        raise ConfigError(
            f"the study in {url} was made with another configuration (fingerprint "
            f"{saved[:12]}..., this config {config.fingerprint()[:12]}...)"
            f"{_changed_keys(study.user_attrs.get('config'), config)}; resume with the "
            "same config or start a new run directory"
        )
    return study


def _changed_keys(saved: Any, config: Config) -> str:
    """``": search.trials 20 -> 5, ..."``: the keys where ``config`` differs from the
    study's stored config (empty when the study stored none), with a hint when the
    difference is the swift preset that a config without search keys now gets."""
    if not isinstance(saved, dict):
        return ""
    changed = []
    for name, section in config.to_dict().items():
        stored = saved.get(name)
        if not isinstance(stored, dict):
            continue
        for key, value in section.items():
            # A key added after the study was stored had its default then.
            old = stored[key] if key in stored else added_default(name, key)
            if old is not MISSING and old != value:
                changed.append(f"{name}.{key} {old!r} -> {value!r}")
    if not changed:
        return ""
    shown = ", ".join(changed[:6]) + (f" and {len(changed) - 6} more" if len(changed) > 6 else "")
    hint = ""
    if saved.get("search", {}).get("preset") is None and config.search.preset == "swift":
        hint = (
            " (this config reads as the swift preset, the default since 2026-12-02 of a config "
            "without search keys of its own; set search.preset = 'none' to resume the full "
            "search)"
        )
    return f": {shown}{hint}"


def _fail_stale(study: optuna.Study) -> int:
    """Marks RUNNING and WAITING trials FAIL: the run directory is locked, so they belong to a
    dead run (WAITING: killed between enqueueing a trial and starting it)."""
    from optuna.trial import TrialState

    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
    for trial in stale:
        # Not re-run as such (workers would otherwise wait for its copy): its slot is.
        study._storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        logger.warning(
            "trial %d (slot %s) was interrupted; it will be re-run",
            trial.number,
            trial.user_attrs.get("slot"),
        )
    return len(stale)


def _shared_start(
    paths: RunPaths,
    study: optuna.Study,
    inner: InnerLoop,
    progress: ProgressFactory,
) -> None:
    digest = study.user_attrs.get("shared_sha256")
    if digest is not None and paths.shared.exists():
        inner.load_shared_start(paths.shared, digest)  # raises if the hash differs
        logger.info("reusing the shared start %s (sha256 %s)", paths.shared, digest)
        return
    if digest is not None:
        logger.warning("shared checkpoint %s is missing; training it again", paths.shared)
    bar = progress("shared start", inner.shared_epochs)
    try:
        shared = inner.train_shared_start(paths.shared, on_epoch=lambda _: bar.update())
    finally:
        bar.close()
    study.set_user_attr("shared_sha256", shared.sha256)
    record_shared_start(study, shared)


def run_search(
    config: Config,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: ProgressFactory | None = None,
    on_trial: Callable[[TrialRecord], None] | None = None,
    experiment: Experiment | None = None,
    workers: int = 1,
    threads_per_worker: int = 1,
) -> SearchResult:
    """Runs (or resumes) the search of ``config`` in ``run_dir``.

    Args:
        config: the run configuration.
        run_dir: the run directory; created if missing. Without ``resume`` it must not
            already hold a search.
        resume: continue the search found in ``run_dir`` (same config required).
        progress: progress-bar factory (default: silent).
        on_trial: called after each finished trial.
        experiment: prebuilt data and trainer (default: built from the config); with
            several workers each builds its own from the config.
        workers: trial processes (``search.workers``); more than one needs a storage that
            takes concurrent writers (the default then is a JournalStorage file).
        threads_per_worker: torch threads of each worker process.

    Returns:
        The best theta, its validation score and the spec, every finished trial, the cost.

    Raises:
        ConfigError: on a run directory that conflicts with ``resume``, a changed config, or a
            shared checkpoint whose hash does not match the study.
    """

    progress = progress or _silent
    paths = RunPaths(Path(run_dir))
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if workers > 1 and distributed.world_size() > 1:
        raise ConfigError(
            "under torchrun a search runs its trials one at a time, data-parallel over the "
            "ranks; for several trials at once start one `swift-sampler worker` per group of "
            "ranks instead of --workers"
        )
    if workers > 1 and experiment is not None:
        raise ConfigError("parallel workers build their experiment from the config")
    check_pruning(config, workers=workers, world_size=distributed.world_size())
    problems = start_problems(config)  # a config changed with dataclasses.replace
    if problems:
        raise ConfigError("; ".join(problems))
    if not resume:  # before the storage is chosen: a half-made journal must not pick it
        _clear_half_made(paths, config)
    url = storage_url(paths, config, workers=workers)
    if workers > 1 and url.startswith("sqlite"):
        raise ConfigError(
            f"{workers} workers cannot share the SQLite study {url} (it locks under concurrent "
            "writers); use a journal:/// or PostgreSQL storage, or start a new run directory"
        )
    if config.search.storage is not None:  # before the data is loaded and the run dir made
        check_storage(url)
    has_study = paths.holds_search()
    if resume and not has_study:
        raise ConfigError(f"nothing to resume in {paths.root}: it holds no search")
    if not resume and has_study:
        raise ConfigError(
            f"{paths.root} already holds a search; pass --resume to continue it or choose "
            "another run directory"
        )
    db = _sqlite_file(url)
    if resume and db is not None:
        if not db.exists():  # opening it would create an empty one, which blocks a restart
            raise RunFileError(
                f"the study {db} is missing, so the search in {paths.root} cannot be resumed; "
                f"restore {db.name} from a backup, or start a new search in another --run-dir "
                f"(or move config.toml out of {paths.root})"
            )
        check_sqlite_study(db)  # before the data is loaded: fail fast
    journal = _journal_file(url)
    if resume and journal is not None and not journal.exists():  # opening it creates it
        raise RunFileError(
            f"the study journal {journal} is missing, so the search in {paths.root} cannot be "
            f"resumed; restore {journal.name} from a backup, or start a new search in another "
            f"--run-dir (or move config.toml out of {paths.root})"
        )
    # Everything that can fail on bad input (data, model, spec) is built before the run
    # directory is touched, so a bad config leaves nothing behind.
    experiment = experiment or build_experiment(config)
    spec0 = template_spec(config)
    if paths.root.exists() and not paths.root.is_dir():
        raise ConfigError(f"run directory {paths.root} exists and is not a directory")
    # The directories made here (runs/ too, for the default runs/NAME), removed again if the
    # study cannot be created.
    made = [d for d in (paths.root, *paths.root.parents) if not d.exists()]
    paths.root.mkdir(parents=True, exist_ok=True)
    with locked(paths), storage_errors(url, paths):
        try:
            study = open_study(paths, config, create=not resume, workers=workers)
            if not paths.config.exists():
                write_text(paths.config, config.to_toml())
        except BaseException as err:
            # Interrupted (Ctrl-C) or failed while creating the study: nothing of value was
            # written yet, so leave no half-made run behind; a rerun starts it afresh (a study
            # file without config.toml, or the reverse, could be neither resumed nor restarted).
            if not resume:
                # A ConfigError here may be "that study exists": never delete another's study.
                external = not isinstance(err, ConfigError)
                _undo_creation(paths, config, url, made=made, external=external)
            raise
        _fail_stale(study)
        dim = spec0.num_params
        s = config.search
        inner = build_inner_loop(config, experiment.trainer)
        _shared_start(paths, study, inner, progress)
        prepare_shared_features(study, inner, paths, spec0)
        pruning = Pruning.from_config(config)
        outer = outer_loop_for(config, dim)
        finished = finished_trials(study, dim)
        bar = progress("trials", s.trials)
        bar.update(len(finished))
        carry = (
            clock.ZERO
        )  # storage time after a trial's score, charged to the next trial's "outer"
        try:
            if workers > 1 and len(finished) < s.trials:
                _parallel(study, config, paths, url, workers, threads_per_worker, bar, on_trial)
                finished = finished_trials(study, dim)
            while len(finished) < s.trials and not _stopped(finished, config):
                slot = len(finished)
                used = {int(t.user_attrs["slot"]) for t in finished}
                if slot in used:  # a parallel run numbered its slots by trial number
                    slot = max(used) + 1
                t0 = clock.now() - carry
                attrs: dict[str, Any]
                if slot == 0:
                    theta, attrs = uniform_theta(len(spec0.features), spec0.num_segments), {}
                else:
                    theta, attrs = outer.suggest(outer_history(finished, dim), slot)
                trial = _start_trial(study, theta, slot, attrs, config)
                score, seconds = evaluate_and_tell(
                    study,
                    trial,
                    inner,
                    spec0.with_theta(theta),
                    clock.now() - t0,
                    pruning=pruning,
                    # slot k's pruner sees slots 0..k-1, whatever was killed and re-run
                    competitors=partial(list, finished),
                    paths=paths,
                )
                t1 = clock.now()
                finished = finished_trials(study, dim)
                carry = clock.now() - t1
                bar.update()
                record = TrialRecord(
                    number=trial.number,
                    slot=slot,
                    theta=tuple(float(x) for x in theta),
                    score=score.score,
                    seconds=seconds,
                    state="PRUNED" if score.pruned else "COMPLETE",
                    epochs=score.epochs,
                    best_score=best_complete(finished),
                )
                logger.debug("trial %d: val %.4f", slot, score.score)
                if on_trial is not None:
                    on_trial(record)
        finally:
            bar.close()
        result = search_result(study, config, paths)
        if pruning is not None and pruning.synchronous:
            rounds = run_rounds(study, config, inner, paths, spec0)
            result = apply_rounds(result, rounds, study, config)
        write_outputs(result, study, config)
        remove_paused(paths)
        try:
            arrays = inner.figure1(result.spec, experiment.noise_mask)
        except InputDataError as err:  # e.g. two classes: no Er, no (loss, Er) plane
            logger.warning("no Figure 1 for this run: %s", err)
        else:
            write_npz(paths.figure1_data, arrays)
    return result


def _clear_half_made(paths: RunPaths, config: Config) -> None:
    """Deletes a study that a killed creation left in the run directory without config.toml.

    The creation below writes the study, then config.toml; an exception between the two is
    undone there, but a SIGKILL or SIGTERM is not, and left a directory that held a search for
    the resume check ("pass --resume") yet nothing to resume from. Such a study is deleted
    only when it is this config's own and empty (:func:`_abandoned`), under the run
    directory's lock (a creation in progress in another ``search`` holds it: that one is
    refused, not deleted); anything else is left alone and refused as before.
    """
    if paths.config.exists():
        return
    files = [f for f in (paths.study_db, paths.study_journal) if f.exists()]
    if not files or not all(_abandoned(f, config) for f in files):
        return  # before the lock: a directory that is not ours gets no lock file either
    with locked(paths):
        if paths.config.exists() or not all(_abandoned(f, config) for f in files):
            return
        logger.warning(
            "%s holds an empty study of this config and no config.toml (a search killed while "
            "it was being created): starting it afresh",
            paths.root,
        )
        for path in _local_study_files(paths):
            path.unlink(missing_ok=True)


_OPTUNA_TABLES = frozenset(
    {
        "alembic_version",
        "studies",
        "study_directions",
        "study_system_attributes",
        "study_user_attributes",
        "trial_heartbeats",
        "trial_intermediate_values",
        "trial_params",
        "trial_system_attributes",
        "trial_user_attributes",
        "trial_values",
        "trials",
        "version_info",
    }
)
"""The tables of an Optuna SQLite storage (Optuna 5)."""


def _abandoned(path: Path, config: Config) -> bool:
    """True when the study file ``path`` (SQLite, or an Optuna journal) is an Optuna storage
    whose studies (none, or some) are all named as ``config``'s, carry its fingerprint or none,
    and hold no trial: what a killed creation of this search leaves. False for anything else,
    or a file that cannot be read."""
    import json

    name, fingerprint = config.search.study_name, config.fingerprint()
    try:
        if path.suffix == ".db":
            # A creation killed mid-commit leaves a hot rollback journal, which a read-only
            # connection cannot roll back; under the run directory's lock a writable one may.
            hot = path.with_name(path.name + "-journal").exists()
            uri = path.resolve().as_uri() + ("" if hot else "?mode=ro")
            with closing(sqlite3.connect(uri, uri=True)) as db:
                tables = {
                    r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                }
                if not tables <= _OPTUNA_TABLES:  # someone else's database
                    return False
                if "trials" in tables and db.execute("SELECT COUNT(*) FROM trials").fetchone()[0]:
                    return False
                names = set()
                if "studies" in tables:
                    names = {r[0] for r in db.execute("SELECT study_name FROM studies")}
                prints = set()
                if "study_user_attributes" in tables:
                    query = (
                        "SELECT value_json FROM study_user_attributes WHERE key = 'fingerprint'"
                    )
                    prints = {json.loads(r[0]) for r in db.execute(query)}
        else:
            storage = journal_storage(f"journal:///{path.resolve()}")
            studies = storage.get_all_studies()
            if any(storage.get_all_trials(s._study_id, deepcopy=False) for s in studies):
                return False
            names = {s.study_name for s in studies}
            prints = {
                s.user_attrs["fingerprint"] for s in studies if "fingerprint" in s.user_attrs
            }
    except Exception:  # unreadable: not ours to delete
        return False
    return names <= {name} and prints <= {fingerprint}


def _local_study_files(paths: RunPaths) -> tuple[Path, ...]:
    """The files of a study kept in the run directory (SQLite or journal, with their side
    files)."""
    return (
        paths.study_db,
        paths.root / "study.db-journal",
        paths.study_journal,
        paths.root / "study.journal.lock",
    )


def _undo_creation(
    paths: RunPaths, config: Config, url: str, *, made: list[Path], external: bool
) -> None:
    """Deletes what an interrupted study creation left: the study files, config.toml, with
    ``external`` an external storage's study of this very config that has no trial yet, the
    lock file, and the directories in ``made`` (the run directory and the parents this call
    created, deepest first) that are empty."""
    with suppress(Exception):
        if (
            external
            and _sqlite_file(url) != paths.study_db.resolve()
            and not url.startswith(f"journal:///{paths.study_journal.resolve()}")
        ):
            import optuna

            name = config.search.study_name
            storage = _storage(url)
            study = optuna.load_study(study_name=name, storage=storage)
            mine = study.user_attrs.get("fingerprint") == config.fingerprint()
            if mine and not study.get_trials(deepcopy=False):
                optuna.delete_study(study_name=name, storage=storage)
    for path in (*_local_study_files(paths), paths.config, paths.lock):
        path.unlink(missing_ok=True)
    for directory in made:
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()


def _stopped(finished: list[optuna.trial.FrozenTrial], config: Config) -> bool:
    """The stopping rule (``search.patience``) on the finished trials, by slot."""
    from optuna.trial import TrialState

    s = config.search
    return stopping_rule_met(
        [t.value if t.state == TrialState.COMPLETE else None for t in finished],
        startup=startup_count(config),
        patience=s.patience,
        min_improvement=s.min_improvement,
    )


def _parallel(
    study: optuna.Study,
    config: Config,
    paths: RunPaths,
    url: str,
    workers: int,
    threads_per_worker: int,
    bar: ProgressBar,
    on_trial: Callable[[TrialRecord], None] | None,
) -> None:
    spec0 = template_spec(config)
    dim = spec0.num_params
    enqueue_uniform(study, config, dim, len(spec0.features))
    seen = {t.number for t in finished_trials(study, dim)}

    def poll() -> None:
        finished = finished_trials(study, dim)
        best = best_complete(finished)
        for t in finished:
            if t.number in seen:
                continue
            seen.add(t.number)
            bar.update()
            if on_trial is not None:
                on_trial(trial_record(t, dim, best_score=best))

    run_workers(
        config,
        paths.root,
        url,
        workers=workers,
        threads_per_worker=threads_per_worker,
        poll=poll,
    )
    poll()


def _start_trial(
    study: optuna.Study, theta: np.ndarray, slot: int, attrs: dict[str, Any], config: Config
) -> optuna.Trial:
    names = study_param_names(study, theta.size)
    study.enqueue_trial(
        {n: float(v) for n, v in zip(names, theta, strict=True)},
        user_attrs={"slot": slot, "seed": config.search.seed, "outer": config.search.outer},
        skip_if_exists=False,
    )
    trial = study.ask()
    if trial.user_attrs.get("slot") != slot:  # another enqueued trial was popped
        raise RuntimeError(
            f"the study handed out trial {trial.number} for slot "
            f"{trial.user_attrs.get('slot')}, expected slot {slot}"
        )
    for name in names:
        trial.suggest_float(name, 0.0, 1.0)
    for key, value in attrs.items():
        study._storage.set_trial_system_attr(trial._trial_id, key, value)
    return trial
