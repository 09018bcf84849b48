"""The search's cost in epochs: counted on the CPU clock when the run recorded it, on the wall
clock for runs of older versions (and a study resumed across versions)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from swift_sampler.config import load_config
from swift_sampler.search.clock import Tick, now
from swift_sampler.search.cost import search_cost
from swift_sampler.search.study import TrialRecord

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "digits-tiny.toml"
WALL = {"finetune": 4.0, "features": 1.0, "eval": 0.5, "outer": 0.5}
CPU = {"cpu_finetune": 2.0, "cpu_features": 0.5, "cpu_eval": 0.25, "cpu_outer": 0.25}


def _study(**attrs: float) -> optuna.Study:
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    return study


def _records(*seconds: dict[str, float]) -> tuple[TrialRecord, ...]:
    return tuple(
        TrialRecord(number=i, slot=i, theta=(0.5,) * 10, score=0.5, seconds=s)
        for i, s in enumerate(seconds)
    )


def test_epochs_are_counted_on_the_cpu_clock() -> None:
    config = load_config(CONFIG)
    study = _study(
        shared_seconds=4.0,
        epoch_seconds=2.0,  # a loaded machine: wall twice the CPU time
        shared_cpu_seconds=2.0,
        epoch_cpu_seconds=1.0,
        shared_features_seconds=1.0,
        shared_features_cpu_seconds=0.5,
    )
    cost = search_cost(study, _records({**WALL, **CPU}, {**WALL, **CPU}), config)
    assert cost["epoch_clock_cpu"] == 1.0
    # CPU: shared 2 + finetune 4 + features 0.5 + 1 + eval 0.5 + outer 0.5 = 8.5 s of 1 s epochs
    assert cost["total_cpu_s"] == pytest.approx(8.5)
    assert cost["total_epochs"] == pytest.approx(8.5)
    assert cost["finetune_epochs"] == pytest.approx(4.0)
    assert cost["features_epochs"] == pytest.approx(1.5)
    # The wall seconds stay what the run took.
    assert cost["total_s"] == pytest.approx(4 + 8 + 1 + 2 + 1 + 1)
    assert cost["finetune_s"] == pytest.approx(8.0)


@pytest.mark.parametrize("resumed", [False, True])
def test_older_runs_count_on_the_wall_clock(resumed: bool) -> None:
    config = load_config(CONFIG)
    if resumed:  # the study has CPU times, but one trial was scored by an older version
        study = _study(shared_seconds=4.0, epoch_seconds=2.0, epoch_cpu_seconds=1.0)
        records = _records(WALL, {**WALL, **CPU})
    else:
        study = _study(shared_seconds=4.0, epoch_seconds=2.0)
        records = _records(WALL, WALL)
    cost = search_cost(study, records, config)
    assert cost["epoch_clock_cpu"] == 0.0
    assert "total_cpu_s" not in cost
    assert cost["total_epochs"] == pytest.approx((4 + 12) / 2.0)


@pytest.mark.slow
def test_the_cpu_clock_counts_this_process_only(tmp_path: Path) -> None:
    """Wall time spent waiting (here: on a child process) is not CPU time of this one."""
    import subprocess
    import sys

    start = now()
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import time\nt=time.process_time()\nwhile time.process_time()-t<0.5: pass",
        ],
        check=True,
    )
    spent = now() - start
    assert isinstance(spent, Tick)
    assert spent.wall >= 0.5  # the child burnt at least 0.5 s of its own CPU time
    assert spent.cpu < spent.wall - 0.3  # none of which is this process's
