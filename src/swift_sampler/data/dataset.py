"""One entry point: load a dataset, split it with a seed, and inject label noise."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import TensorDataset

from swift_sampler.data._checks import (
    DATASET_NAMES,
    DatasetName,
    NoiseType,
    fraction_problems,
    noise_problems,
    seed_problems,
)
from swift_sampler.data.loaders import (
    MNIST1D_NUM_SAMPLES,
    NUM_CLASSES,
    load_digits_arrays,
    load_mnist1d_arrays,
    load_mnist5k_arrays,
    mnist1d_num_train,
    mnist1d_size_problem,
)
from swift_sampler.data.noise import inject_label_noise
from swift_sampler.data.splits import SplitIndices, stratified_split
from swift_sampler.errors import InputDataError

logger = logging.getLogger(__name__)


_Scalar = TypeVar("_Scalar", bound=np.generic)

DEFAULT_TEST_FRACTION = 0.2
"""Test share when ``test_fraction=None`` and the dataset has no test split of its own."""


@dataclass(frozen=True, eq=False)
class ClassificationData:
    """A seeded train / val / test split of one dataset, with label noise on train and val.

    ``train``, ``val`` and ``test`` are map-style datasets of ``(x, y)`` pairs: ``x`` float32 of
    shape ``input_shape`` and ``y`` an int64 scalar tensor. The train and val labels in them are
    the *noisy* ones; the test labels are always clean. The numpy arrays are read-only.

    Attributes:
        name: The dataset name passed to :func:`load_dataset`.
        train: Training pairs, ``n_train`` of them, noisy labels.
        val: Validation pairs, ``n_val`` of them, noisy labels.
        test: Test pairs, ``n_test`` of them, clean labels.
        num_classes: Number of classes ``C``; labels lie in ``[0, C)``.
        input_shape: Shape of one ``x``, e.g. ``(1, 28, 28)``.
        noise_type: ``"symmetric"``, ``"pair"`` or ``"instance"``.
        noise_rate: Nominal (and exact, up to rounding) fraction of flipped train and val labels.
        seed: The seed everything was derived from.
        train_noise_mask: Bool ``(n_train,)``, ``True`` where the train label was flipped.
        val_noise_mask: Bool ``(n_val,)``, ``True`` where the val label was flipped.
        train_clean_labels: Int64 ``(n_train,)``, the train labels before noise.
        val_clean_labels: Int64 ``(n_val,)``, the val labels before noise.
        split: Row indices of each split into the loader's arrays (for ``"mnist1d"``, mnist1d's
            own train rows followed by its test rows), e.g. to trace an instance back.
    """

    name: str
    train: TensorDataset = field(repr=False)
    val: TensorDataset = field(repr=False)
    test: TensorDataset = field(repr=False)
    num_classes: int
    input_shape: tuple[int, ...]
    noise_type: NoiseType
    noise_rate: float
    seed: int
    train_noise_mask: NDArray[np.bool_] = field(repr=False)
    val_noise_mask: NDArray[np.bool_] = field(repr=False)
    train_clean_labels: NDArray[np.int64] = field(repr=False)
    val_clean_labels: NDArray[np.int64] = field(repr=False)
    split: SplitIndices = field(repr=False)


def load_dataset(
    name: DatasetName,
    *,
    noise_rate: float = 0.0,
    noise_type: NoiseType = "symmetric",
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float | None = None,
    cache_dir: Path | str | None = None,
    samples: int | None = None,
) -> ClassificationData:
    """Load a dataset offline, split it stratified by class, and add label noise to train and val.

    Fractions are of the whole dataset. With the defaults every dataset is split 70 / 10 / 20:
    ``test_fraction=None`` keeps MNIST-1D's own 1,000-signal test set (20% of 5,000) and splits
    its 4,000 training signals into train and val, and means 0.2 for the others. A number for
    ``test_fraction`` pools MNIST-1D's two sets and splits them like the others.

    The split, the train noise and the val noise use three independent streams derived from
    ``seed``, so changing ``noise_rate`` does not change the split. Exactly
    ``round(noise_rate * n)`` labels of each of train and val are flipped (see
    :func:`~swift_sampler.data.inject_label_noise`).

    Args:
        name: ``"digits"`` (1,797 of ``(1, 8, 8)``), ``"mnist5k"`` (5,000 of ``(1, 28, 28)``) or
            ``"mnist1d"`` (5,000 of ``(1, 40)``).
        noise_rate: Fraction of train and of val labels to flip, in ``[0, 1)``.
        noise_type: ``"symmetric"`` (to a uniformly chosen other class), ``"instance"`` (to
            another class that depends on the input, see
            :func:`~swift_sampler.data.inject_label_noise`) or ``"pair"``
            (``c -> (c + 1) % C``).
        seed: Non-negative integer seed; the same arguments always give identical data.
        val_fraction: Validation share of the whole dataset, in ``(0, 1)``.
        test_fraction: Test share of the whole dataset, in ``(0, 1)``, or ``None`` for the
            dataset's own test split if it has one, else :data:`DEFAULT_TEST_FRACTION`.
        cache_dir: Directory for the MNIST-1D ``.npz`` cache; ``None`` regenerates it (2-4 s).
            Unused by the other datasets.
        samples: MNIST-1D only: signals to generate (a multiple of 10 from 100 on; ``None``:
            mnist1d's 5,000). Its own 80 / 20 train / test split is kept as with 5,000.

    Returns:
        The :class:`ClassificationData`.

    Raises:
        InputDataError: an unknown name (the message lists the known ones), or a bad noise rate,
            noise type, seed or fraction; every problem found is reported in one message.
    """
    problems = []
    if name not in DATASET_NAMES:
        problems.append(f"dataset name must be one of {list(DATASET_NAMES)}, got {name!r}")
    problems += noise_problems(noise_rate, noise_type) + seed_problems(seed)
    if samples is not None:
        if name != "mnist1d":
            problems.append(f"samples is for the generated mnist1d only, not {name!r}")
        elif (size := mnist1d_size_problem(samples)) is not None:
            problems.append(size)
    num_samples = MNIST1D_NUM_SAMPLES if samples is None else samples
    effective_test = DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction
    problems += fraction_problems(val_fraction, effective_test)
    for label, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if value == 0:
            problems.append(f"{label} must be > 0 so that the split is not empty, got {value}")
    if problems:
        raise InputDataError("; ".join(problems))

    start = time.perf_counter()
    loaders: dict[str, Callable[[], tuple[NDArray[np.float32], NDArray[np.int64]]]] = {
        "digits": load_digits_arrays,
        "mnist5k": load_mnist5k_arrays,
        "mnist1d": lambda: load_mnist1d_arrays(cache_dir=cache_dir, num_samples=num_samples),
    }
    x, y = loaders[name]()
    split_seed, train_noise_seed, val_noise_seed = (
        int(child.generate_state(1)[0]) for child in np.random.SeedSequence(seed).spawn(3)
    )
    if name == "mnist1d" and test_fraction is None:
        split = _split_with_given_test(
            y,
            num_train=mnist1d_num_train(num_samples),
            val_fraction=val_fraction,
            seed=split_seed,
        )
    else:
        split = stratified_split(
            y, val_fraction=val_fraction, test_fraction=effective_test, seed=split_seed
        )
    empty = [part for part, rows in zip(split._fields, split, strict=True) if len(rows) == 0]
    if empty:
        raise InputDataError(
            f"every split must be non-empty, but {empty} of {name} ({len(y)} rows) came out "
            f"empty with val_fraction={val_fraction}, test_fraction={test_fraction}"
        )

    data = labelled_data(
        name,
        x,
        y,
        split,
        num_classes=NUM_CLASSES,
        noise_rate=noise_rate,
        noise_type=noise_type,
        seed=seed,
        noise_seeds=(train_noise_seed, val_noise_seed),
    )
    logger.info(
        "loaded %s: %d train / %d val / %d test, %s noise at %.3f, seed %d, in %.2f s",
        name,
        len(split.train),
        len(split.val),
        len(split.test),
        noise_type,
        noise_rate,
        seed,
        time.perf_counter() - start,
    )
    return data


def labelled_data(
    name: str,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    split: SplitIndices,
    *,
    num_classes: int,
    noise_rate: float,
    noise_type: NoiseType,
    seed: int,
    noise_seeds: tuple[int, int],
) -> ClassificationData:
    """The three splits of ``(x, y)`` with label noise injected into train and val (test
    clean), each noise drawn from its own seed of ``noise_seeds``; every array read-only.
    Instance-dependent noise mislabels both splits with one annotator, drawn from ``seed``,
    which sees every input standardised by the train and val rows together."""
    train_x, val_x = x[split.train], x[split.val]
    train_clean, val_clean = y[split.train], y[split.val]
    instance = noise_type == "instance"
    labelled = np.concatenate([train_x, val_x]) if instance else None
    (train_noisy, train_mask), (val_noisy, val_mask) = (
        inject_label_noise(
            clean,
            num_classes=num_classes,
            rate=noise_rate,
            kind=noise_type,
            seed=noise_seed,
            inputs=inputs if instance else None,
            annotator_seed=seed,
            reference_inputs=labelled,
        )
        for inputs, clean, noise_seed in (
            (train_x, train_clean, noise_seeds[0]),
            (val_x, val_clean, noise_seeds[1]),
        )
    )
    return ClassificationData(
        name=name,
        train=_tensor_dataset(train_x, train_noisy),
        val=_tensor_dataset(val_x, val_noisy),
        test=_tensor_dataset(x[split.test], y[split.test]),
        num_classes=num_classes,
        input_shape=tuple(int(d) for d in x.shape[1:]),
        noise_type=noise_type,
        noise_rate=float(noise_rate),
        seed=int(seed),
        train_noise_mask=_read_only(train_mask),
        val_noise_mask=_read_only(val_mask),
        train_clean_labels=_read_only(train_clean),
        val_clean_labels=_read_only(val_clean),
        split=SplitIndices(*(_read_only(part) for part in split)),
    )


def _split_with_given_test(
    labels: NDArray[np.int64], *, num_train: int, val_fraction: float, seed: int
) -> SplitIndices:
    """Keep rows ``num_train:`` as the test split; split rows ``:num_train`` into train and val.

    ``val_fraction`` is of all rows, as in :func:`stratified_split`.
    """
    n = len(labels)
    within_train = val_fraction * n / num_train
    if within_train >= 1:
        raise InputDataError(
            f"val_fraction={val_fraction} of {n} rows must leave training rows among the "
            f"{num_train} non-test rows, so it must be < {num_train / n}"
        )
    head = stratified_split(
        labels[:num_train], val_fraction=within_train, test_fraction=0.0, seed=seed
    )
    test = np.random.default_rng(seed).permutation(np.arange(num_train, n, dtype=np.int64))
    return SplitIndices(train=head.train, val=head.val, test=test)


def _tensor_dataset(x: NDArray[np.float32], y: NDArray[np.int64]) -> TensorDataset:
    """Wrap ``x (n, ...)`` and ``y (n,)`` in a TensorDataset that owns its memory."""
    return TensorDataset(
        torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.array(y, dtype=np.int64))
    )


def _read_only(array: NDArray[_Scalar]) -> NDArray[_Scalar]:
    """Return a read-only copy, so the frozen record cannot be changed through its arrays."""
    copy = np.array(array)
    copy.flags.writeable = False
    return copy
