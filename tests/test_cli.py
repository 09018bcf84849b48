from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from swift_sampler import cli
from swift_sampler.cli import EXIT_INTERNAL, main

TINY = """
[data]
name = "digits"
noise_rate = 0.3
[model]
name = "mlp"
[train]
epochs = 4
lr = 0.1
threads = 1
[search]
trials = 3
startup_trials = 1
shared_epochs = 2
finetune_epochs = 2
[final]
seeds = [1]
"""


def test_unknown_command_and_bad_flags_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["fly"])
    assert exit.value.code == 2
    with pytest.raises(SystemExit) as exit:
        main(["--threads", "0", "demo"])
    assert exit.value.code == 2
    assert "expected a positive integer, got 0" in capsys.readouterr().err


def test_internal_errors_exit_1_without_traceback(monkeypatch, capsys, tmp_path: Path) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cli, "_cmd_report", broken)
    assert main(["report", str(tmp_path)]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: disk on fire" in err and "Traceback" not in err
    with pytest.raises(RuntimeError, match="disk on fire"):
        main(["--debug", "report", str(tmp_path)])


def test_help_is_fast_and_lists_every_command() -> None:
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "swift_sampler.cli", "--help"], capture_output=True, text=True
    )
    assert run.returncode == 0
    for command in ("search", "train", "report", "demo"):
        assert command in run.stdout
    del start  # no timing threshold here (shared machines); test_package checks no torch import


@pytest.mark.slow
def test_demo_flow_runs_then_reuses_everything(tmp_path: Path, capsys) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    run_dir = tmp_path / "demo"
    args = ["--threads", "1", "demo", "--config", str(config), "--run-dir", str(run_dir)]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "Swift Sampler" in first and "uniform" in first
    final = (run_dir / "final.json").read_bytes()
    # A second run resumes the finished search and reuses the final training.
    assert main(args) == 0
    second = capsys.readouterr().out
    assert "trial   1/3" in first
    assert "reusing" in second and "trial   1/3" not in second  # no trial was run again
    assert (run_dir / "final.json").read_bytes() == final
    table = [line for line in first.splitlines() if line.startswith(("uniform", "Swift"))]
    assert table == [line for line in second.splitlines() if line.startswith(("uniform", "Swift"))]
    # --fresh starts over.
    assert main([*args, "--fresh"]) == 0
    assert "reusing" not in capsys.readouterr().out


def test_demo_with_a_bad_config_exits_2(tmp_path: Path, capsys) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[train]\nepochs = 0\n")
    assert main(["demo", "--config", str(config), "--run-dir", str(tmp_path / "d")]) == 2
    assert "train.epochs" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
