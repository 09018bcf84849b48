"""MentorNet with its predefined curriculum, "MentorNet-PD" (Jiang et al. 2018).

Each step, an instance of the batch gets weight 1 when its loss is at most ``lambda``, else 0,
and the step minimises ``sum_i v_i * loss_i / b`` (the mean over the whole batch, as in the
authors' code). ``lambda`` is an exponential moving average, over steps, of the batch's
``percentile``-th loss percentile. For the first ``burn_in_epochs`` epochs every weight is 1
(the moving average is still updated, so it is warm when the curriculum starts).

Two details differ from the authors' TensorFlow code, both documented choices: the moving
average starts at the first batch's percentile rather than at 0, and the percentile
interpolates linearly (``torch.quantile``) rather than taking the nearest rank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from swift_sampler.baselines._base import BaselineTrainer
from swift_sampler.errors import InputDataError
from swift_sampler.train import ClassificationTrainer, TrainState

__all__ = [
    "MENTORNET_BURN_IN_FRACTION",
    "MENTORNET_DECAY",
    "MENTORNET_PERCENTILE",
    "MentorNetPDTrainer",
    "MentorNetState",
    "mentornet_threshold",
    "mentornet_weights",
]

MENTORNET_PERCENTILE = 0.7
"""Loss percentile used when the noise rate is unknown (the authors' default)."""
MENTORNET_DECAY = 0.9
"""Decay of the moving average of the percentile, per step (the authors' default)."""
MENTORNET_BURN_IN_FRACTION = 0.2
"""Share of the schedule trained with all weights 1 (the authors burn in ~18% of training)."""


def mentornet_threshold(
    losses: torch.Tensor, previous: float | None, *, percentile: float, decay: float
) -> float:
    """One step of the moving percentile ``lambda``.

    Args:
        losses: ``(b,)`` per-instance losses of the batch.
        previous: ``lambda`` after the previous step, or None at the first step.
        percentile: the percentile, in ``[0, 1]``.
        decay: the moving average's decay, in ``[0, 1)``.

    Returns:
        ``decay * previous + (1 - decay) * quantile(losses, percentile)``, or the quantile
        itself when ``previous`` is None.
    """
    current = float(torch.quantile(losses.detach().double(), percentile))
    if previous is None:
        return current
    return decay * previous + (1.0 - decay) * current


def mentornet_weights(losses: torch.Tensor, threshold: float) -> torch.Tensor:
    """MentorNet-PD's weights: ``(b,)`` losses -> ``(b,)`` float, 1 where loss <= threshold."""
    return (losses.detach() <= threshold).to(losses.dtype)


@dataclass
class MentorNetState(TrainState):
    """A training state plus the moving loss percentile (None before the first step)."""

    threshold: float | None = None


class MentorNetPDTrainer(BaselineTrainer):
    """Trains with MentorNet-PD's 0/1 per-instance weights.

    Args:
        base: the uniform trainer.
        percentile: loss percentile of the curriculum, in ``(0, 1]``; pass ``1 - noise rate``
            when the noise rate is known, else :data:`MENTORNET_PERCENTILE`.
        decay: decay of the moving average, per step, in ``[0, 1)``.
        burn_in_epochs: epochs with every weight 1; default
            :data:`MENTORNET_BURN_IN_FRACTION` of the schedule (rounded, at least 1).
    """

    def __init__(
        self,
        base: ClassificationTrainer,
        *,
        percentile: float = MENTORNET_PERCENTILE,
        decay: float = MENTORNET_DECAY,
        burn_in_epochs: int | None = None,
    ) -> None:
        super().__init__(base)
        if burn_in_epochs is None:
            burn_in_epochs = max(1, round(MENTORNET_BURN_IN_FRACTION * base.total_epochs))
        problems = []
        if not _is_number(percentile) or not 0 < percentile <= 1:
            problems.append(f"percentile must be in (0, 1], got {percentile!r}")
        if not _is_number(decay) or not 0 <= decay < 1:
            problems.append(f"decay must be in [0, 1), got {decay!r}")
        if (
            isinstance(burn_in_epochs, bool)
            or not isinstance(burn_in_epochs, int)
            or burn_in_epochs < 0
        ):
            problems.append(f"burn_in_epochs must be an integer >= 0, got {burn_in_epochs!r}")
        if problems:
            raise InputDataError("MentorNet-PD: " + "; ".join(problems))
        self.percentile = float(percentile)
        self.decay = float(decay)
        self.burn_in_epochs = burn_in_epochs

    def new_state(self, seed: int | None = None) -> MentorNetState:
        state = self.base.new_state(seed)
        return MentorNetState(model=state.model, optimizer=state.optimizer, epoch=state.epoch)

    def batch_loss(
        self, state: TrainState, x: torch.Tensor, y: torch.Tensor, *, lr: float
    ) -> tuple[torch.Tensor, float]:
        if not isinstance(state, MentorNetState):
            raise InputDataError(
                "MentorNet-PD trains a MentorNetState (from its new_state), "
                f"got {type(state).__name__}"
            )
        losses = F.cross_entropy(state.model(x), y, reduction="none")
        state.threshold = mentornet_threshold(
            losses, state.threshold, percentile=self.percentile, decay=self.decay
        )
        if state.epoch < self.burn_in_epochs:
            loss = losses.mean()
        else:
            loss = (mentornet_weights(losses, state.threshold) * losses).sum() / len(losses)
        return loss, losses.detach().mean().item()

    def state_dict(self, state: TrainState) -> dict[str, Any]:
        saved = self.base.state_dict(state)
        threshold = getattr(state, "threshold", None)
        saved["threshold"] = math.nan if threshold is None else float(threshold)
        return saved

    def load_state_dict(self, state: TrainState, saved: dict[str, Any]) -> None:
        """Restores ``state``; a checkpoint without a threshold (a uniform one) resets it."""
        if not isinstance(state, MentorNetState):
            raise InputDataError(
                "MentorNet-PD restores a MentorNetState (from its new_state), "
                f"got {type(state).__name__}"
            )
        self.base.load_state_dict(state, saved)
        threshold = float(saved.get("threshold", math.nan))
        state.threshold = None if math.isnan(threshold) else threshold


def _is_number(value: object) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(float(value))
    )
