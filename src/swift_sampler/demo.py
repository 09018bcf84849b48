"""The sampler demo: uniform sampling vs a loss/Er SwiftSampler on MNIST-5k with label noise.

Both arms share the same data, seed, network and warm-up: ``warmup_epochs`` of uniform
training, then the rest of one cosine schedule either uniformly or under a ``SwiftSampler``
whose features (loss, Er, gradient norm) are recomputed from the current model every epoch.
The spec is fixed by hand (``HAND_SET_THETA``: down-weight high-loss, low-Er instances, where
flipped labels sit); the search that learns theta builds on this.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from swift_sampler.data import load_dataset
from swift_sampler.family import SamplerSpec
from swift_sampler.models import SmallCNN
from swift_sampler.sampler import SwiftSampler
from swift_sampler.train import ClassificationTrainer, TrainConfig, TrainState

__all__ = ["HAND_SET_THETA", "DemoEpoch", "DemoResult", "run_sampler_demo"]

logger = logging.getLogger(__name__)

HAND_SET_THETA = (1.0, 0.5, 0.5, 0.0, 0.5, 0.0, 1.0, 0.5, 0.5, 0.5)
"""cdf-space knots (1, 1, 1, 0, 0) for loss and (0, 1, 1, 1, 1) for Er, with L = 4: weight 0
for the top quarter of losses and for the bottom quarter of Er."""


@dataclass(frozen=True)
class DemoEpoch:
    """One epoch of one arm."""

    arm: str
    epoch: int
    seconds: float
    train_loss: float
    val_top1: float
    test_top1: float
    noisy_share: float  # probability mass on the injected noisy instances


@dataclass
class DemoResult:
    """Per-epoch logs of both arms plus the set-up that produced them."""

    epochs: list[DemoEpoch] = field(default_factory=list)
    noise_rate: float = 0.4
    seed: int = 0
    total_epochs: int = 0
    warmup_epochs: int = 0
    spec: SamplerSpec | None = None

    def arm(self, name: str) -> list[DemoEpoch]:
        return [e for e in self.epochs if e.arm == name]

    def summary(self, name: str) -> dict[str, float]:
        """Test Top-1 at the last epoch and at the epoch of best validation Top-1."""
        logs = [e for e in self.arm(name) if e.epoch >= self.warmup_epochs]
        best = max(logs, key=lambda e: e.val_top1)
        return {
            "last_test": logs[-1].test_top1,
            "best_val_epoch": best.epoch,
            "test_at_best_val": best.test_top1,
            "max_test": max(e.test_top1 for e in logs),
            "noisy_share": float(np.mean([e.noisy_share for e in logs])),
        }


def run_sampler_demo(
    *,
    total_epochs: int = 20,
    warmup_epochs: int = 5,
    noise_rate: float = 0.4,
    seed: int = 0,
    on_epoch: Callable[[DemoEpoch], None] | None = None,
) -> DemoResult:
    """Trains the two arms and returns every epoch's numbers.

    Args:
        total_epochs: length of the cosine schedule, warm-up included.
        warmup_epochs: uniform epochs shared by both arms.
        noise_rate: symmetric label-noise rate on train and validation.
        seed: seed of the split, the noise, the weights and the draws.
        on_epoch: called after every epoch (the CLI prints from it).
    """
    data = load_dataset("mnist5k", noise_rate=noise_rate, seed=seed)
    trainer = ClassificationTrainer(
        SmallCNN,
        data.train,
        data.val,
        data.test,
        config=TrainConfig(epochs=total_epochs, lr=0.05),
        seed=seed,
    )
    noise = np.asarray(data.train_noise_mask)
    spec = SamplerSpec(transform="cdf", lipschitz=4.0, theta=HAND_SET_THETA)
    result = DemoResult(
        noise_rate=noise_rate,
        seed=seed,
        total_epochs=total_epochs,
        warmup_epochs=warmup_epochs,
        spec=spec,
    )

    def record(arm: str, state: TrainState, start: float, loss: float, share: float) -> None:
        entry = DemoEpoch(
            arm=arm,
            epoch=state.epoch - 1,
            seconds=time.perf_counter() - start,
            train_loss=loss,
            val_top1=trainer.score(state, "val"),
            test_top1=trainer.score(state, "test"),
            noisy_share=share,
        )
        result.epochs.append(entry)
        if on_epoch is not None:
            on_epoch(entry)

    state = trainer.new_state()
    for _ in range(warmup_epochs):
        start = time.perf_counter()
        loss = trainer.train_epoch(state)
        record("warm-up", state, start, loss, float(noise.mean()))
    branch = copy.deepcopy(state)

    for _ in range(warmup_epochs, total_epochs):
        start = time.perf_counter()
        loss = trainer.train_epoch(state)
        record("uniform", state, start, loss, float(noise.mean()))

    state = branch
    sampler: SwiftSampler | None = None
    for _ in range(warmup_epochs, total_epochs):
        start = time.perf_counter()
        features = trainer.features(state, spec.columns)
        if sampler is None:
            sampler = SwiftSampler.from_spec(spec, features, seed=seed)
        else:
            sampler.update(features)
        share = float(sampler.probabilities[noise].sum() / sampler.probabilities.sum())
        loss = trainer.train_epoch(state, sampler)
        record("swift", state, start, loss, share)
    return result
