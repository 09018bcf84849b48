from __future__ import annotations

import json
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
    assert "expected an integer in [1, 1024], got 0" in capsys.readouterr().err
    # Past torch's int64: refused here, not an internal error from torch.set_num_threads.
    for argv, value in (
        (["--threads", "99999999999", "demo"], "99999999999"),
        (["search", "c.toml", "--workers", "2000"], "2000"),
    ):
        with pytest.raises(SystemExit) as exit:
            main(argv)
        assert exit.value.code == 2
        assert f"expected an integer in [1, 1024], got {value}" in capsys.readouterr().err


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
    for command in ("check", "search", "train", "report", "demo"):
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
    # With config.toml lost the rerun still resumes (the demo has no --resume to pass; it
    # said "pass --resume"), and config.toml is written again.
    saved = (run_dir / "config.toml").read_text()
    (run_dir / "config.toml").unlink()
    assert main(args) == 0
    third = capsys.readouterr().out
    assert "reusing" in third and "trial   1/3" not in third
    assert (run_dir / "config.toml").read_text() == saved
    # A final.json of another sampler (a search resumed with more trials may find one) is
    # trained again for this run's sampler, and the rerun says so.
    stale = json.loads(final)
    stale["sampler"]["theta"] = [0.0] * len(stale["sampler"]["theta"])
    (run_dir / "final.json").write_text(json.dumps(stale))
    assert main(args) == 0
    fourth = capsys.readouterr().out
    assert "another config or sampler; training again" in fourth and "reusing" not in fourth
    assert (
        json.loads((run_dir / "final.json").read_bytes())["sampler"]
        == json.loads(final)["sampler"]
    )
    # --fresh starts over.
    assert main([*args, "--fresh"]) == 0
    assert "reusing" not in capsys.readouterr().out


def test_demo_with_a_bad_config_exits_2(tmp_path: Path, capsys) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[train]\nepochs = 0\n")
    assert main(["demo", "--config", str(config), "--run-dir", str(tmp_path / "d")]) == 2
    assert "train.epochs" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_demo_help_prints_percent_signs_once(capsys) -> None:
    for argv in (["demo", "--help"], ["--help"]):
        with pytest.raises(SystemExit) as exit:
            main(argv)
        assert exit.value.code == 0
        out = capsys.readouterr().out
        assert "40% " in out and "%%" not in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--debug", "--threads", "3", "search", "c.toml"],
        ["search", "c.toml", "--debug", "--threads", "3"],
        ["--threads", "1", "search", "c.toml", "--threads", "3", "--debug"],  # the last wins
    ],
)
def test_debug_and_threads_work_before_and_after_the_command(argv: list[str]) -> None:
    args = cli.build_parser().parse_args(argv)
    assert (args.debug, args.threads) == (True, 3)
    plain = cli.build_parser().parse_args(["search", "c.toml"])
    assert (plain.debug, plain.threads) == (False, None)


def test_threads_after_the_command_is_checked(capsys) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["report", "d", "--threads", "0"])
    assert exit.value.code == 2
    assert "expected an integer in [1, 1024], got 0" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback_of_bad_input_and_still_exits_2(
    tmp_path: Path, capsys, where: str
) -> None:
    argv = ["report", str(tmp_path)]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "holds no result.json" in err


