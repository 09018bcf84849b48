"""Shared fixtures: tiny real data (sklearn digits) and seeds."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _no_silent_exit() -> Iterator[None]:
    """``os._exit`` called in pytest's own process raises instead: it would end the session
    with its code (0: a green run) and every later test unrun. Forked children still exit."""
    real, session = os._exit, os.getpid()

    def guarded(code: int) -> None:
        if os.getpid() != session:
            real(code)
        raise RuntimeError(f"os._exit({code}) in the test process would end the whole session")

    os._exit = guarded  # type: ignore[assignment]
    yield
    os._exit = real


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    # Two test processes with one thread each beat one with two; and results stay reproducible.
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """sklearn's 1,797 8x8 digits as ``(n, 64)`` float32 in [0, 1] and ``(n,)`` int64 labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    return x, y


class Tmpfs:
    """A real, small filesystem (tmpfs) mounted for one test, which a test can fill."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / ".filler"

    def fill(self) -> None:
        """Writes a filler file until the filesystem answers ENOSPC: the disk is full."""
        import errno
        import os

        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 1 << 16, 4096, 512, 1):
                block = bytes(size)
                while True:
                    try:
                        os.write(fd, block)
                    except OSError as err:
                        if err.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Tmpfs]:
    """A 16 MiB tmpfs at ``tmp_path / "fs"``; skipped where mounting is not allowed."""
    import os
    import subprocess

    root = tmp_path / "fs"
    root.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a real full disk needs a tmpfs mount, which needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", str(root)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield Tmpfs(root)
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)
