"""Draw instance indices from sampling probabilities, for any number of instances.

Three regimes:

* **with replacement**: Walker's alias method (Vose's O(n) build, compiled in ``_draw.c``), one
  random memory access per draw. Where the extension was not built (no C compiler at install
  time), ``_alias_numpy`` does the same in Python and NumPy: the same table and the same
  indices for the same seed, slower (docs/benchmarks.md), with one warning logged at the first
  table built. ``torch.multinomial`` refuses more than 2^24 categories and
  ``WeightedRandomSampler`` is built on it; this path has no such limit.
* **without replacement**: exponential keys (``E_i / p_i``, equivalent to Gumbel top-k): the k
  smallest keys, in increasing order, are a sample of k successive draws without replacement.
  O(n + k log k).
* **stratified** (with replacement, lower variance): systematic resampling over a random order
  of the instances. Instance i is drawn ``floor(k p_i)`` or ``ceil(k p_i)`` times, ``k p_i`` on
  average (the i.i.d. draw's expectation, without its Poisson-like spread), in a random order;
  with uniform weights and ``k = n`` the draw is a permutation, i.e. a plain shuffle. Both hold
  up to the rounding of a float64 running sum: with n ~ 1e7 equal non-integer weights the
  edges drift by about 0.2% of a point's spacing, so one instance in a rare epoch may be drawn
  once more and its neighbour once less.
  O(n + k log n) (a permutation of the n instances, k binary searches); about 24 bytes of
  work per instance and 16 per drawn index.

Every draw is a pure function of ``(probabilities, num_samples, seed, epoch)``: the random
stream comes from ``numpy.random.SeedSequence([seed, epoch])`` and never touches numpy's or
torch's global generators. All ranks of a distributed job therefore compute the same global
draw, and rank ``r`` of ``W`` keeps the stripe ``global[r::W]``, exactly like
``torch.utils.data.DistributedSampler``: without ``drop_last`` the global list is padded by
repeating its first entries up to a multiple of ``W``; with ``drop_last`` its tail is dropped.
"""

from __future__ import annotations

import logging
import math
from typing import Literal

import numpy as np
import numpy.typing as npt

from swift_sampler._validate import check_int
from swift_sampler.errors import InputDataError

try:
    from swift_sampler import _draw as _backend
except ImportError:  # installed without a C compiler: setup.py's extension is optional
    from swift_sampler import _alias_numpy as _backend  # type: ignore[no-redef]  # same API

__all__ = [
    "BACKEND",
    "AliasTable",
    "check_probabilities",
    "draw_global",
    "draw_indices",
    "draw_stratified",
    "per_rank_count",
    "stripe",
]

# Below 2^31 instances a record is 8 bytes (float32 threshold, int32 alias) and the build's work
# list 4 bytes; above, 16 and 8. The threshold only needs to resolve a bucket's own share:
# float32 moves an instance's probability by at most ~6e-8 of its value.
_NARROW = (np.dtype([("prob", np.float32), ("alias", np.int32)]), np.dtype(np.int32))
_WIDE = (np.dtype([("prob", np.float64), ("alias", np.int64)]), np.dtype(np.int64))
_NARROW_LIMIT = 2**31 - 1

logger = logging.getLogger(__name__)

BACKEND: Literal["c", "numpy"] = "numpy" if _backend.__name__.endswith("_alias_numpy") else "c"
"""Which alias table this installation uses: the compiled ``_draw`` or the NumPy fallback."""

_warned = False


def _warn_fallback() -> None:
    global _warned
    if BACKEND == "numpy" and not _warned:
        _warned = True
        logger.warning(
            "swift_sampler: the C alias table (_draw) is not built, using the NumPy fallback: "
            "same draws, slower (see docs/benchmarks.md); reinstall with a C compiler for speed"
        )


