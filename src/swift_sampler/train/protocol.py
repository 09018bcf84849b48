"""The trainer interface the search drives, and the learning-rate schedule it shares.

A trainer owns the data and the recipe (optimiser, schedule, batch size); the search only asks
it to make a fresh state (``new_state``, ``with_seed``), train one epoch under a sampler,
compute per-instance features of the training set, score a state, and save or load one.
Nothing here assumes classification: a language model whose instances are sequences, scored by
negative validation perplexity, implements the same methods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch.utils.data import Sampler

from swift_sampler.errors import NonFiniteError

__all__ = ["TrainState", "Trainer", "cosine_lr", "diverged"]


def diverged(what: str, lr: float) -> NonFiniteError:
    """The error for NaN or inf in the outputs of a model a trainer trains (``what``), with
    the two causes a user can act on."""
    return NonFiniteError(
        f"{what}: training diverged, or the model outputs NaN; lower train.lr (now {lr:g}) "
        "or check the model (model.factory, if it is yours)"
    )


def cosine_lr(base_lr: float, step: float, total_steps: float) -> float:
    """Cosine decay from ``base_lr`` to 0 over ``total_steps``, defined over the whole run.

    Because the schedule spans the full run, a fine-tune that starts at epoch ``E_s`` simply
    continues its tail. ``step`` may be fractional (positions measured in epochs).
    """
    if total_steps <= 0:
        return base_lr
    progress = min(max(step / total_steps, 0.0), 1.0)
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * progress))


@dataclass
class TrainState:
    """A model, its optimiser and how many epochs of the schedule it has done.

    ``parallel`` is the model's ``DistributedDataParallel`` wrapper under ``torch.distributed``
    (made on first use, never saved).
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    epoch: int = 0
    parallel: torch.nn.Module | None = field(default=None, repr=False)


@runtime_checkable
class Trainer(Protocol):
    """What the search needs from a training recipe.

    ``score`` is "higher is better": Top-1 accuracy for classification, negative perplexity
    for a language model.
    """

    @property
    def num_instances(self) -> int:
        """Number of training instances n (rows of the feature table)."""
        ...

    @property
    def total_epochs(self) -> int:
        """Length of the full schedule in epochs."""
        ...

    def with_seed(self, seed: int) -> Trainer:
        """The same recipe and data with another seed (weights, shuffles)."""
        ...

    def new_state(self, seed: int) -> TrainState:
        """A freshly initialised model and optimiser at epoch 0."""
        ...

    def train_epoch(
        self,
        state: TrainState,
        sampler: Sampler[int] | None = None,
        *,
        schedule_window: tuple[float, float] | None = None,
    ) -> float:
        """Trains one epoch (uniform shuffle when ``sampler`` is None); returns the mean loss.

        ``schedule_window`` = (start, end) position of this epoch on the run's learning-rate
        schedule, in epochs; default ``(state.epoch, state.epoch + 1)``.
        """
        ...

    def features(self, state: TrainState, names: tuple[str, ...]) -> np.ndarray:
        """``(n, len(names))`` float32 per-instance features of the training set."""
        ...

    def score(self, state: TrainState, split: str) -> float:
        """Quality on ``"val"`` or ``"test"``, higher is better."""
        ...

    def state_dict(self, state: TrainState) -> dict[str, Any]:
        """Tensors and numbers only, loadable with ``torch.load(weights_only=True)``."""
        ...

    def load_state_dict(self, state: TrainState, saved: dict[str, Any]) -> None:
        """Restores ``state`` in place from ``state_dict``'s output."""
        ...
