"""The baselines by name, what each one is given beyond the noisy data, and one factory.

Importing this module does not import torch (the CLI may list the names); ``build_baseline``
imports the implementation it builds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from swift_sampler.errors import ConfigError, InputDataError

if TYPE_CHECKING:
    from torch.utils.data import Dataset

    from swift_sampler.train import ClassificationTrainer, Trainer

__all__ = ["BASELINES", "BaselineInfo", "build_baseline"]


@dataclass(frozen=True)
class BaselineInfo:
    """A baseline's name, label and reference, and which privileged inputs it reads.

    Attributes:
        name: registry key.
        label: how tables name it.
        reference: the paper it reproduces.
        uses_clean_labels: needs a small set with TRUE labels (Learning to Reweight).
        uses_noise_rate: reads the TRUE noise rate: required by Co-teaching; MentorNet-PD's
            percentile (``1 - rate``) and drop-r%'s r default to it when it is passed.
        uses_noise_mask: reads which training labels were flipped (the oracle).
    """

    name: str
    label: str
    reference: str
    uses_clean_labels: bool = False
    uses_noise_rate: bool = False
    uses_noise_mask: bool = False


BASELINES: dict[str, BaselineInfo] = {
    info.name: info
    for info in (
        BaselineInfo("uniform", "Uniform", "plain cross-entropy, uniform shuffles"),
        BaselineInfo("reed_hard", "REED (hard, β=0.8)", "Reed et al. 2014"),
        BaselineInfo("reed_soft", "REED (soft, β=0.95)", "Reed et al. 2014"),
        BaselineInfo("mentornet_pd", "MentorNet-PD", "Jiang et al. 2018", uses_noise_rate=True),
        BaselineInfo("l2rw", "Learning to Reweight", "Ren et al. 2018", uses_clean_labels=True),
        BaselineInfo("coteaching", "Co-teaching", "Han et al. 2018", uses_noise_rate=True),
        BaselineInfo("drop_r", "drop-r% highest loss", "hand-made sampler", uses_noise_rate=True),
        BaselineInfo("infobatch", "InfoBatch (prunes low loss)", "Qin et al. 2024"),
        BaselineInfo(
            "oracle", "Oracle (drops the noisy)", "ceiling for samplers", uses_noise_mask=True
        ),
    )
}
"""Every baseline, by name, in table order."""

DROP_FRACTION = 0.2
"""drop-r%'s r when the noise rate is not passed."""


def build_baseline(
    name: str,
    base_trainer: ClassificationTrainer,
    *,
    noise_rate: float | None = None,
    noise_mask: npt.ArrayLike | None = None,
    clean_set: Dataset[Any] | None = None,
    shared_epochs: int | None = None,
) -> Trainer:
    """A trainer of the named baseline with the base's backbone, data, schedule and seed.

    Train it like the uniform arm, e.g. ``train_arm(trainer, None, seed=s, shared_epochs=E_s,
    noise_mask=mask)``. Each baseline uses its paper's hyperparameters; build the classes
    (``ReedTrainer``, ``MentorNetPDTrainer``, ...) directly for others.

    Args:
        name: a key of :data:`BASELINES`.
        base_trainer: the uniform trainer (``"uniform"`` returns it unchanged).
        noise_rate: the TRUE noise rate of the training labels, in ``[0, 1)``; required by
            ``"coteaching"``; sets the default of ``"mentornet_pd"`` (percentile ``1 - rate``,
            else 0.7) and of ``"drop_r"`` (r = rate, else 0.2); ignored by the others.
        noise_mask: ``(n,)`` bool, the flipped training labels; required by ``"oracle"``.
        clean_set: a small dataset with TRUE labels (see ``clean_subset``); required by
            ``"l2rw"``.
        shared_epochs: ``E_s``: the uniform epochs before ``"drop_r"`` starts dropping
            (default 3/4 of the schedule); ignored by the others (the oracle drops from
            epoch 0, MentorNet-PD burns in for 1/5 of the schedule, InfoBatch prunes from
            epoch 1 with the paper's defaults).

    Raises:
        ConfigError: an unknown name, or a required input missing (all listed at once).
        InputDataError: a bad value of an input.
    """
    if name not in BASELINES:
        raise ConfigError(f"unknown baseline {name!r}; known baselines: {list(BASELINES)}")
    info = BASELINES[name]
    missing = []
    if name == "coteaching" and noise_rate is None:
        missing.append("noise_rate (Co-teaching is given the true noise rate)")
    if info.uses_noise_mask and noise_mask is None:
        missing.append("noise_mask (the oracle drops the flipped labels)")
    if info.uses_clean_labels and clean_set is None:
        missing.append("clean_set (Learning to Reweight needs clean labels)")
    if missing:
        raise ConfigError(f"baseline {name!r} needs " + " and ".join(missing))
    if noise_rate is not None and (
        isinstance(noise_rate, bool)
        or not isinstance(noise_rate, int | float)
        or not math.isfinite(noise_rate)
        or not 0 <= noise_rate < 1
    ):
        raise InputDataError(f"noise_rate must be in [0, 1), got {noise_rate!r}")

    if name == "uniform":
        return base_trainer
    if name in ("reed_hard", "reed_soft"):
        from swift_sampler.baselines.reed import ReedTrainer

        return ReedTrainer(base_trainer, kind="hard" if name == "reed_hard" else "soft")
    if name == "mentornet_pd":
        from swift_sampler.baselines.mentornet import MENTORNET_PERCENTILE, MentorNetPDTrainer

        percentile = MENTORNET_PERCENTILE if noise_rate is None else 1.0 - noise_rate
        return MentorNetPDTrainer(base_trainer, percentile=percentile)
    if name == "l2rw":
        from swift_sampler.baselines.l2rw import L2RWTrainer

        assert clean_set is not None
        return L2RWTrainer(base_trainer, clean_set=clean_set)
    if name == "coteaching":
        from swift_sampler.baselines.coteaching import CoTeachingTrainer

        assert noise_rate is not None
        return CoTeachingTrainer(base_trainer, noise_rate=noise_rate)
    if name == "drop_r":
        from swift_sampler.baselines.samplers import DropHighLossTrainer

        fraction = DROP_FRACTION if noise_rate is None else noise_rate
        return DropHighLossTrainer(base_trainer, fraction=fraction, start_epoch=shared_epochs)
    if name == "infobatch":
        from swift_sampler.baselines.infobatch import InfoBatchTrainer

        return InfoBatchTrainer(base_trainer)
    from swift_sampler.baselines.samplers import OracleTrainer

    assert noise_mask is not None
    return OracleTrainer(base_trainer, noise_mask=np.asarray(noise_mask))