def test_debug_with_bad_input_exits_2_in_a_real_process(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "swift_sampler.cli", "report", str(tmp_path), "--debug"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" in run.stderr
    assert run.stderr.rstrip().endswith("holds no result.json: is it a run directory?")


def test_the_cost_line_shows_set_up_apart_from_the_shared_start() -> None:
    cost = {
        "total_s": 4.0,
        "total_epochs": 160.0,
        "setup_s": 2.7,
        "shared_start_s": 0.05,
        "finetune_s": 0.5,
        "features_s": 0.2,
        "eval_s": 0.1,
        "outer_s": 0.45,
        "full_training_epochs": 6.0,
    }
    line = cli._cost_line(cost)
    assert "set-up 2.7 s, shared start 0.1 s," in line


def test_check_prints_which_search_a_config_runs_and_the_whole_config(
    tmp_path: Path, capsys
) -> None:
    """A config without search keys of its own: the swift preset, said with its reason, then
    a TOML config that reads back to what `search` would run; with trials, the full search."""
    import tomllib

    from swift_sampler.config import load_config, parse_config

    auto = tmp_path / "auto.toml"
    auto.write_text(TINY.replace("trials = 3\nstartup_trials = 1\n", ""))
    assert main(["check", str(auto)]) == 0
    out = capsys.readouterr().out
    head, toml_text = out.split("\n\n", 1)
    assert head.splitlines() == [
        f"{auto}: valid",
        "search: the swift preset (search.preset = 'auto': a classifier with the default "
        "[sampler] and no search-shaping key)",
        "  5 trials (the uniform sampler, 4 from the portfolio, 0 start_thetas, 0 start-up, "
        "outer loop gp; pruner synchronous_halving, first rung 2 of 6 steps); E_s = 2, E_o = 2 "
        "of 4 epochs",
    ]
    assert parse_config(tomllib.loads(toml_text)) == load_config(auto)
    assert 'preset = "swift"' in toml_text and "portfolio = 4" in toml_text
    full = tmp_path / "full.toml"
    full.write_text(TINY)
    assert main(["check", str(full)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (
        "search: the full search (search.preset = 'auto': [search] sets search.trials, "
        "search.startup_trials)"
    )
    assert lines[2].startswith(
        "  3 trials (the uniform sampler, 0 from the portfolio, 0 start_thetas, 1 start-up, "
        "outer loop gp); E_s = 2"
    )
    # Written presets are said as written; your own thetas are counted.
    theta = "start_thetas = [[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]]\n"
    for preset, expected in (
        ("swift", "search: the swift preset (search.preset = 'swift')"),
        ("none", "search: the full search (search.preset = 'none')"),
        ("auto", "search: the swift preset (search.preset = 'auto': a classifier"),
    ):
        written = tmp_path / f"{preset}.toml"
        body = auto.read_text().replace("[search]\n", f'[search]\npreset = "{preset}"\n{theta}')
        written.write_text(body)
        assert main(["check", str(written)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[1].startswith(expected), lines[1]
        if preset != "none":
            assert lines[2].startswith("  6 trials (the uniform sampler, 4 from the portfolio, 1 ")
    sharper = tmp_path / "sharper.toml"
    sharper.write_text(auto.read_text() + "[sampler]\nlipschitz = 8.0\n")
    assert main(["check", str(sharper)]) == 0
    assert (
        "search: the full search (search.preset = 'auto': the [sampler] family is not the "
        "portfolio's: sampler.lipschitz)"
    ) in capsys.readouterr().out
    root = Path(__file__).resolve().parents[1] / "configs"
    assert main(["check", str(root / "lm.toml")]) == 0
    assert "(search.preset = 'auto': a text dataset, 'shakespeare')" in capsys.readouterr().out


def test_check_of_a_bad_config_lists_every_problem_and_exits_2(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[search]\ntrials = "x"\n[sampler]\nlipschitz = -1\n')
    assert main(["check", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{bad}: 2 problems in config:" in captured.err
    assert "sampler.lipschitz: must be a finite number > 0, got -1" in captured.err
    assert "search.trials: must be an integer >= 1, got 'x'" in captured.err
    assert main(["check", str(tmp_path / "missing.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert main(["check", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "is a directory; give the .toml file" in captured.err and captured.out == ""


def test_check_into_a_closed_pipe_exits_141_without_a_message() -> None:
    """Standard output whose reader has gone (`check CONFIG | head -1` when head exits before
    the output is written): no "error: Broken pipe", no exit 2, nothing on stderr."""
    import os

    demo = Path(__file__).resolve().parents[1] / "configs" / "demo.toml"
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte is written
    try:
        run = subprocess.run(
            [sys.executable, "-m", "swift_sampler.cli", "check", str(demo)],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.close(write)
    assert (run.returncode, run.stderr) == (141, "")


def test_a_broken_pipe_that_is_not_standard_output_is_an_error(monkeypatch, capsys) -> None:
    """Only a closed standard output is the quiet 141: another broken pipe (a worker's, a
    socket's) exits 2 with its message, and standard output is left alone."""

    def broken(args: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "_cmd_check", broken)
    assert main(["check", "x.toml"]) == 2
    captured = capsys.readouterr()
    assert "swift-sampler: error: " in captured.err and "Broken pipe" in captured.err
    print("still here")
    assert capsys.readouterr().out == "still here\n"
