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
```
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swift_sampler._io import new_file_mode, write_text_atomic
from swift_sampler.errors import ConfigError

__all__ = [
    "RUN_FILES",
    "RunPaths",
    "locked",
    "read_json",
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
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def study_journal(self) -> Path:
        return self.root / "study.journal"

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

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, new_file_mode())  # not mkstemp's 0600
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
