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
import math
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
    "final_advice",
    "locked",
    "read_final",
    "read_json",
    "read_result",
    "result_advice",
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


def read_json(path: Path, *, advice: str | None = None) -> Any:
    """Reads a JSON file of a run directory.

    Args:
        path: the file.
        advice: how to get a sound file again; appended to the message of a damaged one.

    Raises:
        ConfigError: if the file is missing (names the file).
        RunFileError: if it is not UTF-8 text or not JSON (names the file, then ``advice``).
    """
    tail = f"; {advice}" if advice else ""
    try:
        text = path.read_bytes().decode("utf-8")
        return json.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"file not found: {path}") from None
    except UnicodeDecodeError as err:
        byte = err.object[err.start : err.start + 1].hex()
        raise RunFileError(
            f"{path} is not valid JSON: it is not UTF-8 text (byte 0x{byte} at offset "
            f"{err.start}){tail}"
        ) from None
    except ValueError as err:  # JSONDecodeError, or an integer of more than 4300 digits
        raise RunFileError(f"{path} is not valid JSON: {err}{tail}") from None
    except RecursionError:
        raise RunFileError(f"{path} is not valid JSON: it is nested too deeply{tail}") from None


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
"""Cost fields every result.json holds (the report's cost line prints them)."""

_OPTIONAL_COST_KEYS = ("setup_s", "epoch_clock_cpu", "continuations")
"""Cost fields of newer searches (or of synchronous halving): numbers where present."""


def _finite(value: Any) -> bool:
    """True for an int or float (not a bool) that is finite (JSON's NaN and Infinity are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


class _Checker:
    """Field checks on a run file's JSON; the first problem raises RunFileError."""

    def __init__(self, path: Path, advice: str) -> None:
        self.path = path
        self.advice = advice

    def fail(self, problem: str) -> RunFileError:
        return RunFileError(f"{self.path} is damaged: {problem}; {self.advice}")

    def get(self, data: Any, name: str, kind: str, *, optional: bool = False, at: str = "") -> Any:
        """``data[name]`` (``name`` dotted) checked to be ``kind``: dict, list, str, number
        (finite), int (a JSON integer), bool. ``at`` is where ``data`` sits in the file, for the
        message. With ``optional``, None is accepted and returned."""
        value = data
        for key in name.split("."):
            if not isinstance(value, dict) or key not in value:
                raise self.fail(f"it has no {at + name!r}")
            value = value[key]
        if value is None and optional:
            return None
        ok = {
            "dict": isinstance(value, dict),
            "list": isinstance(value, list),
            "str": isinstance(value, str),
            "number": _finite(value),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
        }[kind]
        if not ok:
            names = {"number": "a finite number", "int": "an integer", "bool": "true or false"}
            what = names.get(kind, f"a {kind}")
            raise self.fail(f"{at + name!r} must be {what}, got {_shown(value)}")
        return value

    def numbers(self, data: Any, name: str, *, at: str = "", empty: bool = True) -> list[float]:
        """``data[name]``: a list of finite numbers (not empty unless ``empty``)."""
        values = self.get(data, name, "list", at=at)
        if not values and not empty:
            raise self.fail(f"{at + name!r} must not be empty")
        for i, value in enumerate(values):
            if not _finite(value):
                raise self.fail(
                    f"{at + name!r} must hold finite numbers, entry {i} is {_shown(value)}"
                )
        return list(values)


