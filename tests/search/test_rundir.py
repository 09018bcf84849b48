"""The run-file readers: every damage is a RunFileError naming the file, the field and how to
write the file again (the CLI turns it into exit 2; ``tests/test_cli_report.py`` runs them
through ``report``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swift_sampler.errors import ConfigError, RunFileError
from swift_sampler.search.rundir import final_advice, read_final, read_json, read_result


def test_read_json_names_a_file_that_is_not_utf8_and_appends_the_advice(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_bytes(b'{"outer": "g\xe9"}')  # Latin-1, not UTF-8
    with pytest.raises(RunFileError) as caught:
        read_json(path, advice="do this")
    assert str(caught.value) == (
        f"{path} is not valid JSON: it is not UTF-8 text (byte 0xe9 at offset 12); do this"
    )


def test_read_json_refuses_hostile_json_as_damage(tmp_path: Path) -> None:
    path = tmp_path / "rungs.json"
    path.write_text("[" * 200_000)
    with pytest.raises(
        RunFileError, match=r"rungs\.json is not valid JSON: it is nested too deeply$"
    ):
        read_json(path)
    path.write_text("1" * 5000)  # past Python's limit on the digits of an int
    with pytest.raises(RunFileError, match=r"rungs\.json is not valid JSON: Exceeds the limit"):
        read_json(path)


def test_a_missing_file_is_still_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^file not found: .*nothing\.json$"):
        read_json(tmp_path / "nothing.json")


def test_an_integer_too_large_for_a_float_is_not_a_finite_number(tmp_path: Path) -> None:
    # The cost line formats it with :.0f, which raised OverflowError.
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"outer": "gp", "transform": "cgf", "best": {"theta": [10**400]}}))
    with pytest.raises(RunFileError) as caught:
        read_result(path)
    assert "is damaged: 'best.theta' must hold finite numbers, entry 0 is 1000000" in str(
        caught.value
    )
    assert str(caught.value).endswith(f"--run-dir {tmp_path} --resume")


def test_final_advice_gives_the_command_only_where_it_is_known(tmp_path: Path) -> None:
    path = tmp_path / "final.json"
    assert final_advice(path) == (
        "train again with --overwrite to replace it (swift-sampler train ... --overwrite)"
    )
    (tmp_path / "config.toml").write_text("")
    (tmp_path / "sampler.json").write_text("")
    assert final_advice(path) == (
        f"train again to replace it: swift-sampler train {tmp_path / 'config.toml'} "
        f"--sampler {tmp_path / 'sampler.json'} --out {tmp_path} --overwrite"
    )


def _arm(runs: list[object]) -> dict[str, object]:
    """A final.json arm of seed 1 holding ``runs``."""
    return {
        "seeds": [1],
        "last_mean": 0.5,
        "last_std": 0.0,
        "test_at_best_val_mean": 0.5,
        "test_at_best_val_std": 0.0,
        "runs": runs,
    }


def test_read_final_refuses_a_run_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "final.json"
    arm = _arm([[0.5]])
    path.write_text(json.dumps({"arms": {"swift": arm}}))
    with pytest.raises(RunFileError) as caught:
        read_final(path)
    assert str(caught.value) == (
        f"{path} is damaged: 'arms.swift.runs[0]' must be a dict, got [0.5]; {final_advice(path)}"
    )


@pytest.mark.parametrize(
    ("final", "problem"),
    [
        ([1], "'final' must be a dict, got [1]"),
        ({"seeds": 1, "uniform": True}, "'final.seeds' must be a list, got 1"),
        ({"uniform": True}, "it has no 'final.seeds'"),
        ({"seeds": [], "uniform": True}, "'final.seeds' must not be empty"),
        ({"seeds": [1.5], "uniform": True}, "'final.seeds' must hold integers, entry 0 is 1.5"),
        (
            {"seeds": [True], "uniform": True},
            "'final.seeds' must hold integers, entry 0 is True",
        ),
        ({"seeds": [1]}, "it has no 'final.uniform'"),
        ({"seeds": [1], "uniform": 1}, "'final.uniform' must be true or false, got 1"),
    ],
)
def test_read_final_checks_the_final_section_it_holds(
    tmp_path: Path, final: object, problem: str
) -> None:
    # A later train with more seeds keeps the runs by this field: a damaged one is named.
    path = tmp_path / "final.json"
    run = {
        "arm": "swift",
        "seed": 1,
        "seconds": 1.0,
        "test_top1": [0.5],
        "val_top1": [0.5],
        "train_loss": [1.0],
        "noisy_share": [],
        "last": 0.5,
        "test_at_best_val": 0.5,
        "best_val_epoch": 0,
    }
    arm = _arm([run])
    path.write_text(json.dumps({"arms": {"swift": arm}}))
    assert read_final(path)["arms"]["swift"]["runs"] == [run]  # without the field: read
    path.write_text(json.dumps({"arms": {"swift": arm}, "final": final}))
    with pytest.raises(RunFileError) as caught:
        read_final(path)
    assert str(caught.value) == f"{path} is damaged: {problem}; {final_advice(path)}"
