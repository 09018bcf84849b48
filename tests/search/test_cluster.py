"""Trials on several processes that die: PostgreSQL workers (heartbeat) and local workers.

Real processes, real storages: a throwaway PostgreSQL cluster (``conftest.postgres_url``) and
Optuna's JournalStorage file; workers are killed with SIGKILL in the middle of a trial or of
the shared start, and the study must still finish with every slot scored exactly once.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from swift_sampler.cli import EXIT_BAD_INPUT, main

CONFIG = """
[data]
name = "digits"
noise_rate = 0.3
[model]
name = "mlp"
[train]
epochs = {epochs}
lr = 0.1
[search]
trials = {trials}
startup_trials = 2
shared_epochs = {shared}
finetune_epochs = {finetune}
"""

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _config(tmp_path: Path, *, trials: int = 8, shared: int = 2, epochs: int = 8) -> Path:
    path = tmp_path / "cluster.toml"
    text = CONFIG.format(trials=trials, shared=shared, epochs=epochs, finetune=epochs - shared)
    path.write_text(text)
    return path


def _worker(tmp_path: Path, url: str, study: str, name: str, *extra: str) -> subprocess.Popen:
    with open(tmp_path / f"{name}.log", "w") as log:  # the child keeps its own descriptor
        return _popen(
            log,
            "1",
            "worker",
            "--storage",
            url,
            "--study",
            study,
            "--run-dir",
            str(tmp_path / "run"),
            "--heartbeat",
            "1",
            "--grace",
            "3",
            *extra,
        )


def _popen(log: Any, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "swift_sampler.cli", "--threads", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=ENV,
        text=True,
        start_new_session=True,
    )


def _reader(url: str) -> Any:
    """The test's own connection (retried: it may meet the workers' schema creation)."""
    from swift_sampler.search.workers import make_storage

    return make_storage(url)


def _wait_for_schema(url: str, processes: list[subprocess.Popen]) -> None:
    """Waits until the workers have created Optuna's tables (this test must not)."""
    import psycopg2

    def exists() -> bool:
        conn = psycopg2.connect(url.replace("postgresql+psycopg2", "postgresql"))
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT to_regclass('public.trials')")
            return cursor.fetchone()[0] is not None
        finally:
            conn.close()

    _wait_for(exists, processes)


def _trials(storage: Any, name: str) -> list[FrozenTrial]:
    try:
        return optuna.load_study(study_name=name, storage=storage).get_trials()
    except KeyError:  # not created yet
        return []


def _wait_for(
    condition: Callable[[], Any], processes: list[subprocess.Popen], seconds: float = 240
) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if any(p.poll() is not None for p in processes):
            break
        time.sleep(0.1)
    raise AssertionError(f"condition not met; exit codes {[p.poll() for p in processes]}")


def _owned_running(trials: list[FrozenTrial], pid: int) -> FrozenTrial | None:
    """A RUNNING trial of process ``pid`` whose theta is set, once another trial finished."""
    if not any(t.state == TrialState.COMPLETE for t in trials):
        return None
    for t in trials:
        owner = str(t.user_attrs.get("owner", ""))
        running = t.state == TrialState.RUNNING and owner.endswith(f":{pid}")
        if running and len(t.params) == 10:
            return t
    return None


def _kill_mid_trial(pid: int, running: Callable[[], FrozenTrial | None]) -> FrozenTrial | None:
    """SIGKILLs ``pid`` inside a trial, without a race: the process is stopped (SIGSTOP),
    the trial checked to be still running, and only then killed; else it is let go on."""
    if running() is None:
        return None
    os.kill(pid, signal.SIGSTOP)
    trial = running()  # the process cannot finish the trial while it is stopped
    os.kill(pid, signal.SIGKILL if trial is not None else signal.SIGCONT)
    return trial


