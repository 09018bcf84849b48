"""The run directory: fixed file names, atomic writes, one process at a time.

```
RUN_DIR/
  config.toml     the configuration used (canonical form)
  study.db        the Optuna study (SQLite), unless the config names another storage
  shared.pt       the shared-start checkpoint (its SHA-256 is in the study)
  shared_features.npz  the shared start's features, computed once for every trial's first epoch
  result.json     best theta, every trial, the search cost
  sampler.json    the best sampler (SamplerSpec JSON, loadable by SwiftSampler)
  final.json      final training: test Top-1 per epoch for the sampler and for uniform
  figure1.png     sampling probability over the (loss rank, Er rank) plane, noisy overlaid
  figure3.png     best-so-far validation score against trial number
  rungs.json      synchronous halving: the promotion rounds (search.halving)
  rungs/          synchronous halving: candidates' states at their rungs, until the result
```
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swift_sampler._io import atomic_path, write_text_atomic
from swift_sampler.errors import ConfigError, RunFileError

__all__ = [
    "RUN_FILES",
    "RunPaths",
    "locked",
    "read_final",
    "read_json",
    "read_result",
    "write_json",
    "write_npz",
    "write_text",
]

RUN_FILES = frozenset(
    {
        "config.toml",
        "study.db",
        "study.journal",
        "study.journal.lock",
        "shared.pt",
        "shared_features.npz",
        "result.json",
        "sampler.json",
        "final.json",
        "figure1.png",
        "figure1.npz",
        "figure3.png",
        "rungs.json",
    }
)
"""Names of the files a run directory may hold (besides hidden temp and lock files)."""


@dataclass(frozen=True)
class RunPaths:
    """Paths of the files in a run directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def study_db(self) -> Path:
        return self.root / "study.db"

    @property
    def shared(self) -> Path:
        return self.root / "shared.pt"

    @property
    def shared_features(self) -> Path:
        return self.root / "shared_features.npz"

    @property
    def result(self) -> Path:
        return self.root / "result.json"

    @property
    def sampler(self) -> Path:
        return self.root / "sampler.json"

    @property
    def final(self) -> Path:
        return self.root / "final.json"

    @property
    def figure1(self) -> Path:
        return self.root / "figure1.png"

    @property
    def figure1_data(self) -> Path:
        return self.root / "figure1.npz"

    @property
    def figure3(self) -> Path:
        return self.root / "figure3.png"

    @property
    def rungs_ledger(self) -> Path:
        return self.root / "rungs.json"

    @property
    def rungs(self) -> Path:
        return self.root / "rungs"

    def paused(self, slot: int, step: int) -> Path:
        """Synchronous halving: the state of ``slot``'s candidate after ``step`` steps."""
        return self.rungs / f"slot-{slot:03d}-step-{step}.pt"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def study_journal(self) -> Path:
        return self.root / "study.journal"

    def holds_search(self) -> bool:
        """True if a search was started here (``--resume`` continues it)."""
        return self.config.exists() or self.study_db.exists() or self.study_journal.exists()

    def default_storage(self, workers: int = 1) -> str:
        """SQLite for one process; a JournalStorage file when several write at once (SQLite
        locks under concurrent writers). A run keeps the storage it started with."""
        journal = self.study_journal.exists() or (workers > 1 and not self.study_db.exists())
        if journal:
            return f"journal:///{self.study_journal.resolve()}"
        return f"sqlite:///{self.study_db.resolve()}"


def write_text(path: Path, text: str) -> None:
    """Writes a text file atomically (temp file in the same directory, then rename)."""
    write_text_atomic(path, text)


def write_npz(path: Path, arrays: dict[str, Any]) -> None:
    """Writes a compressed ``.npz`` atomically."""
    import numpy as np

    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)


def write_json(path: Path, data: Any) -> None:
    """Writes JSON atomically, indented, NaN refused (it is not JSON)."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def read_json(path: Path) -> Any:
    """Reads a JSON file, or raises ConfigError naming the file."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"file not found: {path}") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path} is not valid JSON: {err}") from None


