"""The built-in classification trainer: SGD with momentum, a cosine schedule over the whole run.

Deterministic on CPU for a given seed: weights come from ``torch.manual_seed(seed)`` at
``new_state``, the uniform shuffle of epoch e from a generator seeded with ``(seed, e)``, and a
``SwiftSampler`` carries its own seed.

Under ``torch.distributed`` (``torchrun``) the same trainer runs data-parallel: every rank
takes its stripe of the same global order (the seeded permutation, or the sampler's draw) with
``batch_size / world`` instances per step, gradients are averaged by
``DistributedDataParallel``, feature passes are split by rows and gathered, and scores are
summed over shards; see ``swift_sampler.distributed``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import (
    DataLoader,
    Dataset,
    RandomSampler,
    Sampler,
    Subset,
    TensorDataset,
)

from swift_sampler import distributed
from swift_sampler.draw import stripe
from swift_sampler.errors import ConfigError, InputDataError, NonFiniteError
from swift_sampler.features import extract_features
from swift_sampler.train.protocol import TrainState, cosine_lr, diverged

__all__ = ["BatchLoss", "ClassificationTrainer", "TrainConfig", "dataset_rows"]

#: ``batch_loss(state, x, y, *, lr) -> (loss, reported)``: ``ClassificationTrainer.train_epoch``
BatchLoss = Callable[..., tuple[torch.Tensor, float]]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe.

    Attributes:
        epochs: length of the full schedule (the cosine decays to 0 at its end).
        batch_size: mini-batch size.
        lr: peak learning rate.
        momentum: SGD momentum.
        weight_decay: L2 weight decay.
        eval_batch_size: batch size of evaluation and feature passes.
    """

    epochs: int = 20
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    eval_batch_size: int = 128

    def __post_init__(self) -> None:
        problems = []
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{name} must be a positive integer, got {value!r}")
        for name in ("lr", "momentum", "weight_decay"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                problems.append(f"{name} must be a finite number >= 0, got {value!r}")
        if problems:
            raise ConfigError("invalid training config: " + "; ".join(problems))


class _Batched(Dataset[Any]):
    """A TensorDataset that hands the DataLoader whole batches (``__getitems__``).

    The DataLoader then fetches a batch with one tensor index instead of ``batch_size`` item
    lookups and a collate; the sampler and batching are unchanged.
    """

    def __init__(self, dataset: TensorDataset) -> None:
        self.tensors = dataset.tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, ...]:
        rows = torch.as_tensor(indices, dtype=torch.int64)
        return tuple(t[rows] for t in self.tensors)


def _keep_batch(batch: Any) -> Any:
    return batch


class _Fixed(Sampler[int]):
    """Iterates a fixed index array (a rank's stripe of this epoch's order)."""

    def __init__(self, indices: np.ndarray) -> None:
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Any:
        return iter(self.indices.tolist())


