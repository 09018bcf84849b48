"""What the paper-item experiments share: cached jobs run in parallel processes, summaries.

Every finished job writes one JSON file under ``results/<experiment>/runs/`` named by the job's
key and a hash of everything that determines its result; a rerun loads it instead of
recomputing, and an interrupted experiment resumes where it stopped (a search resumes its
Optuna study trial by trial). Jobs run in ``--jobs`` spawned processes with one torch thread
each (two single-thread processes beat one two-thread process on this machine's small models).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from swift_sampler._io import atomic_path as atomic_path  # re-exported for the experiments
from swift_sampler._io import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("SWIFT_SAMPLER_RESULTS", ROOT / "results"))
"""Where results go; the environment variable redirects them (smoke runs, tests)."""

logger = logging.getLogger("experiments")


@dataclass(frozen=True)
class Job:
    """One unit of work: ``function(**kwargs)`` returns a JSON-able dict.

    Attributes:
        experiment: results/<experiment>/ holds its cache.
        key: a readable name (file name of the cache).
        function: a module-level function (it runs in a spawned process).
        kwargs: JSON-able arguments; with ``function``'s name they make the cache hash.
    """

    experiment: str
    key: str
    function: Callable[..., dict[str, Any]]
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        text = json.dumps(
            {"function": self.function.__name__, "kwargs": self.kwargs}, sort_keys=True
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def path(self) -> Path:
        return RESULTS / self.experiment / "runs" / f"{self.key}-{self.digest}.json"

    def cached(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        return json.loads(self.path.read_text())


def _run_one(job: Job) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
    except ImportError:
        pass
    start = time.perf_counter()
    result = job.function(**job.kwargs)
    result["job_seconds"] = time.perf_counter() - start
    result["job"] = {"key": job.key, "function": job.function.__name__, "kwargs": job.kwargs}
    _write_json(job.path, result)
    return result


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def run_jobs(jobs: Sequence[Job], *, processes: int) -> dict[str, dict[str, Any]]:
    """Results of ``jobs`` by key: cached ones loaded, the others run ``processes`` at a time.

    Raises:
        RuntimeError: naming the jobs that failed (the finished ones stay cached).
    """
    results: dict[str, dict[str, Any]] = {}
    todo = []
    for job in jobs:
        cached = job.cached()
        if cached is not None:
            results[job.key] = cached
        else:
            todo.append(job)
    if not todo:
        return results
    print(f"{len(todo)} jobs to run ({len(results)} cached), {processes} processes", flush=True)
    failed = []
    with ProcessPoolExecutor(max_workers=processes, mp_context=get_context("spawn")) as pool:
        running: dict[Future[dict[str, Any]], Job] = {pool.submit(_run_one, j): j for j in todo}
        done_count = 0
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                job = running.pop(future)
                done_count += 1
                try:
                    results[job.key] = future.result()
                except Exception as err:  # keep going: the others are worth finishing
                    failed.append(f"{job.key}: {type(err).__name__}: {err}")
                    print(f"  FAILED {job.key}: {err}", file=sys.stderr, flush=True)
                    continue
                seconds = results[job.key]["job_seconds"]
                print(f"  [{done_count}/{len(todo)}] {job.key} ({seconds:.0f} s)", flush=True)
    if failed:
        raise RuntimeError(f"{len(failed)} jobs failed: {failed}")
    return results


def train_with_sampler(
    config: Any, spec: dict[str, Any] | None, *, seed: int, uniform_epochs: int | None = None
) -> dict[str, Any]:
    """Final training (SPEC 7) of ``config``'s experiment from scratch; per-epoch curves.

    Args:
        config: the run's config (data, noise, model, recipe).
        spec: a found sampler (``SamplerSpec.to_dict()``); None trains uniformly throughout.
        seed: seed of the weights, the shuffles and the sampler's draws.
        uniform_epochs: uniform epochs before the sampler takes over; default the config's
            ``E_s`` (``search.shared_epochs``), the regime the search scored.
    """
    from swift_sampler.family import SamplerSpec
    from swift_sampler.search.final import train_arm
    from swift_sampler.search.setup import build_experiment

    experiment = build_experiment(config)
    run = train_arm(
        experiment.trainer,
        None if spec is None else SamplerSpec.from_dict(spec),
        seed=seed,
        shared_epochs=config.search.shared_epochs if uniform_epochs is None else uniform_epochs,
        noise_mask=experiment.noise_mask,
    )
    return run.summary()


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    values = list(values)
    if len(values) == 1:
        return values[0], 0.0
    return statistics.fmean(values), statistics.stdev(values)


def write_json(path: Path, data: Any) -> None:
    """Writes JSON atomically (a reader never sees half a file)."""
    _write_json(path, data)


def replace_section(path: Path, marker: str, text: str) -> None:
    """Puts ``text`` between ``<!-- marker -->`` and ``<!-- /marker -->`` in a markdown file,
    appending the section when the markers are missing; one blank line separates it from what
    follows."""
    begin, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}\n"
    current = path.read_text() if path.exists() else ""
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        _, tail = rest.split(end, 1)
        tail = tail.lstrip("\n")
        current = head + block + ("\n" + tail if tail else "")
    else:
        current = current.rstrip("\n") + "\n\n" + block
    write_text_atomic(path, current)
