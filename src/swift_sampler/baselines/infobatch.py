"""InfoBatch (Qin et al., ICLR 2024): prune well-learned instances at random, rescale the rest.

Each epoch from ``start_epoch`` on, until the annealing tail: every instance's loss is taken
with the current weights (InfoBatch records the losses of the previous epoch's forward passes;
here one feature pass at the epoch's start measures the same quantity), each instance whose
loss is below the mean is pruned with probability ``prune_ratio``, the epoch visits the kept
instances once in a seeded random order (fewer steps: the saving), and the loss of every kept
below-mean instance is multiplied by ``1 / (1 - prune_ratio)``, so the epoch's expected gradient
is the full epoch's. The last ``1 - anneal`` share of the schedule trains on the full set.

It prunes *low*-loss instances: a language modeller's cheap way to spend steps on what the
model has not learned yet, which keeps every high-loss (junk) sequence. The learning rate
follows the run's cosine schedule over the epoch's (fewer) steps.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Sampler, TensorDataset

from swift_sampler import distributed
from swift_sampler.baselines._base import BaselineTrainer
from swift_sampler.errors import ConfigError, InputDataError
from swift_sampler.train import ClassificationTrainer, TrainState, cosine_lr

__all__ = ["INFOBATCH_ANNEAL", "INFOBATCH_PRUNE_RATIO", "InfoBatchTrainer", "infobatch_plan"]

INFOBATCH_PRUNE_RATIO = 0.5
"""The paper's default share of the below-mean instances pruned each epoch."""
INFOBATCH_ANNEAL = 0.875
"""The paper's default: prune during the first 87.5% of the schedule, then train on all."""


def infobatch_plan(
    losses: np.ndarray, prune_ratio: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's kept instances and their loss weights.

    Args:
        losses: ``(n,)`` per-instance losses.
        prune_ratio: probability of pruning an instance whose loss is below the mean.
        rng: the epoch's generator.

    Returns:
        ``(kept, weights)``: the kept indices in a random order ``(k,)`` and their loss
        weights ``(k,)`` (``1 / (1 - prune_ratio)`` for the below-mean ones, else 1).
    """
    values = np.asarray(losses, dtype=np.float64)
    low = values < values.mean()
    pruned = low & (rng.random(values.size) < prune_ratio)
    kept = rng.permutation(np.flatnonzero(~pruned))
    weights = np.where(low[kept], 1.0 / (1.0 - prune_ratio), 1.0)
    return kept, weights


class InfoBatchTrainer(BaselineTrainer):
    """InfoBatch on the base's model, data and schedule (single process).

    Args:
        base: the uniform trainer (a classifier or a language model).
        prune_ratio: r, in ``[0, 1)``; default :data:`INFOBATCH_PRUNE_RATIO`.
        anneal: prune while ``epoch < anneal * epochs``, in ``(0, 1]``; default
            :data:`INFOBATCH_ANNEAL`.
        start_epoch: full epochs first (the first has no loss history in the paper), ``>= 0``.
    """

    def __init__(
        self,
        base: ClassificationTrainer,
        *,
        prune_ratio: float = INFOBATCH_PRUNE_RATIO,
        anneal: float = INFOBATCH_ANNEAL,
        start_epoch: int = 1,
    ) -> None:
        super().__init__(base)
        problems = []
        if isinstance(prune_ratio, bool) or not isinstance(prune_ratio, int | float):
            problems.append(f"prune_ratio must be a number in [0, 1), got {prune_ratio!r}")
        elif not 0 <= prune_ratio < 1:
            problems.append(f"prune_ratio must be in [0, 1), got {prune_ratio!r}")
        if isinstance(anneal, bool) or not isinstance(anneal, int | float) or not 0 < anneal <= 1:
            problems.append(f"anneal must be a number in (0, 1], got {anneal!r}")
        if isinstance(start_epoch, bool) or not isinstance(start_epoch, int) or start_epoch < 0:
            problems.append(f"start_epoch must be an integer >= 0, got {start_epoch!r}")
        if problems:
            raise InputDataError("InfoBatch: " + "; ".join(problems))
        self.prune_ratio = float(prune_ratio)
        self.anneal = float(anneal)
        self.start_epoch = start_epoch
        self.kept_shares: list[float] = []

    def prunes(self, epoch: int) -> bool:
        """Whether ``epoch`` is pruned (after ``start_epoch``, before the annealing tail)."""
        return self.start_epoch <= epoch < math.floor(self.anneal * self.total_epochs)

    def train_epoch(
        self,
        state: TrainState,
        sampler: Sampler[int] | None = None,
        *,
        schedule_window: tuple[float, float] | None = None,
    ) -> float:
        """Trains one epoch: the full set uniformly, or the pruned and rescaled set."""
        if sampler is not None:
            raise ConfigError(
                f"InfoBatchTrainer prunes on its own; call train_epoch with sampler=None, got "
                f"{type(sampler).__name__}"
            )
        if distributed.world_size() > 1:
            raise ConfigError("InfoBatch trains in a single process; run it without torchrun")
        epoch = state.epoch
        if not self.prunes(epoch):
            return self.base.train_epoch(state, None, schedule_window=schedule_window)
        losses = self.features(state, ("loss",))[:, 0]
        rng = np.random.default_rng([self.seed, epoch, 0x1B])
        kept, weights = infobatch_plan(losses, self.prune_ratio, rng)
        self.kept_shares.append(len(kept) / self.num_instances)
        return self._train_subset(state, kept, weights, schedule_window)

    def _train_subset(
        self,
        state: TrainState,
        kept: np.ndarray,
        weights: np.ndarray,
        schedule_window: tuple[float, float] | None,
    ) -> float:
        base = self.base
        epoch = state.epoch
        start, end = schedule_window if schedule_window is not None else (epoch, epoch + 1)
        size = base.config.batch_size
        steps = math.ceil(len(kept) / size)
        model, optimizer = state.model, state.optimizer
        model.train()
        total = 0.0
        for i in range(steps):
            rows = kept[i * size : (i + 1) * size]
            lr = cosine_lr(base.config.lr, start + (end - start) * i / steps, base.config.epochs)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x, y = self._batch(rows)
            optimizer.zero_grad(set_to_none=True)
            per_instance = F.cross_entropy(model(x), y, reduction="none")
            if per_instance.ndim > 1:  # a sequence: its mean token loss
                per_instance = per_instance.flatten(1).mean(dim=1)
            w = torch.as_tensor(weights[i * size : (i + 1) * size], dtype=per_instance.dtype)
            (per_instance * w.to(per_instance.device)).mean().backward()
            optimizer.step()
            total += float(per_instance.detach().mean())
        state.epoch = epoch + 1
        return total / max(steps, 1)

    def _batch(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        train: Any = self.base.train
        index = torch.as_tensor(rows, dtype=torch.int64)
        if isinstance(train, TensorDataset):
            x, y = train.tensors[0][index], train.tensors[1][index]
        else:
            items = [train[int(i)] for i in rows]
            x = torch.stack([torch.as_tensor(a) for a, _ in items])
            y = torch.stack([torch.as_tensor(b) for _, b in items])
        return x.to(self.base.device), y.to(self.base.device)
