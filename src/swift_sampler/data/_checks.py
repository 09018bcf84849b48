"""Names and argument checks shared by the data modules (numpy only, no torch).

Each check returns a list of problems or raises InputDataError. Checks run once at a public
boundary; the private helpers behind it trust their inputs.
"""

from __future__ import annotations

import numbers
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from swift_sampler.errors import InputDataError

DatasetName = Literal["digits", "mnist5k", "mnist1d"]
DATASET_NAMES: tuple[str, ...] = get_args(DatasetName)
NoiseType = Literal["symmetric", "pair", "instance"]
NOISE_TYPES: tuple[str, ...] = get_args(NoiseType)
TextDatasetName = Literal["shakespeare", "text"]
TEXT_DATASETS: tuple[str, ...] = get_args(TextDatasetName)
ContaminationKind = Literal["mixed", "random", "shuffled", "offdomain"]
CONTAMINATION_KINDS: tuple[str, ...] = get_args(ContaminationKind)
TokenizerName = Literal["char", "byte"]
TOKENIZERS: tuple[str, ...] = get_args(TokenizerName)


def check_labels(labels: ArrayLike) -> NDArray[np.int64]:
    """Return labels as a 1-D int64 array, or raise InputDataError naming the broken rule."""
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise InputDataError(f"labels must be a non-empty 1-D array, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise InputDataError(f"labels must be integers, got dtype {y.dtype}")
    if y.min() < 0:
        bad = int(np.flatnonzero(y < 0)[0])
        raise InputDataError(f"labels must be >= 0, but entry {bad} is {y[bad]}")
    return y.astype(np.int64, copy=False)


def fraction_problems(val_fraction: float, test_fraction: float) -> list[str]:
    """List what is wrong with the split fractions (empty when they are fine)."""
    problems = []
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
            problems.append(f"{name} must be a number in [0, 1), got {value!r}")
    if not problems and val_fraction + test_fraction >= 1:
        problems.append(
            f"val_fraction + test_fraction must be < 1 to leave training data, got "
            f"{val_fraction} + {test_fraction}"
        )
    return problems


def seed_problems(seed: int) -> list[str]:
    """List what is wrong with a seed (empty when it is a non-negative int)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        return [f"seed must be a non-negative integer, got {seed!r}"]
    return []


def noise_problems(rate: float, kind: str) -> list[str]:
    """List what is wrong with a noise rate and kind (empty when both are fine)."""
    problems = []
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
        problems.append(f"noise rate must be a number in [0, 1), got {rate!r}")
    if kind not in NOISE_TYPES:
        problems.append(f"noise type must be one of {list(NOISE_TYPES)}, got {kind!r}")
    return problems
