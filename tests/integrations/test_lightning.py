"""SwiftSamplerCallback with Lightning's CPU trainer: one process, and two (ddp on gloo, under
torchrun), where a Trainer that kept use_distributed_sampler=True is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("lightning")

import _lightning_job  # tests/integrations/_lightning_job.py

JOB = Path(_lightning_job.__file__)
# The child processes raise on any warning but those the job silences, with their reasons.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "error"}


def _check_refreshed(record: dict[str, Any]) -> None:
    assert record["refreshes"] == _lightning_job.EPOCHS
    first, *later = (np.array(p) for p in record["probabilities"])
    assert not np.allclose(first, first.mean())  # epoch 0 already under the sampler
    for before, after in zip([first, *later], later, strict=False):
        assert np.abs(after - before).max() > 1e-4  # refreshed every epoch


def test_missing_lightning_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)
    monkeypatch.delitem(sys.modules, "swift_sampler.integrations.lightning", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'swift-sampler\[lightning\]'"):
        import swift_sampler.integrations.lightning  # noqa: F401


@pytest.mark.slow
def test_callback_one_process() -> None:
    _lightning_job.quiet_lightning()  # Lightning's set-up warnings, each with its reason
    record = _lightning_job.fit(1)
    assert record["world"] == [1, 0]
    assert record["seen"] == record["stream"]  # the steps saw the epoch's draw, in order
    assert all(len(s) == _lightning_job.N for s in record["stream"])
    _check_refreshed(record)


@pytest.mark.slow
def test_callback_two_processes_stripe_one_stream(tmp_path: Path) -> None:
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
    assert ranks[0]["probabilities"] == ranks[1]["probabilities"]  # one gathered table
    assert ranks[0]["stream"] == ranks[1]["stream"]
    for epoch, stream in enumerate(ranks[0]["stream"]):
        assert len(stream) == _lightning_job.N
        for r in (0, 1):
            # rank r trains on its stripe of the global draw, and nothing else
            assert ranks[r]["seen"][epoch] == stream[r::2] == ranks[r]["stripe"][epoch]
    for record in ranks:
        _check_refreshed(record)
    # The job's second fit kept use_distributed_sampler=True: refused on both ranks.
    for r in (0, 1):
        message = (tmp_path / f"error{r}.txt").read_text()
        assert "use_distributed_sampler=False" in message


@pytest.mark.slow
def test_callback_draws_a_stratified_spec_stratified() -> None:
    _lightning_job.quiet_lightning()
    record = _lightning_job.fit(1, draw="stratified", start_epoch=1)
    assert record["seen"] == record["stream"]
    assert sorted(record["seen"][0]) == list(range(_lightning_job.N))  # the uniform shuffle
    for seen, p in zip(record["seen"][1:], record["probabilities"][1:], strict=True):
        counts = np.bincount(seen, minlength=_lightning_job.N)
        expected = _lightning_job.N * np.array(p)
        assert np.all(counts >= np.floor(expected)) and np.all(counts <= np.ceil(expected))
        assert np.any(counts == 0) and np.any(counts >= 2)  # a sampler's draw, not a shuffle


def test_a_new_fit_draws_its_uniform_epochs_as_a_fresh_callback_does() -> None:
    # After a fit that drew a stratified spec, the next fit's uniform epochs (longer than the
    # dataset here, so with replacement) are i.i.d. again, as with a new callback.
    from swift_sampler import SamplerSpec
    from swift_sampler.integrations.lightning import SwiftSamplerCallback

    spec = SamplerSpec(transform="cdf", draw="stratified")
    train = _lightning_job.dataset()
    used = SwiftSamplerCallback(spec, train, num_samples=2 * _lightning_job.N, start_epoch=3)
    used.sampler.stratified = True  # as the last refresh of an earlier fit left it
    used._begin(None, None, 0)  # the next fit's first epoch, before the start epoch
    fresh = SwiftSamplerCallback(spec, train, num_samples=2 * _lightning_job.N, start_epoch=3)
    fresh._begin(None, None, 0)
    assert not used.sampler.stratified
    np.testing.assert_array_equal(used.sampler.indices(), fresh.sampler.indices())


@pytest.mark.slow
def test_callback_samples_uniformly_before_the_start_epoch() -> None:
    _lightning_job.quiet_lightning()
    record = _lightning_job.fit(1, start_epoch=2)
    assert record["refreshes"] == _lightning_job.EPOCHS - 2
    first, second, third = (np.array(p) for p in record["probabilities"])
    assert np.allclose(first, 1.0 / _lightning_job.N) and np.array_equal(first, second)
    assert not np.allclose(third, first)
    assert record["seen"][0] != record["seen"][1]  # uniform, yet a fresh draw each epoch
    assert record["seen"] == record["stream"]
    # The uniform epochs are shuffles (as the search's shared start), the sampler's are not.
    for epoch in (0, 1):
        assert sorted(record["seen"][epoch]) == list(range(_lightning_job.N))
    assert sorted(record["seen"][2]) != list(range(_lightning_job.N))


def test_bad_arguments_are_refused() -> None:
    import torch
    from torch.utils.data import TensorDataset

    from swift_sampler import ConfigError, InputDataError, SamplerSpec
    from swift_sampler.integrations.lightning import SwiftSamplerCallback

    with pytest.raises(InputDataError, match="training dataset is empty"):
        SwiftSamplerCallback(SamplerSpec(), TensorDataset(torch.zeros(0, 2)))
    with pytest.raises(InputDataError, match="start_epoch"):
        SwiftSamplerCallback(SamplerSpec(), _lightning_job.dataset(), start_epoch=-1)
    with pytest.raises(InputDataError, match="spec must be a SamplerSpec"):
        SwiftSamplerCallback("runs/mine/sampler.json", _lightning_job.dataset())
    # A spec refreshed once keeps the switch's probabilities, which a resumed fit could not
    # rebuild: refused, with what to do.
    with pytest.raises(ConfigError, match=r"refresh = 'once', which it does not support"):
        SwiftSamplerCallback(SamplerSpec(refresh="once"), _lightning_job.dataset())


def test_a_second_fit_with_the_same_callback_starts_uniform_again() -> None:
    """A callback that served a fit keeps its learned probabilities in its sampler; the next
    fit's uniform epochs must not draw from them."""
    _lightning_job.quiet_lightning()
    record = _lightning_job.fit(1, start_epoch=2, again=True)
    first, second = record, record["again"]
    assert not np.allclose(first["probabilities"][2], 1.0 / _lightning_job.N)
    assert second["seen"] == first["seen"]  # the same draws, epoch by epoch
    assert second["probabilities"] == first["probabilities"]
    assert sorted(second["seen"][0]) == list(range(_lightning_job.N))  # a shuffle again


