"""Competing methods behind the trainer protocol: REED, MentorNet-PD, L2RW, Co-teaching, ...

Each baseline wraps the uniform :class:`~swift_sampler.train.ClassificationTrainer` and keeps
its backbone, data, splits, schedule and seed; only the loss (or the sampler) changes, so
``swift_sampler.search.final.train_arm(trainer, None, ...)`` trains any of them like the
uniform arm. Start from the registry, with ``base`` the uniform trainer of ``data``::

    clean, _ = clean_subset(data, per_class=10)
    trainer = build_baseline("l2rw", base, noise_rate=data.noise_rate,
                             noise_mask=data.train_noise_mask, clean_set=clean)
    run = train_arm(trainer, None, seed=0, shared_epochs=15)

:data:`BASELINES` says which ones read privileged inputs (true labels, the true noise rate,
the noise mask), so tables can mark them. The registry is imported eagerly (no torch); the
trainer classes and loss functions on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from swift_sampler.baselines.registry import BASELINES, BaselineInfo, build_baseline

if TYPE_CHECKING:
    from swift_sampler.baselines._base import BaselineTrainer
    from swift_sampler.baselines.clean import clean_subset
    from swift_sampler.baselines.coteaching import (
        CoTeachingTrainer,
        PeerPair,
        coteaching_keep_rate,
        small_loss_indices,
    )
    from swift_sampler.baselines.infobatch import InfoBatchTrainer, infobatch_plan
    from swift_sampler.baselines.l2rw import L2RWTrainer, l2rw_weights
    from swift_sampler.baselines.mentornet import (
        MentorNetPDTrainer,
        MentorNetState,
        mentornet_threshold,
        mentornet_weights,
    )
    from swift_sampler.baselines.reed import ReedTrainer, reed_loss
    from swift_sampler.baselines.samplers import DropHighLossTrainer, OracleTrainer, drop_highest

_LAZY = {
    "BaselineTrainer": "swift_sampler.baselines._base",
    "clean_subset": "swift_sampler.baselines.clean",
    "CoTeachingTrainer": "swift_sampler.baselines.coteaching",
    "PeerPair": "swift_sampler.baselines.coteaching",
    "coteaching_keep_rate": "swift_sampler.baselines.coteaching",
    "small_loss_indices": "swift_sampler.baselines.coteaching",
    "InfoBatchTrainer": "swift_sampler.baselines.infobatch",
    "infobatch_plan": "swift_sampler.baselines.infobatch",
    "L2RWTrainer": "swift_sampler.baselines.l2rw",
    "l2rw_weights": "swift_sampler.baselines.l2rw",
    "MentorNetPDTrainer": "swift_sampler.baselines.mentornet",
    "MentorNetState": "swift_sampler.baselines.mentornet",
    "mentornet_threshold": "swift_sampler.baselines.mentornet",
    "mentornet_weights": "swift_sampler.baselines.mentornet",
    "ReedTrainer": "swift_sampler.baselines.reed",
    "reed_loss": "swift_sampler.baselines.reed",
    "DropHighLossTrainer": "swift_sampler.baselines.samplers",
    "OracleTrainer": "swift_sampler.baselines.samplers",
    "drop_highest": "swift_sampler.baselines.samplers",
}

__all__ = [
    "BASELINES",
    "BaselineInfo",
    "BaselineTrainer",
    "CoTeachingTrainer",
    "DropHighLossTrainer",
    "InfoBatchTrainer",
    "L2RWTrainer",
    "MentorNetPDTrainer",
    "MentorNetState",
    "OracleTrainer",
    "PeerPair",
    "ReedTrainer",
    "build_baseline",
    "clean_subset",
    "coteaching_keep_rate",
    "drop_highest",
    "infobatch_plan",
    "l2rw_weights",
    "mentornet_threshold",
    "mentornet_weights",
    "reed_loss",
    "small_loss_indices",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'swift_sampler.baselines' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