_COST_KEYS = (
    "total_s",
    "total_epochs",
    "shared_start_s",
    "finetune_s",
    "features_s",
    "eval_s",
    "outer_s",
    "full_training_epochs",
)


class _Checker:
    """Field checks on a run file's JSON; the first problem raises RunFileError."""

    def __init__(self, path: Path, advice: str) -> None:
        self.path = path
        self.advice = advice

    def fail(self, problem: str) -> RunFileError:
        return RunFileError(f"{self.path} is damaged: {problem}; {self.advice}")

    def get(self, data: Any, name: str, kind: str, *, optional: bool = False) -> Any:
        """``data[name]`` (``name`` dotted) checked to be ``kind``: dict, list, str, number."""
        value = data
        for key in name.split("."):
            if not isinstance(value, dict) or key not in value:
                raise self.fail(f"it has no {name!r}")
            value = value[key]
        if value is None and optional:
            return None
        ok = {
            "dict": isinstance(value, dict),
            "list": isinstance(value, list),
            "str": isinstance(value, str),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
        }[kind]
        if not ok:
            shown = repr(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise self.fail(f"{name!r} must be a {kind}, got {shown}")
        return value

    def numbers(self, data: Any, name: str) -> list[float]:
        values = self.get(data, name, "list")
        for value in values:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise self.fail(f"{name!r} must hold numbers, got {value!r}")
        return list(values)


def read_result(path: Path) -> dict[str, Any]:
    """Reads a run's result.json, checking every field the report uses.

    Raises:
        ConfigError: if the file is missing or not JSON (names the file).
        RunFileError: if a field is missing or has the wrong type (names the file and field).
    """
    advice = (
        "the search writes it again from the study: swift-sampler search "
        f"{path.parent / 'config.toml'} --run-dir {path.parent} --resume"
    )
    data = read_json(path)
    check = _Checker(path, advice)
    if not isinstance(data, dict):
        raise check.fail(f"it must hold a JSON object, got {type(data).__name__}")
    check.get(data, "outer", "str")
    check.get(data, "transform", "str")
    check.numbers(data, "best.theta")
    check.get(data, "best.val_score", "number")
    for key in _COST_KEYS:
        check.get(data, f"cost.{key}", "number")
    for i, trial in enumerate(check.get(data, "trials", "list")):
        check.get({f"trials[{i}]": trial}, f"trials[{i}]", "dict")
        check.get(trial, "state", "str")
        if trial["state"] == "COMPLETE":
            check.get(trial, "slot", "number")
            check.get(trial, "val_score", "number", optional=True)
    return data


def read_final(path: Path) -> dict[str, Any]:
    """Reads a final.json, checking every field the summary uses.

    Raises:
        ConfigError: if the file is missing or not JSON (names the file).
        RunFileError: if a field is missing or has the wrong type (names the file and field).
    """
    check = _Checker(path, "train again with --overwrite to replace it")
    data = read_json(path)
    if not isinstance(data, dict):
        raise check.fail(f"it must hold a JSON object, got {type(data).__name__}")
    arms = check.get(data, "arms", "dict")
    for name, arm in arms.items():
        check.get(arms, name, "dict")
        check.numbers(arm, "seeds")
        for key in ("last", "test_at_best_val"):
            check.get(arm, f"{key}_mean", "number")
            check.get(arm, f"{key}_std", "number")
        for run in check.get(arm, "runs", "list"):
            for key in ("arm", "seed", "seconds"):
                check.get(run, key, "str" if key == "arm" else "number")
            for key in ("test_top1", "val_top1", "train_loss", "noisy_share"):
                check.numbers(run, key)
    return data


@contextmanager
def locked(paths: RunPaths) -> Iterator[None]:
    """Holds an exclusive lock on the run directory, or fails at once if another holds it."""
    handle = open(paths.lock, "a+")  # noqa: SIM115 (held for the whole block)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"run directory {paths.root} is in use by another swift-sampler process"
            ) from None
        yield
    finally:
        handle.close()
