"""Seeded, stratified train / validation / test splits of a labelled dataset."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from swift_sampler.data._checks import check_labels, fraction_problems, seed_problems
from swift_sampler.errors import InputDataError


class SplitIndices(NamedTuple):
    """Row indices of the three splits: disjoint, together covering ``range(n)``.

    Each is an int64 array of shape ``(n_split,)`` in a seeded random order (not sorted), so a
    split of class-sorted data is not class-sorted.
    """

    train: NDArray[np.int64]
    val: NDArray[np.int64]
    test: NDArray[np.int64]


def stratified_split(
    labels: ArrayLike,
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> SplitIndices:
    """Split row indices into train / val / test, keeping class proportions in every split.

    The test and validation sizes are ``round(test_fraction * n)`` and ``round(val_fraction * n)``
    exactly. They are shared out over the classes by largest remainder, so each class's count in
    a split is within one of ``fraction * class_size`` (ties broken at random by the seed); the
    rest is the training split. The same labels and seed always give the same indices; the
    global random state is never used.

    Args:
        labels: Class labels, shape ``(n,)``, non-negative integers.
        val_fraction: Fraction of all rows for validation, in ``[0, 1)``.
        test_fraction: Fraction of all rows for test, in ``[0, 1)``; with ``val_fraction`` it must
            leave at least one training row.
        seed: Non-negative integer seed.

    Returns:
        The :class:`SplitIndices` ``(train, val, test)``.

    Raises:
        InputDataError: labels are not a non-empty 1-D array of non-negative integers, a fraction
            is outside ``[0, 1)``, the fractions leave no training row, or the seed is invalid.
    """
    y = check_labels(labels)
    problems = fraction_problems(val_fraction, test_fraction) + seed_problems(seed)
    if problems:
        raise InputDataError("; ".join(problems))
    n = len(y)
    n_test = round(test_fraction * n)
    n_val = round(val_fraction * n)
    if n_test + n_val >= n:
        raise InputDataError(
            f"the splits must leave at least one training row, but val_fraction={val_fraction} "
            f"and test_fraction={test_fraction} of n={n} rows give {n_val} val + {n_test} test"
        )
    rng = np.random.default_rng(seed)
    classes, class_of_row = np.unique(y, return_inverse=True)
    counts = np.bincount(class_of_row, minlength=len(classes))
    test_counts = _apportion(counts, n_test, rng)
    val_counts = _apportion(counts - test_counts, n_val, rng)

    # A random permutation, then a stable sort by class: rows grouped by class, random within.
    order = rng.permutation(n)
    order = order[np.argsort(class_of_row[order], kind="stable")]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    parts: dict[str, list[NDArray[np.int64]]] = {"train": [], "val": [], "test": []}
    for start, count, n_te, n_va in zip(starts, counts, test_counts, val_counts, strict=True):
        rows = order[start : start + count]
        parts["test"].append(rows[:n_te])
        parts["val"].append(rows[n_te : n_te + n_va])
        parts["train"].append(rows[n_te + n_va :])
    train, val, test = (
        rng.permutation(np.concatenate(parts[key])).astype(np.int64)
        for key in ("train", "val", "test")
    )
    return SplitIndices(train=train, val=val, test=test)


def _apportion(counts: NDArray[np.intp], total: int, rng: np.random.Generator) -> NDArray[np.intp]:
    """Share ``total`` over classes in proportion to ``counts`` (largest remainder, exact ints).

    Each share is ``floor(q)`` or ``floor(q) + 1`` for the quota ``q = counts * total / sum``, so
    it never exceeds its class count; the shares sum to ``total``.
    """
    n = int(counts.sum())
    if n == 0 or total == 0:
        return np.zeros_like(counts)
    numerators = counts * total
    shares = numerators // n
    remainders = numerators % n
    missing = total - int(shares.sum())
    # Largest remainder first; equal remainders in a seeded random order, not by class index.
    ranking = np.lexsort((rng.random(len(counts)), -remainders))
    shares[ranking[:missing]] += 1
    return shares
