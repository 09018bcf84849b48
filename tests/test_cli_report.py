"""``swift-sampler report`` (and ``train``) on damaged run files and unwritable figures.

The run directory is written by hand (result.json, final.json, config.toml, sampler.json and a
small figure1.npz, as a search and a final training write them), so no test trains anything.
Each damage is one a reviewer found to crash the report or to pass it silently: every one must
now exit 2 with one message naming the file, the field and the command that writes it again,
before anything is printed.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from swift_sampler.cli import EXIT_BAD_INPUT, EXIT_OK, main
from swift_sampler.family import SamplerSpec

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "digits-tiny.toml"
THETA = [1.0, 0.5, 0.25, 0.75, 0.5, 0.123456, 0.5, 0.5, 0.5, 0.0]


def _result() -> dict[str, Any]:
    """A result.json as the search writes it: two finished trials and a pruned one."""
    trial = {"intermediate_values": {}, "epochs": 2, "seconds": {"finetune": 1.0}, "seed": 0}
    return {
        "schema_version": 1,
        "config_fingerprint": "0" * 64,
        "outer": "gp",
        "pruner": "median",
        "stopped_early": False,
        "transform": "cgf",
        "features": ["loss", "er"],
        "best": {"slot": 1, "theta": THETA, "val_score": 0.75, "knots": []},
        "trials": [
            {**trial, "number": 0, "slot": 0, "state": "COMPLETE", "val_score": 0.5},
            {**trial, "number": 1, "slot": 1, "state": "COMPLETE", "val_score": 0.75},
            {**trial, "number": 2, "slot": 2, "state": "PRUNED", "val_score": None},
        ],
        "cost": {
            "total_s": 12.0,
            "total_epochs": 40.0,
            "epoch_clock_cpu": 1.0,
            "setup_s": 2.5,
            "shared_start_s": 1.5,
            "finetune_s": 6.0,
            "features_s": 2.0,
            "eval_s": 1.0,
            "outer_s": 0.5,
            "full_training_epochs": 6.0,
            "shared_epochs_run": 2.0,
            "finetune_epochs_run": 5.0,
            "trials_pruned": 1.0,
        },
        "shared_sha256": "1" * 64,
    }


def _run(arm: str) -> dict[str, Any]:
    return {
        "arm": arm,
        "seed": 1,
        "test_top1": [0.5, 0.8, 0.7],
        "val_top1": [0.4, 0.9, 0.6],
        "train_loss": [2.0, 1.0, 0.5],
        "noisy_share": [0.3, 0.2, 0.1],
        "last": 0.7,
        "best_val_epoch": 1,
        "test_at_best_val": 0.8,
        "seconds": 3.0,
    }


def _final() -> dict[str, Any]:
    """A final.json as ``train`` writes it: one seed of each arm."""
    arms = {
        name: {
            "runs": [_run(name)],
            "seeds": [1],
            "last_mean": 0.7,
            "last_std": 0.0,
            "test_at_best_val_mean": 0.8,
            "test_at_best_val_std": 0.0,
        }
        for name in ("swift", "uniform")
    }
    return {"schema_version": 2, "arms": arms, "metric": "top1", "complete": True}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A finished run directory, written by hand."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copyfile(TINY, run / "config.toml")
    SamplerSpec(theta=tuple(THETA)).save(run / "sampler.json")
    (run / "result.json").write_text(json.dumps(_result()))
    (run / "final.json").write_text(json.dumps(_final()))
    rng = np.random.default_rng(0)
    p = rng.random(50)
    np.savez(
        run / "figure1.npz",
        loss_rank=rng.random(50),
        er_rank=rng.random(50),
        probability=p / p.sum(),
        noisy=rng.random(50) < 0.3,
    )
    return run


def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))  # NaN is written as NaN, as a hand edit could


def _report(run: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["report", str(run)])
    out, err = capsys.readouterr()
    return code, out, err


def _search_advice(run: Path) -> str:
    return (
        "the search writes it again from the study: swift-sampler search "
        f"{run / 'config.toml'} --run-dir {run} --resume"
    )


def _train_advice(run: Path) -> str:
    return (
        f"train again to replace it: swift-sampler train {run / 'config.toml'} "
        f"--sampler {run / 'sampler.json'} --out {run} --overwrite"
    )


def _temp_files(run: Path) -> list[str]:
    return sorted(p.name for p in run.iterdir() if p.name.startswith("."))


def test_report_of_a_sound_run_prints_the_summary_and_both_figures(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _report(run_dir, capsys)
    assert (code, err) == (EXIT_OK, "")
    lines = out.splitlines()
    assert lines[0] == f"run {run_dir}: 2 finished trials and 1 pruned, outer loop gp"
    assert lines[1] == "best theta [1.0, 0.5, 0.25, 0.75, 0.5, 0.1235, 0.5, 0.5, 0.5, 0.0]"
    assert lines[2] == "best validation score 75.0%"
    assert lines[3].startswith("search cost 12 s, 40 training-epoch equivalents of CPU time")
    assert lines[3].endswith("; epochs trained 7 (1 trials pruned)")
    assert "Swift Sampler" in out and "80.0%" in out
    assert lines[-1] == f"figures: {run_dir / 'figure1.png'}, {run_dir / 'figure3.png'}"
    for name in ("figure1.png", "figure3.png"):
        assert (run_dir / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def _curves(swift: list[float], uniform: list[float]) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        for arm, curve in (("swift", swift), ("uniform", uniform)):
            run = data["arms"][arm]["runs"][0]
            run["val_top1"] = curve
            run["best_val_epoch"] = curve.index(max(curve))

    return change


def _not_above(swift: str, uniform: str, seeds: str) -> str:
    return (
        f"note: on validation the Swift Sampler's best epoch ({swift}) is not above uniform "
        f"sampling's ({uniform}) on the seeds both trained ({seeds}): validation does not show "
        "this sampler helping over uniform training with early stopping. With noisy validation "
        "labels (pair noise especially) this also happens to samplers that help on clean data; "
        "docs/results.md, 'The default protocol outside the tables'"
    )


@pytest.mark.parametrize(
    ("swift", "uniform", "advice"),
    [
        # The sampler never reaches uniform sampling's best epoch on validation.
        ([0.4, 0.8, 0.7], [0.4, 0.9, 0.6], _not_above("80.0%", "90.0%", "[1]")),
        # Level at the best epoch (both peak in the uniform epochs they share): not above.
        ([0.4, 0.9, 0.5], [0.4, 0.9, 0.6], _not_above("90.0%", "90.0%", "[1]")),
        # Above at its best epoch, even if below at its last: no note (its last epoch is
        # not judged: on Table 1's runs the sampler's last epoch was often the better one).
        ([0.4, 0.95, 0.6], [0.4, 0.9, 0.85], None),
        ([0.4, 0.9, 0.95], [0.4, 0.9, 0.6], None),
    ],
)
def test_the_final_table_shows_validation_and_whether_it_shows_the_sampler_helping(
    run_dir: Path,
    swift: list[float],
    uniform: list[float],
    advice: str | None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _edit(run_dir / "final.json", _curves(swift, uniform))
    code, out, err = _report(run_dir, capsys)
    assert (code, err) == (EXIT_OK, "")
    lines = out.splitlines()
    head = lines.index("Top-1 (one seed; validation labels are as noisy as training labels)")
    assert lines[head + 1].split() == [
        *("sampler", "val", "last", "val", "best", "test", "last"),
        *("test", "at", "best", "val", "seeds"),
    ]
    # val last, val best, test last, test at best val (the test columns are final.json's).
    pct = [f"{100 * v:.1f}%" for v in (uniform[-1], max(uniform))]
    assert lines[head + 2].split() == ["uniform", *pct, "70.0%", "80.0%", "[1]"]
    pct = [f"{100 * v:.1f}%" for v in (swift[-1], max(swift))]
    assert lines[head + 3].split() == ["Swift", "Sampler", *pct, "70.0%", "80.0%", "[1]"]
    notes = [line for line in lines if line.startswith("note:")]
    assert notes == ([] if advice is None else [advice])


def test_the_validation_note_compares_only_the_seeds_both_arms_trained(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A final training stopped between arms leaves the sampler with a seed uniform lacks."""

    def change(data: dict[str, Any]) -> None:
        swift = data["arms"]["swift"]
        first = swift["runs"][0]
        first["val_top1"], first["best_val_epoch"] = [0.4, 0.6, 0.5], 1
        second = dict(first, seed=2, val_top1=[0.2, 0.3, 0.3], best_val_epoch=1)
        swift["runs"].append(second)
        swift["seeds"] = [1, 2]
        data["arms"]["uniform"]["runs"][0]["val_top1"] = [0.4, 0.58, 0.5]

    _edit(run_dir / "final.json", change)
    code, out, err = _report(run_dir, capsys)
    assert (code, err) == (EXIT_OK, "")
    # Over all its seeds the sampler's best is 45% < 58%; on the shared seed 1 it is 60% > 58%.
    assert "Swift Sampler" in out and "45.0% ±21.2" in out
    assert [line for line in out.splitlines() if line.startswith("note:")] == []
    # With seed 1 below uniform too, the note names the shared seeds only.
    _edit(
        run_dir / "final.json",
        lambda data: data["arms"]["uniform"]["runs"][0].update(val_top1=[0.4, 0.7, 0.5]),
    )
    code, out, err = _report(run_dir, capsys)
    assert [line for line in out.splitlines() if line.startswith("note:")] == [
        _not_above("60.0%", "70.0%", "[1]")
    ]


