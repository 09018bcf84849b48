"""Input checks shared by the report data steps (numpy only).

Each check runs once at a public boundary and raises ``InputDataError`` naming the argument, the
rule and the offending entry; the private helpers behind it trust their inputs.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike, NDArray

from swift_sampler.errors import InputDataError


def as_vector(values: ArrayLike, name: str) -> NDArray[np.float64]:
    """Return ``values`` as a non-empty 1-D float64 array, or raise naming ``name``."""
    try:
        v = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputDataError(f"{name} must be an array of numbers: {error}") from None
    if v.ndim != 1:
        raise InputDataError(f"{name} must be 1-D, got shape {v.shape}")
    if v.size == 0:
        raise InputDataError(f"{name} must not be empty")
    return v


def first_bad(mask: NDArray[np.bool_]) -> int:
    """Index of the first True entry of ``mask`` (the caller knows there is one)."""
    return int(np.flatnonzero(mask)[0])


def check_rank(values: ArrayLike, name: str) -> NDArray[np.float64]:
    """Return a ``(n,)`` rank array, or raise unless every entry is finite and in [0, 1]."""
    v = as_vector(values, name)
    bad = ~(np.isfinite(v) & (v >= 0.0) & (v <= 1.0))
    if bad.any():
        i = first_bad(bad)
        raise InputDataError(
            f"{name} must be finite and in [0, 1], but entry {i} is {v[i].item()!r}"
        )
    return v


def check_probability(values: ArrayLike, name: str) -> NDArray[np.float64]:
    """Return a ``(n,)`` probability array, or raise unless every entry is finite and >= 0."""
    v = as_vector(values, name)
    bad = ~(np.isfinite(v) & (v >= 0.0))
    if bad.any():
        i = first_bad(bad)
        raise InputDataError(f"{name} must be finite and >= 0, but entry {i} is {v[i].item()!r}")
    return v


def check_flags(values: ArrayLike, name: str) -> NDArray[np.bool_]:
    """Return a ``(n,)`` bool array; accepts bools or numbers that are all 0 or 1."""
    v = np.asarray(values)
    if v.ndim != 1:
        raise InputDataError(f"{name} must be 1-D, got shape {v.shape}")
    if v.size == 0:
        raise InputDataError(f"{name} must not be empty")
    if v.dtype == np.bool_:
        return v
    if not (np.issubdtype(v.dtype, np.integer) or np.issubdtype(v.dtype, np.floating)):
        raise InputDataError(f"{name} must be bool (or 0/1), got dtype {v.dtype}")
    bad = (v != 0) & (v != 1)
    if bad.any():
        i = first_bad(bad)
        raise InputDataError(f"{name} must be bool (or 0/1), but entry {i} is {v[i].item()!r}")
    return v == 1


def check_positive_int(value: int, name: str) -> int:
    """Return ``value`` as an int, or raise unless it is an integer >= 1 (bool is refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InputDataError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def check_same_length(arrays: dict[str, np.ndarray]) -> int:
    """Return the common length of ``arrays``, or raise listing every length."""
    lengths = {name: int(a.shape[0]) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name} has {k}" for name, k in lengths.items())
        raise InputDataError(f"per-instance arrays must have the same length, but {shown}")
    return next(iter(lengths.values()))
