"""Training: the trainer protocol, the classification and language-model trainers, checkpoints."""

from __future__ import annotations

from swift_sampler.train.checkpoint import file_sha256, load_checkpoint, save_checkpoint
from swift_sampler.train.classification import (
    BatchLoss,
    ClassificationTrainer,
    TrainConfig,
)
from swift_sampler.train.language_model import LanguageModelTrainer
from swift_sampler.train.protocol import Trainer, TrainState, cosine_lr

__all__ = [
    "BatchLoss",
    "ClassificationTrainer",
    "LanguageModelTrainer",
    "TrainConfig",
    "TrainState",
    "Trainer",
    "cosine_lr",
    "file_sha256",
    "load_checkpoint",
    "save_checkpoint",
]
