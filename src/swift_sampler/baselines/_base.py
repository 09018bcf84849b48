"""The hooks every baseline sets in ``ClassificationTrainer``'s training loop.

A baseline wraps a :class:`~swift_sampler.train.ClassificationTrainer` (the *base*): the same
model builder, data, splits, recipe and seed. Each epoch is trained by the base's own
``train_epoch`` (same uniform shuffle of epoch e, same batches, same cosine learning rate per
step) with the baseline's per-batch loss and, for sampling baselines, its own sampler; so a
baseline is trained, scored, checkpointed and fed features exactly as the uniform arm is.
Baselines train in one process: under ``torchrun`` with several ranks, ``train_epoch`` refuses.
"""

from __future__ import annotations

import copy
from typing import Any, Self

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Sampler

from swift_sampler.errors import InputDataError
from swift_sampler.train import ClassificationTrainer, TrainState

__all__ = ["BaselineTrainer"]


class BaselineTrainer:
    """A :class:`~swift_sampler.train.Trainer` that trains like ``base`` with another loss.

    Subclasses override :meth:`batch_loss` (loss-reweighting methods) or
    :meth:`epoch_sampler` (sampling methods), and :meth:`new_state` when they keep more
    than one network or extra training state.

    Args:
        base: the uniform trainer whose model builder, data, recipe and seed are used.
    """

    def __init__(self, base: ClassificationTrainer) -> None:
        if not isinstance(base, ClassificationTrainer):
            raise InputDataError(
                f"a baseline wraps a ClassificationTrainer, got {type(base).__name__}"
            )
        self.base = base

    @property
    def num_instances(self) -> int:
        return self.base.num_instances

    @property
    def total_epochs(self) -> int:
        return self.base.total_epochs

    @property
    def seed(self) -> int:
        """Seed of the weights, shuffles and samplers (the base's)."""
        return self.base.seed

    def with_seed(self, seed: int) -> Self:
        """The same baseline, recipe and data with another seed."""
        clone = copy.copy(self)
        clone.base = self.base.with_seed(seed)
        return clone

    def new_state(self, seed: int | None = None) -> TrainState:
        """A fresh model and optimiser, initialised exactly as the base initialises them."""
        return self.base.new_state(seed)

    def epoch_sampler(self, state: TrainState) -> Sampler[int] | None:
        """The sampler of the epoch ``state`` is about to train; None shuffles uniformly."""
        return None

    def batch_loss(
        self, state: TrainState, x: torch.Tensor, y: torch.Tensor, *, lr: float
    ) -> tuple[torch.Tensor, float]:
        """The loss to minimise on one batch, and the value to report for it.

        Args:
            state: the model and optimiser being trained (``state.model`` is in train mode).
            x: ``(b, ...)`` inputs, on the model's device.
            y: ``(b,)`` labels (noisy), on the model's device.
            lr: learning rate of this step.

        Returns:
            ``(loss, reported)``: a scalar tensor to back-propagate, and the batch's mean
            cross-entropy against its given labels (averaged into ``train_epoch``'s return
            value, so that every baseline's training loss means the same thing).
        """
        loss = F.cross_entropy(state.model(x), y)
        return loss, loss.item()

    def train_epoch(
        self,
        state: TrainState,
        sampler: Sampler[int] | None = None,
        *,
        schedule_window: tuple[float, float] | None = None,
    ) -> float:
        """Trains one epoch with this baseline's loss; see ``ClassificationTrainer``.

        Args:
            state: model, optimiser and epoch count (incremented).
            sampler: the epoch's sampler; None lets :meth:`epoch_sampler` choose (uniform
                shuffle, seeded by epoch, unless the baseline samples on its own).
            schedule_window: ``(start, end)`` of this epoch on the run's cosine schedule.

        Returns:
            Mean training loss of the epoch: cross-entropy against the given labels, whatever
            loss the baseline minimises.
        """
        if sampler is None:
            sampler = self.epoch_sampler(state)
        return self.base.train_epoch(
            state, sampler, schedule_window=schedule_window, batch_loss=self.batch_loss
        )

    def features(self, state: TrainState, names: tuple[str, ...]) -> np.ndarray:
        """``(n, len(names))`` per-instance features of the training set (``state.model``)."""
        return self.base.features(state, names)

    def score(self, state: TrainState, split: str) -> float:
        """Top-1 accuracy of ``state.model`` on ``"val"`` or ``"test"``."""
        return self.base.score(state, split)

    def state_dict(self, state: TrainState) -> dict[str, Any]:
        """Tensors and numbers only, loadable with ``torch.load(weights_only=True)``."""
        return self.base.state_dict(state)

    def load_state_dict(self, state: TrainState, saved: dict[str, Any]) -> None:
        """Restores ``state`` in place from :meth:`state_dict`'s output."""
        self.base.load_state_dict(state, saved)
