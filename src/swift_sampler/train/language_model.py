"""The language-model trainer: next-token prediction on fixed-length sequences, AdamW.

An instance is one sequence ``(x, y)`` of ``T`` input and ``T`` target tokens; the model maps
``(b, T)`` ids to ``(b, V, T)`` logits (:class:`~swift_sampler.models.GPT`), so the training loop
of :class:`~swift_sampler.train.ClassificationTrainer` (cross-entropy of every position,
uniform shuffles or a sampler's draw, the cosine schedule over the whole run, and under
``torchrun`` the same data-parallel path: stripes of one global order, DDP, feature rows
gathered, sums over shards) trains it unchanged. What differs:

* the optimiser: AdamW with ``betas = (momentum, 0.99)`` (SGD trains transformers poorly);
* the features: per sequence, the mean over its positions of each token's feature
  (:func:`~swift_sampler.features.compute_sequence_features`);
* the score: negative perplexity on a split, ``-exp(total token loss / tokens)`` (higher is
  better, as the search maximises); a diverged candidate scores ``-V``, the perplexity of a
  uniform guess, below any trained model's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from swift_sampler import distributed
from swift_sampler.errors import ConfigError
from swift_sampler.features import compute_sequence_features
from swift_sampler.train.classification import ClassificationTrainer, TrainConfig, dataset_rows
from swift_sampler.train.protocol import TrainState, diverged

__all__ = ["LanguageModelTrainer"]


class LanguageModelTrainer(ClassificationTrainer):
    """Trains a next-token model on TensorDatasets of ``(x (T,), y (T,))`` int64 sequences.

    Args:
        model_fn: builds a fresh model mapping ``(b, T)`` ids to ``(b, V, T)`` logits.
        train: training sequences (possibly contaminated).
        val: validation sequences (the search's objective: negative perplexity).
        test: test sequences (reporting only).
        vocab_size: V, the model's output width.
        config: the recipe (``momentum`` is AdamW's beta1).
        seed: seed of weights and of the uniform shuffles.
        device: as for :class:`ClassificationTrainer`.
    """

    def __init__(
        self,
        model_fn: Callable[[], nn.Module],
        train: Dataset[Any],
        val: Dataset[Any],
        test: Dataset[Any] | None = None,
        *,
        vocab_size: int,
        config: TrainConfig | None = None,
        seed: int = 0,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(model_fn, train, val, test, config=config, seed=seed, device=device)
        self.vocab_size = vocab_size

    @property
    def worst_score(self) -> float:
        """The score of a diverged candidate: ``-V``, a uniform guess's perplexity, negated."""
        return -float(self.vocab_size)

    def with_seed(self, seed: int) -> LanguageModelTrainer:
        """The same recipe and data with another seed."""
        return LanguageModelTrainer(
            self.model_fn,
            self.train,
            self.val,
            self.test,
            vocab_size=self.vocab_size,
            config=self.config,
            seed=seed,
            device=self.device,
        )

    def new_state(self, seed: int | None = None) -> TrainState:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed if seed is None else seed)
            model = self.model_fn().to(self.device)
        optimizer = torch.optim.AdamW(
            model.parameters(),
            lr=self.config.lr,
            betas=(self.config.momentum, 0.99),
            weight_decay=self.config.weight_decay,
        )
        return TrainState(model=model, optimizer=optimizer, epoch=0)

    def _batches(self, dataset: Dataset[Any]) -> Any:
        """``(x, y)`` batches of a dataset in index order, on the model's device."""
        size = self.config.eval_batch_size
        if isinstance(dataset, TensorDataset):
            x_all, y_all = dataset.tensors[0], dataset.tensors[1]
            for start in range(0, len(x_all), size):
                yield (
                    x_all[start : start + size].to(self.device),
                    y_all[start : start + size].to(self.device),
                )
            return
        n = len(dataset)  # type: ignore[arg-type]
        for start in range(0, n, size):
            items = [dataset[i] for i in range(start, min(start + size, n))]
            yield (
                torch.stack([x for x, _ in items]).to(self.device),
                torch.stack([y for _, y in items]).to(self.device),
            )

    def _extract(
        self, state: TrainState, dataset: Dataset[Any], names: tuple[str, ...]
    ) -> np.ndarray:
        model = state.model
        modes = [(module, module.training) for module in model.modules()]
        model.eval()
        parts = []
        try:
            with torch.inference_mode():
                for x, y in self._batches(dataset):
                    parts.append(compute_sequence_features(model(x), y, names).cpu().numpy())
        finally:
            for module, training in modes:
                module.training = training
        if not parts:
            return np.empty((0, len(names)), dtype=np.float32)
        return np.concatenate(parts).astype(np.float32, copy=False)

    def token_loss(self, state: TrainState, dataset: Dataset[Any]) -> float:
        """Mean next-token cross-entropy (nats) over every position of ``dataset``.

        Under torch.distributed each rank evaluates its rows and the sums are combined.

        Raises:
            NonFiniteError: the model's outputs hold NaN or inf (training diverged).
        """
        world = distributed.world_size()
        n = len(dataset)  # type: ignore[arg-type]
        rows = range(distributed.rank(), n, world)
        local = dataset if world == 1 else dataset_rows(dataset, rows)
        model = state.model
        was_training = model.training
        model.eval()
        total, tokens, bad = 0.0, 0.0, 0.0
        try:
            with torch.inference_mode():
                for x, y in self._batches(local):
                    logits = model(x).float()
                    if not bool(torch.isfinite(logits).all()):
                        bad = 1.0
                        break
                    total += float(F.cross_entropy(logits, y, reduction="sum"))
                    tokens += float(y.numel())
        finally:
            model.train(was_training)
        total, tokens, bad = distributed.sum_across([total, tokens, bad])
        if bad > 0:
            raise diverged("the model's outputs hold NaN or inf", self.config.lr)
        return total / tokens

    def perplexity(self, state: TrainState, split: str) -> float:
        """``exp`` of the mean token loss on ``"val"`` or ``"test"``."""
        if split == "val":
            dataset = self.val
        elif split == "test":
            if self.test is None:
                raise ConfigError("this trainer has no test split")
            dataset = self.test
        else:
            raise ConfigError(f"unknown split {split!r}; use 'val' or 'test'")
        loss = self.token_loss(state, dataset)
        return math.exp(min(loss, 700.0))  # exp overflows a float past ~709

    def score(self, state: TrainState, split: str) -> float:
        """Negative perplexity on ``"val"`` or ``"test"`` (higher is better)."""
        return -self.perplexity(state, split)
