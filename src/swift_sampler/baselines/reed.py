"""Bootstrapping (Reed et al. 2014): cross-entropy against a mix of the label and the model.

The target of instance i is ``beta * onehot(y_i) + (1 - beta) * t_i`` with ``t_i`` the model's
own (detached) prediction: its probabilities (*soft*, ``beta = 0.95`` in the paper) or the
one-hot of its argmax (*hard*, ``beta = 0.8``). Cross-entropy is linear in the target, so the
loss is computed as ``beta * CE(z, y) + (1 - beta) * CE(z, t)``; with ``beta = 1`` it is plain
cross-entropy, bit for bit.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from swift_sampler.baselines._base import BaselineTrainer
from swift_sampler.errors import InputDataError
from swift_sampler.train import ClassificationTrainer, TrainState

__all__ = ["REED_BETA", "ReedTrainer", "reed_loss"]

REED_BETA: dict[str, float] = {"hard": 0.8, "soft": 0.95}
"""The paper's beta of each kind."""


def reed_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    beta: float,
    kind: Literal["hard", "soft"],
) -> torch.Tensor:
    """Mean bootstrapping loss of a batch.

    Args:
        logits: ``(b, C)`` model outputs.
        labels: ``(b,)`` (noisy) class indices.
        beta: weight of the given label in the target, in ``[0, 1]``.
        kind: ``"hard"`` (target = argmax of the prediction) or ``"soft"`` (the prediction).

    Returns:
        A scalar: ``mean_i CE(z_i, beta * onehot(y_i) + (1 - beta) * t_i)``, where ``t_i``
        carries no gradient.
    """
    loss = F.cross_entropy(logits, labels)
    if beta == 1.0:
        return loss
    log_p = torch.log_softmax(logits, dim=1)
    if kind == "hard":
        own = F.nll_loss(log_p, log_p.detach().argmax(dim=1))
    else:
        own = -(log_p.detach().exp() * log_p).sum(dim=1).mean()
    return beta * loss + (1.0 - beta) * own


class ReedTrainer(BaselineTrainer):
    """Trains with the bootstrapping loss; data, model, schedule and seeds are the base's.

    Args:
        base: the uniform trainer.
        kind: ``"hard"`` or ``"soft"``.
        beta: weight of the given label; default the paper's (0.8 hard, 0.95 soft).
    """

    def __init__(
        self,
        base: ClassificationTrainer,
        *,
        kind: Literal["hard", "soft"],
        beta: float | None = None,
    ) -> None:
        super().__init__(base)
        if kind not in REED_BETA:
            raise InputDataError(f"kind must be 'hard' or 'soft', got {kind!r}")
        beta = REED_BETA[kind] if beta is None else beta
        if isinstance(beta, bool) or not isinstance(beta, int | float) or not 0 <= beta <= 1:
            raise InputDataError(f"beta must be a number in [0, 1], got {beta!r}")
        self.kind: Literal["hard", "soft"] = kind
        self.beta = float(beta)

    def batch_loss(
        self, state: TrainState, x: torch.Tensor, y: torch.Tensor, *, lr: float
    ) -> tuple[torch.Tensor, float]:
        logits = state.model(x)
        loss = reed_loss(logits, y, beta=self.beta, kind=self.kind)
        if self.beta == 1.0:
            return loss, loss.item()
        return loss, F.cross_entropy(logits.detach(), y).item()
