"""Exception types of swift-sampler.

Every error the package raises on bad input is one of these, so a caller can catch
``SwiftSamplerError`` for all of them, or ``ValueError`` for the bad-value ones. This module
imports nothing from the package.
"""

from __future__ import annotations


class SwiftSamplerError(Exception):
    """Base class of every error raised by swift-sampler."""


class InputDataError(SwiftSamplerError, ValueError):
    """Probabilities, features, logits or labels break a rule (NaN, negative, wrong length...)."""


class NonFiniteError(InputDataError):
    """Model outputs are NaN or inf: training diverged (e.g. a learning rate too high)."""


class SpecError(SwiftSamplerError, ValueError):
    """A sampler specification is invalid: theta, feature or transform names, S, L or eps."""


class SchemaVersionError(SpecError):
    """A saved sampler spec was written with another schema version than this package reads."""


class ConfigError(SwiftSamplerError, ValueError):
    """A configuration file or option is invalid; the message lists every problem found."""


class RunFileError(SwiftSamplerError, ValueError):
    """A file of a run directory (study, checkpoint, result, figure data) is damaged or
    unreadable; the message names the file and says what to do."""


class DiskFullError(SwiftSamplerError):
    """A write failed because the filesystem is full; the message names where."""