def check_probabilities(probabilities: npt.ArrayLike) -> tuple[np.ndarray, float]:
    """Validates sampling weights and returns them as a 1-D float array with their sum.

    Args:
        probabilities: ``(n,)`` non-negative finite weights; they need not sum to one.

    Returns:
        The weights as a contiguous float32 or float64 array (no copy when already one) and
        their sum in float64.

    Raises:
        InputDataError: if the array is not 1-D, is empty, holds NaN, inf or a negative value,
            or sums to zero.
    """
    p = np.asarray(probabilities)
    if p.dtype not in (np.float32, np.float64):
        if not (np.issubdtype(p.dtype, np.number) or p.dtype == np.bool_):
            raise InputDataError(f"probabilities must be numbers, got dtype {p.dtype}")
        p = p.astype(np.float64)
    p = np.ascontiguousarray(p)
    if p.ndim != 1:
        raise InputDataError(f"probabilities must be 1-D, got shape {p.shape}")
    if p.size == 0:
        raise InputDataError("probabilities must not be empty")
    # One pass for the sum and one for the minimum; NaN and inf both make the sum non-finite,
    # so the per-entry scan for the message only runs on bad input.
    with np.errstate(over="ignore"):
        total = float(np.sum(p, dtype=np.float64))
    lowest = float(p.min())
    if not math.isfinite(total) or not lowest >= 0:
        bad = np.flatnonzero(~np.isfinite(p) | (p < 0))
        if bad.size:
            i = int(bad[0])
            raise InputDataError(
                f"probabilities must be finite and >= 0, but entry {i} is {float(p[i])!r} "
                f"({bad.size} bad entries)"
            )
        # Finite weights whose sum overflows: rescale (a copy), the distribution is the same.
        p = p / p.max()
        total = float(np.sum(p, dtype=np.float64))
    if total <= 0:
        raise InputDataError(f"probabilities must not all be zero (n = {p.size})")
    return p, total


def per_rank_count(num_samples: int, num_replicas: int, *, drop_last: bool = False) -> int:
    """Number of indices each rank receives out of a global draw of ``num_samples``."""
    if drop_last:
        return num_samples // num_replicas
    return -(-num_samples // num_replicas)


def _check_seed_epoch(seed: int, epoch: int) -> tuple[int, int]:
    return check_int(seed, "seed", low=0), check_int(epoch, "epoch", low=0)


def _seed_words(seed: int, epoch: int, stream: int) -> list[int]:
    seed, epoch = _check_seed_epoch(seed, epoch)
    words = np.random.SeedSequence([seed, epoch, stream]).generate_state(4, np.uint64)
    return [int(w) for w in words]


def draw_global(
    probabilities: npt.ArrayLike,
    num_samples: int,
    *,
    replacement: bool = True,
    seed: int = 0,
    epoch: int = 0,
    stratified: bool = False,
) -> np.ndarray:
    """Draws ``num_samples`` instance indices with ``P(i) = p_i / sum(p)``.

    Args:
        probabilities: ``(n,)`` non-negative weights (need not sum to one).
        num_samples: how many indices to draw.
        replacement: draw i.i.d. (True) or without replacement (False; then
            ``num_samples`` may not exceed the number of non-zero weights).
        seed: base seed; together with ``epoch`` it fixes the draw.
        epoch: epoch number.
        stratified: with replacement, draw each instance ``floor(k p_i)`` or ``ceil(k p_i)``
            times instead of i.i.d. (see the module's docstring).

    Returns:
        ``(num_samples,)`` int64 indices in ``[0, n)``, in draw order.
    """
    p, _ = check_probabilities(probabilities)
    num_samples = check_int(num_samples, "num_samples", low=0)
    seed, epoch = _check_seed_epoch(seed, epoch)
    if not isinstance(replacement, bool | np.bool_):
        raise InputDataError(f"replacement must be a bool, got {replacement!r}")
    if not isinstance(stratified, bool | np.bool_):
        raise InputDataError(f"stratified must be a bool, got {stratified!r}")
    if stratified and not replacement:
        raise InputDataError("a stratified draw is with replacement: pass replacement=True")
    if stratified:
        return _draw_stratified(p, num_samples, seed=seed, epoch=epoch)
    if replacement:
        return AliasTable(p).draw(num_samples, seed=seed, epoch=epoch)
    return _draw_without_replacement(p, num_samples, seed=seed, epoch=epoch)


def draw_stratified(
    probabilities: npt.ArrayLike, num_samples: int, *, seed: int = 0, epoch: int = 0
) -> np.ndarray:
    """Systematic resampling: ``num_samples`` indices, instance i ``floor(k p_i)`` or
    ``ceil(k p_i)`` times (``k = num_samples``, ``p`` normalised), ``k p_i`` on average.

    The instances are laid end to end in a random order, each on an interval of length
    ``p_i``; ``k`` points spaced ``1 / k`` apart from one uniform offset pick the instances
    whose intervals they fall in, and the picks are shuffled. The random order keeps which
    neighbours share a point from depending on the dataset's order. Zero weights are never
    drawn. A pure function of ``(probabilities, num_samples, seed, epoch)``.

    Returns:
        ``(num_samples,)`` int64 indices, in random order.
    """
    p, _ = check_probabilities(probabilities)
    num_samples = check_int(num_samples, "num_samples", low=0)
    seed, epoch = _check_seed_epoch(seed, epoch)
    return _draw_stratified(p, num_samples, seed=seed, epoch=epoch)


def _draw_stratified(p: np.ndarray, num_samples: int, *, seed: int, epoch: int) -> np.ndarray:
    """``draw_stratified`` on checked arguments (``p`` from ``check_probabilities``)."""
    if num_samples == 0:
        return np.empty(0, dtype=np.int64)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch, 2])))
    order = rng.permutation(p.size)
    edges = np.cumsum(p[order], dtype=np.float64)
    edges /= edges[-1]  # exactly 1.0 at the end, trailing zero weights included
    points = (rng.random() + np.arange(num_samples, dtype=np.float64)) / num_samples
    # A point rounded up to 1.0 would fall past the last edge; just below 1.0 it picks the
    # last instance of positive weight (its edge is the 1.0), never a trailing zero weight.
    np.minimum(points, np.nextafter(1.0, 0.0), out=points)
    picked = np.searchsorted(edges, points, side="right")
    out = order[picked].astype(np.int64, copy=False)
    rng.shuffle(out)
    return out


