"""Checkpoint files: written atomically, identified by their SHA-256, loaded without pickle."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from swift_sampler._io import new_file_mode
from swift_sampler.errors import InputDataError

__all__ = ["file_sha256", "load_checkpoint", "save_checkpoint"]


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> str:
    """Writes ``state`` (tensors, numbers, strings, lists and dicts of them) atomically.

    Returns:
        The SHA-256 of the file written.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        os.chmod(tmp, new_file_mode())  # not mkstemp's 0600
        torch.save(state, tmp)
        digest = file_sha256(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest


def load_checkpoint(
    path: str | os.PathLike[str], *, expected_sha256: str | None = None
) -> dict[str, Any]:
    """Loads a checkpoint with ``weights_only=True`` (no arbitrary unpickling).

    Args:
        path: file written by ``save_checkpoint``.
        expected_sha256: if given, the file's hash must equal it.

    Raises:
        InputDataError: if the file is missing, its hash differs, or it holds objects that
            are not plain tensors and containers.
    """
    target = Path(path)
    if not target.is_file():
        raise InputDataError(f"checkpoint not found: {target}")
    if expected_sha256 is not None:
        actual = file_sha256(target)
        if actual != expected_sha256:
            raise InputDataError(
                f"checkpoint {target} has SHA-256 {actual}, expected {expected_sha256}: "
                "it was changed or replaced"
            )
    try:
        state = torch.load(target, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError or RuntimeError here
        raise InputDataError(f"checkpoint {target} cannot be loaded safely: {err}") from None
    if not isinstance(state, dict):
        raise InputDataError(f"checkpoint {target} must hold a dict, got {type(state).__name__}")
    return state
