"""Two hand-made samplers: drop the r% highest-loss instances, and the oracle.

Both train with the plain cross-entropy of the base and change only which instances are
drawn: from a start epoch on, each epoch draws ``n`` indices with replacement (as the Swift
Sampler's final training does) from a :class:`~swift_sampler.SwiftSampler` that gives
probability 0 to the dropped instances and equal probability to the rest.

* drop-r%: after ``start_epoch`` uniform epochs, the per-instance losses are recomputed at the
  start of every epoch and the ``round(r * n)`` highest are dropped.
* oracle: drops exactly the instances whose label was flipped by the noise injection (it reads
  the noise mask; the ceiling for any sampler), from epoch 0 by default.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from torch.utils.data import Sampler

from swift_sampler.baselines._base import BaselineTrainer
from swift_sampler.errors import ConfigError, InputDataError
from swift_sampler.sampler import SwiftSampler
from swift_sampler.train import ClassificationTrainer, TrainState

__all__ = [
    "DROP_START_FRACTION",
    "DropHighLossTrainer",
    "OracleTrainer",
    "drop_highest",
]

DROP_START_FRACTION = 0.75
"""Default start of drop-r% as a share of the schedule: the search's default ``E_s`` (15/20)."""


def drop_highest(losses: npt.ArrayLike, fraction: float) -> np.ndarray:
    """``(n,)`` losses -> ``(n,)`` float64 probabilities, 0 on the highest losses.

    The ``round(fraction * n)`` highest losses (at most ``n - 1``; ties broken by index, lower
    first) get probability 0, the rest share the mass equally.
    """
    values = np.asarray(losses, dtype=np.float64)
    count = min(round(fraction * values.size), values.size - 1)  # keep at least one
    probabilities = np.full(values.size, 1.0 / max(values.size - count, 1))
    probabilities[np.argsort(-values, kind="stable")[:count]] = 0.0
    return probabilities


class _SamplingBaseline(BaselineTrainer):
    """Plain cross-entropy under this baseline's own sampler from ``start_epoch`` on."""

    start_epoch: int

    def probabilities(self, state: TrainState) -> np.ndarray | None:
        """``(n,)`` probabilities of the epoch ``state`` is about to train; None = uniform."""
        raise NotImplementedError

    def epoch_sampler(self, state: TrainState) -> SwiftSampler | None:
        """The sampler ``train_epoch`` uses for the coming epoch (None: uniform shuffle)."""
        probabilities = self.probabilities(state)
        if probabilities is None:
            return None
        return SwiftSampler(probabilities, seed=self.seed)

    def train_epoch(
        self,
        state: TrainState,
        sampler: Sampler[int] | None = None,
        *,
        schedule_window: tuple[float, float] | None = None,
    ) -> float:
        """Trains one epoch under :meth:`epoch_sampler`; ``sampler`` must be None."""
        if sampler is not None:
            raise ConfigError(
                f"{type(self).__name__} draws from its own sampler; call train_epoch with "
                f"sampler=None, got {type(sampler).__name__}"
            )
        return super().train_epoch(state, None, schedule_window=schedule_window)


def _check_start(start_epoch: Any, problems: list[str]) -> None:
    if isinstance(start_epoch, bool) or not isinstance(start_epoch, int) or start_epoch < 0:
        problems.append(f"start_epoch must be an integer >= 0, got {start_epoch!r}")


class DropHighLossTrainer(_SamplingBaseline):
    """drop-r%: uniform for ``start_epoch`` epochs, then never draw the r% highest losses.

    Args:
        base: the uniform trainer.
        fraction: r, the share of the training set dropped each epoch, in ``[0, 1)``.
        start_epoch: ``E_s``, uniform epochs first; default :data:`DROP_START_FRACTION` of
            the schedule (rounded down).
    """

    def __init__(
        self,
        base: ClassificationTrainer,
        *,
        fraction: float,
        start_epoch: int | None = None,
    ) -> None:
        super().__init__(base)
        if start_epoch is None:
            start_epoch = int(DROP_START_FRACTION * base.total_epochs)
        problems: list[str] = []
        if isinstance(fraction, bool) or not isinstance(fraction, int | float):
            problems.append(f"fraction must be a number in [0, 1), got {fraction!r}")
        elif not 0 <= fraction < 1:
            problems.append(f"fraction must be in [0, 1), got {fraction!r}")
        _check_start(start_epoch, problems)
        if problems:
            raise InputDataError("drop-r%: " + "; ".join(problems))
        self.fraction = float(fraction)
        self.start_epoch = start_epoch

    def probabilities(self, state: TrainState) -> np.ndarray | None:
        if state.epoch < self.start_epoch:
            return None
        losses = self.features(state, ("loss",))[:, 0]
        return drop_highest(losses, self.fraction)


class OracleTrainer(_SamplingBaseline):
    """The oracle: never draws an instance whose label was flipped (or a junk sequence).

    Args:
        base: the uniform trainer.
        noise_mask: ``(n,)`` bool, True where the training label was flipped
            (``ClassificationData.train_noise_mask``) or, for a language model, where the
            training sequence is junk (``train_contamination_mask``); at least one instance
            must be clean.
        start_epoch: uniform epochs first; default 0 (the ceiling).
    """

    def __init__(
        self,
        base: ClassificationTrainer,
        *,
        noise_mask: npt.ArrayLike,
        start_epoch: int = 0,
    ) -> None:
        super().__init__(base)
        mask = np.asarray(noise_mask)
        problems: list[str] = []
        if mask.dtype != np.bool_ or mask.shape != (base.num_instances,):
            problems.append(
                f"noise_mask must be a bool array of shape ({base.num_instances},), "
                f"got {mask.dtype} of shape {mask.shape}"
            )
        elif mask.all():
            problems.append("noise_mask marks every instance as noisy: nothing left to draw")
        _check_start(start_epoch, problems)
        if problems:
            raise InputDataError("oracle: " + "; ".join(problems))
        self.noise_mask = mask.copy()
        self.noise_mask.flags.writeable = False
        self.start_epoch = start_epoch
        clean = ~self.noise_mask
        self._probabilities = clean / clean.sum()

    def probabilities(self, state: TrainState) -> np.ndarray | None:
        if state.epoch < self.start_epoch:
            return None
        return self._probabilities
