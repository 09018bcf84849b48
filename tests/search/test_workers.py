"""K local worker processes on one study (JournalStorage in the run directory)."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from swift_sampler import portfolio
from swift_sampler.cli import EXIT_BAD_INPUT, main

CONFIG = """
[data]
name = "digits"
noise_rate = 0.3
[model]
name = "mlp"
[train]
epochs = 6
lr = 0.1
[search]
trials = 8
startup_trials = 2
shared_epochs = 2
finetune_epochs = 2
{extra}
"""


@pytest.mark.slow
def test_two_workers_complete_the_budget_without_duplicates(tmp_path: Path, capsys) -> None:
    config = tmp_path / "w.toml"
    config.write_text(CONFIG.format(extra="portfolio = 2"))  # slots 1, 2: the portfolio's
    run_dir = tmp_path / "run"
    args = ["--threads", "2", "search", str(config), "--run-dir", str(run_dir), "--workers", "2"]
    assert main(args) == 0
    assert "2 workers x 1 threads" in capsys.readouterr().out
    assert (run_dir / "study.journal").is_file() and not (run_dir / "study.db").exists()
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(run_dir / "study.journal"))
    )
    trials = optuna.load_study(study_name="swift-sampler", storage=storage).get_trials()
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(done) == 8
    assert {t.state.name for t in trials} <= {"COMPLETE", "FAIL"}
    slots = [t.user_attrs["slot"] for t in done]
    assert len(set(slots)) == 8 and 0 in slots
    thetas = {tuple(round(v, 9) for v in t.params.values()) for t in done}
    assert len(thetas) == 8  # no point evaluated twice
    uniform = next(t for t in done if t.user_attrs["slot"] == 0)
    assert list(uniform.params.values()) == [1.0, 0.5, 0.5, 0.5, 0.5] * 2
    for slot in (1, 2):
        start = next(t for t in done if t.user_attrs["slot"] == slot)
        assert tuple(start.params.values()) == portfolio.THETAS[slot - 1]
    assert {t.user_attrs["worker"] for t in done} == {0, 1}  # both workers took trials
    result = json.loads((run_dir / "result.json").read_text())
    assert result["best"]["val_score"] == max(t.value for t in done)
    # A finished parallel run resumes to the same result without new trials.
    assert main([*args, "--resume"]) == 0
    again = json.loads((run_dir / "result.json").read_text())
    assert again["best"] == result["best"]


@pytest.mark.slow
def test_two_workers_screen_and_the_parent_runs_the_promotion_rounds(tmp_path: Path) -> None:
    # Synchronous halving with --workers: each worker saves its screening trials' states in
    # the run directory, and the parent's rounds go on from them (nothing fine-tuned twice).
    config = tmp_path / "w.toml"
    extra = 'pruner = "synchronous_halving"\nepoch_parts = 2'
    config.write_text(CONFIG.format(extra=extra))
    run_dir = tmp_path / "run"
    args = ["--threads", "2", "search", str(config), "--run-dir", str(run_dir), "--workers", "2"]
    assert main(args) == 0
    result = json.loads((run_dir / "result.json").read_text())
    screened = [t for t in result["trials"] if t["state"] == "COMPLETE"]
    assert len(screened) == 8 and all(t["fidelity_steps"] == 1 for t in screened)
    rungs = result["rounds"]["rungs"]
    assert [len(rungs[k]) for k in ("1", "3", "4")] == [8, 3, 2]  # ceil(8/3), 2 finalists
    # 8 x 0.5 screening, 3 x 1 (steps 1 -> 3), 2 x 0.5 (3 -> 4): no state was recomputed.
    assert result["cost"]["finetune_epochs_run"] == 4 + 3 + 1
    assert str(result["best"]["slot"]) in rungs["4"]
    assert not (run_dir / "rungs").exists()


def test_several_workers_refuse_a_sqlite_storage(tmp_path: Path, capsys) -> None:
    config = tmp_path / "w.toml"
    config.write_text(CONFIG.format(extra=f'storage = "sqlite:///{tmp_path}/s.db"'))
    run_dir = tmp_path / "run"
    args = ["search", str(config), "--run-dir", str(run_dir), "--workers", "2"]
    assert main(args) == EXIT_BAD_INPUT
    assert "cannot share the SQLite study" in capsys.readouterr().err
    assert not run_dir.exists()


def test_hyperband_with_several_workers_is_refused_before_anything_is_made(
    tmp_path: Path, capsys
) -> None:
    config = tmp_path / "w.toml"
    config.write_text(CONFIG.format(extra='pruner = "hyperband"'))
    run_dir = tmp_path / "run"
    args = ["search", str(config), "--run-dir", str(run_dir), "--workers", "2"]
    assert main(args) == EXIT_BAD_INPUT
    assert "'hyperband' needs one trial at a time" in capsys.readouterr().err
    assert not run_dir.exists()
