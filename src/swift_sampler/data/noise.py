"""Seeded label-noise injection: symmetric, pair and instance-dependent flips of an exact
number of labels."""

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
    inputs: ArrayLike | None = None,
    annotator_seed: int | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Flip exactly ``round(rate * n)`` labels, chosen at random without replacement.

    ``"symmetric"``: the labels to flip are chosen uniformly; each chosen label ``c`` becomes a
    class drawn uniformly from the ``num_classes - 1`` *other* classes, so the effective noise
    rate equals the nominal one.
    ``"pair"``: chosen uniformly; each chosen label ``c`` becomes ``(c + 1) % num_classes``.
    ``"instance"``: instance-dependent noise, the generator of Xia et al. (NeurIPS 2020, "Part-
    dependent label noise", their IDN benchmark), with the count made exact. Each instance gets
    a flip propensity drawn from a normal distribution with mean ``rate`` and standard deviation
    0.1 truncated to ``[0, 1]``; the labels to flip are drawn without replacement with
    probability proportional to it. A chosen instance with label ``c`` takes another class drawn
    from ``softmax(z W_c)`` over the other classes, where ``z`` is its input flattened and
    standardised (each column by its mean and standard deviation over ``inputs``; a constant
    column is 0) and ``W`` (``num_classes`` matrices of shape ``(d, num_classes)``, standard
    normal) is the annotator, drawn from ``annotator_seed``. The new class depends on the input:
    similar inputs of a class are mislabelled alike, as a person who confuses two looks would.
    The logits' standard deviation is about the square root of the input's size, so the softmax
    is close to an argmax for images (MNIST: about 25) and softer for short inputs. Give the
    train and validation splits the same ``annotator_seed`` and different ``seed``: one
    annotator, two draws.

    Every chosen label changes, so the returned mask is exactly ``noisy != clean``. The input is
    not modified and the global random state is never used.

    Args:
        labels: Clean labels, shape ``(n,)``, integers in ``[0, num_classes)``.
        num_classes: Number of classes ``C >= 2``.
        rate: Fraction of labels to flip, in ``[0, 1)``.
        kind: ``"symmetric"``, ``"pair"`` or ``"instance"``.
        seed: Non-negative integer seed of which labels flip (and, for ``"instance"``, of the
            propensities and the draws of the new classes).
        inputs: The instances, ``n`` rows of any shape; required by ``"instance"`` (finite
            numbers), ignored by the others.
        annotator_seed: Non-negative integer seed of ``"instance"``'s annotator ``W``
            (default: ``seed``); ignored by the others.

    Returns:
        ``(noisy, mask)``: ``noisy`` int64 labels of shape ``(n,)``; ``mask`` bool of shape
        ``(n,)``, ``True`` where the label was changed.

    Raises:
        InputDataError: bad labels, ``num_classes < 2``, a label outside ``[0, num_classes)``, a
            rate outside ``[0, 1)``, an unknown kind, a bad seed, or ``"instance"`` without
            finite inputs of ``n`` rows.
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
    z = None
    if kind == "instance":
        if annotator_seed is not None:
            problems += [f"annotator_{p}" for p in seed_problems(annotator_seed)]
        z, problem = _instance_inputs(inputs, len(y))
        if problem:
            problems.append(problem)
    if problems:
        raise InputDataError("; ".join(problems))
    if z is not None:
        return _instance_noise(
            y,
            z,
            num_classes=int(num_classes),
            rate=float(rate),
            seed=seed,
            annotator_seed=seed if annotator_seed is None else annotator_seed,
        )

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


def _instance_inputs(inputs: ArrayLike | None, n: int) -> tuple[NDArray[np.generic] | None, str]:
    """The inputs as ``n`` flattened rows (not copied where they already are), or a problem
    (empty when none)."""
    if inputs is None:
        return None, "noise type 'instance' needs the inputs (the mislabelling depends on them)"
    x = np.asarray(inputs)
    real = any(np.issubdtype(x.dtype, t) for t in (np.integer, np.floating, np.bool_))
    if x.ndim < 1 or len(x) != n or not real:
        return None, (
            f"noise type 'instance' needs real-valued inputs with one row per label ({n}), got "
            f"shape {x.shape} of dtype {x.dtype}"
        )
    rows = x.reshape(n, -1)
    if np.issubdtype(rows.dtype, np.floating) and not np.isfinite(rows).all():
        return None, "noise type 'instance' needs finite inputs, got NaN or inf"
    return rows, ""


_CHUNK = 4096
"""Rows per step of the column statistics (bounds their temporary memory)."""


def _column_stats(rows: NDArray[np.generic]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each column's mean and standard deviation over the rows, in float64, a chunk at a time."""
    n, d = rows.shape
    total, squares = np.zeros(d), np.zeros(d)
    for start in range(0, n, _CHUNK):
        part = rows[start : start + _CHUNK].astype(np.float64)
        total += part.sum(axis=0)
    mean = total / n
    for start in range(0, n, _CHUNK):
        part = rows[start : start + _CHUNK].astype(np.float64) - mean
        squares += (part * part).sum(axis=0)
    return mean, np.sqrt(squares / n)


def _instance_noise(
    y: NDArray[np.int64],
    rows: NDArray[np.generic],
    *,
    num_classes: int,
    rate: float,
    seed: int,
    annotator_seed: int,
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Xia et al.'s instance-dependent flips of exactly ``round(rate * n)`` labels."""
    n, d = rows.shape
    rng = np.random.default_rng(seed)
    # Propensities: N(rate, 0.1) truncated to [0, 1], by rejection (a few rounds at most).
    propensity = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        draw = rng.normal(rate, 0.1, size=todo.size)
        ok = (draw >= 0) & (draw <= 1)
        propensity[todo[ok]] = draw[ok]
        todo = todo[~ok]
    k = round(rate * n)
    noisy = y.copy()
    mask = np.zeros(n, dtype=np.bool_)
    if k == 0:
        return noisy, mask
    # Too few positive propensities (a rate near 0 on a few rows): choose among all alike.
    enough = (propensity > 0).sum() >= k
    p = propensity / propensity.sum() if enough else np.full(n, 1.0 / n)
    flipped = np.sort(rng.choice(n, size=k, replace=False, p=p))
    # Only the flipped rows are standardised; a constant column is 0.
    mean, std = _column_stats(rows)
    z = rows[flipped].astype(np.float64) - mean
    np.divide(z, std, out=z, where=std > 0)
    z[:, std == 0] = 0.0
    # The annotator: one standard normal (d, C) matrix per class, drawn in class order (the
    # same numbers as one (C, d, C) draw), each used for the flipped rows of its class.
    annotator = np.random.default_rng(annotator_seed)
    own = y[flipped]
    logits = np.empty((k, num_classes))
    for c in range(num_classes):
        weights = annotator.standard_normal((d, num_classes))
        of_c = own == c
        logits[of_c] = z[of_c] @ weights
    logits[np.arange(k), own] = -np.inf
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    # One uniform per row through the cumulative probabilities: a draw from each row.
    cumulative = np.cumsum(probs, axis=1)
    u = rng.random(k)[:, None] * cumulative[:, -1:]
    targets = np.minimum((cumulative <= u).sum(axis=1), num_classes - 1)
    # Rounding can land on the label's own class only where its probability is 0 and the
    # uniform is at the very top; such a row takes its most probable other class.
    stay = targets == own
    targets[stay] = probs[stay].argmax(axis=1)
    noisy[flipped] = targets
    mask[flipped] = True
    return noisy, mask
