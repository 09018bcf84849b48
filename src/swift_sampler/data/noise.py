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
    reference_inputs: ArrayLike | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Flip exactly ``round(rate * n)`` labels, chosen at random without replacement.

    ``"symmetric"``: the labels to flip are chosen uniformly; each chosen label ``c`` becomes a
    class drawn uniformly from the ``num_classes - 1`` *other* classes, so the effective noise
    rate equals the nominal one.
    ``"pair"``: chosen uniformly; each chosen label ``c`` becomes ``(c + 1) % num_classes``.
    ``"instance"``: instance-dependent noise, after the generator of Xia et al. (NeurIPS 2020,
    "Part-dependent label noise", their IDN benchmark), with the count made exact. Each instance
    gets a flip propensity drawn from a normal distribution with mean ``rate`` and standard
    deviation 0.1 truncated to ``[0, 1]``; the labels to flip are drawn without replacement with
    probability proportional to it. A chosen instance with label ``c`` takes another class drawn
    from ``softmax(z W_c)`` over the other classes: ``z`` is its input flattened and
    standardised, each column by its mean and standard deviation over ``reference_inputs``
    (default: ``inputs``), a column constant there being 0; ``W`` (``num_classes`` standard
    normal matrices of shape ``(d, num_classes)``) is the annotator, drawn from
    ``annotator_seed`` on a stream of its own. The new class depends on the input: similar
    inputs of a class are mislabelled alike, as a person who confuses two looks would. The
    standardisation is ours (Xia et al. multiply the normalised image as it is): it makes the
    logits' typical spread the square root of the number of non-constant columns whatever the
    inputs' scale, about 25 on MNIST, where the softmax is close to an argmax, and 6 on
    MNIST-1D's 40 values, where it is softer; rarely-nonzero columns standardise to large values
    and make some rows sharper still. With two classes there is one other class, and the noise
    is symmetric. For a train and a validation split mislabelled by one annotator, give both the
    same ``annotator_seed`` and ``reference_inputs`` and different ``seed``s.

    Every chosen label changes, so the returned mask is exactly ``noisy != clean``. The inputs
    are not modified and the global random state is never used.

    Args:
        labels: Clean labels, shape ``(n,)``, integers in ``[0, num_classes)``.
        num_classes: Number of classes ``C >= 2``.
        rate: Fraction of labels to flip, in ``[0, 1)``.
        kind: ``"symmetric"``, ``"pair"`` or ``"instance"``.
        seed: Non-negative integer seed of which labels flip (and, for ``"instance"``, of the
            propensities and the draws of the new classes).
        inputs: The instances, ``n`` rows of any shape, real and finite; required by
            ``"instance"``, ignored by the others.
        annotator_seed: Non-negative integer seed of ``"instance"``'s annotator ``W``
            (default: ``seed``, on another stream than the flips'); ignored by the others.
        reference_inputs: Rows of the same shape as ``inputs``' whose column statistics
            standardise them (default: ``inputs``); ignored by the other kinds.

    Returns:
        ``(noisy, mask)``: ``noisy`` int64 labels of shape ``(n,)``; ``mask`` bool of shape
        ``(n,)``, ``True`` where the label was changed.

    Raises:
        InputDataError: bad labels, ``num_classes < 2``, a label outside ``[0, num_classes)``, a
            rate outside ``[0, 1)``, an unknown kind, a bad seed, or for ``"instance"`` missing,
            non-real, non-finite or too large inputs or reference inputs, or ones of the wrong
            length or width.
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
    standardise = None
    if kind == "instance":
        if annotator_seed is not None:
            problems += [f"annotator_{p}" for p in seed_problems(annotator_seed)]
        standardise, more = _instance_rows(inputs, reference_inputs, len(y))
        problems += more
    if problems:
        raise InputDataError("; ".join(problems))
    if standardise is not None:
        return _instance_noise(
            y,
            standardise,
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


_CHUNK = 4096
"""Rows per step of the column statistics (bounds their temporary memory)."""


class _Standardise:
    """Flattened rows and the column statistics that standardise them."""

    def __init__(
        self, rows: NDArray[np.generic], mean: NDArray[np.float64], std: NDArray[np.float64]
    ) -> None:
        self.rows, self.mean, self.std = rows, mean, std

    def __call__(self, index: NDArray[np.intp]) -> NDArray[np.float64]:
        """The standardised rows ``index``; a column constant in the reference is 0."""
        z = self.rows[index].astype(np.float64) - self.mean
        np.divide(z, self.std, out=z, where=self.std > 0)
        z[:, self.std == 0] = 0.0
        return z


def _real_rows(values: ArrayLike, what: str) -> tuple[NDArray[np.generic] | None, str]:
    """``values`` as real rows ``(m, d)``, not copied where they already are, or a problem."""
    try:
        x = np.asarray(values)
    except (TypeError, ValueError, RuntimeError) as err:
        return None, f"noise type 'instance': {what} are not an array of numbers ({err})"
    real = any(np.issubdtype(x.dtype, t) for t in (np.integer, np.floating, np.bool_))
    if x.ndim < 1 or len(x) == 0 or not real:
        return None, (
            f"noise type 'instance' needs real-valued {what}, got shape {x.shape} of dtype "
            f"{x.dtype}"
        )
    return x.reshape(len(x), -1), ""


def _finite(rows: NDArray[np.generic]) -> bool:
    """Whether every value is finite (checked a chunk at a time)."""
    if not np.issubdtype(rows.dtype, np.floating):
        return True
    return all(np.isfinite(rows[i : i + _CHUNK]).all() for i in range(0, len(rows), _CHUNK))


def _column_stats(rows: NDArray[np.generic]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each column's mean and standard deviation over the rows (0 where a column is constant),
    in float64, a chunk at a time."""
    n, d = rows.shape
    total = np.zeros(d)
    low, high = np.full(d, np.inf), np.full(d, -np.inf)
    for start in range(0, n, _CHUNK):
        part = rows[start : start + _CHUNK].astype(np.float64)
        total += part.sum(axis=0)
        low, high = np.minimum(low, part.min(axis=0)), np.maximum(high, part.max(axis=0))
    mean = total / n
    squares = np.zeros(d)
    for start in range(0, n, _CHUNK):
        part = rows[start : start + _CHUNK].astype(np.float64) - mean
        squares += (part * part).sum(axis=0)
    std = np.sqrt(squares / n)
    std[low == high] = 0.0  # exactly constant, whatever the rounding of its mean
    return mean, std


def _instance_rows(
    inputs: ArrayLike | None, reference: ArrayLike | None, n: int
) -> tuple[_Standardise | None, list[str]]:
    """The checked inputs with their standardisation, or the problems (empty when none)."""
    if inputs is None:
        return None, ["noise type 'instance' needs the inputs (the mislabelling depends on them)"]
    rows, problem = _real_rows(inputs, "inputs")
    if rows is None:
        return None, [problem]
    problems = []
    if len(rows) != n:
        problems.append(
            f"noise type 'instance' needs one row of inputs per label ({n}), got {len(rows)}"
        )
    if not _finite(rows):
        problems.append("noise type 'instance' needs finite inputs, got NaN or inf")
    base = rows
    if reference is not None:
        given, problem = _real_rows(reference, "reference_inputs")
        if given is None:
            return None, [*problems, problem]
        base = given
        if base.shape[1] != rows.shape[1]:
            problems.append(
                f"noise type 'instance': reference_inputs rows have {base.shape[1]} values, "
                f"the inputs' {rows.shape[1]}"
            )
        elif not _finite(base):
            problems.append("noise type 'instance' needs finite reference_inputs, got NaN or inf")
    if problems:
        return None, problems
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported just below
        mean, std = _column_stats(base)
    if not (np.isfinite(mean).all() and np.isfinite(std).all()):
        return None, [
            "noise type 'instance': the inputs are too large to standardise (a column's sum "
            "overflows); scale them down"
        ]
    return _Standardise(rows, mean, std), []


def _instance_noise(
    y: NDArray[np.int64],
    standardise: _Standardise,
    *,
    num_classes: int,
    rate: float,
    seed: int,
    annotator_seed: int,
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Xia et al.'s instance-dependent flips of exactly ``round(rate * n)`` labels."""
    n, d = standardise.rows.shape
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
    z = standardise(flipped)
    # The annotator: one standard normal (d, C) matrix per class, drawn in class order (the
    # same numbers as one (C, d, C) draw) on a stream apart from the flips' even when
    # annotator_seed == seed, each used for the flipped rows of its class.
    annotator = np.random.default_rng([annotator_seed, _ANNOTATOR_STREAM])
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


_ANNOTATOR_STREAM = 0x1D
"""Second word of the annotator's seed: its stream is not the flips' one for the same seed."""
