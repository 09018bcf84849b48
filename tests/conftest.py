"""Shared fixtures: tiny real data (sklearn digits) and seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch


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