# 1. non-UTF-8 run files --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["result.json", "final.json"])
def test_a_non_utf8_run_file_exits_2_naming_it_with_the_advice(
    run_dir: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = run_dir / name
    path.write_bytes(b"\xff\xfe{")
    code, out, err = _report(run_dir, capsys)
    advice = _search_advice(run_dir) if name == "result.json" else _train_advice(run_dir)
    assert code == EXIT_BAD_INPUT
    assert err == (
        f"swift-sampler: error: {path} is not valid JSON: it is not UTF-8 text "
        f"(byte 0xff at offset 0); {advice}\n"
    )
    assert out == ""
    assert not (run_dir / "figure3.png").exists()  # refused before anything was drawn


def test_train_on_a_non_utf8_final_json_exits_2_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sampler = tmp_path / "sampler.json"
    SamplerSpec().save(sampler)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "final.json").write_bytes(b"\xff\xfe{")
    code = main(["train", str(TINY), "--sampler", str(sampler), "--out", str(out_dir)])
    out, err = capsys.readouterr()
    assert code == EXIT_BAD_INPUT
    assert err == (
        f"swift-sampler: error: {out_dir / 'final.json'} is not valid JSON: it is not UTF-8 "
        "text (byte 0xff at offset 0); train again with --overwrite to replace it "
        "(swift-sampler train ... --overwrite)\n"
    )
    assert "final training" not in out
    assert (out_dir / "final.json").read_bytes() == b"\xff\xfe{"  # left as it was


