"""Multi-fidelity trials (Optuna's pruners), the shared first-epoch features, the stopping rule
and the epochs the cost counts: against real Optuna storages and a real (tiny) trainer."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
import torch
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial
from torch.utils.data import TensorDataset

from swift_sampler import SamplerSpec
from swift_sampler.config import parse_config
from swift_sampler.errors import ConfigError
from swift_sampler.models import MLP
from swift_sampler.search.clock import ZERO
from swift_sampler.search.driver import run_search
from swift_sampler.search.objective import InnerLoop
from swift_sampler.search.pruning import Pruning, check_pruning
from swift_sampler.search.setup import Experiment, build_experiment
from swift_sampler.search.study import outer_history, stopping_rule_met
from swift_sampler.train import ClassificationTrainer, TrainConfig

DIST = {"x": FloatDistribution(0.0, 1.0)}


def _finished(state: TrialState, values: dict[int, float], **attrs: float) -> Any:
    last = values[max(values)]
    return create_trial(
        state=state,
        value=last if state == TrialState.COMPLETE else None,
        params={"x": 0.5},
        distributions=DIST,
        intermediate_values=values,
        system_attrs=dict(attrs),
    )


def _running(values: dict[int, float]) -> Any:
    return create_trial(
        state=TrialState.RUNNING, params={"x": 0.5}, distributions=DIST, intermediate_values=values
    )


def test_successive_halving_prunes_the_bottom_of_a_rung_and_records_it() -> None:
    pruning = Pruning("successive_halving", max_resource=5, min_resource=1, reduction_factor=3)
    earlier = [
        _finished(TrialState.COMPLETE, {1: 0.9, 2: 0.9, 3: 0.9}, completed_rung_0=0.9),
        _finished(TrialState.PRUNED, {1: 0.5}, completed_rung_0=0.5),
        _finished(TrialState.COMPLETE, {1: 0.8, 2: 0.85, 3: 0.85}, completed_rung_0=0.8),
    ]
    # Rung 0 holds 0.9, 0.5, 0.8 and the candidate: the top 4 // 3 = 1 value goes on.
    assert pruning.should_prune(earlier, _running({1: 0.85})) == (
        True,
        {"completed_rung_0": 0.85},
    )
    assert pruning.should_prune(earlier, _running({1: 0.95})) == (
        False,
        {"completed_rung_0": 0.95},
    )
    # Failed trials (killed mid-way) are not competitors: refused, not silently used.
    killed = create_trial(
        state=TrialState.FAIL, params={"x": 0.5}, distributions=DIST, intermediate_values={1: 1.0}
    )
    with pytest.raises(ValueError, match="FAIL, not finished"):
        pruning.should_prune([*earlier, killed], _running({1: 0.95}))
    # Never at the last epoch: it is paid for.
    assert pruning.should_prune(earlier, _running({5: 0.0})) == (False, {})


def test_hyperband_decides_by_slot_in_the_rebuilt_study() -> None:
    pruning = Pruning("hyperband", max_resource=9, min_resource=1, reduction_factor=3)
    earlier = [_finished(TrialState.COMPLETE, {1: 0.1 * k, 9: 0.1 * k}) for k in range(1, 8)]
    decisions = [pruning.should_prune(earlier, _running({1: 0.05}))[0] for _ in range(3)]
    assert len(set(decisions)) == 1  # a pure function of the finished trials and the values


def test_pruned_trials_enter_the_outer_loop_at_most_at_the_worst_complete_score() -> None:
    names = {f"theta_{i:02d}": FloatDistribution(0.0, 1.0) for i in range(2)}

    def trial(state: TrialState, values: dict[int, float]) -> Any:
        return create_trial(
            state=state,
            value=values[max(values)] if state == TrialState.COMPLETE else None,
            params={n: 0.5 for n in names},
            distributions=names,
            intermediate_values=values,
        )

    study = optuna.create_study(direction="maximize")
    study.add_trial(trial(TrialState.COMPLETE, {1: 0.6, 2: 0.7}))
    study.add_trial(trial(TrialState.PRUNED, {1: 0.9}))  # high early score, judged weak
    study.add_trial(trial(TrialState.PRUNED, {1: 0.3}))
    study.add_trial(trial(TrialState.COMPLETE, {1: 0.5, 2: 0.65}))
    trials = study.get_trials()
    assert trials[1].state == TrialState.PRUNED
    assert [h.score for h in outer_history(trials, 2)] == [0.7, 0.65, 0.3, 0.65]


def test_a_pruned_trial_without_values_is_not_the_best_of_negative_scores() -> None:
    # Negative scores (a language model's -perplexity): a pruned trial that reported nothing
    # must not enter as 0.0, above every real score, when no trial is complete yet.
    names = {f"theta_{i:02d}": FloatDistribution(0.0, 1.0) for i in range(2)}
    study = optuna.create_study(direction="maximize")
    for values in ({1: -12.0}, {}, {1: -11.0}):
        study.add_trial(
            create_trial(
                state=TrialState.PRUNED,
                params={n: 0.5 for n in names},
                distributions=names,
                intermediate_values=values,
            )
        )
    assert [h.score for h in outer_history(study.get_trials(), 2)] == [-12.0, -12.0, -11.0]


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([0.5, 0.6, 0.7, 0.7, 0.7], True),  # startup 2: slots 3, 4 model-based, no gain
        ([0.5, 0.6, 0.7, 0.7, 0.71], False),  # a gain above 0.005
        ([0.5, 0.6, 0.7, 0.7, 0.704], True),  # a gain of at most 0.005 does not count
        ([0.5, 0.6, 0.7, 0.7], False),  # slot 2 is a start-up trial
        ([0.5, 0.6, 0.7, None, None], True),  # pruned trials never improve
    ],
)
def test_stopping_rule(scores: list[float | None], expected: bool) -> None:
    kwargs = {"startup": 2, "patience": 2, "min_improvement": 0.005}
    assert stopping_rule_met(scores, **kwargs) is expected
    assert stopping_rule_met(scores, startup=2, patience=0, min_improvement=1.0) is False


def test_a_pruner_is_refused_where_it_cannot_work() -> None:
    hyper = parse_config({"search": {"pruner": "hyperband"}})
    with pytest.raises(ConfigError, match="'hyperband' needs one trial at a time"):
        check_pruning(hyper, workers=2)
    halving = parse_config({"search": {"pruner": "successive_halving"}})
    check_pruning(halving, workers=2)
    check_pruning(hyper, workers=1)
    with pytest.raises(ConfigError, match="does not run under torchrun"):
        check_pruning(halving, world_size=2)
    # A pruner the config did not name is traced to the preset that set it.
    swift = parse_config({"search": {"preset": "swift"}})
    with pytest.raises(ConfigError) as err:
        check_pruning(swift, world_size=2)
    assert str(err.value).startswith(
        "search.pruner = 'synchronous_halving' (from search.preset = 'swift', written or the "
        "default of a classifier's config without search keys of its own; preset = 'none' "
        "runs the full search without a pruner) does not run under torchrun"
    )
    with pytest.raises(ConfigError, match=r"without a pruner\) does not run with"):
        check_pruning(swift, shared_study=True)
    check_pruning(swift, workers=2)  # synchronous halving with local workers is fine
    # A config without [search] gets the preset, so torchrun and shared workers refuse it
    # with the same reason; preset = "none" runs under both.
    with pytest.raises(ConfigError, match=r"from search.preset = 'swift'.* under torchrun"):
        check_pruning(parse_config({}), world_size=2)
    full = parse_config({"search": {"preset": "none"}})
    check_pruning(full, world_size=2)
    check_pruning(full, shared_study=True)


def _trainer(digits: tuple[np.ndarray, np.ndarray]) -> ClassificationTrainer:
    x, y = digits
    order = np.random.default_rng(0).permutation(len(y))
    xt, yt = torch.from_numpy(x[order]), torch.from_numpy(y[order])
    return ClassificationTrainer(
        MLP,
        TensorDataset(xt[:1000], yt[:1000]),
        TensorDataset(xt[1000:1300], yt[1000:1300]),
        TensorDataset(xt[1300:], yt[1300:]),
        config=TrainConfig(epochs=6, lr=0.1),
        seed=0,
    )


def test_shared_features_are_computed_once_and_reused_from_disk(digits, tmp_path: Path) -> None:
    trainer = _trainer(digits)
    inner = InnerLoop(trainer, shared_epochs=2, finetune_epochs=3)
    shared = inner.train_shared_start(tmp_path / "shared.pt")
    spec = SamplerSpec(theta=np.random.default_rng(1).random(10))
    fresh = inner.evaluate(spec)
    columns = tuple(spec.columns)
    cache = tmp_path / "shared_features.npz"
    assert inner.prepare_shared_features(columns, cache, shared.sha256).wall > 0
    cached = inner.evaluate(spec)
    assert cached.score == fresh.score  # the same features, bit for bit
    with np.load(cache) as saved:
        assert str(saved["shared_sha256"]) == shared.sha256
        features = np.array(saved["features"])
    # A new process (a resumed search) loads them instead of computing them.
    other = InnerLoop(trainer, shared_epochs=2, finetune_epochs=3)
    other.load_shared_start(tmp_path / "shared.pt", shared.sha256)
    assert other.prepare_shared_features(columns, cache, shared.sha256) == ZERO
    assert other.evaluate(spec).score == fresh.score
    # A cache of another checkpoint is recomputed, not trusted.
    assert other.prepare_shared_features(columns, cache, "0" * 64).cpu > 0
    with np.load(cache) as saved:
        assert str(saved["shared_sha256"]) == "0" * 64
        assert np.array_equal(saved["features"], features)
    # A damaged cache (a resumed search's file cut short, emptied, overwritten, or holding a
    # pickle) is computed again and rewritten, never an internal error.
    good = cache.read_bytes()
    pickled = tmp_path / "pickled.npz"  # all it needs but its features, which are pickles
    np.savez(
        pickled,
        features=np.array([None], dtype=object),
        columns=np.array(columns),
        shared_sha256=np.array(shared.sha256),
    )
    # The first bytes of the compressed features: 0xff is a deflate block of no valid type.
    entry = zipfile.ZipFile(io.BytesIO(good)).getinfo("features.npy")
    at = entry.header_offset
    name, extra = struct.unpack("<HH", good[at + 26 : at + 30])  # the local header's lengths
    data = at + 30 + name + extra
    damage = {
        "cut short": good[:3000],
        "empty": b"",
        "garbage": b"not a zip file at all",
        "pickled": pickled.read_bytes(),
        "overwritten inside": good[:data] + b"\xff" * 8 + good[data + 8 :],  # zlib.error
    }
    for name, data in damage.items():
        cache.write_bytes(data)
        assert other.prepare_shared_features(columns, cache, shared.sha256).cpu > 0, name
        assert other.evaluate(spec).score == fresh.score, name
        with np.load(cache) as saved:
            assert np.array_equal(saved["features"], features), name


class CountingTrainer:
    """A real trainer that counts the epochs it trains and the feature passes it runs."""

    def __init__(self, trainer: Any) -> None:
        self._trainer = trainer
        self.epochs = 0
        self.feature_passes = 0

    def train_epoch(self, *args: Any, **kwargs: Any) -> Any:
        self.epochs += 1
        return self._trainer.train_epoch(*args, **kwargs)

    def features(self, *args: Any, **kwargs: Any) -> Any:
        self.feature_passes += 1
        return self._trainer.features(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trainer, name)


TINY = {
    "data": {"name": "digits", "noise_rate": 0.3},
    "model": {"name": "mlp"},
    "train": {"epochs": 6, "lr": 0.1, "threads": 1},
    "search": {
        "trials": 7,
        "startup_trials": 2,
        "outer": "random",
        "shared_epochs": 2,
        "finetune_epochs": 3,
        "pruner": "successive_halving",
    },
}


@pytest.mark.slow
def test_a_pruned_search_records_pruned_trials_and_counts_every_epoch(tmp_path: Path) -> None:
    config = parse_config(TINY)
    trainer = CountingTrainer(build_experiment(config).trainer)
    result = run_search(config, tmp_path / "run", experiment=Experiment(trainer))  # type: ignore[arg-type]
    study = optuna.load_study(
        study_name="swift-sampler", storage=f"sqlite:///{tmp_path}/run/study.db"
    )
    trials = study.get_trials()
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert pruned and complete and len(pruned) + len(complete) == 7
    # Validation is scored only where the pruner decides (rungs at 1 and 3 epochs: eta = 3)
    # and after the last epoch.
    for t in pruned:  # stopped at the first rung, before the last epoch
        assert list(t.intermediate_values) == [1] == [t.user_attrs["epochs"]]
        assert t.user_attrs["epochs"] < 3 and t.value == t.intermediate_values[t.last_step]
        assert "completed_rung_0" in t.system_attrs
    for t in complete:
        assert list(t.intermediate_values) == [1, 3] and t.value == t.intermediate_values[3]
    cost = result.cost
    assert cost["trials_pruned"] == len(pruned) and cost["trials_complete"] == len(complete)
    run = sum(t.user_attrs["epochs"] for t in trials)
    assert cost["finetune_epochs_run"] == run
    assert trainer.epochs == run + cost["shared_epochs_run"] == run + 2
    # The first epoch's features come from the shared start, computed once for all trials.
    assert trainer.feature_passes == 1 + (run - len(trials)) + 1  # + Figure 1's pass
    assert cost["shared_features_s"] > 0
    assert result.best_slot in {t.user_attrs["slot"] for t in complete}
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert saved["pruner"] == "successive_halving"
    by_number = {t["number"]: t for t in saved["trials"]}
    for t in pruned:
        assert by_number[t.number]["state"] == "PRUNED"
        assert by_number[t.number]["intermediate_values"] == {
            str(k): v for k, v in t.intermediate_values.items()
        }


@pytest.mark.slow
def test_the_stopping_rule_ends_the_search_before_its_budget(tmp_path: Path) -> None:
    data = {**TINY, "search": {**TINY["search"], "pruner": "none", "patience": 2}}
    data["search"]["min_improvement"] = 1.0  # nothing counts: stop after start-up + 2 trials
    result = run_search(parse_config(data), tmp_path / "run")
    assert [t.slot for t in result.trials] == [0, 1, 2, 3, 4]
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert saved["stopped_early"] is True
    # Resuming a stopped search runs nothing more.
    again = run_search(parse_config(data), tmp_path / "run", resume=True)
    assert [t.slot for t in again.trials] == [0, 1, 2, 3, 4]


def test_reporting_every_epoch_leaves_the_score_unchanged_and_a_stop_cuts_it(
    digits, tmp_path: Path
) -> None:
    inner = InnerLoop(_trainer(digits), shared_epochs=2, finetune_epochs=3)
    inner.train_shared_start(tmp_path / "shared.pt")
    spec = SamplerSpec(theta=np.random.default_rng(2).random(10))
    plain = inner.evaluate(spec)
    seen: list[tuple[int, float]] = []
    watched = inner.evaluate(spec, report=lambda step, value: seen.append((step, value)) or False)
    assert watched.score == plain.score and watched.epochs == plain.epochs == 3
    assert [s for s, _ in seen] == [1, 2, 3] and seen[-1][1] == plain.score
    assert not watched.pruned
    stopped = inner.evaluate(spec, report=lambda step, value: step == 1)
    assert stopped.pruned and stopped.epochs == 1 and stopped.score == seen[0][1]


def test_rung_steps_are_where_any_bracket_decides_and_the_last_step() -> None:
    sh = Pruning("successive_halving", max_resource=36, min_resource=1, reduction_factor=3)
    assert sh.rung_steps() == {1, 3, 9, 27, 36}
    hb = Pruning("hyperband", max_resource=12, min_resource=2, reduction_factor=2)
    assert hb.rung_steps() == {2, 4, 8, 12}


def test_bootstrap_count_stops_the_first_arrivals_at_a_rung() -> None:
    lone = _running({1: 0.99})  # the best value so far, but alone at its rung
    free = Pruning("successive_halving", max_resource=5, min_resource=1, reduction_factor=3)
    assert free.should_prune([], lone)[0] is False  # Optuna's default: first in goes on
    strict = Pruning(
        "successive_halving", max_resource=5, min_resource=1, reduction_factor=3,
        bootstrap_count=2,
    )  # fmt: skip
    assert strict.should_prune([], lone)[0] is True
    one = [_finished(TrialState.PRUNED, {1: 0.5}, completed_rung_0=0.5)]
    assert strict.should_prune(one, _running({1: 0.99}))[0] is True
    two = [*one, _finished(TrialState.PRUNED, {1: 0.6}, completed_rung_0=0.6)]
    # Two reached rung 0 before it: it is the best of three there and goes on.
    assert strict.should_prune(two, _running({1: 0.99}))[0] is False
    # Later rungs keep Optuna's rule: the first to reach rung 1 (step 3) goes on if best.
    climbing = _running({1: 0.99, 3: 0.99})
    climbing.system_attrs["completed_rung_0"] = 0.99
    assert strict.should_prune(two, climbing)[0] is False
    with pytest.raises(ConfigError, match="bootstrap_count must be >= 0"):
        Pruning("successive_halving", max_resource=5, bootstrap_count=-1)
    with pytest.raises(ConfigError, match="successive_halving' only"):
        Pruning("hyperband", max_resource=5, bootstrap_count=1)


def test_an_epoch_in_parts_trains_the_same_batches_and_a_part_can_be_stopped(
    digits, tmp_path: Path
) -> None:
    trainer = _trainer(digits)
    whole = InnerLoop(trainer, shared_epochs=2, finetune_epochs=3)
    whole.train_shared_start(tmp_path / "shared.pt")
    parted = InnerLoop(trainer, shared_epochs=2, finetune_epochs=3, epoch_parts=3)
    parted.train_shared_start(tmp_path / "shared3.pt")
    spec = SamplerSpec(theta=np.random.default_rng(2).random(10))
    plain = whole.evaluate(spec)
    seen: list[tuple[int, float]] = []
    watched = parted.evaluate(spec, report=lambda step, value: seen.append((step, value)) or False)
    # The MLP has no dropout: the same batches at the same learning rates give the same
    # weights, so the same score (up to float summation order).
    assert watched.score == pytest.approx(plain.score, abs=1e-9)
    assert [s for s, _ in seen] == list(range(1, 10)) and watched.steps == 9
    assert watched.epochs == 3 and not watched.pruned
    scores = {step: value for step, value in seen}
    assert len(set(scores.values())) > 1  # each part moves the weights
    # Scored only at the given steps (the rungs) and the last one.
    at: list[int] = []
    parted.evaluate(spec, report=lambda step, value: at.append(step) or False, report_at={1, 3})
    assert at == [1, 3, 9]
    # Stopped after a third of the first epoch: a fraction of an epoch is counted.
    stopped = parted.evaluate(spec, report=lambda step, value: True, report_at={1, 3})
    assert stopped.pruned and stopped.steps == 1 and stopped.epochs == pytest.approx(1 / 3)
    assert stopped.score == scores[1]


def test_features_are_refreshed_every_k_epochs(digits, tmp_path: Path) -> None:
    trainer = CountingTrainer(_trainer(digits))
    spec = SamplerSpec(theta=np.random.default_rng(2).random(10))
    passes = {}
    for k in (1, 2, 4):
        inner = InnerLoop(trainer, shared_epochs=1, finetune_epochs=5, refresh_every=k)  # type: ignore[arg-type]
        inner.train_shared_start(tmp_path / f"shared{k}.pt")
        inner.prepare_shared_features(tuple(spec.columns), None, "")
        before = trainer.feature_passes
        inner.evaluate(spec)
        passes[k] = trainer.feature_passes - before
    # Epoch 0 uses the shared start's features; then epochs 1..4 (k=1), 2 and 4 (k=2), 4 (k=4).
    assert passes == {1: 4, 2: 2, 4: 1}
