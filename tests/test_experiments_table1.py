"""experiments/table1.py's jobs: the committed runs stay reachable under both protocols.

Table 1's runs are cached under results/table1/runs/ (and early_start's under
results/early_start/runs/) by job key and a hash of the job's arguments; a change to how a job
is built that altered either would silently recompute hundreds of trainings, or read another
job's result. These tests read the committed cache files; no training runs.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.fixture
def table1(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(EXPERIMENTS))
    monkeypatch.delenv("SWIFT_SAMPLER_RESULTS", raising=False)  # the committed results
    for name in ("_common", "table1", "early_start"):
        sys.modules.pop(name, None)
    import table1

    yield table1
    for name in ("_common", "table1", "early_start"):
        sys.modules.pop(name, None)


def _args(protocol: str) -> argparse.Namespace:
    trials = {"early": 20, "late": 40}[protocol]
    return argparse.Namespace(protocol=protocol, fraction=0.4, trials=trials, select_seed=0)


def test_the_baselines_and_searches_of_both_protocols_are_committed_runs(table1: Any) -> None:
    trials = table1.BASELINE_TRIALS
    for job in (
        table1.train("mnist5k", "sym40", "uniform", 1, trials, None),
        table1.train("mnist1d", "pair40", "coteaching", 0, trials, 0.25),
        table1.practical("mnist5k", "sym40", "drop_r_val", 0, trials, 0.2),
        table1.practical("mnist1d", "sym20", "coteaching_val", 2, trials, 0.2),
        table1.ss_search(_args("late"), "mnist5k", "sym40", "ss_cgf"),
    ):
        assert job.path.is_file(), f"{job.key}: its committed run is no longer found"
    # The default protocol's SS(cgf) is experiments/early_start.py's own search and training.
    early = table1.ss_search(_args("early"), "mnist5k", "sym40", "ss_cgf")
    assert early.experiment == "early_start" and early.path.is_file()
    spec = early.cached()["spec"]
    final = table1.ss_train(_args("early"), "mnist5k", "sym40", "ss_cgf", 1, spec)
    assert final.experiment == "early_start" and final.path.is_file()
    assert final.cached()["last"] > 0.9  # 95.2 / 94.5 on seeds 1-3 (docs/results.md)


def test_drop_r_from_the_early_start_is_its_own_job(table1: Any) -> None:
    trials = table1.BASELINE_TRIALS
    default = table1.practical("mnist5k", "sym40", "drop_r_val", 0, trials, 0.2)
    same = table1.practical("mnist5k", "sym40", "drop_r_val", 0, trials, 0.2, None)
    early = table1.practical("mnist5k", "sym40", "drop_r_val", 0, trials, 0.2, 0.4)
    assert (same.key, same.digest) == (default.key, default.digest)
    assert early.key == "train-mnist5k-sym40-drop_r_val-r0.2-from0.4-s0"
    assert early.digest != default.digest and early.kwargs["start"] == 0.4
    assert table1.practical_grid("drop_r_val", table1.early_start_of(_args("late"))) == [
        (r, None) for r in table1.RATE_GRID
    ]
    grid = table1.practical_grid("drop_r_val", table1.early_start_of(_args("early")))
    assert grid == [(r, s) for s in (None, 0.4) for r in table1.RATE_GRID]
    assert table1.practical_grid("coteaching_val", 0.4) == [(r, None) for r in table1.RATE_GRID]


def test_choose_practical_keeps_the_best_validation_then_the_smaller_rate_then_the_default(
    table1: Any,
) -> None:
    def run(val: float) -> dict[str, Any]:
        return {"val_top1": [0.1, val]}

    runs = {
        (0.1, None): run(0.5),
        (0.3, None): run(0.6),
        (0.3, 0.4): run(0.6),
        (0.2, 0.4): run(0.55),
    }
    assert table1._choose_practical(runs) == (0.3, None)  # tie at 0.6: the default start
    runs[(0.2, 0.4)] = run(0.6)
    assert table1._choose_practical(runs) == (0.2, 0.4)  # tie at 0.6: the smaller rate first
    runs[(0.5, 0.4)] = run(0.61)
    assert table1._choose_practical(runs) == (0.5, 0.4)  # validation first


def test_runs_read_a_chosen_rate_with_or_without_its_start(table1: Any) -> None:
    key = table1._practical_key
    done = {
        key("d", "sym40", "drop_r_val", 1, 0.2): {"which": "default"},
        key("d", "sym40", "drop_r_val", 1, 0.2, 0.4): {"which": "early"},
    }
    for chosen, which in (((0.2, None), "default"), ((0.2, 0.4), "early"), (0.2, "default")):
        runs = table1._runs(
            "d", "sym40", "drop_r_val", [1], done, {("d", "sym40", "drop_r_val"): chosen}
        )
        assert runs == [{"which": which}]
    assert table1._chosen_text([0.2, None]) == " (r=0.2)"
    assert table1._chosen_text((0.3, 0.4)) == " (r=0.3, from 0.4)"
    assert table1._chosen_text(0.1) == " (r=0.1)"


def test_outside_verdict_names_every_same_information_method_above_ss(
    table1: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.modules.pop("outside", None)
    sys.modules.pop("large_val", None)
    import outside

    def row(method: str, last: float, at_val: float) -> dict[str, Any]:
        privileged = table1.PRIVILEGED.get(method, "none")
        return {
            "method": method,
            "privileged": privileged,
            "last_mean": last,
            "at_best_val_mean": at_val,
        }

    rows = [
        row("uniform", 80.0, 85.0),
        row("coteaching_val", 90.04, 91.0),  # level with SS at the table's 0.1 point
        row("drop_r_val", 89.0, 92.3),
        row("ss_cgf", 90.0, 92.0),
        row("oracle", 95.0, 95.0),  # privileged: a reference, never a miss
    ]
    assert outside.verdict(rows, "last_mean") == (True, [])
    assert outside.verdict(rows, "at_best_val_mean") == (False, ["drop-r% (r on val) 92.3"])
    rows[1]["last_mean"] = 90.06
    assert outside.verdict(rows, "last_mean") == (False, ["Co-teaching (r on val) 90.1"])


def test_outside_runs_name_instance_noise_but_table1_does_not_run_it(table1: Any) -> None:
    sys.modules.pop("outside", None)
    sys.modules.pop("large_val", None)
    import outside

    assert table1.NOISE_SETTINGS["inst40"] == ("instance", 0.4)
    assert table1.NOISE_SETTINGS["inst20"] == ("instance", 0.2)
    # Table 1 and its ablations keep their settings
    assert "inst40" not in table1.SETTINGS and "inst20" not in table1.SETTINGS
    assert outside._run("mnist5k:inst40") == ("mnist5k", "inst40")
    for name, setting in (("THIRD", "inst40"), ("FOURTH", "inst20")):
        assert [outside._run(r) for r in outside.SETS[name]] == [
            ("mnist5k", setting),
            ("mnist1d", setting),
            ("digits-mlp", setting),
        ]
    for bad, message in (
        (
            "mnist5k:inst30",
            "SETTING in ['inst20', 'inst40', 'pair40', 'sym0', 'sym20', 'sym40']",
        ),
        ("THIRD", "THIRD stands alone: --runs THIRD"),
        ("FOURTH", "FOURTH stands alone: --runs FOURTH"),
    ):
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message)):
            outside._run(bad)


def test_oracle_start_switches_where_the_protocol_does(
    table1: Any,
) -> None:
    sys.modules.pop("oracle_start", None)
    import oracle_start

    # E_s = 0.4 of the schedule: 8 of MNIST-5k's 20 epochs, 24 of MNIST-1D's 60, as the
    # default protocol's shared start (early_start.make_config) rounds it
    config = oracle_start.early_start.make_config("mnist1d", "symmetric", 0.4, 0.4, 20, 0)
    assert config.search.shared_epochs == oracle_start.start_epoch(0.4, 60) == 24
    assert oracle_start.start_epoch(0.4, 20) == 8
    assert oracle_start.start_epoch(0.2, 60) == 12
    assert oracle_start.start_epoch(0.0, 60) == 0


def test_oracle_start_measures_of_a_sampler_against_the_flipped_labels(table1: Any) -> None:
    sys.modules.pop("oracle_start", None)
    import numpy as np
    import oracle_start

    mask = np.array([True, True, False, False, False, False])
    # the AUC: the chance a flipped label scores above a clean one, ties half
    assert oracle_start.flipped_auc([9.0, 8.0, 1.0, 2.0, 3.0, 4.0], mask) == 1.0
    assert oracle_start.flipped_auc([0.0, 0.5, 1.0, 2.0, 3.0, 4.0], mask) == 0.0
    assert oracle_start.flipped_auc(np.ones(6), mask) == 0.5
    # of the 8 (flipped, clean) pairs 4 won, 1 tied: 3 beats 0, 2, 1; 1 beats 0, ties 1
    assert oracle_start.flipped_auc([3.0, 1.0, 0.0, 2.0, 1.0, 5.0], mask) == 4.5 / 8
    # the spread over clean instances ignores the flipped ones and is 1 when the clean are
    # equally likely, 1/2 when half of them are dropped
    assert oracle_start.clean_spread([0.9, 0.0, 0.025, 0.025, 0.025, 0.025], mask) == (
        pytest.approx(1.0)
    )
    assert oracle_start.clean_spread([0.0, 0.0, 0.5, 0.5, 0.0, 0.0], mask) == pytest.approx(0.5)


def test_another_search_seed_gets_its_own_directory_and_seed_0_keeps_its_name(
    table1: Any,
) -> None:
    import early_start as es

    # seed 0's directory is the one every committed run was searched in (a rename would make
    # a resumed search start over); another seed must not share it (the lock would refuse it,
    # or a resume would mix two searches)
    zero = es.make_config("mnist5k", "symmetric", 0.4, 0.4, 20, 0)
    one = es.make_config("mnist5k", "symmetric", 0.4, 0.4, 20, 1)
    assert es.search_dir(zero, "mnist5k", "symmetric", 0.4, 20).name == (
        "mnist5k-symmetric0.4-es8-t20"
    )
    assert es.search_dir(one, "mnist5k", "symmetric", 0.4, 20).name == (
        "mnist5k-symmetric0.4-es8-t20-seed1"
    )


def test_search_seeds_final_seeds_and_the_targets_on_the_mean(table1: Any) -> None:
    sys.modules.pop("search_seeds", None)
    import search_seeds

    # as in benchmarks/bench_search_cost.py: 1-3 for seed 0, 11-13 for seed 1
    assert search_seeds.final_seeds([1, 2, 3], 0) == [1, 2, 3]
    assert search_seeds.final_seeds([1, 2, 3], 2) == [21, 22, 23]
    # the mean weighs each search seed once, whatever its spread; sd is between seeds
    pooled = search_seeds.pooled(
        [{"last": 95.0, "at_best_val": 94.0}, {"last": 93.0, "at_best_val": 94.0}]
    )
    assert pooled["last_mean"] == pytest.approx(94.0)
    assert pooled["at_best_val_sd_search"] == pytest.approx(0.0)
    row = {
        "noise": 0.4,
        "noise_type": "symmetric",
        "full": pooled,
        "best_same_info_last": 94.5,
        "best_same_info_last_method": "drop_r_val",
        "best_same_info_at_best_val": 93.9,
        "best_same_info_at_best_val_method": "drop_r_val",
        "oracle_last": 95.5,
        "oracle_at_best_val": 96.5,
    }
    t = search_seeds.targets(row)
    assert t["last"] == "missed (94.0 vs drop_r_val 94.5)"
    assert t["at_best_val"] == "met"
    assert t["oracle_gap_last"] == "1.5: met"
    assert t["oracle_gap_at_best_val"] == "2.5: missed"
    # without noise: at most 0.3 under uniform
    clean = row | {"noise": 0.0, "uniform_last": 94.3, "uniform_at_best_val": 94.4}
    t = search_seeds.targets(clean)
    assert t["last"] == "met"
    assert t["at_best_val"] == "missed (94.0 vs uniform 94.4)"
    assert "oracle_gap_last" not in t


def _train_file(root: Path, experiment: str, key: str, kwargs: dict[str, Any], val: float) -> None:
    import json

    run = {
        "job": {"function": "train_job", "key": key, "kwargs": kwargs},
        "val_top1": [val - 0.02, val, val - 0.01],
        "last": val + 0.3,
        "test_at_best_val": val + 0.35,
    }
    path = root / experiment / "runs" / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run))


def test_preset_vs_full_pairs_only_default_protocol_runs_on_the_same_seeds(
    table1: Any, tmp_path: Path
) -> None:
    sys.modules.pop("preset_vs_full", None)
    import preset_vs_full as pvf

    base = {"dataset": "mnist5k", "noise_type": "symmetric", "noise": 0.4, "fraction": 0.4}
    for s in (1, 2, 3):
        kw = base | {"select_seed": 0, "trials": 20, "seed": s, "spec": {}}
        _train_file(tmp_path, "early_start", f"train-mnist5k-sym40-s{s}", kw, 0.50)
        _train_file(tmp_path, "swift_table1", f"train-mnist5k-sym40-s{s}", kw, 0.52)
        # an ablation's training of the same cell (another L; another E_s), named as the
        # committed cache names them (the default's name, another hash), read after it
        ablations = ({"lipschitz": 8.0}, {"fraction": 0.2})
        for k, extra in enumerate(ablations):
            name = f"train-mnist5k-sym40-s{s}-z{k}"
            _train_file(tmp_path, "early_start", name, kw | extra, 0.9)
    # search seed 3 of search_seeds (the confirmation), and a cell with only two preset seeds
    for s in (31, 32, 33):
        kw = base | {"select_seed": 3, "trials": 20, "seed": s, "spec": {}}
        _train_file(tmp_path, "search_seeds", f"train-full-mnist5k-sym40-ss3-s{s}", kw, 0.55)
        _train_file(tmp_path, "search_seeds", f"train-swift-mnist5k-sym40-ss3-s{s}", kw, 0.54)
    kw = base | {"dataset": "digits-mlp", "select_seed": 1, "trials": 20, "spec": {}}
    for s in (11, 12, 13):
        _train_file(tmp_path, "early_start", f"train-digits-s{s}", kw | {"seed": s}, 0.5)
    for s in (11, 12):
        _train_file(tmp_path, "swift_table1", f"train-digits-s{s}", kw | {"seed": s}, 0.6)
    # the outside runs' confirmation seed is 2; a dataset of neither kind, and an outside
    # network in a setting of outside.py's second set (20%), are left out
    for dataset, noise in (("digits-mlp", 0.4), ("mnist1d-15k", 0.4), ("mnist5k-mlp", 0.2)):
        kw = base | {"dataset": dataset, "noise": noise, "select_seed": 2, "trials": 20}
        kw |= {"spec": {}}
        for s in (21, 22, 23):
            for experiment in ("early_start", "swift_table1"):
                name = f"train-{dataset}-s{s}"
                _train_file(tmp_path, experiment, name, kw | {"seed": s}, 0.5)

    rows = pvf.pairs(pvf.collect(tmp_path))
    assert [(r["dataset"], r["search_seed"], r["fresh"]) for r in rows] == [
        ("digits-mlp", 2, True),
        ("mnist5k", 0, False),
        ("mnist5k", 3, True),
    ]
    assert rows[0]["group"] == "outside"
    seen, fresh = rows[1:]
    assert seen["seeds"] == [1, 2, 3] and fresh["seeds"] == [31, 32, 33]
    # validation at the best epoch is the curve's max, at the last epoch its last value
    assert seen["full_val_best"] == pytest.approx(50.0)
    assert seen["full_val_last"] == pytest.approx(49.0)
    assert seen["diff_val_best"] == pytest.approx(2.0)  # not the L = 8 ablation's 90
    assert fresh["diff_test_last"] == pytest.approx(-1.0)
    assert pvf.pooled([seen, fresh])["val_best"] == pytest.approx(0.5)
    # two files for the same training: an error, not whichever was read last
    kw = base | {"select_seed": 0, "trials": 20, "seed": 1, "spec": {}}
    _train_file(tmp_path, "early_start", "train-mnist5k-sym40-s1-copy", kw, 0.7)
    with pytest.raises(RuntimeError, match="a second full training"):
        pvf.collect(tmp_path)
