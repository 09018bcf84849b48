"""Parallel trials: K worker processes on one study (``swift-sampler search --workers K``).

The parent process trains (or reuses) the shared start and enqueues the uniform trial 0; then
each worker loads the shared start (checking its hash), and repeatedly claims a trial with
``study.ask()`` (unique numbers, atomic in Optuna's storages), proposes theta from the finished
trials *and the thetas other workers are still evaluating* (Optuna's GP sampler conditions on
RUNNING trials; TPE uses its constant liar; the seeded loops draw per trial number), scores it
and tells the study, until the budget of finished trials is reached. The storage must accept
several writers: Optuna's JournalStorage on a file in the run directory by default (SQLite
locks under concurrent writers), or any RDB URL.

With several workers, the trial numbers seed the proposals, so a run is not bit-for-bit
reproducible the way a single-worker run is (which worker finishes first decides what the
next proposal sees).
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from swift_sampler.family import uniform_theta
from swift_sampler.search.outer import make_outer_loop, param_names

if TYPE_CHECKING:
    import optuna

    from swift_sampler.config import Config

__all__ = ["run_workers"]

logger = logging.getLogger(__name__)


def enqueue_uniform(study: optuna.Study, config: Config, dim: int, num_features: int) -> None:
    """Queues the uniform trial 0 unless it is finished, running or queued already."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    if any(t.user_attrs.get("slot") == 0 for t in study.get_trials(deepcopy=False, states=states)):
        return
    theta = uniform_theta(num_features, dim // num_features - 1)
    study.enqueue_trial(
        {n: float(v) for n, v in zip(param_names(dim), theta, strict=True)},
        user_attrs={"slot": 0, "seed": config.search.seed, "outer": config.search.outer},
        skip_if_exists=False,
    )


def _claim(study: optuna.Study, budget: int) -> optuna.Trial | None:
    """A new RUNNING trial inside the budget, or None when the budget is taken."""
    from optuna.trial import TrialState

    live = (TrialState.COMPLETE, TrialState.RUNNING)
    if len(study.get_trials(deepcopy=False, states=live)) >= budget:
        return None
    trial = study.ask()
    ahead = [t for t in study.get_trials(deepcopy=False, states=live) if t.number < trial.number]
    if len(ahead) >= budget:  # another worker claimed the last slot between our two reads
        trial.set_user_attr("surplus", True)
        study.tell(trial, state=TrialState.FAIL)
        return None
    return trial


def _worker(config: Config, run_dir: str, url: str, threads: int, index: int) -> None:
    import optuna
    import torch
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState

    from swift_sampler.search.driver import _history, _storage, _theta_of, evaluate_and_tell
    from swift_sampler.search.rundir import RunPaths
    from swift_sampler.search.setup import build_experiment, build_inner_loop, template_spec

    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    paths = RunPaths(Path(run_dir))
    study = optuna.load_study(study_name=config.search.study_name, storage=_storage(url))
    experiment = build_experiment(config)
    spec0 = template_spec(config)
    dim = spec0.num_params
    s = config.search
    inner = build_inner_loop(config, experiment.trainer)
    inner.load_shared_start(paths.shared, study.user_attrs["shared_sha256"])
    outer = make_outer_loop(s.outer, dim, seed=s.seed, startup_trials=s.startup_trials)
    names = param_names(dim)
    dist = FloatDistribution(0.0, 1.0)
    while True:
        t0 = time.perf_counter()
        trial = _claim(study, s.trials)
        if trial is None:
            return
        attrs: dict[str, Any] = {}
        if trial.user_attrs.get("slot") == 0:  # the enqueued uniform trial
            theta = np.array([trial.suggest_float(n, 0.0, 1.0) for n in names])
        else:
            slot = trial.number
            trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            history = _history(sorted(trials, key=lambda t: t.number), dim)
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            pending = [
                _theta_of(t, dim)
                for t in running
                if t.number != trial.number and set(names) <= set(t.params)
            ]
            theta, attrs = outer.suggest(history, slot, pending)
            for name, value in zip(names, theta, strict=True):
                study._storage.set_trial_param(
                    trial._trial_id, name, dist.to_internal_repr(float(value)), dist
                )
            for key, value in {"slot": slot, "seed": s.seed, "outer": s.outer}.items():
                trial.set_user_attr(key, value)
            for key, value in attrs.items():
                study._storage.set_trial_system_attr(trial._trial_id, key, value)
        outer_seconds = time.perf_counter() - t0
        score, _ = evaluate_and_tell(
            study, trial, inner, spec0.with_theta(theta), outer_seconds, worker=index
        )
        logger.debug("worker %d trial %d: val %.4f", index, trial.number, score.score)


def run_workers(
    config: Config,
    run_dir: Path,
    url: str,
    *,
    workers: int,
    threads_per_worker: int,
    poll: Callable[[], None] | None = None,
) -> None:
    """Runs ``workers`` processes (spawned) until the study holds its budget of trials.

    Args:
        poll: called about once a second while the workers run (progress reporting).

    Raises:
        RuntimeError: if a worker process fails (its exit code is in the message).
    """
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=_worker,
            args=(config, str(run_dir), url, threads_per_worker, index),
            name=f"swift-sampler-worker-{index}",
        )
        for index in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        while any(p.is_alive() for p in processes):
            for process in processes:
                process.join(timeout=1.0 / len(processes))
            if poll is not None:
                poll()
    except BaseException:
        for process in processes:
            process.terminate()
        raise
    failed = [(p.name, p.exitcode) for p in processes if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"worker processes failed: {failed}; rerun with --resume")