class AliasTable:
    """Walker's alias table over n instances: O(n) to build, O(1) per i.i.d. draw.

    Build it once per set of probabilities and draw from it every epoch (``SwiftSampler``
    does); building costs 12 bytes per instance for n < 2^31 (the 8-byte table plus a work
    list freed at the end of the build).

    Args:
        probabilities: ``(n,)`` non-negative weights (need not sum to one).
        wide: use 16-byte records (float64 threshold, int64 alias); by default only when
            n >= 2^31, where int32 cannot index.
    """

    def __init__(self, probabilities: npt.ArrayLike, *, wide: bool | None = None) -> None:
        p, total = check_probabilities(probabilities)
        self.n = p.size
        if wide is None:
            wide = self.n > _NARROW_LIMIT
        record, index = _WIDE if wide else _NARROW
        self._table = np.empty(self.n, dtype=record)
        work = np.empty(self.n, dtype=index)
        _warn_fallback()
        _backend.build_alias(p, self._table, work, total)

    def draw(self, num_samples: int, *, seed: int = 0, epoch: int = 0) -> np.ndarray:
        """``(num_samples,)`` int64 i.i.d. indices, a function of ``(seed, epoch)`` only."""
        num_samples = check_int(num_samples, "num_samples", low=0)
        out = np.empty(num_samples, dtype=np.int64)
        _backend.draw_alias(self._table, self.n, out, *_seed_words(seed, epoch, 0))
        return out

    def probabilities(self) -> np.ndarray:
        """``(n,)`` float64 probabilities the table draws with (for checks and tests)."""
        prob = self._table["prob"].astype(np.float64)
        result = prob.copy()
        np.add.at(result, self._table["alias"], 1.0 - prob)
        return result / self.n


