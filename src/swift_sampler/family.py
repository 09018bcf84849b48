"""The sampler family: theta -> knots -> per-instance weights -> probabilities (SPEC section 4).

For M features and S segments, feature m gets a piecewise-linear ``h_m`` on [0, 1] with S equal
segments and S + 1 knot values; the weight of instance i is
``tau_i = max(prod_m h_m(u_{m,i}), eps * mean_j prod_m h_m(u_{m,j}))`` and
``P(i) = tau_i / sum_j tau_j``. With the defaults (M = 2 features, loss and Er; S = 4) there are
10 parameters.

Search parameterisation: ``theta`` in the unit box ``[0, 1]^(M (S + 1))``; per feature
``a_0 = theta_0`` and ``a_{s+1} = clip(a_s + (2 theta_{s+1} - 1) L / S, 0, 1)``, so every point
of the box is a valid function with slope at most L. ``theta = (1, .5, .5, .5, .5)`` per feature
is the uniform sampler. The clip makes whole regions of the box one function (from
``a_s = 0.9`` with L / S = 0.5, every ``theta_{s+1} >= 0.6`` gives ``a_{s+1} = 1``).
``increments="scaled"`` reaches the same functions without those plateaus: with
``d = 2 theta_{s+1} - 1``, ``a_{s+1} = a_s + d min(L / S, r)`` where ``r`` is the room left
(``1 - a_s`` for ``d > 0``, ``a_s`` otherwise), so a knot moves whenever its entry does, except
where a knot already sits at 0 or 1 (on faces of the box, such as the uniform sampler's).

``combine="noisy_or"`` replaces the product by ``1 - prod_m (1 - h_m(u_{m,i}))``: the product is
0 wherever any ``h_m`` is 0, so with loss and Er it can drop "high loss" or "low Er" bands but
not their corner alone (an instance with high loss and high Er, a hard clean one, goes with the
band); the noisy-or is 0 only where every ``h_m`` is 0, which is that corner, and is 1 wherever
any ``h_m`` is 1. Same theta, same uniform sampler; with one feature the two are the same.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from swift_sampler._io import write_text_atomic
from swift_sampler._validate import as_real, short_repr
from swift_sampler.config import CombineName, DrawName, IncrementsName, RefreshName, check_value
from swift_sampler.errors import InputDataError, SchemaVersionError, SpecError
from swift_sampler.features import FEATURE_RANGES
from swift_sampler.transforms import (
    FittedTransform,
    TransformKind,
    fit_transform,
)

__all__ = [
    "SCHEMA_VERSION",
    "SamplerSpec",
    "family_weights",
    "knots_to_theta",
    "theta_to_knots",
    "uniform_theta",
]

SCHEMA_VERSION = 1
"""Version of the JSON layout written by ``SamplerSpec.save``; loading another one fails."""


def uniform_theta(num_features: int = 2, num_segments: int = 4) -> np.ndarray:
    """The theta of the uniform sampler: every ``h_m`` is the constant 1.

    Returns:
        ``(num_features * (num_segments + 1),)`` float64.
    """
    block = np.full(num_segments + 1, 0.5)
    block[0] = 1.0
    return np.tile(block, num_features)


def check_theta(theta: npt.ArrayLike, *, num_features: int, num_segments: int) -> np.ndarray:
    """Returns theta as float64 after checking its length and that it lies in the unit box."""
    try:
        t = np.asarray(theta, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise SpecError(f"theta must be numbers in [0, 1], got {short_repr(theta)}") from None
    expected = num_features * (num_segments + 1)
    if t.ndim != 1 or t.size != expected:
        raise SpecError(
            f"theta must have M (S + 1) = {num_features} x {num_segments + 1} = {expected} "
            f"entries, got shape {t.shape}"
        )
    bad = np.flatnonzero(~((t >= 0.0) & (t <= 1.0)))
    if bad.size:
        i = int(bad[0])
        raise SpecError(f"theta must lie in [0, 1], but theta[{i}] = {float(t[i])!r}")
    return t


def theta_to_knots(
    theta: npt.ArrayLike,
    *,
    num_features: int = 2,
    num_segments: int = 4,
    lipschitz: float = 2.0,
    increments: IncrementsName = "clipped",
) -> np.ndarray:
    """Maps theta in the unit box to the knot values of each feature's function.

    Args:
        theta: ``(M (S + 1),)`` in [0, 1], feature-major (feature 0's S + 1 entries first).
        num_features: M.
        num_segments: S.
        lipschitz: L, the largest slope of each ``h_m`` on [0, 1].
        increments: ``"clipped"`` (SPEC 4) or ``"scaled"`` (the same functions without
            plateaus; see the module docstring).

    Returns:
        ``(M, S + 1)`` knot values in [0, 1]; neighbours differ by at most ``L / S``.
    """
    t = check_theta(theta, num_features=num_features, num_segments=num_segments)
    _check_parameterisation(lipschitz, increments)
    t = t.reshape(num_features, num_segments + 1)
    knots = np.empty_like(t)
    knots[:, 0] = t[:, 0]
    step = lipschitz / num_segments
    for s in range(num_segments):
        a, d = knots[:, s], 2.0 * t[:, s + 1] - 1.0
        if increments == "scaled":
            room = np.where(d > 0.0, 1.0 - a, a)
            knots[:, s + 1] = np.clip(a + d * np.minimum(step, room), 0.0, 1.0)
        else:
            knots[:, s + 1] = np.clip(a + d * step, 0.0, 1.0)
    return knots


def knots_to_theta(
    knots: npt.ArrayLike, *, lipschitz: float = 2.0, increments: IncrementsName = "clipped"
) -> np.ndarray:
    """A theta whose knots (``theta_to_knots``) are ``knots``: moves a sampler between the two
    parameterisations (``increments``) without changing its functions.

    Args:
        knots: ``(M, S + 1)`` values in [0, 1] whose neighbours differ by at most ``L / S``.
        lipschitz: L.
        increments: the parameterisation of the returned theta.

    Returns:
        ``(M (S + 1),)`` theta in [0, 1], feature-major. Where a step has no room (a knot at
        0 or 1 that stays there) the entry is 0.5.

    Raises:
        SpecError: if a value is outside [0, 1] or a step is steeper than L.
    """
    _check_parameterisation(lipschitz, increments)
    try:
        k = np.asarray(knots, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise SpecError(f"knots must be numbers in [0, 1], got {short_repr(knots)}") from None
    if k.ndim != 2 or k.shape[1] < 2:
        raise SpecError(f"knots must have shape (M, S + 1) with S >= 1, got {k.shape}")
    bad = np.argwhere(~((k >= 0.0) & (k <= 1.0)))
    if bad.size:
        m, s = (int(i) for i in bad[0])
        raise SpecError(
            f"knots must lie in [0, 1], but knot {s} of feature {m} is {float(k[m, s])!r}"
        )
    step = lipschitz / (k.shape[1] - 1)
    diff = np.diff(k, axis=1)
    steep = np.argwhere(np.abs(diff) > step * (1.0 + 1e-9))
    if steep.size:
        m, s = (int(i) for i in steep[0])
        change = "rises" if diff[m, s] > 0 else "falls"
        raise SpecError(
            f"knot {s + 1} of feature {m} {change} by {abs(float(diff[m, s])):g}, steeper "
            f"than L / S = {step:g}"
        )
    if increments == "scaled":
        room = np.where(diff > 0.0, 1.0 - k[:, :-1], k[:, :-1])
        scale = np.minimum(step, room)
    else:
        scale = np.full_like(diff, step)
    d = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0.0)
    theta = np.concatenate([k[:, :1], (np.clip(d, -1.0, 1.0) + 1.0) / 2.0], axis=1)
    return theta.reshape(-1)


def _check_parameterisation(lipschitz: float, increments: str) -> None:
    """Refuses a bound or a parameterisation the ``[sampler]`` section would refuse (a
    misspelled ``increments`` is not read as the clipped steps)."""
    for key, value in (("lipschitz", lipschitz), ("increments", increments)):
        _, problem = check_value("sampler", key, value)
        if problem is not None:
            raise SpecError(f"{key}: {problem}")


def family_weights(
    knots: np.ndarray, u: np.ndarray, *, eps: float = 1e-6, combine: CombineName = "product"
) -> np.ndarray:
    """Unnormalised weights ``tau = max(c, eps * mean(c))`` of the combined functions ``c``.

    Args:
        knots: ``(M, S + 1)`` knot values.
        u: ``(n, M)`` transformed features in [0, 1].
        eps: floor relative to the mean of ``c``. If every ``c`` is 0, all weights are
            equal (the uniform sampler) rather than undefined.
        combine: ``"product"``, ``c = prod_m h_m(u_m)`` (SPEC 4), or ``"noisy_or"``,
            ``c = 1 - prod_m (1 - h_m(u_m))`` (0 only where every ``h_m`` is 0).

    Returns:
        ``(n,)`` float64 weights, all > 0.
    """
    _, problem = check_value("sampler", "combine", combine)
    if problem is not None:
        raise SpecError(f"combine: {problem}")
    num_features, num_knots = knots.shape
    grid = np.linspace(0.0, 1.0, num_knots)
    if combine == "product":
        combined = np.interp(u[:, 0], grid, knots[0])
        for m in range(1, num_features):
            combined *= np.interp(u[:, m], grid, knots[m])
    else:
        miss = 1.0 - np.interp(u[:, 0], grid, knots[0])
        for m in range(1, num_features):
            miss *= 1.0 - np.interp(u[:, m], grid, knots[m])
        combined = np.subtract(1.0, miss, out=miss)
    mean = float(combined.mean())
    if mean <= 0.0:
        return np.ones_like(combined)
    return np.maximum(combined, eps * mean, out=combined)


@dataclass(frozen=True)
class SamplerSpec:
    """Everything needed to turn a feature table into sampling probabilities.

    A spec is what a search finds and what moves between models: only these numbers, never
    the features (those come from the network being trained).

    Attributes:
        features: feature names, one ``h_m`` each (default loss and Er).
        transform: ``"cdf"`` or ``"cgf"``.
        num_segments: S, segments of each piecewise-linear function.
        lipschitz: L, the largest slope.
        eps: relative weight floor (see ``family_weights``).
        history: weight of the past in the moving average of each feature column over a
            sampler's refreshes (``SwiftSampler.update``), in ``[0, 1)``; 0: the current
            features only (the paper's). ``probabilities`` itself always reads one table.
        increments: how theta becomes knots, ``"clipped"`` (SPEC 4) or ``"scaled"`` (see
            ``theta_to_knots``).
        draw: how a ``SwiftSampler`` built from this spec draws an epoch, ``"iid"`` or
            ``"stratified"`` (see the config's ``sampler.draw``); the probabilities are the
            same either way.
        combine: how the ``h_m`` make one weight, ``"product"`` (SPEC 4) or ``"noisy_or"``
            (see ``family_weights``).
        refresh: when a training loop recomputes the features under this sampler,
            ``"every_epoch"`` (SPEC 7) or ``"once"`` (at the switch only; see the config's
            ``sampler.refresh``). The loops read it; ``probabilities`` and
            ``SwiftSampler.update`` do what they are asked either way.
        theta: ``(M (S + 1),)`` parameters in [0, 1]; defaults to the uniform sampler.
        metadata: free-form JSON-serialisable notes (e.g. the validation score of a search).
        schema_version: layout version of the saved file.
    """

    features: tuple[str, ...] = ("loss", "er")
    transform: TransformKind = "cgf"
    num_segments: int = 4
    lipschitz: float = 2.0
    eps: float = 1e-6
    history: float = 0.0
    increments: IncrementsName = "clipped"
    draw: DrawName = "iid"
    combine: CombineName = "product"
    refresh: RefreshName = "every_epoch"
    theta: tuple[float, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        version = self.schema_version
        if isinstance(version, bool) or version != SCHEMA_VERSION:
            raise SchemaVersionError(
                f"sampler spec schema version {short_repr(version)} is not supported; "
                f"this swift-sampler reads version {SCHEMA_VERSION}"
            )
        values, problems = _check_fields(self)
        if problems:
            raise SpecError("invalid sampler spec: " + "; ".join(problems))
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @property
    def num_params(self) -> int:
        """Length of theta, ``M (S + 1)``."""
        return len(self.features) * (self.num_segments + 1)

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns a feature table needs, in order: the features, then grad_norm for cgf."""
        if self.transform == "cgf":
            return (*self.features, "grad_norm")
        return self.features

    @property
    def is_uniform(self) -> bool:
        """Whether the sampler is exactly uniform: every ``h_m`` is a constant, or one ``h_m``
        is the constant that decides every weight alone (0 for the product: every weight is
        0, which falls back to uniform; 1 for the noisy-or: every weight is 1)."""
        knots = self.knots()
        decisive = 0.0 if self.combine == "product" else 1.0
        if bool(np.any(np.all(knots == decisive, axis=1))):
            return True
        return bool(np.all(knots.min(axis=1) == knots.max(axis=1)))

    def with_theta(self, theta: npt.ArrayLike, **metadata: Any) -> SamplerSpec:
        """A copy of this spec with another theta (and optionally extra metadata)."""
        meta = {**self.metadata, **metadata}
        return SamplerSpec(
            features=self.features,
            transform=self.transform,
            num_segments=self.num_segments,
            lipschitz=self.lipschitz,
            eps=self.eps,
            history=self.history,
            increments=self.increments,
            draw=self.draw,
            combine=self.combine,
            refresh=self.refresh,
            theta=tuple(np.asarray(theta, dtype=np.float64).tolist()),
            metadata=meta,
        )

    def knots(self) -> np.ndarray:
        """``(M, S + 1)`` knot values of this spec's functions."""
        return theta_to_knots(
            self.theta,
            num_features=len(self.features),
            num_segments=self.num_segments,
            lipschitz=self.lipschitz,
            increments=self.increments,
        )

    def feature_columns(
        self, features: np.ndarray | Mapping[str, npt.ArrayLike]
    ) -> dict[str, np.ndarray]:
        """Checks a feature table and returns its columns by name.

        Args:
            features: ``(n, len(columns))`` array in ``self.columns`` order, or a mapping from
                each name in ``self.columns`` to an ``(n,)`` array.

        Raises:
            InputDataError: on a missing column, a wrong shape, or a value that is NaN, inf or
                outside the feature's range.
        """
        cols: dict[str, np.ndarray] = {}
        if isinstance(features, Mapping):
            for name in self.columns:
                if name not in features:
                    raise InputDataError(
                        f"feature table lacks column {name!r}; it needs {list(self.columns)}"
                    )
                cols[name] = np.asarray(features[name], dtype=np.float64).reshape(-1)
            lengths = {len(c) for c in cols.values()}
            if len(lengths) != 1:
                raise InputDataError(f"feature columns differ in length: {sorted(lengths)}")
        else:
            table = np.asarray(features)
            if table.ndim != 2 or table.shape[1] != len(self.columns):
                raise InputDataError(
                    f"feature table must have shape (n, {len(self.columns)}) with columns "
                    f"{list(self.columns)}, got {table.shape}"
                )
            cols = {name: table[:, j] for j, name in enumerate(self.columns)}
        n = len(next(iter(cols.values())))
        if n == 0:
            raise InputDataError("feature table must not be empty")
        for name, col in cols.items():
            low, high = FEATURE_RANGES[name]
            bad = np.flatnonzero(~(np.isfinite(col) & (col >= low) & (col <= high)))
            if bad.size:
                i = int(bad[0])
                raise InputDataError(
                    f"feature {name!r} must be finite and in [{low:g}, {high:g}], but row {i} is "
                    f"{float(col[i])!r}"
                )
        return cols

    def transform_features(
        self, features: np.ndarray | Mapping[str, npt.ArrayLike]
    ) -> tuple[np.ndarray, list[FittedTransform]]:
        """Fits this spec's transform on each feature column and maps the columns to [0, 1].

        Returns:
            ``(n, M)`` float64 ``u`` and the fitted transforms, one per feature.
        """
        cols = self.feature_columns(features)
        weights = cols.get("grad_norm") if self.transform == "cgf" else None
        n = len(cols[self.features[0]])
        u = np.empty((n, len(self.features)), dtype=np.float64)
        fitted = []
        for m, name in enumerate(self.features):
            transform, u[:, m] = fit_transform(cols[name], kind=self.transform, weights=weights)
            fitted.append(transform)
        return u, fitted

    def weights(self, u: np.ndarray) -> np.ndarray:
        """``(n,)`` unnormalised weights from ``(n, M)`` transformed features."""
        if u.ndim != 2 or u.shape[1] != len(self.features):
            raise InputDataError(
                f"transformed features must have shape (n, {len(self.features)}), got {u.shape}"
            )
        return family_weights(self.knots(), u, eps=self.eps, combine=self.combine)

    def probabilities(self, features: np.ndarray | Mapping[str, npt.ArrayLike]) -> np.ndarray:
        """Sampling probabilities of every instance from a fresh feature table.

        Args:
            features: see ``feature_columns``.

        Returns:
            ``(n,)`` float64 probabilities summing to 1.
        """
        u, _ = self.transform_features(features)
        tau = self.weights(u)
        return tau / tau.sum()

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        state = asdict(self)
        state["features"] = list(self.features)
        state["theta"] = list(self.theta)
        # Fields at the value they had before they existed are left out, so older readers
        # still load the file.
        if not self.history:
            del state["history"]
        if self.increments == "clipped":
            del state["increments"]
        if self.draw == "iid":
            del state["draw"]
        if self.combine == "product":
            del state["combine"]
        if self.refresh == "every_epoch":
            del state["refresh"]
        return state

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> SamplerSpec:
        """Builds a spec from ``to_dict``'s output, checking the schema version first.

        Every field is checked with the rules of the TOML config's ``[sampler]`` section
        (``num_segments`` is ``sampler.segments``): bools are not numbers, ``null`` is not a
        value, and each problem names its field and value.
        """
        if not isinstance(state, Mapping):
            raise SpecError(f"a sampler spec must be a JSON object, got {type(state).__name__}")
        version = state.get("schema_version")
        if isinstance(version, bool) or version != SCHEMA_VERSION:
            raise SchemaVersionError(
                f"sampler spec schema version {short_repr(version)} is not supported; "
                f"this swift-sampler reads version {SCHEMA_VERSION}"
            )
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(str(key) for key in set(state) - known)
        if unknown:
            raise SpecError(
                f"unknown keys in sampler spec: {unknown}; known keys: {sorted(known)}"
            )
        return cls(**{str(key): value for key, value in state.items()})

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the spec as JSON, atomically (a crash never leaves a half-written file)."""
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SamplerSpec:
        """Reads a spec written by ``save``.

        Raises:
            SpecError: if the file is missing, not JSON, or not a valid spec.
            SchemaVersionError: if it was written with another schema version.
        """
        target = Path(path)
        try:
            state = json.loads(target.read_text(), parse_constant=_refuse_constant)
        except FileNotFoundError:
            raise SpecError(f"sampler file not found: {target}") from None
        except OSError as err:
            raise SpecError(f"cannot read sampler file {target}: {err}") from None
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as err:
            raise SpecError(f"sampler file {target} is not valid JSON: {err}") from None
        try:
            return cls.from_dict(state)
        except SpecError as err:  # the same type (SchemaVersionError stays one), with the file
            raise type(err)(f"sampler file {target}: {err}") from None


def _refuse_constant(name: str) -> float:
    # Python's json reads NaN and Infinity, which are not JSON.
    raise ValueError(f"{name} is not a JSON value")


_CONFIG_KEYS = {
    "features": "features",
    "transform": "transform",
    "num_segments": "segments",
    "lipschitz": "lipschitz",
    "eps": "eps",
    "history": "history",
    "increments": "increments",
    "draw": "draw",
    "combine": "combine",
    "refresh": "refresh",
}
"""Spec field -> key of the config's ``[sampler]`` section whose rule checks it."""


def _check_fields(spec: SamplerSpec) -> tuple[dict[str, Any], list[str]]:
    """Normalised field values of ``spec`` and the problems found, each naming its field."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, key in _CONFIG_KEYS.items():
        value, problem = check_value("sampler", key, getattr(spec, name))
        if problem is None:
            values[name] = value
        else:
            problems.append(f"{name}: {problem}")
    features = values.get("features")
    if features is not None and values.get("transform") == "cgf" and "grad_norm" in features:
        problems.append(
            "features: with the cgf transform, grad_norm is the weight, not a feature, "
            f"got {list(features)!r}"
        )
    theta, problem = _check_theta_field(
        spec.theta, values.get("features"), values.get("num_segments")
    )
    if problem is None:
        values["theta"] = theta
    else:
        problems.append(problem)
    metadata = spec.metadata
    if not isinstance(metadata, Mapping) or not all(isinstance(k, str) for k in metadata):
        problems.append(
            f"metadata: must be a JSON object (a mapping with string keys), "
            f"got {short_repr(metadata)}"
        )
    else:
        try:
            json.dumps(dict(metadata), allow_nan=False)
        except (TypeError, ValueError) as err:
            problems.append(f"metadata: must be JSON-serialisable ({err})")
        values["metadata"] = dict(metadata)
    return values, problems


def _check_theta_field(
    theta: Any, features: tuple[str, ...] | None, num_segments: int | None
) -> tuple[tuple[float, ...], str | None]:
    """Theta as floats, the uniform sampler's when empty; or a problem naming the field."""
    if isinstance(theta, np.ndarray):
        theta = theta.tolist()
    if not isinstance(theta, list | tuple):
        return (), f"theta: must be a list of numbers in [0, 1], got {short_repr(theta)}"
    numbers = []
    for i, item in enumerate(theta):
        number = as_real(item)
        if number is None or not 0.0 <= number <= 1.0:
            return (), f"theta[{i}]: must be a finite number in [0, 1], got {short_repr(item)}"
        numbers.append(number)
    if features is None or num_segments is None:
        return tuple(numbers), None  # the length cannot be checked; another problem is shown
    if not numbers:
        return tuple(float(x) for x in uniform_theta(len(features), num_segments)), None
    expected = len(features) * (num_segments + 1)
    if len(numbers) != expected:
        return (), (
            f"theta: must have M (S + 1) = {len(features)} x {num_segments + 1} = {expected} "
            f"entries, got {len(numbers)}"
        )
    return tuple(numbers), None
