"""Co-teaching (Han et al. 2018): two networks teach each other with small-loss instances.

Both networks see the same batch. Each ranks the batch by its own loss and hands its peer the
``R(T)`` fraction with the smallest loss; each network then takes a step on the mean loss of
the instances its *peer* selected. ``R(T) = 1 - min(T / T_k, 1) * tau``, with ``T`` the epoch
(from 0), ``T_k`` the ramp length and ``tau`` the TRUE noise rate, which the method is given
(its registry entry says so, ``uses_noise_rate``).

The state holds both networks in one module (:class:`PeerPair`, whose forward is the first
network, so scoring, features and predictions come from the first) and one SGD optimiser over
both. Each network's loss depends only on its own parameters, so one step on the sum of the
two losses is exactly two independent SGD steps, and one ``state_dict`` holds both networks
with their momentum buffers.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from swift_sampler.baselines._base import BaselineTrainer
from swift_sampler.errors import InputDataError
from swift_sampler.train import ClassificationTrainer, TrainState

__all__ = [
    "COTEACHING_RAMP_FRACTION",
    "CoTeachingTrainer",
    "PeerPair",
    "coteaching_keep_rate",
    "small_loss_indices",
]

COTEACHING_RAMP_FRACTION = 10 / 200
"""``T_k`` as a share of the schedule: the paper ramps over 10 of 200 epochs."""


def coteaching_keep_rate(epoch: int, *, noise_rate: float, ramp_epochs: int) -> float:
    """``R(T) = 1 - min(T / T_k, 1) * tau``: the share of each batch kept at epoch ``T``."""
    ramp = min(epoch / ramp_epochs, 1.0) if ramp_epochs > 0 else 1.0
    return 1.0 - ramp * noise_rate


def small_loss_indices(losses: torch.Tensor, keep_rate: float) -> torch.Tensor:
    """Indices of the ``round(keep_rate * b)`` (at least 1) smallest of ``(b,)`` losses."""
    count = max(1, round(keep_rate * len(losses)))
    return torch.argsort(losses.detach(), stable=True)[:count]


class PeerPair(nn.Module):
    """Co-teaching's two networks; ``forward`` is the first one's."""

    def __init__(self, first: nn.Module, second: nn.Module) -> None:
        super().__init__()
        self.first = first
        self.second = second

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.first(x)


class CoTeachingTrainer(BaselineTrainer):
    """Trains two networks by Co-teaching; scores and predicts with the first.

    Args:
        base: the uniform trainer. The first network is initialised exactly as the base
            initialises its model with the same seed; the second from a seed derived from it.
        noise_rate: the true noise rate ``tau`` of the training labels, in ``[0, 1)``.
        ramp_epochs: ``T_k``; default :data:`COTEACHING_RAMP_FRACTION` of the schedule
            (rounded, at least 1), the paper's 10 of 200 epochs.
    """

    def __init__(
        self,
        base: ClassificationTrainer,
        *,
        noise_rate: float,
        ramp_epochs: int | None = None,
    ) -> None:
        super().__init__(base)
        if ramp_epochs is None:
            ramp_epochs = max(1, round(COTEACHING_RAMP_FRACTION * base.total_epochs))
        problems = []
        if (
            isinstance(noise_rate, bool)
            or not isinstance(noise_rate, int | float)
            or not 0 <= noise_rate < 1
        ):
            problems.append(f"noise_rate must be in [0, 1), got {noise_rate!r}")
        if isinstance(ramp_epochs, bool) or not isinstance(ramp_epochs, int) or ramp_epochs < 0:
            problems.append(f"ramp_epochs must be an integer >= 0, got {ramp_epochs!r}")
        if problems:
            raise InputDataError("Co-teaching: " + "; ".join(problems))
        self.noise_rate = float(noise_rate)
        self.ramp_epochs = ramp_epochs

    def keep_rate(self, epoch: int) -> float:
        """``R(T)`` at ``epoch``."""
        return coteaching_keep_rate(
            epoch, noise_rate=self.noise_rate, ramp_epochs=self.ramp_epochs
        )

    def new_state(self, seed: int | None = None) -> TrainState:
        seed = self.base.seed if seed is None else seed
        first = self.base.new_state(seed)
        peer_seed = int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])
        second = self.base.new_state(peer_seed).model
        pair = PeerPair(first.model, second)
        config = self.base.config
        optimizer = torch.optim.SGD(
            pair.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
        return TrainState(model=pair, optimizer=optimizer, epoch=0)

    def batch_loss(
        self, state: TrainState, x: torch.Tensor, y: torch.Tensor, *, lr: float
    ) -> tuple[torch.Tensor, float]:
        pair = state.model
        if not isinstance(pair, PeerPair):
            raise InputDataError(
                f"Co-teaching trains a PeerPair (from its new_state), got {type(pair).__name__}"
            )
        losses_first = F.cross_entropy(pair.first(x), y, reduction="none")
        losses_second = F.cross_entropy(pair.second(x), y, reduction="none")
        keep = self.keep_rate(state.epoch)
        chosen_by_first = small_loss_indices(losses_first, keep)
        chosen_by_second = small_loss_indices(losses_second, keep)
        loss = losses_first[chosen_by_second].mean() + losses_second[chosen_by_first].mean()
        return loss, losses_first.detach().mean().item()
