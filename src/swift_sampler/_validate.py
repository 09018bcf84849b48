"""What counts as an integer or a number, for every check of a scalar argument or file value.

An integer is anything ``operator.index`` accepts (``int``, NumPy integer scalars, 0-d integer
tensors) except ``bool``: ``num_samples=np.int64(3)`` is 3, ``num_samples=True`` is a mistake
(the TOML config refuses it too). A number is a finite real that is not a ``bool``; an ``int``
too large for a float (``10**400``) is not finite. This module imports nothing from the
package but ``errors``.
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any

from swift_sampler.errors import InputDataError, SwiftSamplerError

__all__ = ["as_int", "as_real", "check_int", "short_repr"]


def as_int(value: Any) -> int | None:
    """``value`` as a Python int when it is integer-like (not a bool), else None."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def as_real(value: Any) -> float | None:
    """``value`` as a finite float when it is a real number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):  # 10**400 does not fit in a float
        return None
    return number if math.isfinite(number) else None


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)``, shortened in the middle past ``limit`` characters (e.g. ``10**400``)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit // 2]}...{text[-(limit // 2) :]} ({len(text)} characters)"


def check_int(
    value: Any,
    name: str,
    *,
    low: int | None = None,
    error: type[SwiftSamplerError] = InputDataError,
) -> int:
    """Returns ``value`` as an int, or raises ``error`` naming ``name`` and the value.

    Args:
        value: the argument.
        name: its name, for the message.
        low: smallest allowed value (1: "a positive integer", 0: "a non-negative integer").
        error: the exception type to raise.
    """
    number = as_int(value)
    if number is None or (low is not None and number < low):
        if low is None:
            kind = "an integer"
        else:
            kind = {1: "a positive integer", 0: "a non-negative integer"}.get(
                low, f"an integer >= {low}"
            )
        raise error(f"{name} must be {kind}, got {short_repr(value)}")
    return number
