from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from swift_sampler import SwiftSampler
from swift_sampler.errors import ConfigError, InputDataError
from swift_sampler.models import MLP
from swift_sampler.train import (
    ClassificationTrainer,
    TrainConfig,
    cosine_lr,
    file_sha256,
    load_checkpoint,
    save_checkpoint,
)


@pytest.fixture
def trainer(digits) -> ClassificationTrainer:
    x, y = digits
    order = np.random.default_rng(0).permutation(len(y))  # the file is grouped by writer
    xt, yt = torch.from_numpy(x[order]), torch.from_numpy(y[order])
    train = TensorDataset(xt[:1200], yt[:1200])
    val = TensorDataset(xt[1200:1500], yt[1200:1500])
    test = TensorDataset(xt[1500:], yt[1500:])
    config = TrainConfig(epochs=4, batch_size=64, lr=0.1)
    return ClassificationTrainer(MLP, train, val, test, config=config, seed=3)


def test_cosine_schedule() -> None:
    assert cosine_lr(0.1, 0, 100) == pytest.approx(0.1)
    assert cosine_lr(0.1, 50, 100) == pytest.approx(0.05)
    assert cosine_lr(0.1, 100, 100) == pytest.approx(0.0)
    assert cosine_lr(0.1, 75, 100) == pytest.approx(0.05 * (1 + math.cos(0.75 * math.pi)))


def test_trainer_learns_digits(trainer: ClassificationTrainer) -> None:
    state = trainer.new_state()
    losses = [trainer.train_epoch(state) for _ in range(4)]
    assert losses[-1] < losses[0] / 3
    assert trainer.score(state, "val") > 0.9
    assert trainer.score(state, "test") > 0.9
    assert state.epoch == 4


def test_same_seed_same_weights(trainer: ClassificationTrainer) -> None:
    def run() -> list[torch.Tensor]:
        state = trainer.new_state()
        trainer.train_epoch(state)
        sampler = SwiftSampler(np.linspace(0.1, 1, trainer.num_instances), seed=1)
        trainer.train_epoch(state, sampler)
        return [p.detach().clone() for p in state.model.parameters()]

    for a, b in zip(run(), run(), strict=True):
        assert torch.equal(a, b)


def test_batch_loss_hook_gets_every_batch_and_its_learning_rate(
    trainer: ClassificationTrainer,
) -> None:
    import torch.nn.functional as F

    seen: list[tuple[int, float]] = []
    rows = 0

    def halved(state, x, y, *, lr):  # half the cross-entropy; reports the batch size
        nonlocal rows
        rows += len(y)
        seen.append((len(y), lr))
        return 0.5 * F.cross_entropy(state.model(x), y), float(len(y))

    plain, hooked = trainer.new_state(), trainer.new_state()
    trainer.train_epoch(plain, schedule_window=(0.0, 2.0))
    returned = trainer.train_epoch(hooked, batch_loss=halved, schedule_window=(0.0, 2.0))
    steps = trainer.steps_per_epoch
    assert rows == trainer.num_instances and len(seen) == steps
    expected = [cosine_lr(0.1, 2.0 * i / steps, 4) for i in range(steps)]
    assert [lr for _, lr in seen] == pytest.approx(expected, rel=1e-12)
    assert returned == pytest.approx(sum(n for n, _ in seen) / steps)  # the reported values
    # The hook's loss is what is minimised: half the loss moves the weights differently.
    first = next(plain.model.parameters())
    assert not torch.allclose(first, next(hooked.model.parameters()))
    assert hooked.epoch == 1


def test_resuming_from_a_checkpoint_continues_the_schedule(
    trainer: ClassificationTrainer, tmp_path
) -> None:
    # Train 4 epochs straight vs 2 epochs, checkpoint, reload into a fresh state, 2 more.
    straight = trainer.new_state()
    for _ in range(4):
        trainer.train_epoch(straight)
    first = trainer.new_state()
    for _ in range(2):
        trainer.train_epoch(first)
    digest = save_checkpoint(trainer.state_dict(first), tmp_path / "shared.pt")
    resumed = trainer.new_state(seed=99)  # different initial weights, overwritten by the load
    trainer.load_state_dict(
        resumed, load_checkpoint(tmp_path / "shared.pt", expected_sha256=digest)
    )
    assert resumed.epoch == 2
    for _ in range(2):
        trainer.train_epoch(resumed)
    for a, b in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_checkpoint_hash_and_safety(tmp_path) -> None:
    path = tmp_path / "ckpt.pt"
    digest = save_checkpoint({"w": torch.arange(3), "epoch": 2}, path)
    assert digest == file_sha256(path)
    assert load_checkpoint(path, expected_sha256=digest)["epoch"] == 2
    with pytest.raises(InputDataError, match="expected 0000"):
        load_checkpoint(path, expected_sha256="0000")
    with pytest.raises(InputDataError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    # An arbitrary pickled object is refused by weights_only loading.
    evil = tmp_path / "evil.pt"
    torch.save({"payload": np.random.default_rng(0)}, evil)
    with pytest.raises(InputDataError, match="cannot be loaded safely"):
        load_checkpoint(evil)
    assert not list(tmp_path.glob(".ckpt.pt.*"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer, got 0"),
        ({"lr": -1.0}, "lr must be a finite number >= 0, got -1.0"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer, got 2.5"),
    ],
)
def test_bad_train_config(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)


def test_bad_config_reports_every_problem() -> None:
    with pytest.raises(ConfigError, match=r"epochs .*; lr .*; weight_decay"):
        TrainConfig(epochs=0, lr=float("nan"), weight_decay=-1)
