"""Damaged run files, a full disk and interruptions, through the real CLI in subprocesses.

Every case ends in one clear message and exit code 2 (130 for Ctrl-C), names the file or the
place, and keeps what was finished. Full disks are real: a small tmpfs filled to ENOSPC (the
``tmpfs`` fixture; skipped where mounting is not allowed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "configs" / "digits-tiny.toml"


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swift_sampler.cli", "--threads", "1", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def _default_sigint() -> None:
    # As from a terminal: a suite started in the background by a non-interactive shell
    # (`make test &`) has SIGINT ignored, and a child would inherit that and never see Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _popen(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "swift_sampler.cli", "--threads", "1", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        preexec_fn=_default_sigint,
    )


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 300
    while not condition():
        if proc.poll() is not None or time.monotonic() > deadline:
            _, err = proc.communicate(timeout=60)
            pytest.fail(f"{what} never happened (exit {proc.returncode}): {err[-2000:]}")
        time.sleep(0.01)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished search of configs/digits-tiny.toml (6 trials), made once per module."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    done = _cli("search", TINY, "--run-dir", run_dir)
    assert done.returncode == 0, done.stderr
    return run_dir


@pytest.fixture
def run_copy(finished_run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(finished_run, target)
    return target


def _no_temp_files(directory: Path) -> list[str]:
    return sorted(
        p.name
        for p in directory.iterdir()
        if p.name.startswith(".") and p.name != ".lock" and p.name != ".filler"
    )


# 1. train keeps finished work -------------------------------------------------------------


def test_train_refuses_an_out_that_is_a_file_before_training(
    run_copy: Path, tmp_path: Path
) -> None:
    out = tmp_path / "taken"
    out.write_text("not a directory")
    done = _cli("train", TINY, "--sampler", run_copy / "sampler.json", "--out", out)
    assert done.returncode == 2
    assert f"--out {out} exists and is not a directory" in done.stderr
    assert "final swift seed" not in done.stderr  # refused before any training
    assert out.read_text() == "not a directory"


def test_train_on_a_full_disk_stops_before_training(run_copy: Path, tmpfs) -> None:
    out = tmpfs.root / "final"
    out.mkdir()
    tmpfs.fill()
    done = _cli("train", TINY, "--sampler", run_copy / "sampler.json", "--out", out)
    assert done.returncode == 2
    assert "the disk is full" in done.stderr and str(out) in done.stderr
    assert "final swift seed" not in done.stderr and "Traceback" not in done.stderr
    assert list(out.iterdir()) == []


@pytest.mark.slow
def test_train_saves_each_seed_and_a_full_disk_keeps_the_finished_ones(
    run_copy: Path, tmp_path: Path, tmpfs
) -> None:
    config = tmp_path / "two-seeds.toml"
    text = TINY.read_text()
    assert "seeds = [1]" in text
    config.write_text(text.replace("seeds = [1]", "seeds = [1, 2]\nuniform = false"))
    out = tmpfs.root / "final"
    final = out / "final.json"
    args = ("train", config, "--sampler", run_copy / "sampler.json", "--out", out)
    proc = _popen(*args)
    # The first seed's result is on disk while the second trains; then the disk fills up.
    _wait_for(final.exists, proc, "final.json after the first seed")
    first = json.loads(final.read_text())
    assert first["complete"] is False and first["arms"]["swift"]["seeds"] == [1]
    tmpfs.fill()
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 2, stderr
    assert "the disk is full" in stderr and str(out) in stderr and "final.json" in stderr
    # Both seeds were trained; the one that could not be saved is printed, not lost.
    assert "stopped: 2 of 2 runs finished" in stdout
    assert re.search(r"Swift Sampler .* \[1, 2\]", stdout), stdout
    assert json.loads(final.read_text()) == first  # the old file is whole
    assert _no_temp_files(out) == []

    # With room again, the same command continues from the saved file: seed 1 is kept, only
    # seed 2 is trained again.
    tmpfs.free()
    again = _cli(*args)
    assert again.returncode == 0, again.stderr
    assert "1 finished runs kept" in again.stdout
    assert "final swift seed 2" in again.stderr and "final swift seed 1" not in again.stderr
    last = json.loads(final.read_text())
    assert last["complete"] is True and last["arms"]["swift"]["seeds"] == [1, 2]
    assert last["arms"]["swift"]["runs"][0] == first["arms"]["swift"]["runs"][0]


# 2. a damaged study.db ----------------------------------------------------------------------


def _overwrite_pages(db: Path) -> None:
    with open(db, "r+b") as handle:
        handle.seek(3 * 4096)
        handle.write(b"\xde\xad" * 4096)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda db: db.write_text("my notes\n"), id="text-file"),
        pytest.param(lambda db: os.truncate(db, db.stat().st_size // 2), id="truncated"),
        pytest.param(_overwrite_pages, id="pages-overwritten"),
    ],
)
def test_a_damaged_study_exits_2_naming_the_file(
    run_copy: Path, damage: Callable[[Path], object]
) -> None:
    db = run_copy / "study.db"
    damage(db)
    before = db.read_bytes()
    done = _cli("search", TINY, "--run-dir", run_copy, "--resume")
    assert done.returncode == 2, done.stderr
    assert f"the study {db} is damaged" in done.stderr
    assert "another --run-dir" in done.stderr and "restore study.db from a backup" in done.stderr
    assert "Traceback" not in done.stderr and "sqlalchemy" not in done.stderr.lower()
    assert db.read_bytes() == before  # left as it was, for the user to inspect


def test_a_missing_study_exits_2_and_creates_no_empty_one(run_copy: Path) -> None:
    db = run_copy / "study.db"
    db.unlink()
    done = _cli("search", TINY, "--run-dir", run_copy, "--resume")
    assert done.returncode == 2, done.stderr
    assert f"the study {db} is missing" in done.stderr and "another --run-dir" in done.stderr
    assert not db.exists()  # an empty study would block both --resume and a restart


# 3. a full disk in the middle of a search ---------------------------------------------------


def test_a_full_disk_while_writing_the_shared_checkpoint(run_copy: Path, tmpfs) -> None:
    run_dir = tmpfs.root / "run"
    shutil.copytree(run_copy, run_dir)
    (run_dir / "shared.pt").unlink()  # the resume trains the shared start again
    tmpfs.fill()
    done = _cli("search", TINY, "--run-dir", run_dir, "--resume")
    assert done.returncode == 2, done.stderr
    assert "the disk is full" in done.stderr and "shared.pt" in done.stderr
    assert str(run_dir) in done.stderr and "unexpected pos" not in done.stderr
    assert _no_temp_files(run_dir) == [] and not (run_dir / "shared.pt").exists()
    tmpfs.free()  # the run is still resumable
    again = _cli("search", TINY, "--run-dir", run_dir, "--resume")
    assert again.returncode == 0, again.stderr
    assert (run_dir / "shared.pt").is_file()


def test_a_full_disk_inside_sqlite(run_copy: Path, tmpfs) -> None:
    import optuna

    # A trial left RUNNING by a killed run: the resume must write to the study to fail it.
    study = optuna.load_study(
        study_name="swift-sampler", storage=f"sqlite:///{run_copy / 'study.db'}"
    )
    study.ask()
    del study
    run_dir = tmpfs.root / "run"
    shutil.copytree(run_copy, run_dir)
    tmpfs.fill()
    done = _cli("search", TINY, "--run-dir", run_dir, "--resume")
    assert done.returncode == 2, done.stderr
    assert "the disk is full" in done.stderr and "study.db" in done.stderr
    assert str(run_dir) in done.stderr and "invalid data in the commit" not in done.stderr
    tmpfs.free()
    again = _cli("search", TINY, "--run-dir", run_dir, "--resume")
    assert again.returncode == 0, again.stderr
    result = json.loads((run_dir / "result.json").read_text())
    states = sorted(t["state"] for t in result["trials"])
    assert states == ["COMPLETE"] * 6 + ["FAIL"]


# 4. report on a full disk: figures are replaced atomically ----------------------------------


def test_report_on_a_full_disk_keeps_the_old_figures(run_copy: Path, tmpfs) -> None:
    run_dir = tmpfs.root / "run"
    shutil.copytree(run_copy, run_dir)
    figures = {name: (run_dir / name).read_bytes() for name in ("figure1.png", "figure3.png")}
    tmpfs.fill()
    done = _cli("report", run_dir)
    assert done.returncode == 2, done.stderr
    assert "the disk is full" in done.stderr and str(run_dir) in done.stderr
    for name, data in figures.items():
        assert (run_dir / name).read_bytes() == data, f"{name} was damaged"
    assert _no_temp_files(run_dir) == []


def test_report_on_a_full_disk_leaves_no_truncated_figure(run_copy: Path, tmpfs) -> None:
    run_dir = tmpfs.root / "run"
    shutil.copytree(run_copy, run_dir)
    sizes = {name: (run_dir / name).stat().st_size for name in ("figure1.png", "figure3.png")}
    for name in sizes:
        (run_dir / name).unlink()
    tmpfs.fill()
    # Leave room for figure3.png (drawn first) and half of figure1.png.
    room = sizes["figure3.png"] + sizes["figure1.png"] // 2
    os.truncate(tmpfs.filler, tmpfs.filler.stat().st_size - room)
    done = _cli("report", run_dir)
    assert done.returncode == 2, done.stderr
    assert "the disk is full" in done.stderr and "figure1.png" in done.stderr
    assert not (run_dir / "figure1.png").exists()  # no half of a PNG
    assert (run_dir / "figure3.png").read_bytes().endswith(b"IEND\xaeB`\x82")  # whole
    assert _no_temp_files(run_dir) == []


# 6. report on damaged run files ------------------------------------------------------------


def _drop_best(run_dir: Path) -> None:
    data = json.loads((run_dir / "result.json").read_text())
    del data["best"]
    (run_dir / "result.json").write_text(json.dumps(data))


def _drop_a_state(run_dir: Path) -> None:
    data = json.loads((run_dir / "result.json").read_text())
    del data["trials"][2]["state"]
    (run_dir / "result.json").write_text(json.dumps(data))


def _not_json(run_dir: Path) -> None:
    (run_dir / "result.json").write_text('{"outer": "gp",')


def _truncate_npz(run_dir: Path) -> None:
    path = run_dir / "figure1.npz"
    os.truncate(path, path.stat().st_size // 2)


def _bad_final(run_dir: Path) -> None:
    (run_dir / "final.json").write_text(json.dumps({"arms": {"swift": {"seeds": [0]}}}))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_drop_best, r"result\.json is damaged: it has no 'best\.theta'"),
        (_drop_a_state, r"result\.json is damaged: it has no 'trials\[2\]\.state'"),
        (_not_json, r"result\.json is not valid JSON: .*; the search writes it again"),
        (_truncate_npz, r"figure1\.npz is damaged \(BadZipFile"),
        (_bad_final, r"final\.json is damaged: it has no 'arms\.swift\.last_mean'"),
    ],
    ids=["result-no-best", "result-trial-no-state", "result-not-json", "npz-truncated", "final"],
)
def test_report_on_damaged_files_exits_2_naming_the_file(
    run_copy: Path, damage: Callable[[Path], None], message: str
) -> None:
    damage(run_copy)
    done = _cli("report", run_copy)
    assert done.returncode == 2, done.stderr
    assert re.search(message, done.stderr), done.stderr
    assert str(run_copy) in done.stderr and "Traceback" not in done.stderr


def test_the_advice_for_a_damaged_figure1_npz_works(run_copy: Path) -> None:
    _truncate_npz(run_copy)
    done = _cli("report", run_copy)
    assert done.returncode == 2
    advice = re.search(r"swift-sampler (search \S+ --run-dir \S+ --resume)", done.stderr)
    assert advice is not None, done.stderr
    assert _cli(*advice.group(1).split()).returncode == 0
    assert _cli("report", run_copy).returncode == 0


# 7. Ctrl-C while the study is created -------------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_while_the_study_is_created_gives_advice_that_works(tmp_path: Path) -> None:
    # The study lives in a storage the test holds locked, so the search is stuck creating it
    # when the real SIGINT arrives.
    storage = tmp_path / "studies.db"
    config = tmp_path / "tiny.toml"
    config.write_text(
        TINY.read_text().replace("[search]", f'[search]\nstorage = "sqlite:///{storage}"')
    )
    run_dir = tmp_path / "run"
    holder = sqlite3.connect(storage, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        proc = _popen("search", config, "--run-dir", run_dir)
        _wait_for((run_dir / ".lock").exists, proc, "the run directory lock")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=300)
    finally:
        holder.rollback()
        holder.close()
    assert proc.returncode == 130, stderr
    assert "nothing was kept" in stderr and "--resume" not in stderr
    assert not run_dir.exists()
    # The advice: run the same command again, which works.
    again = _cli("search", config, "--run-dir", run_dir)
    assert again.returncode == 0, again.stderr


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_trial_then_resume_reaches_the_same_best(
    finished_run: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    run_dir = tmp_path / "run"
    proc = _popen("search", TINY, "--run-dir", run_dir)

    def mid_trial() -> bool:
        db = run_dir / "study.db"
        if not db.exists():
            return False
        try:
            with sqlite3.connect(db, timeout=1) as conn:
                states = [r[0] for r in conn.execute("SELECT state FROM trials")]
        except sqlite3.Error:
            return False
        return states.count("COMPLETE") >= 2 and "RUNNING" in states

    # Stop the process, check the trial it was seen running still runs, and only then signal
    # it: the signal is delivered inside that trial when the process continues (no race with a
    # fast search finishing first).
    while True:
        _wait_for(mid_trial, proc, "a running third trial")
        proc.send_signal(signal.SIGSTOP)
        if mid_trial():
            break
        proc.send_signal(signal.SIGCONT)
    proc.send_signal(sig)
    proc.send_signal(signal.SIGCONT)
    _, stderr = proc.communicate(timeout=300)
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "rerun with --resume to continue" in stderr, stderr
    else:
        assert proc.returncode == -signal.SIGTERM
    resumed = _cli("search", TINY, "--run-dir", run_dir, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((finished_run / "result.json").read_text())
    b = json.loads((run_dir / "result.json").read_text())
    assert b["best"]["theta"] == a["best"]["theta"]
    assert b["best"]["val_score"] == a["best"]["val_score"]


def test_a_second_process_on_a_run_directory_is_refused(run_copy: Path) -> None:
    import fcntl

    with open(run_copy / ".lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # this test process is "the other"
        before = (run_copy / "study.db").read_bytes()
        done = _cli("search", TINY, "--run-dir", run_copy, "--resume")
    assert done.returncode == 2
    assert f"run directory {run_copy} is in use by another swift-sampler process" in done.stderr
    assert (run_copy / "study.db").read_bytes() == before


def test_ctrl_c_advice_follows_what_is_on_disk(run_copy: Path, tmp_path: Path) -> None:
    from swift_sampler.cli import _after_interrupt, build_parser

    parser = build_parser()
    kept = _after_interrupt(parser.parse_args(["search", str(TINY), "--run-dir", str(run_copy)]))
    assert "rerun with --resume" in kept
    empty = tmp_path / "nothing"
    gone = _after_interrupt(parser.parse_args(["search", str(TINY), "--run-dir", str(empty)]))
    assert "nothing was kept" in gone and "--resume" not in gone
    train = parser.parse_args(["train", str(TINY), "--sampler", str(run_copy / "sampler.json")])
    assert "rerun with --resume" not in _after_interrupt(train)  # train has no --resume


# 8. the progress line after a resume --------------------------------------------------------


def test_best_on_the_progress_line_counts_the_resumed_trials(tmp_path: Path) -> None:
    from swift_sampler.config import load_config
    from swift_sampler.search.driver import run_search

    class Stop(Exception):
        pass

    def stop_after_two(record: object) -> None:
        if record.slot == 1:  # type: ignore[attr-defined]
            raise Stop

    run_dir = tmp_path / "run"
    with pytest.raises(Stop):
        run_search(load_config(TINY), run_dir, on_trial=stop_after_two)
    done = _cli("search", TINY, "--run-dir", run_dir, "--resume")
    assert done.returncode == 0, done.stderr
    result = json.loads((run_dir / "result.json").read_text())
    scores = {t["slot"]: t["val_score"] for t in result["trials"] if t["state"] == "COMPLETE"}
    lines = re.findall(r"trial +(\d+)/6 +val +[\d.]+% +best +([\d.]+)%", done.stdout)
    assert [int(n) for n, _ in lines] == [3, 4, 5, 6]
    for n, best in lines:
        expected = max(scores[s] for s in range(int(n)))
        assert float(best) == pytest.approx(100 * expected, abs=0.05), (n, scores)
    # The resumed trials alone start below the earlier best: the line must not restart.
    assert scores[2] < max(scores[0], scores[1])


@pytest.mark.slow
def test_a_study_locked_by_another_process_is_not_called_damaged(tmp_path: Path) -> None:
    # A writer holding the database (a worker, a test) makes PRAGMA quick_check wait and then
    # fail with "database is locked": that is a file in use, not a damaged one.
    from swift_sampler.errors import RunFileError
    from swift_sampler.search.driver import check_sqlite_study

    db = tmp_path / "studies.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x)")
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        check_sqlite_study(db)  # returns: in use, not damaged
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    db.write_text("not a database at all, but long enough to have a header")
    with pytest.raises(RunFileError, match="is damaged"):
        check_sqlite_study(db)


def test_a_missing_study_journal_exits_2_and_creates_no_empty_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A search stored in a journal outside its run directory: with the journal gone,
    --resume created an empty one before saying there was nothing to resume."""
    from swift_sampler.cli import main

    journal = tmp_path / "elsewhere" / "study.journal"
    journal.parent.mkdir()
    config = tmp_path / "journal.toml"
    config.write_text(
        Path(TINY).read_text().replace("[search]", f'[search]\nstorage = "journal:///{journal}"')
    )
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text(config.read_text())  # a search was started here
    assert main(["search", str(config), "--run-dir", str(run), "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"the study journal {journal} is missing, so the search in {run} cannot be " in err
    assert not journal.exists() and sorted(p.name for p in run.iterdir()) == ["config.toml"]