def _check_finished_study(trials: list[FrozenTrial], budget: int, victim: FrozenTrial) -> None:
    """Every slot scored once (in full or pruned), the killed trial failed and re-run with its
    theta, no pruned trial re-run."""
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    slots = [t.user_attrs["slot"] for t in done]
    assert sorted(slots) == sorted(set(slots)) and len(slots) == budget  # none lost or doubled
    assert 0 in slots
    thetas = {tuple(round(v, 9) for v in t.params.values()) for t in done}
    assert len(thetas) == budget  # no point evaluated twice
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL}
    pruned = {t.number for t in trials if t.state == TrialState.PRUNED}
    assert not pruned & {t.system_attrs.get("failed_trial") for t in trials}
    killed = next(t for t in trials if t.number == victim.number)
    assert killed.state == TrialState.FAIL
    reruns = [t for t in done if t.system_attrs.get("failed_trial") == victim.number]
    assert len(reruns) == 1
    assert reruns[0].params == victim.params
    assert reruns[0].user_attrs["slot"] == victim.user_attrs["slot"]


def _check_result(run_dir: Path, trials: list[FrozenTrial]) -> None:
    result = json.loads((run_dir / "result.json").read_text())
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert result["best"]["val_score"] == max(t.value for t in done)
    best_slot = result["best"]["slot"]
    listed = [t for t in result["trials"] if t["state"] == "COMPLETE" and t["slot"] == best_slot]
    assert len(listed) == 1  # the best theta is reported once
    assert (run_dir / "sampler.json").is_file()


@pytest.mark.slow
def test_postgres_workers_survive_a_sigkill_mid_trial(tmp_path: Path, postgres_url: str) -> None:
    config = _config(tmp_path, trials=8)
    study = "two-workers"
    a = _worker(tmp_path, postgres_url, study, "a", "--config", str(config))
    # The same database under another host name: the stored config leaves the URL out.
    other_url = postgres_url.replace("@127.0.0.1:", "@localhost:")
    b = _worker(tmp_path, other_url, study, "b", "--config", str(config))
    try:
        _wait_for_schema(postgres_url, [a, b])  # the workers race to create it, not this test
        storage = _reader(postgres_url)
        victim = _wait_for(
            lambda: _kill_mid_trial(b.pid, lambda: _owned_running(_trials(storage, study), b.pid)),
            [a, b],
        )
        assert b.wait(timeout=30) == -signal.SIGKILL
        assert a.wait(timeout=300) == 0, (tmp_path / "a.log").read_text()
    finally:
        for p in (a, b):
            p.kill()
            p.wait()
    trials = _trials(storage, study)
    _check_finished_study(trials, 8, victim)
    _check_result(tmp_path / "run", trials)
    # The shared start was trained once: one lock trial finished, any spare one queued by a
    # racing worker retired; the hash matches the file.
    lock = _trials(storage, study + ":shared-start")
    assert [t.state for t in lock].count(TrialState.COMPLETE) == 1
    assert all(t.user_attrs.get("surplus") for t in lock if t.state != TrialState.COMPLETE)
    attrs = optuna.load_study(study_name=study, storage=storage).user_attrs
    digest = hashlib.sha256((tmp_path / "run" / "shared.pt").read_bytes()).hexdigest()
    assert attrs["shared_sha256"] == digest
    log = (tmp_path / "a.log").read_text()
    assert "worker done" in log
    assert "Warning" not in log  # e.g. a deprecated Optuna API: a future upgrade would break


@pytest.mark.slow
def test_postgres_worker_takes_over_a_dead_shared_start(tmp_path: Path, postgres_url: str) -> None:
    # A long shared start, so the kill lands inside it.
    config = _config(tmp_path, trials=3, shared=40, epochs=44)
    study = "takeover"
    b = _worker(tmp_path, postgres_url, study, "b", "--config", str(config))
    a = None
    try:
        _wait_for_schema(postgres_url, [b])
        storage = _reader(postgres_url)
        _wait_for(
            lambda: any(
                t.state == TrialState.RUNNING for t in _trials(storage, study + ":shared-start")
            ),
            [b],
        )
        b.send_signal(signal.SIGKILL)
        assert b.wait(timeout=30) == -signal.SIGKILL
        assert (
            "shared_sha256" not in optuna.load_study(study_name=study, storage=storage).user_attrs
        )
        # The second worker joins without a config: it reads the study's.
        a = _worker(tmp_path, postgres_url, study, "a")
        assert a.wait(timeout=300) == 0, (tmp_path / "a.log").read_text()
    finally:
        for p in (a, b):
            if p is not None:
                p.kill()
                p.wait()
    log = (tmp_path / "a.log").read_text()
    assert "shared start trained" in log
    lock = [
        t for t in _trials(storage, study + ":shared-start") if not t.user_attrs.get("surplus")
    ]
    assert [t.state for t in lock] == [TrialState.FAIL, TrialState.COMPLETE]
    assert lock[1].system_attrs["failed_trial"] == lock[0].number  # requeued by the heartbeat
    done = [t for t in _trials(storage, study) if t.state == TrialState.COMPLETE]
    assert sorted(t.user_attrs["slot"] for t in done) == [0, 1, 2]


