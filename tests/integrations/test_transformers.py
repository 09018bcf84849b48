"""SwiftTrainer (a Hugging Face Trainer) in one process and under torchrun, and the search
through HFTrainerAdapter, on a tiny BERT built from a config (nothing is downloaded)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("accelerate")

import _hf_job  # tests/integrations/_hf_job.py (imports transformers lazily)

JOB = Path(_hf_job.__file__)
# The child processes raise on any warning.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "error"}


def _batches(stream: list[int], size: int) -> list[list[int]]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def _check_refreshed(record: dict[str, Any]) -> None:
    assert record["refreshes"] == [_hf_job.EPOCHS]
    first, *later = (np.array(p) for p in record["probabilities"])
    # Epoch 0's refresh already moved the sampler off uniform, and every epoch moved it again.
    assert not np.allclose(first, first.mean())
    for before, after in zip([first, *later], later, strict=False):
        assert np.abs(after - before).max() > 1e-4


def test_missing_transformers_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    monkeypatch.delitem(sys.modules, "swift_sampler.integrations.transformers", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'swift-sampler\[transformers\]'"):
        import swift_sampler.integrations.transformers  # noqa: F401


def test_swift_trainer_refuses_a_spec_refreshed_once() -> None:
    from swift_sampler import ConfigError, SamplerSpec
    from swift_sampler.integrations.transformers import SwiftTrainer

    with pytest.raises(ConfigError, match=r"SwiftTrainer refreshes the features before every"):
        SwiftTrainer(sampler_spec=SamplerSpec(refresh="once"))


@pytest.mark.slow
def test_swift_trainer_one_process(tmp_path: Path) -> None:
    _hf_job.main(tmp_path)  # in this process: pytest's warnings-as-errors apply
    record = json.loads((tmp_path / "rank0.json").read_text())
    assert record["world"] == [1, 0]
    # Every step's batch is the next slice of the epoch's draw: the loader used the sampler.
    assert record["seen"] == record["stream"]
    assert all(len(stream) == _hf_job.N for stream in record["stream"])
    _check_refreshed(record)
    losses = np.array(record["loss"]).reshape(_hf_job.EPOCHS, -1).mean(axis=1)
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


@pytest.mark.slow
def test_swift_trainer_draws_a_stratified_spec_stratified(tmp_path: Path) -> None:
    _hf_job.main(tmp_path, draw="stratified")
    record = json.loads((tmp_path / "rank0.json").read_text())
    assert record["seen"] == record["stream"]
    for seen, p in zip(record["seen"], record["probabilities"], strict=True):
        counts = np.bincount(seen, minlength=_hf_job.N)
        expected = _hf_job.N * np.array(p)
        assert np.all(counts >= np.floor(expected)) and np.all(counts <= np.ceil(expected))
    assert any(np.any(np.bincount(seen, minlength=_hf_job.N) != 1) for seen in record["seen"])


@pytest.mark.slow
def test_a_resumed_train_with_feature_history_says_the_average_starts_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="swift_sampler.integrations.transformers"):
        _hf_job.main(tmp_path, history=0.5, resume=True)
    warned = [r for r in caplog.records if "moving average is not in the checkpoint" in r.message]
    assert len(warned) == 1  # the resumed train() only
    assert f"resumes at step {_hf_job.EPOCHS * _hf_job.N // _hf_job.BATCH}" in warned[0].message
    record = json.loads((tmp_path / "rank0.json").read_text())
    assert len(record["stream"]) == _hf_job.EPOCHS + 1


@pytest.mark.slow
def test_swift_trainer_two_processes_share_one_stream(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(JOB),
            str(tmp_path),
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [[2, 0], [2, 1]]
    # The same features (gathered), hence the same probabilities and the same global stream.
    assert ranks[0]["probabilities"] == ranks[1]["probabilities"]
    assert ranks[0]["stream"] == ranks[1]["stream"]
    for epoch, stream in enumerate(ranks[0]["stream"]):
        assert len(stream) == _hf_job.N  # the global draw, not one rank's stripe
        batches = _batches(stream, _hf_job.BATCH)
        # Accelerate deals the global batches out in turn: no index drawn twice, none lost.
        for r in (0, 1):
            assert ranks[r]["seen"][epoch] == [i for b in batches[r::2] for i in b]
        assert sorted(ranks[0]["seen"][epoch] + ranks[1]["seen"][epoch]) == sorted(stream)
    for record in ranks:
        _check_refreshed(record)


def _accuracy(prediction: Any) -> dict[str, float]:
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


@pytest.mark.slow
def test_the_adapter_scores_by_the_eval_metric(tmp_path: Path) -> None:
    # A search through it: test_readme_integrations.py runs the README's.
    import torch
    from transformers import TrainingArguments

    from swift_sampler.integrations.transformers import HFTrainerAdapter

    args = TrainingArguments(
        output_dir=str(tmp_path / "hf"),
        per_device_train_batch_size=8,
        per_device_eval_batch_size=32,
        num_train_epochs=3,
        learning_rate=5e-3,
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
    )
    adapter = HFTrainerAdapter(
        _hf_job.tiny_bert,
        _hf_job.TokenDataset(48, seed=0),
        _hf_job.TokenDataset(24, seed=1),
        args=args,
        compute_metrics=_accuracy,
    )
    # The score is Trainer.evaluate's eval_accuracy: check it against a hand count once.
    state = adapter.new_state(0)
    adapter.train_epoch(state)
    val = _hf_job.TokenDataset(24, seed=1)
    state.model.eval()  # no dropout, as in Trainer.evaluate
    with torch.inference_mode():
        logits = state.model(input_ids=val.input_ids).logits
    expected = float((logits.argmax(-1) == val.labels).float().mean())
    assert adapter.score(state, "val") == pytest.approx(expected)
    assert adapter.features(state, ("loss", "er")).shape == (48, 2)

    # Scoring and training leave the caller's global generators alone (Trainer() seeds them),
    # and an epoch's dropout depends on (seed, epoch) only: the same epoch from the same state
    # trains the same weights whatever ran before.
    import copy
    import random

    import numpy as np

    random.seed(123), np.random.seed(123), torch.manual_seed(123)  # noqa: NPY002
    expected_draws = (random.random(), float(np.random.rand()), float(torch.rand(1)))  # noqa: NPY002
    random.seed(123), np.random.seed(123), torch.manual_seed(123)  # noqa: NPY002
    saved = copy.deepcopy(adapter.state_dict(state))
    adapter.score(state, "val")
    adapter.train_epoch(state)
    draws = (random.random(), float(np.random.rand()), float(torch.rand(1)))  # noqa: NPY002
    assert draws == expected_draws
    again = adapter.new_state(0)
    adapter.load_state_dict(again, saved)
    torch.rand(5)  # moves the global generator: must not change the epoch
    adapter.train_epoch(again)
    for a, b in zip(state.model.parameters(), again.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert adapter.worst_score == 0.0


@pytest.mark.slow
def test_swift_trainer_samples_uniformly_before_the_start_epoch(tmp_path: Path) -> None:
    _hf_job.main(tmp_path, start_epoch=1)
    record = json.loads((tmp_path / "rank0.json").read_text())
    assert record["refreshes"] == [_hf_job.EPOCHS - 1]
    uniform, *later = (np.array(p) for p in record["probabilities"])
    assert np.allclose(uniform, 1.0 / _hf_job.N)
    assert not np.allclose(later[0], uniform)
    assert record["seen"] == record["stream"]
    # The uniform epoch is a shuffle (as the search's shared start), the sampler's are not.
    assert sorted(record["stream"][0]) == list(range(_hf_job.N))
    assert sorted(record["stream"][1]) != list(range(_hf_job.N))
