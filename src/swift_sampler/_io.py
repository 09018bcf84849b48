"""Atomic file writes: a temporary file in the target's directory, then ``os.replace``.

A crash (or SIGKILL) at any moment leaves either the old file or the new one, never half of it.
``mkstemp`` creates its file with mode 0600; every temporary file is given the mode a plain
``open(path, "w")`` would (0666 minus the umask, usually 0644) before it is renamed into place,
so every file of a run directory has the same mode and a worker running as another user can
read them all.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["new_file_mode", "write_text_atomic"]


def new_file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: ``0o666`` minus the process umask."""
    # The umask can only be read by setting it; set it back at once.
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Writes ``text`` to ``path`` atomically."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.fchmod(fd, new_file_mode())
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
