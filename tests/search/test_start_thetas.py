"""Start thetas (``search.portfolio`` and ``search.start_thetas``) through a real search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest

from swift_sampler import portfolio
from swift_sampler.cli import EXIT_BAD_INPUT, main
from swift_sampler.config import parse_config
from swift_sampler.search.driver import run_search
from swift_sampler.search.outer import make_outer_loop

TINY = {
    "data": {"name": "digits", "noise_rate": 0.3},
    "model": {"name": "mlp"},
    "train": {"epochs": 4, "lr": 0.1, "threads": 1},
    "search": {
        "trials": 5,
        "startup_trials": 1,
        "outer": "gp",
        "shared_epochs": 2,
        "finetune_epochs": 2,
    },
}
MINE = [0.2, 0.9, 0.1, 0.9, 0.1, 1.0, 0.5, 0.5, 0.5, 0.5]


@pytest.mark.slow
def test_a_search_tries_the_portfolio_then_the_users_thetas_then_its_own(
    tmp_path: Path,
) -> None:
    data = {**TINY, "search": {**TINY["search"], "portfolio": 1, "start_thetas": [MINE]}}
    config = parse_config(data)
    result = run_search(config, tmp_path / "run")
    thetas = [list(t.theta) for t in result.trials]
    assert thetas[0] == [1.0, 0.5, 0.5, 0.5, 0.5] * 2
    assert thetas[1] == list(portfolio.THETAS[0])
    assert thetas[2] == MINE
    # Slot 3 is the outer loop's first start-up point, as it would be without start thetas.
    sobol = make_outer_loop("gp", 10, seed=0, startup_trials=1).suggest([], 1)[0]
    np.testing.assert_array_equal(thetas[3], sobol)
    study = optuna.load_study(
        study_name="swift-sampler", storage=f"sqlite:///{tmp_path}/run/study.db"
    )
    by_slot = {t.user_attrs["slot"]: t for t in study.get_trials()}
    assert [by_slot[s].system_attrs.get("start_theta") for s in range(4)] == [None, 0, 1, None]
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert [t["theta"] for t in saved["trials"][:3]] == thetas[:3]
    # The slot-4 proposal is the GP's, conditioned on all four scores before it.
    assert thetas[4] not in thetas[:4]


def test_bad_start_thetas_exit_2_and_create_nothing(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[data]\nname = "digits"\n[sampler]\nlipschitz = 4.0\n'
        "[search]\ntrials = 2\nstartup_trials = 0\nportfolio = 1\n"
        "start_thetas = [[0.5, 0.5, 0.5]]\n"
    )
    run_dir = tmp_path / "run"
    assert main(["search", str(path), "--run-dir", str(run_dir)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "3 problems" in err
    assert "sampler.lipschitz = 4.0 (the portfolio's: 2.0)" in err
    assert "every theta must have M (S + 1) = 2 x 5 = 10 numbers" in err
    assert "2 trials leave room for 1 start theta," in err
    assert not run_dir.exists()


def test_the_shipped_portfolio_is_the_one_its_experiment_picked() -> None:
    """swift_sampler.portfolio.THETAS are results/portfolio/summary.json's picks, in order, in
    the family the config checks, each from a search on another setting than the benchmarks'."""
    summary = json.loads(
        (Path(__file__).resolve().parents[2] / "results/portfolio/summary.json").read_text()
    )
    assert [tuple(p["theta"]) for p in summary["portfolio"]] == list(portfolio.THETAS)
    assert len(portfolio.THETAS) == 4 and len(set(portfolio.THETAS)) == 4
    assert all(len(t) == 10 and all(0.0 <= x <= 1.0 for x in t) for t in portfolio.THETAS)
    for setting in summary["settings"].values():
        data = setting["data"]
        assert data["name"] != "mnist5k"
        assert not (data["name"] == "mnist1d" and data["noise_rate"] == 0.4)
    # Every pick beats uniform on average over the settings (validation, the cross seed).
    for p in summary["portfolio"]:
        i = next(k for k, q in enumerate(summary["pool"]) if q["theta"] == p["theta"])
        gains = [
            summary["cross_val"][s][i] - summary["uniform_val"][s] for s in summary["settings"]
        ]
        assert sum(gains) > 0


