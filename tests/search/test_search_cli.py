"""The search end to end through the CLI, on sklearn digits with a tiny budget."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from swift_sampler import SamplerSpec
from swift_sampler._io import new_file_mode
from swift_sampler.cli import EXIT_BAD_INPUT, main

TINY = """
[data]
name = "digits"
noise_rate = 0.3
seed = 0

[model]
name = "mlp"

[train]
epochs = 6
batch_size = 64
lr = 0.1
seed = 0
threads = 1

[sampler]
transform = "cgf"

[search]
trials = {trials}
startup_trials = 2
outer = "{outer}"
shared_epochs = 2
finetune_epochs = {finetune}
{extra}

[final]
seeds = [1]
"""


def _config(
    tmp_path: Path,
    *,
    trials: int = 5,
    outer: str = "gp",
    name: str = "tiny",
    finetune: int = 2,
    extra: str = "",
) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(TINY.format(trials=trials, outer=outer, finetune=finetune, extra=extra))
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "swift_sampler.cli", "--threads", "1", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


@pytest.mark.slow
def test_search_train_report_end_to_end(tmp_path: Path, capsys) -> None:
    config = _config(tmp_path)
    run_dir = tmp_path / "run"
    assert main(["--threads", "1", "search", str(config), "--run-dir", str(run_dir)]) == 0
    for name in (
        "config.toml",
        "study.db",
        "shared.pt",
        "result.json",
        "sampler.json",
        "figure1.png",
        "figure3.png",
    ):
        assert (run_dir / name).is_file(), name
    result = json.loads((run_dir / "result.json").read_text())
    trials = [t for t in result["trials"] if t["state"] == "COMPLETE"]
    assert [t["slot"] for t in trials] == [0, 1, 2, 3, 4]
    assert trials[0]["theta"] == [1.0, 0.5, 0.5, 0.5, 0.5] * 2  # trial 0 is uniform
    best = max(trials, key=lambda t: (t["val_score"], -t["slot"]))
    assert result["best"]["theta"] == best["theta"]
    assert result["best"]["val_score"] == best["val_score"]
    cost = result["cost"]
    parts = ("setup_s", "shared_start_s", "finetune_s", "features_s", "eval_s", "outer_s")
    assert cost["total_s"] == pytest.approx(sum(cost[p] for p in parts))
    assert all(cost[p] > 0 for p in parts)
    spec = SamplerSpec.load(run_dir / "sampler.json")
    assert list(spec.theta) == best["theta"] and spec.transform == "cgf"
    assert spec.metadata["val_score"] == best["val_score"]

    # Final training with the found sampler, then the report.
    assert (
        main(["--threads", "1", "train", str(config), "--sampler", str(run_dir / "sampler.json")])
        == 0
    )
    final = json.loads((run_dir / "final.json").read_text())
    for arm in ("swift", "uniform"):
        run = final["arms"][arm]["runs"][0]
        assert len(run["test_top1"]) == 6
        assert run["last"] == run["test_top1"][-1]
        # The epoch is chosen on validation (the first best), never on the test curve.
        epoch = run["val_top1"].index(max(run["val_top1"]))
        assert run["best_val_epoch"] == epoch
        assert run["test_at_best_val"] == run["test_top1"][epoch]
        assert "best" not in run and "best_mean" not in final["arms"][arm]
    uniform = final["arms"]["uniform"]["runs"][0]["noisy_share"]
    assert uniform == pytest.approx([0.3] * 6, abs=1e-3)
    # Without --overwrite an existing final.json is kept (exit 2), and the message says why.
    capsys.readouterr()
    assert main(["train", str(config), "--sampler", str(run_dir / "sampler.json")]) == 2
    assert capsys.readouterr().err == (
        f"swift-sampler: error: {run_dir / 'final.json'} holds the complete final training of "
        "this config and sampler; give another --out, or pass --overwrite to train it again\n"
    )
    # An unfinished final.json of another config: the message counts its finished runs and
    # names the ways that keep them before --overwrite, which drops them; the file stays.
    other = tmp_path / "other"
    other.mkdir()
    text = json.dumps(final | {"complete": False, "config_fingerprint": "0" * 64})
    (other / "final.json").write_text(text)
    found = str(run_dir / "sampler.json")
    capsys.readouterr()
    assert main(["train", str(config), "--sampler", found, "--out", str(other)]) == 2
    err = capsys.readouterr().err
    assert (
        "holds 2 finished runs of an unfinished final training of another config; to continue "
        "it, train with the config and sampler that wrote it; else give another --out, or pass "
        "--overwrite to replace it\n"
    ) in err
    assert "preset" not in err  # this config sets its own [search]
    # The same config without its [search] section gets the swift preset: the note names the
    # way back to the config it was before.
    bare = tmp_path / "bare.toml"
    bare.write_text(config.read_text().split("[search]")[0] + "[final]\nseeds = [1]\n")
    assert main(["train", str(bare), "--sampler", found, "--out", str(other)]) == 2
    assert '`preset = "none"` under [search] reads it as it was then' in capsys.readouterr().err
    assert (other / "final.json").read_text() == text
    # A complete one of another config: nothing to continue, two ways on.
    (other / "final.json").write_text(json.dumps(final | {"config_fingerprint": "0" * 64}))
    assert main(["train", str(config), "--sampler", found, "--out", str(other)]) == 2
    assert capsys.readouterr().err == (
        f"swift-sampler: error: {other / 'final.json'} holds a complete final training of "
        "another config; give another --out, or pass --overwrite to replace it\n"
    )
    assert main(["report", str(run_dir)]) == 0
    # A final.json that is a directory is refused before any training, --overwrite or not
    # (it trained a whole run, then failed to replace the directory).
    blocked = tmp_path / "blocked"
    (blocked / "final.json").mkdir(parents=True)
    sampler = str(run_dir / "sampler.json")
    argv = ["train", str(config), "--sampler", sampler, "--out", str(blocked), "--overwrite"]
    capsys.readouterr()
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"swift-sampler: error: {blocked / 'final.json'} exists and is not a file; remove it "
        "or give another --out\n"
    )
    assert [p.name for p in blocked.iterdir()] == ["final.json"]


@pytest.mark.slow
def test_a_search_with_scaled_increments_finds_and_trains_a_scaled_sampler(
    tmp_path: Path,
) -> None:
    import optuna

    from swift_sampler.family import theta_to_knots

    config = tmp_path / "scaled.toml"
    config.write_text(
        TINY.format(trials=3, outer="gp", finetune=2, extra="").replace(
            'transform = "cgf"', 'transform = "cgf"\nincrements = "scaled"'
        )
    )
    run_dir = tmp_path / "run"
    assert main(["--threads", "1", "search", str(config), "--run-dir", str(run_dir)]) == 0
    saved = json.loads((run_dir / "sampler.json").read_text())
    assert saved["increments"] == "scaled"
    spec = SamplerSpec.load(run_dir / "sampler.json")
    assert spec.increments == "scaled"
    result = json.loads((run_dir / "result.json").read_text())
    assert result["increments"] == "scaled"
    np.testing.assert_allclose(
        result["best"]["knots"], theta_to_knots(result["best"]["theta"], increments="scaled")
    )
    study = optuna.load_study(study_name="swift-sampler", storage=f"sqlite:///{run_dir}/study.db")
    assert "min(0.5, the room left towards 1 or 0)" in study.user_attrs["param_help"]
    # The Sobol start-up thetas are interior points, where the two parameterisations differ.
    sobol = result["trials"][1]["theta"]
    assert not np.allclose(theta_to_knots(sobol, increments="scaled"), theta_to_knots(sobol))
    assert 'increments = "scaled"' in (run_dir / "config.toml").read_text()
    assert (
        main(["--threads", "1", "train", str(config), "--sampler", str(run_dir / "sampler.json")])
        == 0
    )
    final = json.loads((run_dir / "final.json").read_text())
    assert final["sampler"]["increments"] == "scaled"


@pytest.mark.slow
def test_a_noisy_or_search_finds_trains_and_saves_a_noisy_or_sampler(tmp_path: Path) -> None:
    import optuna

    config = tmp_path / "noisy_or.toml"
    config.write_text(
        TINY.format(trials=3, outer="gp", finetune=2, extra="").replace(
            'transform = "cgf"', 'transform = "cgf"\ncombine = "noisy_or"'
        )
    )
    run_dir = tmp_path / "run"
    assert main(["--threads", "1", "search", str(config), "--run-dir", str(run_dir)]) == 0
    assert json.loads((run_dir / "sampler.json").read_text())["combine"] == "noisy_or"
    assert SamplerSpec.load(run_dir / "sampler.json").combine == "noisy_or"
    assert json.loads((run_dir / "result.json").read_text())["combine"] == "noisy_or"
    study = optuna.load_study(study_name="swift-sampler", storage=f"sqlite:///{run_dir}/study.db")
    assert "weight is 1 - prod(1 - h)" in study.user_attrs["param_help"]
    assert 'combine = "noisy_or"' in (run_dir / "config.toml").read_text()
    sampler = str(run_dir / "sampler.json")
    assert main(["--threads", "1", "train", str(config), "--sampler", sampler]) == 0
    final = json.loads((run_dir / "final.json").read_text())
    assert final["sampler"]["combine"] == "noisy_or"


@pytest.mark.slow
def test_a_search_refreshed_once_finds_trains_and_saves_its_sampler(tmp_path: Path) -> None:
    config = tmp_path / "once.toml"
    config.write_text(
        TINY.format(trials=3, outer="gp", finetune=2, extra="").replace(
            'transform = "cgf"', 'transform = "cgf"\nrefresh = "once"'
        )
    )
    run_dir = tmp_path / "run"
    assert main(["--threads", "1", "search", str(config), "--run-dir", str(run_dir)]) == 0
    assert SamplerSpec.load(run_dir / "sampler.json").refresh == "once"
    result = json.loads((run_dir / "result.json").read_text())
    assert result["refresh"] == "once"
    assert 'refresh = "once"' in (run_dir / "config.toml").read_text()
    sampler = str(run_dir / "sampler.json")
    assert main(["--threads", "1", "train", str(config), "--sampler", sampler]) == 0
    final = json.loads((run_dir / "final.json").read_text())
    assert final["sampler"]["refresh"] == "once"
    # A fixed sampler that is not uniform: refreshed once, its mass on the noisy labels stays
    # what the switch gave it; refreshed every epoch, it moves.
    shares = {}
    for refresh in ("once", "every_epoch"):
        fixed = tmp_path / f"{refresh}.json"
        theta = [1.0, 0.5, 0.5, 0.0, 0.0, 1.0, 0.5, 0.5, 0.5, 0.5]  # drops the high losses
        SamplerSpec(theta=theta, refresh=refresh).save(fixed)
        out = tmp_path / refresh
        args = ["--threads", "1", "train", str(config), "--sampler", str(fixed), "--out", str(out)]
        assert main(args) == 0
        final = json.loads((out / "final.json").read_text())
        shares[refresh] = final["arms"]["swift"]["runs"][0]["noisy_share"][2:]  # E_s = 2
    assert len(shares["once"]) == 4 and len(set(shares["once"])) == 1
    assert shares["once"][0] == pytest.approx(shares["every_epoch"][0])
    assert len(set(shares["every_epoch"])) > 1


def test_more_final_seeds_keep_the_runs_already_trained(tmp_path: Path, capsys) -> None:
    config = _config(tmp_path)
    sampler = tmp_path / "sampler.json"
    SamplerSpec(theta=[1.0, 0.5, 0.5, 0.0, 0.0, 1.0, 0.5, 0.5, 0.5, 0.5]).save(sampler)
    out = tmp_path / "out"
    train = ["--threads", "1", "train", "--sampler", str(sampler), "--out", str(out)]
    assert main([*train, str(config)]) == 0
    target = out / "final.json"
    first = json.loads(target.read_text())
    assert first["final"] == {"seeds": [1], "uniform": True}
    one = {a: first["arms"][a]["runs"][0] for a in ("swift", "uniform")}

    def seeds(text: str, name: str) -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(config.read_text().replace("seeds = [1]", text))
        return path

    # Seeds added: seed 1's two runs are kept as they are (their own timings, not retrained),
    # seed 3's trained, and the file says what [final] it holds now.
    capsys.readouterr()
    assert main([*train, str(seeds("seeds = [1, 3]", "more"))]) == 0
    assert "its 2 finished runs are among this config's and are kept" in capsys.readouterr().out
    grown = json.loads(target.read_text())
    assert grown["final"] == {"seeds": [1, 3], "uniform": True} and grown["complete"]
    for arm in ("swift", "uniform"):
        assert grown["arms"][arm]["seeds"] == [1, 3]
        assert grown["arms"][arm]["runs"][0] == one[arm]
        assert grown["arms"][arm]["runs"][1]["test_top1"] != one[arm]["test_top1"]
    # A file written before final.json said its [final] (2026-12-01 and earlier) is read from
    # its arms: seed 1 with uniform, so the sampler's arm alone for [1, 3] keeps nothing of
    # uniform's and is refused, and [1, 3] with uniform keeps both runs.
    old = {k: v for k, v in first.items() if k != "final"}
    target.write_text(json.dumps(old))
    assert main([*train, str(seeds("seeds = [1, 3]\nuniform = false", "alone"))]) == 2
    assert "holds a complete final training of another config" in capsys.readouterr().err
    assert json.loads(target.read_text()) == old
    assert main([*train, str(seeds("seeds = [1, 3]", "more"))]) == 0
    assert json.loads(target.read_text())["arms"]["swift"]["runs"][0] == one["swift"]
    # Seeds dropped (seed 1's runs would go) or another key changed: nothing is kept, the
    # file is untouched and the message is the one for another config.
    before = target.read_text()
    other_lr = seeds("seeds = [1, 3, 4]", "lr")
    other_lr.write_text(other_lr.read_text().replace("lr = 0.1", "lr = 0.05"))
    for path in (seeds("seeds = [3]", "fewer"), other_lr):
        assert main([*train, str(path)]) == 2
        assert "final training of another config" in capsys.readouterr().err
        assert target.read_text() == before


@pytest.mark.slow
@pytest.mark.parametrize(
    "pruner", ["none", "successive_halving", "hyperband", "swift", "synchronous_halving"]
)
def test_sigkill_mid_trial_then_resume_matches_an_uninterrupted_run(
    tmp_path: Path, pruner: str
) -> None:
    # With a pruner, the kill lands after the running trial reported an intermediate value:
    # the killed trial's values must not sway the pruner of the re-run or later slots.
    # "swift": successive halving on half-epoch steps, a bootstrap count and features
    # refreshed every other epoch. Synchronous halving reports no intermediate value: its
    # trials stop at the first rung, and its promotion rounds must resume as well.
    extra = f'pruner = "{pruner}"'
    reports = pruner in ("successive_halving", "hyperband", "swift")
    if pruner == "synchronous_halving":
        extra += "\nepoch_parts = 2"
    if pruner == "swift":
        extra = (
            'pruner = "successive_halving"\nepoch_parts = 2\nbootstrap_count = 1\n'
            "refresh_every = 2"
        )
    config = _config(tmp_path, trials=7, finetune=3, extra=extra)
    straight = _cli("search", str(config), "--run-dir", str(tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr

    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "swift_sampler.cli",
            "--threads",
            "1",
            "search",
            str(config),
            "--run-dir",
            str(killed_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    # Wait until two trials are finished and a third is running, then SIGKILL.
    deadline = time.monotonic() + 300
    states: list[str] = []
    reported = 0
    query = (
        "SELECT COUNT(*) FROM trial_intermediate_values v JOIN trials t "
        "ON v.trial_id = t.trial_id WHERE t.state = 'RUNNING'"
    )
    while time.monotonic() < deadline and proc.poll() is None:
        db = killed_dir / "study.db"
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as conn:
                    states = [r[0] for r in conn.execute("SELECT state FROM trials")]
                    reported = conn.execute(query).fetchone()[0] if reports else 1
            except sqlite3.Error:
                states, reported = [], 0
            done = states.count("COMPLETE") + states.count("PRUNED")
            if done >= 2 and "RUNNING" in states and reported > 0:
                proc.send_signal(signal.SIGKILL)
                break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"not killed mid-trial; states {states}"
    finished_before = states.count("COMPLETE") + states.count("PRUNED")

    resumed = _cli("search", str(config), "--run-dir", str(killed_dir), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((tmp_path / "straight" / "result.json").read_text())
    b = json.loads((killed_dir / "result.json").read_text())

    def done(result: dict) -> list[dict]:
        trials = (t for t in result["trials"] if t["state"] in ("COMPLETE", "PRUNED"))
        return sorted(trials, key=lambda t: t["slot"])

    done_a, done_b = done(a), done(b)
    assert len(done_b) == 7
    # The killed trial is recorded as FAIL and its slot re-run; nothing finished was lost.
    failed = [t for t in b["trials"] if t["state"] == "FAIL"]
    assert len(failed) == 1 and failed[0]["slot"] == finished_before
    if reports:
        assert failed[0]["intermediate_values"]  # it had reported before the kill
        assert any(t["state"] == "PRUNED" for t in done_a)
    for key in ("state", "theta", "val_score", "intermediate_values", "epochs"):
        assert [t[key] for t in done_a] == [t[key] for t in done_b], key
    assert a["best"]["theta"] == b["best"]["theta"]
    assert a["shared_sha256"] == b["shared_sha256"]
    assert a["cost"]["finetune_epochs_run"] == b["cost"]["finetune_epochs_run"]
    assert a.get("rounds", {}).get("rungs") == b.get("rounds", {}).get("rungs")


def test_bad_config_reports_every_problem_and_creates_nothing(tmp_path: Path, capsys) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[search]\ntrials = 'ten'\nouter = 'bo'\n[serach]\nx = 1\n")
    run_dir = tmp_path / "run"
    assert main(["search", str(config), "--run-dir", str(run_dir)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "search.trials" in err and "search.outer" in err and "serach" in err
    assert "Traceback" not in err
    assert not run_dir.exists()


def test_missing_files_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["search", str(tmp_path / "nope.toml")]) == EXIT_BAD_INPUT
    assert "config file not found" in capsys.readouterr().err
    config = _config(tmp_path)
    assert main(["train", str(config), "--sampler", str(tmp_path / "none.json")]) == 2
    assert "sampler file not found" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == EXIT_BAD_INPUT
    assert "holds no result.json" in capsys.readouterr().err


def test_sampler_file_of_another_schema_version_exits_2(tmp_path: Path, capsys) -> None:
    state = SamplerSpec().to_dict()
    state["schema_version"] = 99
    sampler = tmp_path / "sampler.json"
    sampler.write_text(json.dumps(state))
    assert main(["train", str(_config(tmp_path)), "--sampler", str(sampler)]) == 2
    assert "schema version 99 is not supported" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"theta": [10**400] + [0.5] * 9}, "theta[0]"),  # was OverflowError, exit 1
        ({"eps": None}, "eps"),
        ({"metadata": [1, 2]}, "metadata"),
        ({"lipschitz": True}, "lipschitz"),  # was accepted as 1.0
    ],
)
def test_hostile_sampler_file_exits_2_naming_the_field(
    tmp_path: Path, capsys, change: dict, field: str
) -> None:
    sampler = tmp_path / "sampler.json"
    sampler.write_text(json.dumps({**SamplerSpec().to_dict(), **change}))
    assert main(["train", str(_config(tmp_path)), "--sampler", str(sampler)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"{field}: must be" in err and str(sampler) in err
    assert not (tmp_path / "final.json").exists()


def test_hostile_sampler_file_exits_2_in_a_real_process(tmp_path: Path) -> None:
    sampler = tmp_path / "sampler.json"
    sampler.write_text(json.dumps({**SamplerSpec().to_dict(), "features": [["loss"], "er"]}))
    run = _cli("train", str(_config(tmp_path)), "--sampler", str(sampler))
    assert run.returncode == EXIT_BAD_INPUT, run.stderr
    assert "features: must be a non-empty list of distinct names" in run.stderr
    assert "[['loss'], 'er']" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.slow
def test_resume_refuses_a_changed_config_and_a_swapped_checkpoint(tmp_path: Path, capsys) -> None:
    config = _config(tmp_path, trials=2)
    run_dir = tmp_path / "run"
    assert main(["--threads", "1", "search", str(config), "--run-dir", str(run_dir)]) == 0
    before = sorted(p.name for p in run_dir.iterdir())
    # Starting again without --resume does not touch the run.
    assert main(["search", str(config), "--run-dir", str(run_dir)]) == 2
    assert "pass --resume" in capsys.readouterr().err
    # A changed config is refused.
    changed = _config(tmp_path, trials=3, name="changed")
    assert main(["search", str(changed), "--run-dir", str(run_dir), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "another configuration" in err and ": search.trials 2 -> 3" in err
    # A shared checkpoint that is not the one recorded is refused.
    shared = run_dir / "shared.pt"
    data = bytearray(shared.read_bytes())
    data[-10] ^= 0xFF
    shared.write_bytes(bytes(data))
    assert main(["search", str(config), "--run-dir", str(run_dir), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "SHA-256" in err and "restore the original shared.pt" in err and "--fresh" in err
    assert sorted(p.name for p in run_dir.iterdir()) == before


def test_outer_loop_overhead_is_recorded_per_trial(tmp_path: Path) -> None:
    # A cheap check on the recorded timings of a 3-trial random search (no GP fit).
    config = _config(tmp_path, trials=3, outer="random")
    run_dir = tmp_path / "run"
    assert main(["--threads", "1", "search", str(config), "--run-dir", str(run_dir)]) == 0
    result = json.loads((run_dir / "result.json").read_text())
    for t in result["trials"]:
        wall = {"finetune", "features", "eval", "outer"}
        assert set(t["seconds"]) == wall | {f"cpu_{k}" for k in wall}
    thetas = np.array([t["theta"] for t in result["trials"]])
    assert len({tuple(r) for r in thetas}) == 3
    # One-off set-up (model and optimiser, lazy imports) is its own part of the cost.
    cost = result["cost"]
    parts = ("setup_s", "shared_start_s", "finetune_s", "features_s", "eval_s", "outer_s")
    assert cost["total_s"] == pytest.approx(sum(cost[p] for p in parts))
    assert cost["setup_s"] > 0 and cost["setup_epochs"] > 0
    # Epochs are counted on the process's CPU clock: the same parts, divided by the CPU
    # seconds of one uniform epoch of the shared start.
    assert cost["epoch_clock_cpu"] == 1.0
    cpu = [p.removesuffix("_s") + "_cpu_s" for p in parts]
    assert cost["total_cpu_s"] == pytest.approx(sum(cost[p] for p in cpu))
    assert cost["total_epochs"] == pytest.approx(cost["total_cpu_s"] / cost["epoch_cpu_s"])
    for part in ("finetune", "features", "outer"):
        assert cost[f"{part}_epochs"] == pytest.approx(cost[f"{part}_cpu_s"] / cost["epoch_cpu_s"])
        assert cost[f"{part}_cpu_s"] == pytest.approx(
            sum(t["seconds"][f"cpu_{part}"] for t in result["trials"])
            + (cost["shared_features_cpu_s"] if part == "features" else 0.0)
        )
    # Every file of the run directory has the mode of a plain open() (not mkstemp's 0600).
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in run_dir.iterdir()}
    assert {"shared.pt", "result.json", "sampler.json", "figure1.npz"} <= set(modes)
    assert set(modes.values()) == {new_file_mode()}, modes


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ('name = "cnn"', "'cnn' cannot take digits inputs of shape (1, 8, 8)"),
        ('name = "conv1d"', "'conv1d' cannot take digits inputs"),
    ],
)
def test_a_model_that_does_not_fit_the_data_exits_2_and_creates_nothing(
    tmp_path: Path, capsys, override: str, message: str
) -> None:
    config = _config(tmp_path)
    config.write_text(config.read_text().replace('name = "mlp"', override))
    run_dir = tmp_path / "run"
    assert main(["search", str(config), "--run-dir", str(run_dir)]) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
    assert not run_dir.exists()


def test_a_bad_storage_url_exits_2_and_creates_nothing(tmp_path: Path, capsys) -> None:
    config = _config(tmp_path)
    config.write_text(
        config.read_text().replace("[search]", '[search]\nstorage = "foo://nowhere"')
    )
    run_dir = tmp_path / "run"
    assert main(["search", str(config), "--run-dir", str(run_dir)]) == EXIT_BAD_INPUT
    assert "must be an Optuna storage URL" in capsys.readouterr().err
    assert not run_dir.exists()
    text = config.read_text()
    afile = tmp_path / "afile"
    afile.write_text("mine\n")
    for url, reason in (
        ("sqlite:////no/such/dir/x.db", "the directory /no/such/dir does not exist"),
        (f"sqlite:///{afile}/x.db", f"{afile} is a file, not a directory"),
        ("journal:///no/such/dir/x.journal", "the directory /no/such/dir does not exist"),
    ):
        config.write_text(text.replace("foo://nowhere", url))
        assert main(["search", str(config), "--run-dir", str(run_dir)]) == EXIT_BAD_INPUT
        assert capsys.readouterr().err == (  # one line (no SQLAlchemy "Background" line)
            f"swift-sampler: error: cannot open the study storage {url!r}: {reason}\n"
        )
        assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "tiny.toml"]
    assert afile.read_text() == "mine\n"


def test_an_unreachable_storage_leaves_no_runs_directory(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default run directory: runs/tiny
    url = "postgresql://nobody@127.0.0.1:1/db"
    config = _config(tmp_path, extra=f'storage = "{url}"')
    assert main(["search", str(config)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err  # the reason depends on the driver: not installed, refused
    assert err.startswith(f"swift-sampler: error: cannot open the study storage {url!r}: ")
    assert err.count("\n") == 1 and "Background on this error" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.toml"]  # runs/ removed too


@pytest.mark.parametrize(
    "text", [b"x\n", b"my notes", b'{"a": 1}\n'], ids=["text", "no-newline", "json"]
)
def test_search_refuses_a_journal_storage_that_is_not_a_journal(
    tmp_path: Path, capsys, text: bytes
) -> None:
    afile = tmp_path / "afile"
    afile.write_bytes(text)
    config = _config(tmp_path, extra=f'storage = "journal://{afile}"')
    run_dir = tmp_path / "run"
    assert main(["search", str(config), "--run-dir", str(run_dir)]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == (
        f"swift-sampler: error: the journal storage {afile} exists and is not an Optuna "
        'journal: every line of a journal is a JSON object with an "op_code", but line 1 is '
        "not; choose a path that does not exist yet (or an empty file)\n"
    )
    assert afile.read_bytes() == text  # nothing appended, no lock file, no run directory
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "tiny.toml"]


def test_storage_errors_are_one_line(tmp_path: Path) -> None:
    """SQLAlchemy's "[SQL: ...]" and "(Background on this error at: ...)" lines are left out."""
    import optuna

    from swift_sampler.search.workers import storage_problem

    afile = tmp_path / "afile"
    afile.write_text("not a database\n" * 100)
    with pytest.raises(Exception) as caught:
        optuna.get_all_study_names(f"sqlite:///{afile}")
    assert "Background on this error" in str(caught.value)  # what the user saw
    assert storage_problem(caught.value) == "(sqlite3.DatabaseError) file is not a database"
    # A statement over several lines, with its parameters: none of it is kept (the
    # parameters could be a user's data).
    import sqlalchemy

    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(sqlalchemy.exc.OperationalError) as caught, engine.connect() as db:
        db.execute(sqlalchemy.text("SELECT name\nFROM studies\nWHERE name = :n"), {"n": "x"})
    assert "[parameters:" in str(caught.value) and "FROM studies" in str(caught.value)
    assert storage_problem(caught.value) == "(sqlite3.OperationalError) no such table: studies"


