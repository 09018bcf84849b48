"""The main job's configuration: MNIST-5k with 40% symmetric label noise, searched end to end.

``swift-sampler demo`` runs this config: the Swift Sampler search (shared start, short
fine-tunes, Bayesian optimisation over 10 parameters), then final training of the found sampler
and of uniform sampling from scratch, and a table of test Top-1. The same text is
``configs/demo.toml`` in the repository.
"""

from __future__ import annotations

from swift_sampler.config import Config, parse_config

__all__ = ["DEMO_TOML", "demo_config"]

DEMO_TOML = """\
# The demo: MNIST-5k (3,500 train / 500 val / 1,000 test), 40% symmetric label noise on train
# and val (test clean), a small CNN, a 20-epoch cosine schedule. The shared start is the first
# 15 epochs; each candidate sampler is scored on the remaining 5 (the exact tail: memorising
# flipped labels happens late, at a low learning rate, so a shorter or compressed fine-tune
# does not see what the sampler has to prevent).
[data]
name = "mnist5k"
noise_rate = 0.4
noise_type = "symmetric"
seed = 0

[model]
name = "cnn"

[train]
epochs = 20
batch_size = 64
lr = 0.05
momentum = 0.9
weight_decay = 5e-4
seed = 0

[sampler]
features = ["loss", "er"]
transform = "cgf"
segments = 4
lipschitz = 2.0

[search]
trials = 40
startup_trials = 8
outer = "gp"
seed = 0
shared_epochs = 15
finetune_epochs = 5
finetune_schedule = "tail"

[final]
seeds = [0, 1, 2]
uniform = true
"""


def demo_config() -> Config:
    """The demo's configuration (parsed from ``DEMO_TOML``)."""
    import tomllib

    return parse_config(tomllib.loads(DEMO_TOML), source="demo")
