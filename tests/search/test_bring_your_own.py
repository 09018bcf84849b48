"""A search on the user's own dataset and nn.Module, through the library API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from swift_sampler import SamplerSpec
from swift_sampler.config import parse_config
from swift_sampler.search.driver import run_search
from swift_sampler.search.setup import Experiment
from swift_sampler.train import ClassificationTrainer, TrainConfig


def _my_net() -> nn.Module:  # not one of the built-in models
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))


def test_search_on_a_user_dataset_and_model(digits, tmp_path: Path) -> None:
    x, y = digits
    order = np.random.default_rng(1).permutation(len(y))
    xt, yt = torch.from_numpy(x[order]), torch.from_numpy(y[order])
    trainer = ClassificationTrainer(
        _my_net,
        TensorDataset(xt[:1000], yt[:1000]),
        TensorDataset(xt[1000:1300], yt[1000:1300]),
        TensorDataset(xt[1300:], yt[1300:]),
        config=TrainConfig(epochs=4, lr=0.1),
    )
    config = parse_config(
        {
            "train": {"epochs": 4},
            "search": {"trials": 3, "startup_trials": 1, "shared_epochs": 2, "finetune_epochs": 2},
        }
    )
    result = run_search(config, tmp_path / "run", experiment=Experiment(trainer))
    assert [t.slot for t in result.trials] == [0, 1, 2]
    assert result.best_score == max(t.score for t in result.trials)
    spec = SamplerSpec.load(tmp_path / "run" / "sampler.json")
    assert spec.theta == result.best_theta
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert saved["best"]["val_score"] == result.best_score
    with np.load(tmp_path / "run" / "figure1.npz") as arrays:
        assert "noisy" not in arrays.files  # no noise mask was given
        assert arrays["probability"].shape == (1000,)