def _shown(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def result_advice(path: Path) -> str:
    """How to get a sound ``result.json`` again: the search rewrites it from the study."""
    return (
        "the search writes it again from the study: swift-sampler search "
        f"{path.parent / 'config.toml'} --run-dir {path.parent} --resume"
    )


def final_advice(path: Path) -> str:
    """How to get a sound ``final.json`` again: train again with ``--overwrite``."""
    run = path.parent
    config, sampler = run / "config.toml", run / "sampler.json"
    if config.exists() and sampler.exists():  # a run directory: the command is known
        return (
            "train again to replace it: swift-sampler train "
            f"{config} --sampler {sampler} --out {run} --overwrite"
        )
    return "train again with --overwrite to replace it (swift-sampler train ... --overwrite)"


def read_result(path: Path) -> dict[str, Any]:
    """Reads a run's result.json, checking every field the report uses.

    Raises:
        ConfigError: if the file is missing (names the file).
        RunFileError: if it is not JSON, or a field is missing, has the wrong type, is not
            finite or is empty (names the file and field, and how to write it again).
    """
    advice = result_advice(path)
    data = read_json(path, advice=advice)
    check = _Checker(path, advice)
    if not isinstance(data, dict):
        raise check.fail(f"it must hold a JSON object, got {type(data).__name__}")
    check.get(data, "outer", "str")
    check.get(data, "transform", "str")
    check.numbers(data, "best.theta", empty=False)
    check.get(data, "best.val_score", "number")
    cost = check.get(data, "cost", "dict")
    for key in _COST_KEYS:
        check.get(cost, key, "number", at="cost.")
    for key in _OPTIONAL_COST_KEYS:
        if key in cost:
            check.get(cost, key, "number", at="cost.")
    if "finetune_epochs_run" in cost:  # searches since the epoch count: "epochs trained"
        check.get(cost, "finetune_epochs_run", "number", at="cost.")
        check.get(cost, "shared_epochs_run", "number", at="cost.")
        if "continuations" not in cost:
            check.get(cost, "trials_pruned", "number", at="cost.")
    complete = 0
    for i, trial in enumerate(check.get(data, "trials", "list")):
        at = f"trials[{i}]."
        if not isinstance(trial, dict):
            raise check.fail(f"'trials[{i}]' must be a dict, got {_shown(trial)}")
        if check.get(trial, "state", "str", at=at) == "COMPLETE":
            complete += 1
            check.get(trial, "slot", "int", at=at)
            check.get(trial, "val_score", "number", optional=True, at=at)
    if complete == 0:
        raise check.fail("'trials' holds no finished (COMPLETE) trial")
    return data


def read_final(path: Path) -> dict[str, Any]:
    """Reads a final.json, checking every field the summary and a continued training use.

    Raises:
        ConfigError: if the file is missing (names the file).
        RunFileError: if it is not JSON, or a field is missing, has the wrong type, is not
            finite or is empty (names the file and field, and how to write it again).
    """
    advice = final_advice(path)
    data = read_json(path, advice=advice)
    check = _Checker(path, advice)
    if not isinstance(data, dict):
        raise check.fail(f"it must hold a JSON object, got {type(data).__name__}")
    if data.get("metric") is not None:
        check.get(data, "metric", "str")
    if "final" in data:  # the [final] section that wrote it (written since 2026-12-02)
        wrote = check.get(data, "final", "dict")
        seeds = check.get(wrote, "seeds", "list", at="final.")
        if not seeds:
            raise check.fail("'final.seeds' must not be empty")
        for i, seed in enumerate(seeds):
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise check.fail(f"'final.seeds' must hold integers, entry {i} is {_shown(seed)}")
        check.get(wrote, "uniform", "bool", at="final.")
    arms = check.get(data, "arms", "dict")
    if not arms:
        raise check.fail("'arms' must not be empty")
    for name, arm in arms.items():
        at = f"arms.{name}."
        if not isinstance(arm, dict):
            raise check.fail(f"'arms.{name}' must be a dict, got {_shown(arm)}")
        check.numbers(arm, "seeds", at=at, empty=False)
        for key in ("last", "test_at_best_val"):
            check.get(arm, f"{key}_mean", "number", at=at)
            check.get(arm, f"{key}_std", "number", at=at)
        runs = check.get(arm, "runs", "list", at=at)
        if not runs:
            raise check.fail(f"'{at}runs' must not be empty")
        for i, run in enumerate(runs):
            where = f"{at}runs[{i}]."
            if not isinstance(run, dict):
                raise check.fail(f"'{at}runs[{i}]' must be a dict, got {_shown(run)}")
            check.get(run, "arm", "str", at=where)
            check.get(run, "seed", "int", at=where)
            check.get(run, "seconds", "number", at=where)
            for key in ("test_top1", "val_top1"):
                check.numbers(run, key, at=where, empty=False)
            for key in ("train_loss", "noisy_share"):
                check.numbers(run, key, at=where)
            check.get(run, "last", "number", at=where)
            check.get(run, "test_at_best_val", "number", at=where)
            best = check.get(run, "best_val_epoch", "int", at=where)
            if not 0 <= best < len(run["val_top1"]):
                raise check.fail(
                    f"'{where}best_val_epoch' must index 'val_top1' (0 to "
                    f"{len(run['val_top1']) - 1}), got {best!r}"
                )
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