class ClassificationTrainer:
    """Trains a classifier on map-style ``(x, y)`` datasets; score is Top-1 accuracy.

    Args:
        model_fn: builds a fresh model returning ``(b, C)`` logits.
        train: training dataset (labels possibly noisy).
        val: validation dataset (the search's objective).
        test: test dataset (reporting only).
        config: the recipe.
        seed: seed of weights and of the uniform shuffles.
        device: where the model and batches live; default this rank's GPU under an NCCL
            process group, else the CPU.
    """

    def __init__(
        self,
        model_fn: Callable[[], nn.Module],
        train: Dataset[Any],
        val: Dataset[Any],
        test: Dataset[Any] | None = None,
        *,
        config: TrainConfig | None = None,
        seed: int = 0,
        device: str | torch.device | None = None,
    ) -> None:
        self.model_fn = model_fn
        self.train = train
        self.val = val
        self.test = test
        self.config = config or TrainConfig()
        self.seed = seed
        if device is None:
            device = "cuda" if distributed.uses_cuda() else "cpu"
        self.device = torch.device(device)

    @property
    def num_instances(self) -> int:
        return len(self.train)  # type: ignore[arg-type]

    @property
    def total_epochs(self) -> int:
        return self.config.epochs

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.num_instances / self.config.batch_size)

    def with_seed(self, seed: int) -> ClassificationTrainer:
        """The same recipe and data with another seed."""
        return ClassificationTrainer(
            self.model_fn,
            self.train,
            self.val,
            self.test,
            config=self.config,
            seed=seed,
            device=self.device,
        )

    def new_state(self, seed: int | None = None) -> TrainState:
        # Seed the weights without touching the caller's global torch RNG state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed if seed is None else seed)
            model = self.model_fn().to(self.device)
        optimizer = torch.optim.SGD(
            model.parameters(),
            lr=self.config.lr,
            momentum=self.config.momentum,
            weight_decay=self.config.weight_decay,
        )
        return TrainState(model=model, optimizer=optimizer, epoch=0)

    def _loader(self, dataset: Dataset[Any], *, sampler: Sampler[int], batch_size: int) -> Any:
        if isinstance(dataset, TensorDataset):
            return DataLoader(
                _Batched(dataset), batch_size=batch_size, sampler=sampler, collate_fn=_keep_batch
            )
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler)

    def train_epoch(
        self,
        state: TrainState,
        sampler: Sampler[int] | None = None,
        *,
        schedule_window: tuple[float, float] | None = None,
        batch_loss: BatchLoss | None = None,
    ) -> float:
        """Trains one epoch; a sampler with ``set_epoch`` gets the epoch number first.

        Args:
            state: model, optimiser and epoch count (incremented).
            sampler: the sampler of this epoch; None shuffles uniformly (seeded by epoch).
            schedule_window: where this epoch sits on the run's cosine schedule, in epochs:
                ``(start, end)``; default ``(state.epoch, state.epoch + 1)``. A fine-tune
                that squeezes the schedule's tail into fewer epochs passes wider windows.
            batch_loss: replaces the cross-entropy of each batch (the baselines' hook):
                called as ``batch_loss(state, x, y, lr=lr)`` with the batch on the model's
                device, it returns the scalar loss to back-propagate and the number to average
                into the return value. Single process only.

        Returns:
            Mean training loss of the epoch (the mean of ``batch_loss``'s reported values when
            it is given).
        """
        epoch = state.epoch
        probabilities = getattr(sampler, "probabilities", None)
        if probabilities is not None and len(probabilities) != self.num_instances:
            raise InputDataError(
                f"the sampler covers {len(probabilities)} instances but the training set has "
                f"{self.num_instances}: its feature table does not match the dataset"
            )
        world = distributed.world_size()
        if batch_loss is not None and world > 1:
            raise ConfigError(
                f"a custom batch loss trains in a single process, but torch.distributed runs "
                f"{world} ranks; run it without torchrun"
            )
        batch_size = self._rank_batch_size(world)
        if sampler is None:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            if world == 1:
                sampler = RandomSampler(self.train, generator=generator)  # type: ignore[arg-type]
            else:  # RandomSampler's permutation, striped over the ranks
                order = torch.randperm(self.num_instances, generator=generator).numpy()
                sampler = _Fixed(stripe(order, num_replicas=world, rank=distributed.rank()))
        else:
            replicas = getattr(sampler, "num_replicas", world)
            if replicas != world:
                raise InputDataError(
                    f"the sampler splits its draw over {replicas} ranks but {world} are training"
                )
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
        loader = self._loader(self.train, sampler=sampler, batch_size=batch_size)
        start, end = schedule_window if schedule_window is not None else (epoch, epoch + 1)
        steps = len(loader)
        model, optimizer = self._network(state), state.optimizer
        model.train()
        total, count = 0.0, 0
        for i, (x, y) in enumerate(loader):
            position = start + (end - start) * i / max(steps, 1)  # in epochs of the schedule
            lr = cosine_lr(self.config.lr, position, self.config.epochs)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            x, y = x.to(self.device), y.to(self.device)
            if batch_loss is None:
                loss = F.cross_entropy(model(x), y)
                reported = loss.item()
            else:
                loss, reported = batch_loss(state, x, y, lr=lr)
            loss.backward()
            optimizer.step()
            total += reported
            count += 1
        state.epoch = epoch + 1
        loss_sum, steps_done = distributed.sum_across([total, float(count)])
        return loss_sum / steps_done if steps_done else float("nan")

    def _rank_batch_size(self, world: int) -> int:
        if self.config.batch_size % world:
            raise ConfigError(
                f"batch_size {self.config.batch_size} must be divisible by the {world} ranks "
                "(each rank takes batch_size / ranks instances per step)"
            )
        return self.config.batch_size // world

    def _network(self, state: TrainState) -> nn.Module:
        """The model, wrapped in ``DistributedDataParallel`` when there are several ranks."""
        if distributed.world_size() == 1:
            return state.model
        if state.parallel is None:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            state.parallel = DistributedDataParallel(state.model, device_ids=ids)
        return state.parallel

    def features(self, state: TrainState, names: tuple[str, ...]) -> np.ndarray:
        world = distributed.world_size()
        if world == 1:
            return self._extract(state, self.train, names)
        rows = range(distributed.rank(), self.num_instances, world)
        error: NonFiniteError | None = None
        try:
            local = self._extract(state, dataset_rows(self.train, rows), names)
        except NonFiniteError as err:  # every rank must take the same branch
            error, local = err, np.zeros((len(rows), len(names)), dtype=np.float32)
        if distributed.sum_across([float(error is not None)])[0] > 0:
            raise error or NonFiniteError("another rank's model outputs hold NaN or inf")
        return distributed.gather_rows(local, self.num_instances)

    def _extract(
        self, state: TrainState, dataset: Dataset[Any], names: tuple[str, ...]
    ) -> np.ndarray:
        """``(len(dataset), m)`` features of one process's rows (the task's feature pass)."""
        try:
            return extract_features(
                state.model,
                dataset,
                names=names,
                batch_size=self.config.eval_batch_size,
                device=self.device,
            )
        except NonFiniteError as err:  # the model this trainer trained: it diverged
            raise diverged(str(err), self.config.lr) from err

    def predict(self, state: TrainState, dataset: Dataset[Any]) -> tuple[np.ndarray, np.ndarray]:
        """``(n, C)`` logits and ``(n,)`` labels of a dataset, in index order."""
        return self._predict(state, dataset, range(len(dataset)))  # type: ignore[arg-type]

    def _predict(
        self, state: TrainState, dataset: Dataset[Any], rows: range
    ) -> tuple[np.ndarray, np.ndarray]:
        model = state.model
        was_training = model.training
        model.eval()
        logits: list[np.ndarray] = []
        labels: list[np.ndarray] = []
        loader = self._loader(
            dataset,
            sampler=rows,  # type: ignore[arg-type]
            batch_size=self.config.eval_batch_size,
        )
        try:
            with torch.inference_mode():
                for x, y in loader:
                    logits.append(model(x.to(self.device)).float().cpu().numpy())
                    labels.append(y.numpy())
        finally:
            model.train(was_training)
        if not logits:  # a rank with no rows of a small dataset
            return np.empty((0, 0), dtype=np.float32), np.empty(0, dtype=np.int64)
        return np.concatenate(logits), np.concatenate(labels)

    def accuracy(self, state: TrainState, dataset: Dataset[Any]) -> float:
        """Top-1 accuracy on a dataset (each rank predicts its share under torch.distributed)."""
        world = distributed.world_size()
        rows = range(distributed.rank(), len(dataset), world)  # type: ignore[arg-type]
        logits, labels = self._predict(state, dataset, rows)
        finite = bool(np.isfinite(logits).all())
        correct = float((logits.argmax(axis=1) == labels).sum()) if logits.size else 0.0
        correct, total, bad = distributed.sum_across(
            [correct, float(len(rows)), float(not finite)]
        )
        if bad > 0:
            raise diverged("the model's outputs hold NaN or inf", self.config.lr)
        return correct / total

    def score(self, state: TrainState, split: str) -> float:
        if split == "val":
            return self.accuracy(state, self.val)
        if split == "test":
            if self.test is None:
                raise ConfigError("this trainer has no test split")
            return self.accuracy(state, self.test)
        raise ConfigError(f"unknown split {split!r}; use 'val' or 'test'")

    def state_dict(self, state: TrainState) -> dict[str, Any]:
        # The same on every rank (DDP keeps replicas equal); only rank 0 needs to save it.
        return {
            "model": state.model.state_dict(),
            "optimizer": state.optimizer.state_dict(),
            "epoch": state.epoch,
        }

    def load_state_dict(self, state: TrainState, saved: dict[str, Any]) -> None:
        state.model.load_state_dict(saved["model"])
        state.optimizer.load_state_dict(saved["optimizer"])
        state.epoch = int(saved["epoch"])


def dataset_rows(dataset: Dataset[Any], rows: range) -> Dataset[Any]:
    """The rows ``rows`` of a dataset (a sliced TensorDataset, else a Subset)."""
    if isinstance(dataset, TensorDataset):
        index = torch.arange(rows.start, rows.stop, rows.step)
        return TensorDataset(*(t[index] for t in dataset.tensors))
    return Subset(dataset, list(rows))