# 2. final.json that crashed the report after printing part of it --------------------------


def _perplexity_without_runs(data: dict[str, Any]) -> None:
    data["metric"] = "perplexity"
    data["arms"]["swift"]["runs"] = []


def _drop_run_key(key: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        del data["arms"]["uniform"]["runs"][0][key]

    return change


def _set_run_key(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["arms"]["swift"]["runs"][0][key] = value

    return change


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.update(arms={}), "'arms' must not be empty"),
        (_perplexity_without_runs, "'arms.swift.runs' must not be empty"),
        (_drop_run_key("best_val_epoch"), "it has no 'arms.uniform.runs[0].best_val_epoch'"),
        (_drop_run_key("last"), "it has no 'arms.uniform.runs[0].last'"),
        (_drop_run_key("test_at_best_val"), "it has no 'arms.uniform.runs[0].test_at_best_val'"),
        (
            _set_run_key("test_at_best_val", "x"),
            "'arms.swift.runs[0].test_at_best_val' must be a finite number, got 'x'",
        ),
        (
            _set_run_key("best_val_epoch", 3),
            "'arms.swift.runs[0].best_val_epoch' must index 'val_top1' (0 to 2), got 3",
        ),
        (
            _set_run_key("best_val_epoch", 1.0),
            "'arms.swift.runs[0].best_val_epoch' must be an integer, got 1.0",
        ),
        (_set_run_key("val_top1", []), "'arms.swift.runs[0].val_top1' must not be empty"),
        (
            _set_run_key("last", math.nan),
            "'arms.swift.runs[0].last' must be a finite number, got nan",
        ),
        (lambda d: d["arms"].update(swift=[1]), "'arms.swift' must be a dict, got [1]"),
        (lambda d: d["arms"]["swift"].update(seeds=[]), "'arms.swift.seeds' must not be empty"),
        (lambda d: d.update(metric=3), "'metric' must be a str, got 3"),
    ],
    ids=[
        "no-arms",
        "perplexity-no-runs",
        "no-best_val_epoch",
        "no-last",
        "no-test_at_best_val",
        "test_at_best_val-a-string",
        "best_val_epoch-past-the-curve",
        "best_val_epoch-a-float",
        "empty-val-curve",
        "last-nan",
        "arm-not-a-dict",
        "no-seeds",
        "metric-not-a-string",
    ],
)
def test_a_damaged_final_json_is_refused_before_anything_is_printed(
    run_dir: Path,
    change: Callable[[dict[str, Any]], None],
    problem: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = run_dir / "final.json"
    _edit(path, change)
    code, out, err = _report(run_dir, capsys)
    assert code == EXIT_BAD_INPUT
    assert err == f"swift-sampler: error: {path} is damaged: {problem}; {_train_advice(run_dir)}\n"
    assert out == ""


# 3.-5. result.json: cost fields, trials, non-finite scores, an empty file ------------------


def _drop_cost(key: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        del data["cost"][key]

    return change


def _set(*keys: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_drop_cost("shared_epochs_run"), "it has no 'cost.shared_epochs_run'"),
        (_drop_cost("trials_pruned"), "it has no 'cost.trials_pruned'"),
        (_drop_cost("eval_s"), "it has no 'cost.eval_s'"),
        (
            _set("cost", "finetune_epochs_run", value="x"),
            "'cost.finetune_epochs_run' must be a finite number, got 'x'",
        ),
        (_set("cost", "setup_s", value=None), "'cost.setup_s' must be a finite number, got None"),
        (
            _set("cost", "total_s", value=math.inf),
            "'cost.total_s' must be a finite number, got inf",
        ),
        (_set("trials", value=[]), "'trials' holds no finished (COMPLETE) trial"),
        (
            _set("best", "val_score", value=math.nan),
            "'best.val_score' must be a finite number, got nan",
        ),
        (_set("best", "theta", value=[]), "'best.theta' must not be empty"),
        (
            _set("best", "theta", value=[0.5, math.nan]),
            "'best.theta' must hold finite numbers, entry 1 is nan",
        ),
        (
            _set("trials", 1, "val_score", value=math.inf),
            "'trials[1].val_score' must be a finite number, got inf",
        ),
        (_set("trials", 0, "slot", value="0"), "'trials[0].slot' must be an integer, got '0'"),
        (_set("trials", 2, value="PRUNED"), "'trials[2]' must be a dict, got 'PRUNED'"),
    ],
    ids=[
        "no-shared_epochs_run",
        "no-trials_pruned",
        "no-eval_s",
        "finetune_epochs_run-a-string",
        "setup_s-null",
        "total_s-infinite",
        "no-trials",
        "val_score-nan",
        "theta-empty",
        "theta-nan",
        "trial-score-infinite",
        "slot-a-string",
        "trial-not-a-dict",
    ],
)
def test_a_damaged_result_json_is_refused_naming_the_field_and_the_fix(
    run_dir: Path,
    change: Callable[[dict[str, Any]], None],
    problem: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = run_dir / "result.json"
    _edit(path, change)
    code, out, err = _report(run_dir, capsys)
    assert code == EXIT_BAD_INPUT
    assert (
        err == f"swift-sampler: error: {path} is damaged: {problem}; {_search_advice(run_dir)}\n"
    )
    assert out == ""


def test_halving_promotions_stand_in_for_the_pruned_count(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Synchronous halving writes "continuations" and no "trials_pruned": still a sound file.
    def halving(data: dict[str, Any]) -> None:
        del data["cost"]["trials_pruned"]
        data["cost"]["continuations"] = 3.0

    _edit(run_dir / "result.json", halving)
    code, out, err = _report(run_dir, capsys)
    assert (code, err) == (EXIT_OK, "")
    assert "; epochs trained 7 (3 promotions after the screening)" in out


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"", "Expecting value: line 1 column 1 (char 0)"),
        (
            b'{"outer": "gp",',
            "Expecting property name enclosed in double quotes: line 1 column 16",
        ),
    ],
    ids=["empty", "cut-short"],
)
def test_a_result_json_that_is_not_json_carries_the_advice(
    run_dir: Path, content: bytes, detail: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = run_dir / "result.json"
    path.write_bytes(content)
    code, out, err = _report(run_dir, capsys)
    assert code == EXIT_BAD_INPUT
    assert err.startswith(f"swift-sampler: error: {path} is not valid JSON: {detail}")
    assert err.endswith(f"; {_search_advice(run_dir)}\n") and err.count("\n") == 1
    assert out == ""


def test_a_final_json_that_is_not_json_carries_the_advice(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = run_dir / "final.json"
    path.write_text("")
    code, out, err = _report(run_dir, capsys)
    assert code == EXIT_BAD_INPUT
    assert err == (
        f"swift-sampler: error: {path} is not valid JSON: Expecting value: line 1 column 1 "
        f"(char 0); {_train_advice(run_dir)}\n"
    )
    assert out == ""


# 6. figures that cannot be written ---------------------------------------------------------


def test_a_figure_that_cannot_be_written_is_named_after_the_summary(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Even root cannot replace a directory by a file: figure3.png is one.
    (run_dir / "figure3.png").mkdir()
    code, out, err = _report(run_dir, capsys)
    assert code == EXIT_BAD_INPUT
    assert err == (
        f"swift-sampler: error: figure {run_dir / 'figure3.png'} could not be written: "
        "Is a directory; fix that and run report again\n"
    )
    lines = out.splitlines()
    assert lines[0] == f"run {run_dir}: 2 finished trials and 1 pruned, outer loop gp"
    assert "Swift Sampler" in out  # the whole summary came out
    assert lines[-1] == f"figures: {run_dir / 'figure1.png'}"  # the other figure was drawn
    assert (run_dir / "figure1.png").read_bytes().startswith(b"\x89PNG")
    assert (run_dir / "figure3.png").is_dir()
    assert _temp_files(run_dir) == []
    # Under --debug the traceback of the failed write comes first, then the same line.
    assert main(["--debug", "report", str(run_dir)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):\n")
    assert "IsADirectoryError" in err
    assert err.endswith(
        f"swift-sampler: error: figure {run_dir / 'figure3.png'} could not be written: "
        "Is a directory; fix that and run report again\n"
    )


def test_report_on_a_read_only_run_directory_prints_the_summary(
    run_dir: Path, request: pytest.FixtureRequest
) -> None:
    """Read-only for real: a read-only mount under root (which ignores file modes), else
    ``chmod 555``. Run as a real process, as a user would."""
    if os.geteuid() == 0:
        tmpfs = request.getfixturevalue("tmpfs")  # skipped where mounting is not allowed
        run = tmpfs.root / "run"
        shutil.copytree(run_dir, run)
        remount = ["mount", "-o", "remount,ro", str(tmpfs.root)]
        subprocess.run(remount, check=True, capture_output=True)
        reason = "Read-only file system"
    else:
        run = run_dir
        run.chmod(0o555)
        request.addfinalizer(lambda: run.chmod(0o755))
        reason = "Permission denied"
    done = subprocess.run(
        [sys.executable, "-m", "swift_sampler.cli", "--threads", "1", "report", str(run)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == EXIT_BAD_INPUT
    assert done.stderr == "".join(
        f"swift-sampler: error: figure {run / name} could not be written: {reason}; fix that "
        "and run report again\n"
        for name in ("figure3.png", "figure1.png")
    )
    assert done.stdout.startswith(f"run {run}: 2 finished trials and 1 pruned, outer loop gp\n")
    assert "Swift Sampler" in done.stdout and "figures:" not in done.stdout
