"""swift-sampler: learn how often each training example is drawn, with 10 parameters.

Public names are imported lazily, so ``import swift_sampler`` (and ``swift-sampler --help``)
does not pay for importing torch until a name that needs it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "SwiftSampler": "swift_sampler.sampler",
    "SamplerSpec": "swift_sampler.family",
    "extract_features": "swift_sampler.features",
    "compute_features": "swift_sampler.features",
    "draw_indices": "swift_sampler.draw",
    "SwiftSamplerError": "swift_sampler.errors",
    "InputDataError": "swift_sampler.errors",
    "SpecError": "swift_sampler.errors",
    "SchemaVersionError": "swift_sampler.errors",
    "ConfigError": "swift_sampler.errors",
}

__all__ = [
    "ConfigError",
    "InputDataError",
    "SamplerSpec",
    "SchemaVersionError",
    "SpecError",
    "SwiftSampler",
    "SwiftSamplerError",
    "compute_features",
    "draw_indices",
    "extract_features",
]

if TYPE_CHECKING:
    from swift_sampler.draw import draw_indices
    from swift_sampler.errors import (
        ConfigError,
        InputDataError,
        SchemaVersionError,
        SpecError,
        SwiftSamplerError,
    )
    from swift_sampler.family import SamplerSpec
    from swift_sampler.features import compute_features, extract_features
    from swift_sampler.sampler import SwiftSampler


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'swift_sampler' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
