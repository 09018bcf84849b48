"""Every file the package writes gets the mode a plain ``open(path, "w")`` would give it."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from swift_sampler import SamplerSpec
from swift_sampler._io import new_file_mode, write_text_atomic
from swift_sampler.data.loaders import _write_cache_atomic
from swift_sampler.search.rundir import write_json, write_npz
from swift_sampler.train.checkpoint import save_checkpoint

WRITERS: dict[str, Callable[[Path], object]] = {
    "text": lambda path: write_text_atomic(path, "x"),
    "json": lambda path: write_json(path, {"a": 1}),
    "spec": lambda path: SamplerSpec().save(path),
    "npz": lambda path: write_npz(path, {"a": np.arange(3)}),
    "checkpoint": lambda path: save_checkpoint({"w": torch.arange(3)}, path),
    "dataset cache": lambda path: _write_cache_atomic(
        path, np.zeros((2, 3), dtype=np.float32), np.zeros(2, dtype=np.int64)
    ),
}


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


@pytest.mark.parametrize("writer", list(WRITERS.values()), ids=list(WRITERS))
def test_files_get_the_mode_of_a_plain_open(tmp_path: Path, umask: int, writer) -> None:
    plain = tmp_path / "plain"
    plain.write_text("x")
    expected = stat.S_IMODE(plain.stat().st_mode)
    assert expected == 0o666 & ~umask == new_file_mode()
    target = tmp_path / "written"
    writer(target)
    # mkstemp's 0600 would hide the file from a worker running as another user.
    assert oct(stat.S_IMODE(target.stat().st_mode)) == oct(expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain", "written"]  # no temp left