@pytest.mark.slow
@pytest.mark.parametrize("pruner", ["none", "successive_halving"])
def test_local_journal_workers_requeue_a_killed_worker(tmp_path: Path, pruner: str) -> None:
    # Pruned trials last one fine-tune epoch: more of them, so that a child is caught inside one
    # before the search ends, however loaded the machine is.
    budget = 8 if pruner == "none" else 16
    config = _config(tmp_path, trials=budget)
    config.write_text(config.read_text() + f'pruner = "{pruner}"\n')
    run_dir = tmp_path / "run"
    with open(tmp_path / "parent.log", "w") as log:
        parent = _popen(
            log, "2", "search", str(config), "--run-dir", str(run_dir), "--workers", "2"
        )  # its own process group: the cleanup below reaches the spawned workers too
    journal = run_dir / "study.journal"

    def running_child_trial() -> FrozenTrial | None:
        if not journal.exists():
            return None
        storage = optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(journal))
        )
        trials = _trials(storage, "swift-sampler")
        if not any(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials):
            return None
        for t in trials:
            running = t.state == TrialState.RUNNING and "owner" in t.user_attrs
            if running and len(t.params) == 10:
                return t
        return None

    def kill_a_child() -> FrozenTrial | None:
        seen = running_child_trial()
        if seen is None:
            return None
        child = int(str(seen.user_attrs["owner"]).rsplit(":", 1)[1])
        assert child != parent.pid

        def still_running() -> FrozenTrial | None:
            again = running_child_trial()
            return again if again is not None and again.number == seen.number else None

        return _kill_mid_trial(child, still_running)

    try:
        victim = _wait_for(kill_a_child, [parent])
        assert parent.wait(timeout=300) == 0, (tmp_path / "parent.log").read_text()
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    trials = _trials(storage, "swift-sampler")
    _check_finished_study(trials, budget, victim)
    _check_result(run_dir, trials)
    assert "was killed (signal 9)" in (tmp_path / "parent.log").read_text()
    if pruner != "none":
        assert any(t.state == TrialState.PRUNED for t in trials)
        assert (run_dir / "shared_features.npz").is_file()  # made once by the parent


def test_worker_refuses_sqlite_and_unknown_studies(tmp_path: Path, capsys) -> None:
    base = ["worker", "--study", "s", "--run-dir", str(tmp_path / "run")]
    assert main([*base, "--storage", f"sqlite://{tmp_path}/x.db"]) == EXIT_BAD_INPUT
    assert "SQLite" in capsys.readouterr().err
    journal = f"journal://{tmp_path}/x.journal"
    assert main([*base, "--storage", journal]) == EXIT_BAD_INPUT
    assert "no study named 's'" in capsys.readouterr().err
    bad = [*base, "--storage", journal, "--heartbeat", "5", "--grace", "5"]
    assert main(bad) == EXIT_BAD_INPUT
    assert "grace (5.0 s) must be longer than the heartbeat" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # nothing half-made


def test_worker_refuses_hyperband_before_touching_the_storage(tmp_path: Path, capsys) -> None:
    config = _config(tmp_path, trials=8, shared=2, epochs=6)
    config.write_text(config.read_text() + 'pruner = "hyperband"\n')
    journal = tmp_path / "x.journal"
    args = ["worker", "--study", "s", "--run-dir", str(tmp_path / "run")]
    args += ["--storage", f"journal://{journal}", "--config", str(config)]
    assert main(args) == EXIT_BAD_INPUT
    assert "'hyperband' needs one trial at a time" in capsys.readouterr().err
    assert not journal.exists() and not (tmp_path / "run").exists()


TINY = Path(__file__).resolve().parents[2] / "configs" / "digits-tiny.toml"

