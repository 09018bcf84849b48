"""Atomic file writes: a temporary file in the target's directory, fsync, then ``os.replace``.

A crash (or SIGKILL) at any moment leaves either the old file or the new one, never half of it.
``mkstemp`` creates its file with mode 0600; every temporary file is given the mode a plain
``open(path, "w")`` would (0666 minus the umask, usually 0644) before it is renamed into place,
so every file of a run directory has the same mode and a worker running as another user can
read them all.
Every file the package writes goes through here. A write that fails because the filesystem is
full (ENOSPC, or EDQUOT for a quota) raises ``DiskFullError`` naming the file, and leaves the old
file and no temporary file behind.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from swift_sampler.errors import DiskFullError

__all__ = [
    "atomic_path",
    "disk_full_error",
    "ensure_room",
    "is_disk_full",
    "new_file_mode",
    "write_bytes_atomic",
    "write_text_atomic",
]

_FULL = (errno.ENOSPC, errno.EDQUOT)


def new_file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: ``0o666`` minus the process umask."""
    # The umask can only be read by setting it; set it back at once.
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def disk_full_error(
    target: str | os.PathLike[str], err: BaseException, *, doing: str | None = None
) -> DiskFullError:
    """The error raised when writing ``target`` ran out of space (``err`` is the cause).

    With ``doing``, ``target`` is the directory and ``doing`` says what was being done there.
    """
    where = Path(target)
    if doing is None:
        where, doing = where.parent, f"writing {where.name}"
    return DiskFullError(
        f"the disk is full: no space left on the filesystem holding {where} while "
        f"{doing} ({err}); free some space there and rerun (finished work is kept)"
    )


def is_disk_full(err: BaseException) -> bool:
    """True for the OSError a write raises when the filesystem (or a quota) is full."""
    return isinstance(err, OSError) and err.errno in _FULL


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str = "") -> Iterator[Path]:
    """Yields a temporary path in ``path``'s directory; on success it replaces ``path``.

    The caller writes the whole file to the yielded path (any library that takes a file name);
    it is fsynced and renamed into place when the block ends without an error, and deleted
    otherwise.
    """
    target = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    try:
        os.fchmod(fd, new_file_mode())  # not mkstemp's 0600
    finally:
        os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if is_disk_full(err):
            raise disk_full_error(target, err) from err
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes | memoryview) -> None:
    """Writes ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Writes ``text`` to ``path`` atomically."""
    write_bytes_atomic(path, text.encode())


def ensure_room(directory: str | os.PathLike[str], nbytes: int) -> None:
    """Raises DiskFullError unless ``nbytes`` can be written in ``directory`` right now.

    Writes and fsyncs a temporary file of that size, then deletes it: a check before a long
    computation whose result must be saved there (a later write can still fail, if something
    else fills the disk meanwhile).
    """
    doing = f"checking for {nbytes} bytes of room before starting"
    fd, name = tempfile.mkstemp(prefix=".space-check.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(bytes(nbytes))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as err:
        if is_disk_full(err):
            raise disk_full_error(directory, err, doing=doing) from err
        raise
    finally:
        Path(name).unlink(missing_ok=True)
