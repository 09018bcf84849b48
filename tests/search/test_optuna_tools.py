"""The study a search writes, read by Optuna's own tools: readable parameter names, each trial's
cost as user attributes, an older study's names kept on resume, and ``optuna-dashboard`` serving
the study (SQLite, journal and PostgreSQL storages) to a real HTTP client on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import pytest

from _net import free_port
from swift_sampler.config import load_config
from swift_sampler.search import driver
from swift_sampler.search.driver import run_search
from swift_sampler.search.outer import param_names
from swift_sampler.search.study import readable_param_names

CONFIG = """
[data]
name = "digits"
noise_rate = 0.3
[model]
name = "mlp"
[train]
epochs = 4
batch_size = 64
lr = 0.1
threads = 1
[search]
trials = 3
startup_trials = 1
outer = "random"
shared_epochs = 2
finetune_epochs = 2
{extra}
"""

READABLE = readable_param_names(("loss", "er"), 4)


def _search(tmp_path: Path, name: str, extra: str = "") -> Path:
    config = tmp_path / f"{name}.toml"
    config.write_text(CONFIG.format(extra=extra))
    run_dir = tmp_path / name
    run_search(load_config(config), run_dir)
    return run_dir


def _load(url: str) -> optuna.Study:
    storage: object = url
    if url.startswith("journal:///"):
        backend = optuna.storages.journal.JournalFileBackend(url[len("journal://") :])
        storage = optuna.storages.JournalStorage(backend)
    return optuna.load_study(study_name="swift-sampler", storage=storage)  # type: ignore[arg-type]


def test_readable_names_follow_theta_order() -> None:
    assert READABLE[:6] == [
        "theta_00_loss_at_0",
        "theta_01_loss_slope_0.00_0.25",
        "theta_02_loss_slope_0.25_0.50",
        "theta_03_loss_slope_0.50_0.75",
        "theta_04_loss_slope_0.75_1.00",
        "theta_05_er_at_0",
    ]
    assert len(READABLE) == 10 and sorted(READABLE) == READABLE


@pytest.fixture(scope="module")
def sqlite_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _search(tmp_path_factory.mktemp("sqlite"), "run")


@pytest.mark.slow
def test_a_new_study_has_readable_names_and_each_trials_cost(sqlite_run: Path) -> None:
    study = _load(f"sqlite:///{sqlite_run}/study.db")
    assert study.user_attrs["param_names"] == READABLE
    assert "slope" in study.user_attrs["param_help"]
    result = json.loads((sqlite_run / "result.json").read_text())
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    epoch_cpu = study.user_attrs["epoch_cpu_seconds"]
    for trial, recorded in zip(trials, result["trials"], strict=True):
        assert list(trial.params) == READABLE
        assert [trial.params[n] for n in READABLE] == recorded["theta"]
        seconds = trial.user_attrs["seconds"]
        cost = trial.user_attrs["cost_s"]
        assert cost == pytest.approx(sum(v for k, v in seconds.items() if "cpu" not in k))
        cpu = sum(v for k, v in seconds.items() if k.startswith("cpu_"))
        assert cost > 0 and trial.user_attrs["cost_epochs"] == pytest.approx(cpu / epoch_cpu)
    # The trials' epochs and the shared start's add up to the result's cost.
    total = result["cost"]
    assert sum(t.user_attrs["cost_epochs"] for t in trials) == pytest.approx(
        total["total_epochs"]
        - total["shared_start_epochs"]
        - total["setup_epochs"]
        - total["shared_features_cpu_s"] / epoch_cpu
    )
    assert result["trials"][0]["theta"] == [1.0, 0.5, 0.5, 0.5, 0.5] * 2  # the uniform trial


@pytest.mark.slow
def test_an_older_study_keeps_its_names_on_resume(
    sqlite_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run directory made before the readable names (params ``theta_00`` ..., no
    ``param_names``) resumes with its own names, to the result a new run reaches."""

    class Stop(Exception):
        pass

    def stop_after_slot_1(record: object) -> None:
        if record.slot == 1:  # type: ignore[attr-defined]
            raise Stop

    config_path = tmp_path / "old.toml"
    config_path.write_text(CONFIG.format(extra=""))
    config = load_config(config_path)
    run_dir = tmp_path / "old"
    with monkeypatch.context() as m:  # what the code before the readable names stored
        m.setattr(driver, "record_param_names", lambda study, config: None)
        with pytest.raises(Stop):
            run_search(config, run_dir, on_trial=stop_after_slot_1)
    resumed = run_search(config, run_dir, resume=True)

    study = _load(f"sqlite:///{run_dir}/study.db")
    assert "param_names" not in study.user_attrs
    assert {tuple(t.params) for t in study.get_trials()} == {tuple(param_names(10))}
    new = json.loads((sqlite_run / "result.json").read_text())
    assert [list(t.theta) for t in resumed.trials] == [t["theta"] for t in new["trials"]]
    assert [t.score for t in resumed.trials] == [t["val_score"] for t in new["trials"]]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:  # bounded: never hangs the suite
        return json.loads(response.read())


@contextmanager
def _dashboard(storage: str) -> Iterator[str]:
    """Runs ``optuna-dashboard STORAGE`` on a free loopback port; yields its base URL."""
    port = free_port()
    command = Path(sys.executable).parent / "optuna-dashboard"
    process = subprocess.Popen(
        [str(command), storage, "--host", "127.0.0.1", "--port", str(port), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                output = process.stdout.read() if process.stdout else ""
                pytest.fail(f"optuna-dashboard exited {process.returncode}: {output}")
            try:
                _get(f"{base}/api/meta")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    pytest.fail("optuna-dashboard did not answer within 60 s")
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def _check_dashboard(storage: str) -> None:
    with _dashboard(storage) as base:
        summaries = _get(f"{base}/api/studies")["study_summaries"]
        (study,) = [s for s in summaries if s["study_name"] == "swift-sampler"]
        assert study["directions"] == ["maximize"]
        detail = _get(f"{base}/api/studies/{study['study_id']}")
    trials = detail["trials"]
    assert [t["state"] for t in trials] == ["Complete"] * 3
    for trial in trials:
        assert [p["name"] for p in trial["params"]] == READABLE
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        assert float(attrs["cost_s"]) > 0 and float(attrs["cost_epochs"]) > 0
    sortable = {a["key"]: a["sortable"] for a in detail["union_user_attrs"]}
    assert sortable["cost_s"] and sortable["cost_epochs"]  # numbers: sortable columns
    study_attrs = {a["key"]: a["value"] for a in detail["user_attrs"]}
    assert json.loads(study_attrs["param_names"]) == READABLE


@pytest.mark.slow
def test_dashboard_reads_the_sqlite_study(sqlite_run: Path) -> None:
    _check_dashboard(f"sqlite:///{sqlite_run}/study.db")


@pytest.mark.slow
def test_dashboard_reads_the_journal_study(tmp_path: Path) -> None:
    journal = tmp_path / "study.journal"
    _search(tmp_path, "run", extra=f'storage = "journal:///{journal}"')
    _check_dashboard(str(journal))  # optuna-dashboard opens a journal file by its path


@pytest.mark.slow
def test_dashboard_reads_the_postgresql_study(tmp_path: Path, postgres_url: str) -> None:
    _search(tmp_path, "run", extra=f'storage = "{postgres_url}"')
    _check_dashboard(postgres_url)
