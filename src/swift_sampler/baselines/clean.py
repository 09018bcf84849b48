"""A small clean set drawn from the validation split, with the labels as they were before noise.

Learning to Reweight needs one by design. The instances come from the validation split (never
from train or test) and carry ``ClassificationData.val_clean_labels``, the true labels; the same
indices can score the Swift Sampler's search on the same clean set, for a matched comparison.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import TensorDataset

from swift_sampler.data import ClassificationData
from swift_sampler.errors import InputDataError

__all__ = ["CLEAN_PER_CLASS", "clean_subset"]

CLEAN_PER_CLASS = 10
"""Clean instances per class (Ren et al. use about 10 per class on CIFAR-10)."""


def clean_subset(
    data: ClassificationData, *, per_class: int = CLEAN_PER_CLASS, seed: int = 0
) -> tuple[TensorDataset, np.ndarray]:
    """``per_class`` validation instances of each true class, with their true labels.

    Args:
        data: the loaded dataset.
        per_class: instances per class, chosen uniformly at random without replacement among
            the validation instances whose TRUE label is that class.
        seed: non-negative seed of the choice (the global random state is not used).

    Returns:
        ``(dataset, indices)``: a TensorDataset of ``(x, true y)`` pairs, ``C * per_class`` of
        them grouped by class, and the ``(C * per_class,)`` int64 row indices into
        ``data.val`` they were taken from.

    Raises:
        InputDataError: a bad ``per_class`` or seed, or a class with fewer validation
            instances than ``per_class``.
    """
    problems = []
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        problems.append(f"per_class must be a positive integer, got {per_class!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        problems.append(f"seed must be a non-negative integer, got {seed!r}")
    if problems:
        raise InputDataError("; ".join(problems))
    labels = np.asarray(data.val_clean_labels)
    counts = np.bincount(labels, minlength=data.num_classes)
    short = [c for c in range(data.num_classes) if counts[c] < per_class]
    if short:
        raise InputDataError(
            f"per_class={per_class} clean instances are needed of every class, but the "
            f"validation split of {data.name} has only {counts[short].tolist()} of classes "
            f"{short}"
        )
    rng = np.random.default_rng(seed)
    indices = np.concatenate(
        [
            rng.choice(np.flatnonzero(labels == c), size=per_class, replace=False)
            for c in range(data.num_classes)
        ]
    ).astype(np.int64)
    rows = torch.from_numpy(indices)
    x = data.val.tensors[0][rows]
    y = torch.from_numpy(labels[indices].astype(np.int64))
    return TensorDataset(x, y), indices
