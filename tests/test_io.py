"""Atomic writes on a real full filesystem: the old file stays, no temporary file is left."""

from __future__ import annotations

import pytest

from swift_sampler._io import ensure_room, write_bytes_atomic, write_text_atomic
from swift_sampler.errors import DiskFullError


def test_a_full_disk_keeps_the_old_file_and_names_the_place(tmpfs) -> None:
    target = tmpfs.root / "figure.png"
    write_bytes_atomic(target, b"old picture")
    tmpfs.fill()
    with pytest.raises(DiskFullError) as caught:
        write_bytes_atomic(target, bytes(1 << 16))
    message = str(caught.value)
    assert "the disk is full" in message and str(tmpfs.root) in message and "figure.png" in message
    assert target.read_bytes() == b"old picture"
    assert sorted(p.name for p in tmpfs.root.iterdir()) == [".filler", "figure.png"]
    tmpfs.free()
    write_text_atomic(target, "new")
    assert target.read_text() == "new"


def test_ensure_room_refuses_a_full_disk_and_leaves_nothing(tmpfs) -> None:
    ensure_room(tmpfs.root, 1 << 16)  # room: passes
    tmpfs.fill()
    with pytest.raises(DiskFullError, match="the disk is full"):
        ensure_room(tmpfs.root, 1 << 16)
    assert [p.name for p in tmpfs.root.iterdir()] == [".filler"]
