"""The search's cost: seconds by part (wall), and the same in epochs of uniform training.

Epochs are counted on the process's CPU clock (``search.clock``) when the study recorded it
for the shared start and every trial, else on the wall clock (runs of older versions). The
unit is one uniform epoch of the shared start; with ``--workers``, trials run with fewer torch
threads than the shared start did, and CPU time includes each thread's overhead, so a trial's
count there is approximate (exact with one thread per process).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import optuna

    from swift_sampler.config import Config

__all__ = ["search_cost"]


class Timed(Protocol):
    """A finished trial's record as the cost reads it (``study.TrialRecord``)."""

    @property
    def seconds(self) -> dict[str, float]: ...

    @property
    def epochs(self) -> float: ...

    @property
    def state(self) -> str: ...


def _parts(study: optuna.Study, records: Sequence[Timed], prefix: str) -> dict[str, float]:
    """Seconds by part on one clock: ``prefix`` "" (wall) or "cpu_"."""
    attrs = study.user_attrs
    clock = "_cpu" if prefix else ""
    return {
        # One-off set-up of the process that trained the shared start (absent in older runs).
        "setup": float(attrs.get(f"setup{clock}_seconds", 0.0)),
        "shared_start": float(attrs.get(f"shared{clock}_seconds", 0.0)),
        "finetune": sum(r.seconds.get(f"{prefix}finetune", 0.0) for r in records),
        # The shared start's features serve every trial's first epoch: counted once, here.
        "features": float(attrs.get(f"shared_features{clock}_seconds", 0.0))
        + sum(r.seconds.get(f"{prefix}features", 0.0) for r in records),
        "eval": sum(r.seconds.get(f"{prefix}eval", 0.0) for r in records),
        "outer": sum(r.seconds.get(f"{prefix}outer", 0.0) for r in records),
    }


def search_cost(study: optuna.Study, records: Sequence[Timed], config: Config) -> dict[str, float]:
    """Seconds by part (wall) and the same in epochs of uniform training.

    Epochs are counted on the process's CPU clock (``search.clock``: a busy machine does not
    inflate them) when the study recorded it for the shared start and every trial; else (runs
    of older versions) on the wall clock. ``epoch_clock_cpu`` says which (1 or 0).
    """
    parts = _parts(study, records, "")
    cost = {f"{k}_s": v for k, v in parts.items()}
    cost["total_s"] = sum(parts.values())
    cost["epoch_s"] = float(study.user_attrs.get("epoch_seconds", 0.0))
    epoch_cpu = float(study.user_attrs.get("epoch_cpu_seconds", 0.0))
    on_cpu = epoch_cpu > 0 and all("cpu_finetune" in r.seconds for r in records)
    if on_cpu:
        cpu = _parts(study, records, "cpu_")
        cost.update({f"{k}_cpu_s": v for k, v in cpu.items()})
        cost["total_cpu_s"] = sum(cpu.values())
        cost["epoch_cpu_s"] = epoch_cpu
        cost["shared_features_cpu_s"] = float(
            study.user_attrs.get("shared_features_cpu_seconds", 0.0)
        )
        counted, epoch = cpu, epoch_cpu
    else:
        counted, epoch = parts, cost["epoch_s"]
    cost["epoch_clock_cpu"] = 1.0 if on_cpu else 0.0
    for key, value in counted.items():
        cost[f"{key}_epochs"] = value / epoch if epoch > 0 else float("nan")
    cost["total_epochs"] = sum(counted.values()) / epoch if epoch > 0 else float("nan")
    cost["full_training_epochs"] = float(config.train.epochs)
    cost["shared_features_s"] = float(study.user_attrs.get("shared_features_seconds", 0.0))
    # Epochs actually trained, counted (not timed): the shared start's and every finished
    # trial's, pruned ones included (trials killed mid-way are re-run and not counted).
    cost["shared_epochs_run"] = float(study.user_attrs.get("shared_epochs", 0))
    cost["finetune_epochs_run"] = float(sum(r.epochs for r in records))
    cost["trials_complete"] = float(sum(r.state == "COMPLETE" for r in records))
    cost["trials_pruned"] = float(sum(r.state == "PRUNED" for r in records))
    # Synchronous halving's promotion rounds (search.halving): their epochs are counted above.
    return cost