@pytest.mark.slow
@pytest.mark.parametrize(
    ("start_epoch", "restore_after_setup", "history"),
    [
        (0, False, 0.0),
        (2, False, 0.0),
        (0, True, 0.0),
        (2, True, 0.0),
        (0, False, 0.5),
        (0, True, 0.5),
    ],
)
def test_a_resumed_fit_draws_what_an_uninterrupted_one_draws(
    tmp_path: Path, start_epoch: int, restore_after_setup: bool, history: float
) -> None:
    """With DataLoader workers Lightning creates a resumed fit's first iterator (and so its
    draw) before on_train_epoch_start and before it restores the epoch: the callback reads
    the epoch from the checkpoint, so epoch 2 after a resume is epoch 2 of one fit. Strategies
    that load the checkpoint after on_fit_start (FSDP, DeepSpeed) get the same draw, and
    with feature history the checkpoint carries the features' average."""
    _lightning_job.quiet_lightning()
    whole = _lightning_job.fit(1, start_epoch=start_epoch, workers=1, history=history)
    checkpoint = tmp_path / "two.ckpt"
    _lightning_job.fit(
        1, start_epoch=start_epoch, workers=1, epochs=2, save=checkpoint, history=history
    )
    resumed = _lightning_job.fit(
        1,
        start_epoch=start_epoch,
        workers=1,
        ckpt_path=checkpoint,
        restore_after_setup=restore_after_setup,
        history=history,
    )
    assert len(resumed["seen"]) == 1  # only epoch 2 was trained
    assert resumed["seen"][0] == whole["seen"][2]
    assert resumed["seen"] == resumed["stream"]  # the steps saw the epoch's own draw
    assert resumed["probabilities"][0] == whole["probabilities"][2]
    assert whole["seen"][2] != whole["seen"][1]


