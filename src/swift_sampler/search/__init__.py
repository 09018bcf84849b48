"""The search: inner-loop objective, outer loops, run directory and resume.

The public way in, for library use (everything else here is internal)::

    from swift_sampler import search

    config = search.load_config("my.toml")            # or search.parse_config({...})
    experiment = search.build_experiment(config)      # data + model + trainer of the config
    result = search.run_search(config, "runs/mine", experiment=experiment)
    runs = search.final_training(experiment.trainer, result.spec, seeds=[1, 2],
                                 shared_epochs=config.epochs_split[0])
    print(search.summarise_arms(runs)["arms"]["swift"]["last_mean"])

``run_search`` writes the run directory (study, ``result.json``, ``sampler.json``) and returns
a :class:`SearchResult`; ``Experiment(trainer)`` wraps a trainer you built yourself (any
``swift_sampler.train.Trainer``). The names are imported on first use, so
``import swift_sampler.search`` does not import torch.

Inside: ``InnerLoop`` scores one sampler spec by fine-tuning the shared start
(``search.objective``); ``make_outer_loop`` builds the proposal rule (Optuna
GP/TPE/CMA-ES/QMC/random, or REINFORCE in ``search.rl``); trial records and the result live in
``search.study``, pruners in ``search.pruning``, parallel workers in ``search.workers`` and
``search.cluster``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swift_sampler.config import Config, load_config, parse_config
    from swift_sampler.search.driver import SearchResult, run_search
    from swift_sampler.search.final import ArmRun, final_training, summarise_arms
    from swift_sampler.search.setup import Experiment, build_experiment

_EXPORTS = {
    "ArmRun": "swift_sampler.search.final",
    "Config": "swift_sampler.config",
    "Experiment": "swift_sampler.search.setup",
    "SearchResult": "swift_sampler.search.driver",
    "build_experiment": "swift_sampler.search.setup",
    "final_training": "swift_sampler.search.final",
    "load_config": "swift_sampler.config",
    "parse_config": "swift_sampler.config",
    "run_search": "swift_sampler.search.driver",
    "summarise_arms": "swift_sampler.search.final",
}

__all__ = [
    "ArmRun",
    "Config",
    "Experiment",
    "SearchResult",
    "build_experiment",
    "final_training",
    "load_config",
    "parse_config",
    "run_search",
    "summarise_arms",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'swift_sampler.search' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