def test_kill_between_enqueue_and_ask_resumes_to_the_same_result(tmp_path: Path) -> None:
    """A trial left WAITING (killed right after enqueue_trial) must not shift later slots."""
    import optuna

    from swift_sampler.config import load_config
    from swift_sampler.search.driver import run_search
    from swift_sampler.search.outer import param_names

    config = load_config(_config(tmp_path, trials=4, outer="random"))
    straight = run_search(config, tmp_path / "straight")

    class Stop(Exception):
        pass

    def stop_after_two(record: object) -> None:
        if record.slot == 1:  # type: ignore[attr-defined]
            raise Stop

    run_dir = tmp_path / "killed"
    with pytest.raises(Stop):
        run_search(config, run_dir, on_trial=stop_after_two)
    # What a kill between enqueue_trial and ask leaves behind: a WAITING trial for slot 2.
    study = optuna.load_study(study_name="swift-sampler", storage=f"sqlite:///{run_dir}/study.db")
    study.enqueue_trial({n: 0.5 for n in param_names(10)}, user_attrs={"slot": 2})
    resumed = run_search(config, run_dir, resume=True)
    assert [t.theta for t in resumed.trials] == [t.theta for t in straight.trials]
    assert [t.score for t in resumed.trials] == [t.score for t in straight.trials]
    states = [t.state.name for t in study.get_trials()]
    assert states.count("COMPLETE") == 4 and "WAITING" not in states