@pytest.mark.slow
# Resumed with a ModelCheckpoint into a new folder, Lightning says it will not reload the old
# folder's top-k bookkeeping (moot: every epoch is kept).
@pytest.mark.filterwarnings("ignore:The dirpath has changed:UserWarning")
@pytest.mark.parametrize("history", [0.0, 0.5])
def test_a_fit_resumed_from_a_model_checkpoint_of_the_same_fit_draws_on(
    tmp_path: Path, history: float
) -> None:
    """A ``ModelCheckpoint`` saves at an epoch's end inside the fit (its loop state then says
    the epoch was processed, not yet completed): resumed from epoch 0's and from epoch 1's,
    the fit draws epoch by epoch what the uninterrupted fit drew."""
    _lightning_job.quiet_lightning()
    saved = tmp_path / "checkpoints"
    whole = _lightning_job.fit(1, workers=1, history=history, checkpoints=saved)
    names = sorted(p.name for p in saved.iterdir())
    assert names == ["epoch=0-step=10.ckpt", "epoch=1-step=20.ckpt", "epoch=2-step=30.ckpt"]
    for after in (0, 1):
        resumed = _lightning_job.fit(  # with its ModelCheckpoint, as Lightning asks
            1,
            workers=1,
            history=history,
            ckpt_path=saved / names[after],
            checkpoints=tmp_path / f"after{after}",
        )
        assert len(resumed["seen"]) == 2 - after  # the epochs after the checkpoint's
        assert resumed["seen"] == whole["seen"][after + 1 :]
        assert resumed["seen"] == resumed["stream"]
        assert resumed["probabilities"] == whole["probabilities"][after + 1 :]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The dirpath has changed:UserWarning")
@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before")
def test_a_fit_resumed_mid_epoch_draws_that_epoch_anew_from_the_restored_module(
    tmp_path: Path,
) -> None:
    """What the module docstring promises for a checkpoint saved inside an epoch: Lightning
    trains the epoch's remaining batches from a new iterator (no on_train_epoch_start), and
    the sampler draws that epoch from the restored module's features, from the draw's start:
    not the rest of the draw the interrupted fit had begun."""
    _lightning_job.quiet_lightning()
    saved = tmp_path / "checkpoints"
    steps = _lightning_job.N // _lightning_job.BATCH  # 10 batches an epoch
    every = {"every_n_train_steps": steps // 2}  # the resumed fit gets it too, as Lightning asks
    whole = _lightning_job.fit(1, workers=1, checkpoints=saved, **every)
    middle = saved / f"epoch=1-step={steps + steps // 2}.ckpt"  # half of epoch 1 trained
    assert middle.exists(), sorted(p.name for p in saved.iterdir())
    resumed = _lightning_job.fit(
        1, workers=1, ckpt_path=middle, checkpoints=tmp_path / "again", **every
    )
    half = steps // 2 * _lightning_job.BATCH
    assert [len(s) for s in resumed["seen"]] == [half, _lightning_job.N]  # rest of 1, then 2
    assert resumed["seen"][0] == resumed["stream"][0][:half]  # its new draw, from the start
    assert resumed["seen"][0] != whole["seen"][1][half:]  # not the interrupted draw's rest
    assert resumed["probabilities"][0] != whole["probabilities"][1]  # a half-trained module's
    assert resumed["refreshes"] == 2  # epoch 1 once (on_fit_start), then epoch 2


@pytest.mark.slow
def test_a_checkpoint_without_loop_state_is_named_in_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Lightning then starts the fit over at epoch 0 from the restored module; the callback
    says it could not read the epoch and draws epoch 0 from that module's features."""
    import torch

    _lightning_job.quiet_lightning()
    checkpoint, bare = tmp_path / "two.ckpt", tmp_path / "bare.ckpt"
    fresh = _lightning_job.fit(1, epochs=2, save=checkpoint)
    state = torch.load(checkpoint, weights_only=True)
    del state["loops"]
    torch.save(state, bare)
    with caplog.at_level("WARNING", logger="swift_sampler.integrations.lightning"):
        resumed = _lightning_job.fit(1, epochs=2, ckpt_path=bare)
    assert "the checkpoint holds no fit-loop progress" in caplog.text
    assert len(resumed["seen"]) == 2
    assert resumed["seen"] == resumed["stream"]  # epochs 0 and 1's own draws
    assert resumed["probabilities"][0] != fresh["probabilities"][0]  # the trained module's