NOT_A_JOURNAL = (
    "swift-sampler: error: the journal storage {path} exists and is not an Optuna journal: "
    'every line of a journal is a JSON object with an "op_code", but line {line} is {what}; '
    "choose a path that does not exist yet (or an empty file)\n"
)


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` and its bytes (directories as ``b"<dir>"``)."""
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        (b"x\n", 1, "not"),  # echo x > afile
        (b"my notes", 1, "not"),  # no newline at the end
        (b"\n", 1, "empty"),  # Optuna cannot read a blank line either
        (b'{"a": 1}\n', 1, "not"),  # JSON, but not a journal record
        (b'{"op_code":0,"worker_id":"w","study_name":"a","directions":[1]}\nnotes\n', 2, "not"),
        (b'{"op_code":0,"worker_id":"w","study_name":"a","directions":[1]}\n\n', 2, "empty"),
        (b"\xff\xfe\n", 1, "not"),  # not UTF-8
    ],
    ids=["text", "no-newline", "blank", "json", "notes-after", "blank-after", "binary"],
)
@pytest.mark.parametrize("with_config", [True, False], ids=["config", "no-config"])
def test_worker_refuses_a_file_that_is_not_a_journal_and_leaves_it_unchanged(
    tmp_path: Path, capsys, text: bytes, line: int, what: str, with_config: bool
) -> None:
    notes = tmp_path / "notes2.txt"
    notes.write_bytes(text)
    args = ["worker", "--storage", f"journal://{notes}", "--study", "s"]
    args += ["--run-dir", str(tmp_path / "run")]
    args += ["--config", str(TINY)] if with_config else []
    assert main(args) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == NOT_A_JOURNAL.format(path=notes, line=line, what=what)
    assert _files(tmp_path) == {"notes2.txt": text}  # unchanged, no lock file, no run dir


def test_worker_accepts_an_empty_file_and_a_journal_of_other_studies(
    tmp_path: Path, capsys
) -> None:
    from swift_sampler.search.workers import make_storage

    empty = tmp_path / "empty.journal"
    empty.touch()
    args = ["worker", "--study", "s", "--run-dir", str(tmp_path / "run")]
    assert main([*args, "--storage", f"journal://{empty}"]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == (
        f"swift-sampler: error: no study named 's' in journal://{empty}; start the first "
        "worker with --config\n"
    )
    assert empty.read_bytes() == b""
    # An empty file becomes a journal: Optuna writes the study into it and reads it back.
    optuna.create_study(storage=make_storage(f"journal://{empty}"), study_name="other")
    journal = empty.read_bytes()
    assert journal.startswith(b'{"op_code":0,') and journal.endswith(b"\n")
    assert main([*args, "--storage", f"journal://{empty}"]) == EXIT_BAD_INPUT
    assert "no study named 's'" in capsys.readouterr().err
    assert empty.read_bytes() == journal
    assert optuna.get_all_study_names(make_storage(f"journal://{empty}")) == ["other"]
    # A record being written by another worker (no newline yet) is not a damaged journal.
    for partial in (b'{"op_code":1,"worker', b'{"op_'):
        empty.write_bytes(journal + partial)
        assert main([*args, "--storage", f"journal://{empty}"]) == EXIT_BAD_INPUT
        assert "no study named 's'" in capsys.readouterr().err
        assert empty.read_bytes() == journal + partial
    assert not (tmp_path / "run").exists()


def test_a_worker_without_config_creates_no_tables_in_an_empty_database(
    tmp_path: Path, postgres_url: str, capsys
) -> None:
    """A worker that only joins reads the database; Optuna's RDBStorage would create its
    tables on open, so a mistyped database must be refused before that, and left empty."""
    import sqlalchemy

    args = ["worker", "--study", "s", "--run-dir", str(tmp_path / "run")]
    assert main([*args, "--storage", postgres_url]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "no study named 's'" in err and "holds no Optuna study" in err
    assert "start the first worker with --config" in err
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        assert sqlalchemy.inspect(engine).get_table_names() == []  # nothing created
    finally:
        engine.dispose()
    # With Optuna's tables but another study, the same refusal comes from the study lookup.
    optuna.create_study(storage=postgres_url, study_name="other")
    assert main([*args, "--storage", postgres_url]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "no study named 's'" in err and "holds no Optuna study" not in err
    assert optuna.get_all_study_names(postgres_url) == ["other"]
    assert not (tmp_path / "run").exists()


def test_worker_refuses_a_bad_study_name_before_anything_is_created(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default --run-dir is runs/STUDY, here runs/
    journal = tmp_path / "j5.journal"
    args = ["worker", "--storage", f"journal://{journal}", "--study", ""]
    assert main([*args, "--config", str(TINY)]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == (
        "swift-sampler: error: --study must be a non-empty string, got ''\n"
    )
    assert _files(tmp_path) == {}


def test_a_refused_worker_creates_no_journal(tmp_path: Path, capsys) -> None:
    journal = tmp_path / "j.journal"
    run_dir = tmp_path / "run"
    base = ["worker", "--storage", f"journal://{journal}", "--study", "s"]
    # No --config on a journal that does not exist: Optuna would create an empty file.
    assert main([*base, "--run-dir", str(run_dir)]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == (
        f"swift-sampler: error: no study named 's' in journal://{journal} (the file does not "
        "exist); start the first worker with --config\n"
    )
    assert _files(tmp_path) == {}
    # A --run-dir that is a file (or inside one): refused before the study is created.
    wfile = tmp_path / "wfile"
    wfile.write_text("mine\n")
    for run_dir, message in (
        (wfile, f"--run-dir {wfile} is a file, not a directory"),
        (wfile / "sub", f"--run-dir {wfile / 'sub'}: {wfile} is a file, not a directory"),
    ):
        args = [*base, "--config", str(TINY), "--run-dir", str(run_dir)]
        assert main(args) == EXIT_BAD_INPUT
        assert capsys.readouterr().err == f"swift-sampler: error: {message}\n"
        assert _files(tmp_path) == {"wfile": b"mine\n"}
    # A journal in a directory that does not exist.
    missing = tmp_path / "nodir" / "j.journal"
    args = ["worker", "--storage", f"journal://{missing}", "--study", "s", "--config", str(TINY)]
    assert main([*args, "--run-dir", str(tmp_path / "run")]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == (
        f"swift-sampler: error: cannot open the study storage 'journal://{missing}': the "
        f"directory {missing.parent} does not exist\n"
    )
    assert _files(tmp_path) == {"wfile": b"mine\n"}


@pytest.mark.slow
def test_postgres_workers_with_a_pruner_never_requeue_a_pruned_trial(
    tmp_path: Path, postgres_url: str
) -> None:
    config = _config(tmp_path, trials=8, shared=2, epochs=6)
    config.write_text(config.read_text() + 'pruner = "successive_halving"\n')
    study = "pruned"
    a = _worker(tmp_path, postgres_url, study, "a", "--config", str(config))
    b = _worker(tmp_path, postgres_url, study, "b", "--config", str(config))
    try:
        assert a.wait(timeout=300) == 0, (tmp_path / "a.log").read_text()
        assert b.wait(timeout=300) == 0, (tmp_path / "b.log").read_text()
    finally:
        for p in (a, b):
            p.kill()
            p.wait()
    trials = _trials(_reader(postgres_url), study)
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    slots = [t.user_attrs["slot"] for t in done]
    assert sorted(slots) == sorted(set(slots)) and len(slots) == 8 and 0 in slots
    pruned = [t for t in done if t.state == TrialState.PRUNED]
    assert pruned, "the pruner stopped no trial"
    for t in pruned:  # stored in PostgreSQL with the values it reported, never re-run
        # scored at the rungs it reached (1, 3, 9 ... epochs: eta = 3), never re-run
        rungs = [3**k for k in range(4) if 3**k <= t.user_attrs["epochs"]]
        assert list(t.intermediate_values) == rungs
        assert t.value == t.intermediate_values[t.last_step]
    copies = {t.system_attrs.get("failed_trial") for t in trials} - {None}
    assert not copies & {t.number for t in pruned}
    # FAIL only for claims past the budget, never a pruned slot's copy
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert all(t.user_attrs.get("surplus") or t.user_attrs.get("duplicate") for t in failed)
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["cost"]["trials_pruned"] == len(pruned)
    assert result["cost"]["finetune_epochs_run"] == sum(t.user_attrs["epochs"] for t in done)