# A search process that SIGKILLs itself when it is about to write config.toml: the moment
# after the study was created and before config.toml exists, which no exception handler sees.
_KILLED_AT_CONFIG = """
import os, signal, sys
from pathlib import Path
import swift_sampler.search.driver as driver
from swift_sampler.config import load_config

def write_text(path, text):
    if Path(path).name == "config.toml":
        os.kill(os.getpid(), signal.SIGKILL)

driver.write_text = write_text
driver.run_search(load_config(sys.argv[1]), Path(sys.argv[2]))
"""


def test_a_search_killed_between_its_study_and_config_toml_starts_afresh(tmp_path: Path) -> None:
    """A search SIGKILLed right after creating its study, before config.toml: the run
    directory held a study, so a rerun said "pass --resume", and had no config.toml, so there
    was nothing to resume from (an experiment script that resumes when config.toml exists was
    stuck). A study with no trial is cleared and the search runs as if never started."""
    from swift_sampler.config import load_config
    from swift_sampler.search.driver import run_search

    config_path = _config(tmp_path, trials=3, outer="random")
    config = load_config(config_path)
    straight = run_search(config, tmp_path / "straight")

    run_dir = tmp_path / "killed"
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_AT_CONFIG, str(config_path), str(run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert (run_dir / "study.db").is_file() and not (run_dir / "config.toml").exists()

    again = run_search(config, run_dir)
    assert [t.theta for t in again.trials] == [t.theta for t in straight.trials]
    assert [t.score for t in again.trials] == [t.score for t in straight.trials]
    assert (run_dir / "config.toml").is_file()


def test_a_half_made_run_directory_is_cleared_only_when_it_is_this_searchs_empty_study(
    tmp_path: Path,
) -> None:
    """Only an empty study named as this config's, with its fingerprint or none, is what a
    killed creation of this search leaves; anything else in study.db or study.journal
    without config.toml is refused ("already holds a search") and kept byte for byte."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    from swift_sampler.config import load_config
    from swift_sampler.errors import ConfigError
    from swift_sampler.search.driver import run_search

    config = load_config(_config(tmp_path, trials=3, outer="random"))
    name, mine = config.search.study_name, config.fingerprint()

    def sqlite_study(run: Path, study_name: str, fingerprint: str, trial: bool) -> None:
        study = optuna.create_study(study_name=study_name, storage=f"sqlite:///{run}/study.db")
        study.set_user_attr("fingerprint", fingerprint)
        if trial:
            study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.5))

    def journal_study(run: Path, study_name: str, fingerprint: str) -> None:
        backend = JournalFileBackend(str(run / "study.journal"))
        storage = optuna.storages.JournalStorage(backend)
        study = optuna.create_study(study_name=study_name, storage=storage)
        study.set_user_attr("fingerprint", fingerprint)

    refused = {
        "with a trial": lambda run: sqlite_study(run, name, mine, trial=True),
        "another study": lambda run: sqlite_study(run, "someone", mine, trial=False),
        "another config": lambda run: sqlite_study(run, name, "0" * 64, trial=False),
        "not optuna": lambda run: sqlite3.connect(run / "study.db").execute(
            "CREATE TABLE thesis (chapter TEXT)"
        ),
        "not a database": lambda run: (run / "study.db").write_bytes(b"years of work"),
        "a journal of another config": lambda run: journal_study(run, name, "0" * 64),
    }
    for case, make in refused.items():
        run = tmp_path / case.replace(" ", "-")
        run.mkdir()
        make(run)
        before = {f.name: f.read_bytes() for f in run.iterdir() if f.is_file()}
        with pytest.raises(ConfigError, match="already holds a search; pass --resume"):
            run_search(config, run)
        after = {f.name: f.read_bytes() for f in run.iterdir() if f.is_file()}
        assert after == before, case  # not even a lock file

    # this config's empty journal (a killed creation with workers) is cleared: the search runs
    # on the default SQLite storage, as if never started
    run = tmp_path / "journal"
    run.mkdir()
    journal_study(run, name, mine)
    result = run_search(config, run)
    assert len(result.trials) == 3 and not (run / "study.journal").exists()
    assert (run / "study.db").is_file() and (run / "config.toml").is_file()


def test_demo_fresh_refuses_a_directory_that_is_not_a_run(tmp_path: Path, capsys) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    config = _config(tmp_path)
    args = ["demo", "--config", str(config), "--run-dir", str(precious), "--fresh"]
    assert main(args) == EXIT_BAD_INPUT
    assert "deletes run directories only" in capsys.readouterr().err
    assert (precious / "thesis.txt").read_text() == "years of work"


def test_a_pruner_without_a_rung_exits_2_and_creates_nothing(tmp_path: Path, capsys) -> None:
    config = _config(tmp_path, finetune=1, extra='pruner = "successive_halving"\npatience = 9')
    run_dir = tmp_path / "run"
    assert main(["search", str(config), "--run-dir", str(run_dir)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "2 problems" in err
    assert "search.pruner: 'successive_halving' needs search.finetune_epochs >= 2" in err
    assert "search.patience: must be < search.trials (5)" in err
    assert not run_dir.exists()


def test_a_shared_start_that_diverges_names_the_learning_rate(tmp_path: Path, capsys) -> None:
    """train.lr = 1e30 sends the shared start to NaN; the message said only "logits must be
    finite, but row 0 holds NaN or inf", naming neither a key nor a fix."""
    config = _config(tmp_path)
    config.write_text(config.read_text().replace("lr = 0.1", "lr = 1e30"))
    code = main(["--threads", "1", "search", str(config), "--run-dir", str(tmp_path / "run")])
    assert code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("swift-sampler: error:") == 1 and "Traceback" not in err
    assert (
        "training diverged, or the model outputs NaN; lower train.lr (now 1e+30) or check the "
        "model (model.factory, if it is yours)"
    ) in err


def test_a_config_without_search_keys_of_its_own_runs_the_swift_preset(
    tmp_path: Path, capsys
) -> None:
    """No trials, pruner or portfolio in [search]: the search is the uniform sampler and the
    four portfolio thetas, screened on a third of the tail, the best two finishing it."""
    from swift_sampler import portfolio

    text = TINY.format(trials=1, outer="gp", finetune=3, extra="")
    text = text.replace('trials = 1\nstartup_trials = 2\nouter = "gp"\n', "")
    assert "trials" not in text and "outer" not in text
    config = tmp_path / "auto.toml"
    config.write_text(text)
    run_dir = tmp_path / "run"
    assert main(["--threads", "1", "search", str(config), "--run-dir", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "search: 5 trials" in out and "pruner synchronous_halving, preset swift" in out
    result = json.loads((run_dir / "result.json").read_text())
    thetas = [tuple(t["theta"]) for t in result["trials"]]
    assert len(thetas) == 5 and thetas[1:] == list(portfolio.THETAS)
    assert 'preset = "swift"' in (run_dir / "config.toml").read_text()
    # The same file with preset = "none" is the full search: --resume refuses it and says
    # which keys differ.
    config.write_text(text.replace("[search]\n", '[search]\npreset = "none"\n'))
    assert main(["search", str(config), "--run-dir", str(run_dir), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "another configuration" in err and "search.trials 5 -> 20" in err
    assert "search.preset 'swift' -> None" in err


def test_a_changed_config_names_its_keys_and_the_automatic_preset() -> None:
    """What --resume says when a config file without [search] keys, whose run began as the
    full search (before the preset was the default), now reads as the preset."""
    from swift_sampler.config import Config, parse_config
    from swift_sampler.search.driver import _changed_keys

    stored = Config().to_dict()  # an empty config's run directory, made before 2026-12-02
    message = _changed_keys(stored, parse_config({}))
    assert message.startswith(": search.trials 20 -> 5, search.startup_trials 8 -> 0, ")
    # 7 keys differ (trials, startup_trials, pruner, min_resource, refresh_every, portfolio,
    # preset), 6 are named
    assert "search.portfolio 0 -> 4 and 1 more (this config" in message
    assert message.endswith(
        "(this config reads as the swift preset, the default since 2026-12-02 of a config "
        "without search keys of its own; set search.preset = 'none' to resume the full search)"
    )
    assert _changed_keys(stored, Config()) == ""
    # A study stored before pruner, portfolio and preset existed: they had their defaults.
    older = {**stored, "search": dict(stored["search"])}
    for key in ("pruner", "min_resource", "refresh_every", "portfolio", "preset"):
        del older["search"][key]
    assert _changed_keys(older, parse_config({})) == message
    assert _changed_keys(older, Config()) == ""
    assert _changed_keys(None, Config()) == ""  # a study that stored no config
    other = _changed_keys(stored, parse_config({"search": {"trials": 9}}))
    assert other == ": search.trials 20 -> 9"