@pytest.mark.slow
def test_the_whole_portfolio_screened_by_halving_finishes_the_best_two(tmp_path: Path) -> None:
    """The README's recipe for about two and a half trainings on a tiny config: the uniform
    sampler and the four portfolio thetas screened on the first rung, the best two of them
    (by screening score) finishing the tail, the better at the last step kept."""
    search = {
        **TINY["search"],
        "trials": 5,
        "startup_trials": 0,
        "portfolio": 4,
        "pruner": "synchronous_halving",
        "min_resource": 1,
        "finalists": 2,
    }
    config = parse_config({**TINY, "search": search})
    run_dir = tmp_path / "run"
    result = run_search(config, run_dir)
    thetas = [list(t.theta) for t in result.trials]
    assert [tuple(t) for t in thetas[1:5]] == list(portfolio.THETAS)
    saved = json.loads((run_dir / "result.json").read_text())
    rungs = json.loads((run_dir / "rungs.json").read_text())["continuations"]
    screened = {t["slot"]: t["val_score"] for t in saved["trials"]}
    assert len(screened) == 5
    best_two = sorted(screened, key=lambda s: (-screened[s], s))[:2]
    assert sorted(c["slot"] for c in rungs) == sorted(best_two)
    assert {(c["from_step"], c["to_step"]) for c in rungs} == {(1, 2)}
    finished = {c["slot"]: c["score"] for c in rungs}
    assert result.best_slot == min(finished, key=lambda s: (-finished[s], s))
    assert result.best_score == finished[result.best_slot]
    assert saved["cost"]["continuations"] == 2


@pytest.mark.slow
def test_the_swift_preset_runs_from_the_command_line(tmp_path: Path, capsys) -> None:
    """``preset = "swift"`` alone: the uniform sampler and the four portfolio thetas screened,
    the best two finishing the tail; a misspelt preset exits 2 and creates nothing."""
    path = tmp_path / "swift.toml"
    path.write_text(
        '[data]\nname = "digits"\nnoise_rate = 0.3\n[model]\nname = "mlp"\n'
        "[train]\nepochs = 4\nlr = 0.1\nthreads = 1\n"
        '[search]\npreset = "swift"\nshared_epochs = 2\n[final]\nseeds = [1]\nuniform = false\n'
    )
    run_dir = tmp_path / "run"
    assert main(["search", str(path), "--run-dir", str(run_dir)]) == 0
    saved = json.loads((run_dir / "result.json").read_text())
    assert [t["theta"] for t in saved["trials"][1:]] == [list(t) for t in portfolio.THETAS]
    assert saved["cost"]["continuations"] == 2
    assert saved["cost"]["trials_complete"] == 5
    # The tail of 2 epochs is screened on its first two thirds of an epoch (3 parts each).
    assert {t["fidelity_steps"] for t in saved["trials"]} == {2}
    bad = tmp_path / "bad.toml"
    bad.write_text(path.read_text().replace('preset = "swift"', 'preset = "swfit"'))
    capsys.readouterr()
    assert main(["search", str(bad), "--run-dir", str(tmp_path / "bad")]) == EXIT_BAD_INPUT
    assert "search.preset: must be one of ['auto', 'swift', 'none'] (or absent), got 'swfit'" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "bad").exists()


def test_a_config_changed_by_replace_is_checked_against_the_portfolio(tmp_path: Path) -> None:
    """default_config() holds the preset's portfolio; a family changed with
    dataclasses.replace (no parse_config to re-check it) is refused by run_search before
    anything is created."""
    import dataclasses

    from swift_sampler.config import default_config
    from swift_sampler.errors import ConfigError

    config = default_config()
    sharper = dataclasses.replace(
        config, sampler=dataclasses.replace(config.sampler, lipschitz=8.0)
    )
    with pytest.raises(ConfigError, match=r"sampler.lipschitz = 8.0 \(the portfolio's: 2.0\)"):
        run_search(sharper, tmp_path / "run")
    assert not (tmp_path / "run").exists()