def _draw_without_replacement(
    p: np.ndarray, num_samples: int, *, seed: int, epoch: int
) -> np.ndarray:
    n = p.size
    positive = int(np.count_nonzero(p))
    if num_samples > positive:
        raise InputDataError(
            f"cannot draw {num_samples} indices without replacement: only {positive} of {n} "
            "instances have a non-zero probability"
        )
    if num_samples == 0:
        return np.empty(0, dtype=np.int64)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch, 1])))
    keys = rng.standard_exponential(n)
    # key_i = E_i / p_i, compared as log E_i - log p_i so that tiny weights (1e-320) do not
    # overflow to inf; zero weights get +inf and are never among the num_samples smallest.
    with np.errstate(divide="ignore"):
        np.log(keys, out=keys)
        keys -= np.log(p)
    if num_samples < n:
        chosen = np.argpartition(keys, num_samples - 1)[:num_samples]
    else:
        chosen = np.arange(n, dtype=np.int64)
    order = np.argsort(keys[chosen], kind="stable")
    return chosen[order].astype(np.int64, copy=False)


def draw_indices(
    probabilities: npt.ArrayLike,
    num_samples: int | None = None,
    *,
    replacement: bool = True,
    seed: int = 0,
    epoch: int = 0,
    num_replicas: int = 1,
    rank: int = 0,
    drop_last: bool = False,
    stratified: bool = False,
) -> np.ndarray:
    """Draws one rank's share of a seeded global draw of instance indices.

    Every rank computes the same global draw of ``num_samples`` indices (it depends only on
    the probabilities, ``seed`` and ``epoch``) and keeps the stripe ``global[rank::num_replicas]``.
    Without ``drop_last`` the global list is first padded with its own first entries to a
    multiple of ``num_replicas`` (so a few indices appear on two ranks, as with
    ``DistributedSampler``); with ``drop_last`` the remainder is dropped.

    Args:
        probabilities: ``(n,)`` non-negative weights (need not sum to one).
        num_samples: size of the global draw; defaults to ``n``.
        replacement: i.i.d. draws (True) or without replacement (False).
        seed: base seed, the same on every rank.
        epoch: epoch number; each epoch gets an independent draw.
        num_replicas: number of ranks ``W``.
        rank: this rank, in ``[0, W)``.
        drop_last: drop the tail instead of padding.
        stratified: see ``draw_global``.

    Returns:
        ``(per_rank_count(num_samples, W, drop_last=drop_last),)`` int64 indices.

    Raises:
        InputDataError: on invalid probabilities or arguments.

    Example:
        >>> import numpy as np
        >>> idx = draw_indices(np.array([0.0, 1.0, 3.0]), 8, seed=0)
        >>> idx.shape, bool((idx > 0).all())
        ((8,), True)
    """
    p = np.asarray(probabilities)
    if num_samples is None:
        num_samples = int(p.shape[0]) if p.ndim == 1 else 0
    num_replicas, rank = _check_ranks(num_replicas, rank)
    indices = draw_global(
        p, num_samples, replacement=replacement, seed=seed, epoch=epoch, stratified=stratified
    )
    return stripe(indices, num_replicas=num_replicas, rank=rank, drop_last=drop_last)


def _check_ranks(num_replicas: int, rank: int) -> tuple[int, int]:
    num_replicas = check_int(num_replicas, "num_replicas", low=1)
    checked = check_int(rank, "rank", low=0)
    if checked >= num_replicas:
        raise InputDataError(f"rank must be in [0, {num_replicas - 1}], got {rank!r}")
    return num_replicas, checked


def stripe(
    indices: np.ndarray, *, num_replicas: int, rank: int, drop_last: bool = False
) -> np.ndarray:
    """Rank ``rank``'s share ``padded_or_truncated(indices)[rank::num_replicas]``.

    Args:
        indices: ``(k,)`` the global draw, identical on every rank.
        num_replicas: number of ranks ``W``.
        rank: this rank, in ``[0, W)``.
        drop_last: drop the last ``k mod W`` indices instead of padding with the first ones.

    Returns:
        ``(per_rank_count(k, W, drop_last=drop_last),)`` int64 indices.
    """
    num_replicas, rank = _check_ranks(num_replicas, rank)
    if num_replicas == 1:
        return indices
    count = per_rank_count(indices.size, num_replicas, drop_last=drop_last)
    total = count * num_replicas
    if total > indices.size:
        reps = -(-(total - indices.size) // indices.size)
        indices = np.concatenate([indices, np.tile(indices, reps)[: total - indices.size]])
    return np.ascontiguousarray(indices[rank:total:num_replicas])
