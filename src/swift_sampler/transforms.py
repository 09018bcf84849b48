"""Transforms that map a feature column to [0, 1]: the empirical cdf and the cgf.

Both are fitted on the current feature values of the whole training set (SPEC section 3):

* ``cdf``: ``T(v)`` = fraction of instances with feature <= v.
* ``cgf`` (cumulative gradient function): ``T(v) = sum_{j: f_j <= v} g_j / sum_j g_j`` with
  ``g`` the per-instance gradient norm, so equal-width intervals of u hold equal shares of the
  gradient mass.

Both are the same step function with different instance weights (1 for cdf, ``g`` for cgf). At a
value seen during the fit, tied instances share their mid-rank: ``T(v) = (W_below + W_equal / 2)
/ W``. At an unseen value, ``T(v) = W_{<= v} / W`` (0 below the smallest fitted value, 1 above the
largest). So the fitted column itself maps into (0, 1) with mean 0.5 under the weights, a constant
column maps to 0.5, and nothing maps to NaN. If every gradient weight is zero (a model that fits
every instance exactly), cgf falls back to counts.

Fit is O(n log n) (one sort); mapping m values is O(m log k) for k distinct fitted values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from swift_sampler.errors import InputDataError

__all__ = ["TRANSFORMS", "FittedTransform", "TransformKind", "fit_transform"]

logger = logging.getLogger(__name__)

TransformKind = Literal["cdf", "cgf"]
TRANSFORMS: tuple[TransformKind, ...] = ("cdf", "cgf")


def check_transform_kind(kind: str) -> TransformKind:
    """Returns ``kind`` if it is a known transform, else raises InputDataError naming it."""
    if kind not in TRANSFORMS:
        raise InputDataError(f"unknown transform {kind!r}; known transforms: {list(TRANSFORMS)}")
    return kind


def _finite_column(values: npt.ArrayLike, what: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise InputDataError(f"{what} must be 1-D, got shape {v.shape}")
    if v.size == 0:
        raise InputDataError(f"{what} must not be empty")
    with np.errstate(over="ignore"):
        total = v.sum()
    if not np.isfinite(total):  # cheap test first; finite values may still overflow the sum
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            i = int(bad[0])
            raise InputDataError(f"{what} must be finite, but entry {i} is {float(v[i])!r}")
    return v


@dataclass(frozen=True, eq=False)
class FittedTransform:
    """A fitted cdf or cgf: a non-decreasing step function from feature values to [0, 1].

    Attributes:
        kind: ``"cdf"`` or ``"cgf"``.
        values: ``(k,)`` distinct fitted feature values, increasing.
        below: ``(k,)`` share of the total weight strictly below each value.
        at: ``(k,)`` share of the total weight at each value.
    """

    kind: TransformKind
    values: np.ndarray
    below: np.ndarray
    at: np.ndarray

    @classmethod
    def fit(
        cls,
        values: npt.ArrayLike,
        *,
        kind: TransformKind = "cdf",
        weights: npt.ArrayLike | None = None,
    ) -> FittedTransform:
        """Fits the transform on a feature column.

        Args:
            values: ``(n,)`` finite feature values.
            kind: ``"cdf"`` (every instance weighs 1) or ``"cgf"`` (instance i weighs
                ``weights[i]``).
            weights: ``(n,)`` finite non-negative gradient norms; required for cgf.

        Returns:
            The fitted transform.
        """
        transform, _ = cls._fit(values, kind=kind, weights=weights)
        return transform

    @classmethod
    def _fit(
        cls,
        values: npt.ArrayLike,
        *,
        kind: TransformKind,
        weights: npt.ArrayLike | None,
    ) -> tuple[FittedTransform, np.ndarray]:
        kind = check_transform_kind(kind)
        v = _finite_column(values, "feature values")
        unique, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
        mass: np.ndarray = counts.astype(np.float64)
        if kind == "cgf":
            if weights is None:
                raise InputDataError("the cgf transform needs the gradient norms as weights")
            g = _finite_column(weights, "gradient weights")
            if g.shape != v.shape:
                raise InputDataError(
                    f"gradient weights must have shape {v.shape} like the values, got {g.shape}"
                )
            if g.min() < 0:
                i = int(np.argmin(g))
                raise InputDataError(
                    f"gradient weights must be >= 0, but entry {i} is {float(g[i])!r}"
                )
            grad_mass = np.bincount(inverse, weights=g, minlength=unique.size)
            if grad_mass.sum() > 0:
                mass = grad_mass
            else:
                logger.warning("every gradient weight is zero: the cgf falls back to the cdf")
        total = mass.sum()
        at = mass / total
        below = np.concatenate(([0.0], np.cumsum(at)[:-1]))
        return cls(kind=kind, values=unique, below=below, at=at), inverse

    def __call__(self, values: npt.ArrayLike) -> np.ndarray:
        """Maps feature values to [0, 1].

        Args:
            values: any-shape array of finite feature values (seen at fit time or not).

        Returns:
            float64 array of the same shape.
        """
        v = np.asarray(values, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(v.ravel()))
        if bad.size:
            raise InputDataError(
                f"feature values must be finite, but entry {int(bad[0])} is NaN or inf"
            )
        # Position of each value among the fitted ones: pos = number of fitted values <= v.
        pos = np.searchsorted(self.values, v, side="right")
        upper = np.concatenate(([0.0], self.below + self.at))  # weight share <= values[pos-1]
        u = upper[pos]
        hit = pos > 0
        exact = np.zeros(v.shape, dtype=np.bool_)
        exact[hit] = self.values[pos[hit] - 1] == v[hit]
        u[exact] = self.below[pos[exact] - 1] + 0.5 * self.at[pos[exact] - 1]
        return np.clip(u, 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (plain lists)."""
        return {
            "kind": self.kind,
            "values": self.values.tolist(),
            "below": self.below.tolist(),
            "at": self.at.tolist(),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> FittedTransform:
        """Rebuilds a transform from ``to_dict``'s output, checking it."""
        kind = check_transform_kind(state.get("kind", ""))
        arrays = [np.asarray(state[key], dtype=np.float64) for key in ("values", "below", "at")]
        values, below, at = arrays
        if not (values.ndim == 1 and values.shape == below.shape == at.shape):
            raise InputDataError("transform state: values, below and at must be equal-length 1-D")
        if values.size and (np.any(np.diff(values) <= 0) or np.any(at < 0)):
            raise InputDataError("transform state: values must increase and weights be >= 0")
        return cls(kind=kind, values=values, below=below, at=at)


def fit_transform(
    values: npt.ArrayLike,
    *,
    kind: TransformKind = "cdf",
    weights: npt.ArrayLike | None = None,
) -> tuple[FittedTransform, np.ndarray]:
    """Fits a transform on a column and maps that same column, in one sort.

    Args:
        values: ``(n,)`` finite feature values.
        kind: ``"cdf"`` or ``"cgf"``.
        weights: ``(n,)`` gradient norms, required for cgf.

    Returns:
        The fitted transform and the ``(n,)`` float64 mapped values ``u`` in (0, 1).
    """
    transform, inverse = FittedTransform._fit(values, kind=kind, weights=weights)
    u = (transform.below + 0.5 * transform.at)[inverse]
    return transform, u
