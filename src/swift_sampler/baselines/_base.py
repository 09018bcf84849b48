"""The training loop every baseline shares with ``ClassificationTrainer``, and its hooks.

A baseline wraps a :class:`~swift_sampler.train.ClassificationTrainer` (the *base*): the same
model builder, data, splits, recipe and seed. Everything but the per-batch loss and the choice
of each epoch's sampler is delegated to the base, so a baseline is scored, checkpointed and
fed features exactly as the uniform arm is. The loop below reproduces the base's
single-process ``train_epoch`` step for step (same uniform shuffle of epoch e, same batches,
same cosine learning rate per step, batches moved to the model's device); a test checks that
a baseline whose loss is plain cross-entropy trains bit for bit like the base. Baselines train
in one process: under ``torchrun`` with several ranks, ``train_epoch`` refuses.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any, Self

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, RandomSampler, Sampler, TensorDataset, default_collate

from swift_sampler.errors import ConfigError, InputDataError
from swift_sampler.train import ClassificationTrainer, TrainState, cosine_lr

__all__ = ["BaselineTrainer"]


def _device(model: torch.nn.Module) -> torch.device:
    """Where the model's parameters live (the base puts them on its device)."""
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def _check_single_process() -> None:
    distributed = torch.distributed
    if distributed.is_available() and distributed.is_initialized():
        world = distributed.get_world_size()
        if world > 1:
            raise ConfigError(
                f"the baselines train in a single process, but torch.distributed runs {world} "
                "ranks; run them without torchrun"
            )


def _batches(
    dataset: Dataset[Any], indices: torch.Tensor, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(x, y)`` batches of ``dataset`` rows ``indices``, in order, ``batch_size`` at a time."""
    tensors = dataset.tensors if isinstance(dataset, TensorDataset) else None
    for start in range(0, len(indices), batch_size):
        rows = indices[start : start + batch_size]
        if tensors is not None:
            yield tensors[0][rows], tensors[1][rows]
        else:
            x, y = default_collate([dataset[int(i)] for i in rows])
            yield x, y


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
        _check_single_process()
        base = self.base
        epoch = state.epoch
        if sampler is None:
            sampler = self.epoch_sampler(state)
        probabilities = getattr(sampler, "probabilities", None)
        if probabilities is not None and len(probabilities) != self.num_instances:
            raise InputDataError(
                f"the sampler covers {len(probabilities)} instances but the training set has "
                f"{self.num_instances}: its feature table does not match the dataset"
            )
        if sampler is None:
            # The base's uniform shuffle of this epoch, so that both arms see the same order.
            generator = torch.Generator().manual_seed(base.seed * 1_000_003 + epoch)
            sampler = RandomSampler(base.train, generator=generator)  # type: ignore[arg-type]
        elif hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        indices = torch.as_tensor(list(sampler), dtype=torch.int64)
        batch_size = base.config.batch_size
        steps = math.ceil(len(indices) / batch_size)
        start, end = schedule_window if schedule_window is not None else (epoch, epoch + 1)
        model, optimizer = state.model, state.optimizer
        device = _device(model)
        model.train()
        losses = []
        for i, (x, y) in enumerate(_batches(base.train, indices, batch_size)):
            position = start + (end - start) * i / max(steps, 1)  # in epochs of the schedule
            lr = cosine_lr(base.config.lr, position, base.config.epochs)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            loss, reported = self.batch_loss(state, x.to(device), y.to(device), lr=lr)
            loss.backward()
            optimizer.step()
            losses.append(reported)
        state.epoch = epoch + 1
        return float(np.mean(losses)) if losses else float("nan")

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
