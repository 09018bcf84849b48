"""Seeded label-noise injection: symmetric and pair flips of an exact number of labels."""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike, NDArray

from swift_sampler.data._checks import (
    NoiseType,
    check_labels,
    noise_problems,
    seed_problems,
)
from swift_sampler.errors import InputDataError


def inject_label_noise(
    labels: ArrayLike,
    *,
    num_classes: int,
    rate: float,
    kind: NoiseType = "symmetric",
    seed: int,
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Flip exactly ``round(rate * n)`` labels, chosen uniformly at random without replacement.

    ``"symmetric"``: each chosen label ``c`` becomes a class drawn uniformly from the
    ``num_classes - 1`` *other* classes, so the effective noise rate equals the nominal one.
    ``"pair"``: each chosen label ``c`` becomes ``(c + 1) % num_classes``.

    Every chosen label changes, so the returned mask is exactly ``noisy != clean``. The input is
    not modified and the global random state is never used.

    Args:
        labels: Clean labels, shape ``(n,)``, integers in ``[0, num_classes)``.
        num_classes: Number of classes ``C >= 2``.
        rate: Fraction of labels to flip, in ``[0, 1)``.
        kind: ``"symmetric"`` or ``"pair"``.
        seed: Non-negative integer seed.

    Returns:
        ``(noisy, mask)``: ``noisy`` int64 labels of shape ``(n,)``; ``mask`` bool of shape
        ``(n,)``, ``True`` where the label was changed.

    Raises:
        InputDataError: bad labels, ``num_classes < 2``, a label outside ``[0, num_classes)``, a
            rate outside ``[0, 1)``, an unknown kind, or a bad seed.
    """
    y = check_labels(labels)
    problems = noise_problems(rate, kind) + seed_problems(seed)
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        problems.append(f"num_classes must be an integer >= 2, got {num_classes!r}")
    elif num_classes < 2:
        problems.append(f"num_classes must be >= 2 to flip labels, got {num_classes}")
    elif y.max() >= num_classes:
        bad = int(np.flatnonzero(y >= num_classes)[0])
        problems.append(f"labels must be < num_classes={num_classes}, but entry {bad} is {y[bad]}")
    if problems:
        raise InputDataError("; ".join(problems))

    rng = np.random.default_rng(seed)
    n = len(y)
    flipped = rng.choice(n, size=round(rate * n), replace=False)
    noisy = y.copy()
    if kind == "symmetric":
        # An offset uniform in 1..C-1 lands uniformly on the C-1 other classes, never on c.
        offsets = rng.integers(1, num_classes, size=len(flipped))
    else:
        offsets = np.ones(len(flipped), dtype=np.int64)
    noisy[flipped] = (y[flipped] + offsets) % num_classes
    mask = np.zeros(n, dtype=np.bool_)
    mask[flipped] = True
    return noisy, mask
