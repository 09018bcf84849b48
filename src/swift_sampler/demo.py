"""The main job's configuration: MNIST-5k with 40% symmetric label noise, searched end to end.

``swift-sampler demo`` runs this config: the Swift Sampler search (shared start, short
fine-tunes, Bayesian optimisation over 10 parameters), then final training of the found sampler
and of uniform sampling from scratch, and a table of test Top-1. The same text is
``configs/demo.toml`` in the repository (a test keeps the two equal).
"""

from __future__ import annotations

from swift_sampler.config import Config, parse_config

__all__ = ["DEMO_TOML", "demo_config"]

DEMO_TOML = """\
# The demo: MNIST-5k (3,500 train / 500 val / 1,000 test), 40% symmetric label noise on train
# and val (test clean), a small CNN, a 20-epoch cosine schedule. The shared start is the first
# 40% of the schedule (8 epochs); each of 20 candidate samplers is scored after the remaining
# 12 epochs under it (the exact tail: memorising flipped labels happens late, at a low learning
# rate, and the sampler must act before most of it). The protocol is the library's default,
# chosen on validation (docs/results.md, "When the sampler starts acting").
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
trials = 20
startup_trials = 8
outer = "gp"
seed = 0
shared_fraction = 0.4
finetune_schedule = "tail"

[final]
seeds = [1, 2, 3]
uniform = true
"""


def demo_config() -> Config:
    """The demo's configuration (parsed from ``DEMO_TOML``)."""
    import tomllib

    return parse_config(tomllib.loads(DEMO_TOML), source="demo")
