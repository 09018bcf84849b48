"""``SwiftSampler``: a ``torch.utils.data.Sampler`` over learned sampling probabilities.

A drop-in for ``WeightedRandomSampler`` (the same four arguments: ``weights``, ``num_samples``,
``replacement``, ``generator``) that is also a ``DistributedSampler``: each epoch's draw is a
function of ``(seed, epoch)`` only, identical on every rank, and rank r keeps its stripe of it
(see ``swift_sampler.draw``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Sampler

from swift_sampler._validate import check_int
from swift_sampler.draw import (
    AliasTable,
    _draw_stratified,
    check_probabilities,
    draw_global,
    per_rank_count,
    stripe,
)
from swift_sampler.errors import InputDataError, SpecError
from swift_sampler.family import SamplerSpec

__all__ = ["SwiftSampler"]

logger = logging.getLogger(__name__)


def _distributed_defaults(num_replicas: Any, rank: Any) -> tuple[int, int]:
    initialised = torch.distributed.is_available() and torch.distributed.is_initialized()
    if num_replicas is None:
        num_replicas = torch.distributed.get_world_size() if initialised else 1
    if rank is None:
        rank = torch.distributed.get_rank() if initialised else 0
    replicas = check_int(num_replicas, "num_replicas", low=1)
    checked = check_int(rank, "rank", low=0)
    if checked >= replicas:
        raise InputDataError(f"rank must be in [0, {replicas - 1}], got {rank!r}")
    return replicas, checked


class SwiftSampler(Sampler[int]):
    """Draws dataset indices with per-instance probabilities, seeded per epoch, striped by rank.

    Build it from weights (``SwiftSampler(weights, num_samples, replacement, generator)``,
    exactly like ``WeightedRandomSampler``) or from a learned spec and a feature table
    (``SwiftSampler.from_spec(spec, features)``); in the latter case ``update(features)``
    refits the transforms on fresh features and recomputes the probabilities used from the
    next ``__iter__`` on.

    Which draw a pass (one ``__iter__``) gets:

    - after ``set_epoch(e)``: the draw of ``(seed, e)``, the same in every pass of that epoch
      and on every rank (as ``DistributedSampler``);
    - without ``set_epoch`` (a plain loop written for ``WeightedRandomSampler``): pass k
      (k = 0, 1, ...) draws what ``set_epoch(k)`` would, so every pass is fresh, as with
      ``WeightedRandomSampler``, and every rank still agrees (all ranks count their passes);
    - with a ``generator``: each pass first draws its seed from the generator (as
      ``WeightedRandomSampler`` draws from it), so passes differ even within an epoch and the
      generator's seed fixes the whole sequence. The global random state is never touched.
      Under DDP, seed every rank's generator the same way (``torch.Generator().manual_seed(s)``
      on every rank), or the ranks draw different global lists.

    Args:
        weights: ``(n,)`` non-negative weights over the dataset (need not sum to one); any
            array-like, a tensor included.
        num_samples: global number of indices per pass (over all ranks); defaults to n.
        replacement: draw i.i.d. (default) or without replacement.
        generator: a ``torch.Generator`` each pass draws its seed from (see above); give it
            or ``seed``, not both.
        seed: base seed, the same on every rank; epoch e uses ``(seed, e)``. Default 0.
        num_replicas: number of ranks; taken from ``torch.distributed`` when it is
            initialised, else 1.
        rank: this rank; taken from ``torch.distributed`` when it is initialised, else 0.
        drop_last: with several ranks, drop the tail of the global draw instead of padding it.
        stratified: with replacement, draw each instance ``floor(k p_i)`` or ``ceil(k p_i)``
            times per pass (``k = num_samples``; systematic resampling, the i.i.d. draw's
            expected counts without its spread; ``swift_sampler.draw``). ``from_spec`` takes
            it from ``spec.draw`` unless given.

    Integer arguments may be any integer-like value (``np.int64(3)``), not a bool.

    Example:
        >>> sampler = SwiftSampler([0.0, 1.0, 1.0, 2.0], num_samples=6, seed=3)
        >>> len(sampler), 0 in list(sampler)
        (6, False)
    """

    def __init__(
        self,
        weights: npt.ArrayLike | torch.Tensor,
        num_samples: int | None = None,
        replacement: bool = True,
        generator: torch.Generator | None = None,
        *,
        seed: int | None = None,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
        stratified: bool = False,
    ) -> None:
        if isinstance(weights, torch.Tensor):
            weights = weights.detach().cpu().numpy()
        p, _ = check_probabilities(weights)
        num_samples = (
            p.size if num_samples is None else check_int(num_samples, "num_samples", low=1)
        )
        if not isinstance(replacement, bool | np.bool_):
            raise InputDataError(f"replacement must be a bool, got {replacement!r}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise InputDataError(
                f"generator must be a torch.Generator or None, got {type(generator).__name__}"
            )
        if generator is not None and seed is not None:
            raise InputDataError(
                "pass a seed or a generator, not both (the generator seeds every pass)"
            )
        seed = 0 if seed is None else check_int(seed, "seed", low=0)
        if not isinstance(drop_last, bool | np.bool_):
            raise InputDataError(f"drop_last must be a bool, got {drop_last!r}")
        if not isinstance(stratified, bool | np.bool_):
            raise InputDataError(f"stratified must be a bool, got {stratified!r}")
        if stratified and not replacement:
            raise InputDataError("a stratified draw is with replacement: pass replacement=True")
        if not replacement and num_samples > np.count_nonzero(p):
            raise InputDataError(
                f"num_samples = {num_samples} exceeds the {np.count_nonzero(p)} instances with "
                "non-zero probability, which is impossible without replacement"
            )
        self.num_replicas, self.rank = _distributed_defaults(num_replicas, rank)
        self.num_samples = num_samples
        self.replacement = bool(replacement)
        self.generator = generator
        self.seed = seed
        self.drop_last = bool(drop_last)
        self.stratified = bool(stratified)
        self.epoch = 0
        self.spec: SamplerSpec | None = None
        self._probabilities = p
        self._alias: AliasTable | None = None  # built on first use, kept until update()
        self._epoch_set = False  # set_epoch was called: the epoch, not the pass, picks the draw
        self._passes = 0  # __iter__ calls so far, used while set_epoch has never been called
        self._history: np.ndarray | None = None  # spec.history > 0: the features' average

    @classmethod
    def from_spec(
        cls,
        spec: SamplerSpec,
        features: np.ndarray | Mapping[str, npt.ArrayLike],
        num_samples: int | None = None,
        replacement: bool = True,
        **kwargs: Any,
    ) -> SwiftSampler:
        """Builds a sampler from a learned spec and the current feature table.

        Args:
            spec: the sampler spec (features, transform, theta...).
            features: ``(n, len(spec.columns))`` table in ``spec.columns`` order (as returned
                by ``extract_features(model, data, names=spec.columns)``) or a mapping from
                column name to ``(n,)`` values.
            num_samples: see the class.
            replacement: see the class.
            **kwargs: ``generator``, ``seed``, ``num_replicas``, ``rank``, ``drop_last``,
                ``stratified`` (default: ``spec.draw == "stratified"`` with replacement).
        """
        table = _table(spec, features) if spec.history else features
        kwargs.setdefault("stratified", bool(replacement) and spec.draw == "stratified")
        sampler = cls(spec.probabilities(table), num_samples, replacement, **kwargs)
        sampler.spec = spec
        if spec.history:
            sampler._history = np.asarray(table, dtype=np.float64)
        return sampler

    @property
    def probabilities(self) -> np.ndarray:
        """``(n,)`` current sampling weights (read-only view, as passed or as computed)."""
        view = self._probabilities.view()
        view.flags.writeable = False
        return view

    @property
    def weights(self) -> torch.Tensor:
        """``(n,)`` float64 tensor of the current weights, as ``WeightedRandomSampler.weights``.

        A copy: changing it does not change the sampler (``update`` does).
        """
        return torch.tensor(self._probabilities, dtype=torch.float64)

    def update(self, features: np.ndarray | Mapping[str, npt.ArrayLike]) -> None:
        """Refits the transforms on fresh features; the next epoch samples from the result.

        With ``spec.history = h > 0`` the transforms are fitted on the moving average of the
        feature columns, ``h * average + (1 - h) * features`` (the first table seeds it:
        ``from_spec``, the first ``update``, or ``restore_history``).

        Args:
            features: a feature table for the same n instances (see ``from_spec``).

        Raises:
            SpecError: if the sampler was not built with ``from_spec``.
            InputDataError: if the table is invalid or its length differs from n. Nothing
                changes then, the average included.
        """
        spec = self.spec
        if spec is None:
            raise SpecError(
                "update(features) needs a sampler built with SwiftSampler.from_spec; "
                "this one was built from fixed probabilities"
            )
        table = features
        if spec.history:
            table = _table(spec, features)
            self._check_rows(len(table))
            if self._history is not None:
                table = spec.history * self._history + (1.0 - spec.history) * table
        p = spec.probabilities(table)
        self._check_rows(p.size)
        self._replace(p)
        if spec.history:
            self._history = np.asarray(table, dtype=np.float64)

    @property
    def history(self) -> np.ndarray | None:
        """``(n, len(spec.columns))`` moving average of the features the sampler draws from
        (``spec.history > 0``; a read-only view), None before the first table or without."""
        if self._history is None:
            return None
        view = self._history.view()
        view.flags.writeable = False
        return view

    def restore_history(self, table: np.ndarray | Mapping[str, npt.ArrayLike]) -> None:
        """Sets the moving average to ``table`` (saved ``history``, or a first feature table
        whose probabilities the sampler already holds) without changing the probabilities.

        Args:
            table: ``(n, len(spec.columns))`` array in ``spec.columns`` order, or a mapping
                from each column name to ``(n,)`` values.

        Raises:
            SpecError: without a spec whose ``history`` is above 0.
            InputDataError: if the table is invalid or its length differs from n.
        """
        if self.spec is None or not self.spec.history:
            got = "no spec" if self.spec is None else f"spec.history = {self.spec.history!r}"
            raise SpecError(
                f"restore_history needs a sampler whose spec has history > 0, got {got}"
            )
        table = _table(self.spec, table)
        self._check_rows(len(table))
        self._history = table

    def _check_rows(self, rows: int) -> None:
        if rows != self._probabilities.size:
            raise InputDataError(
                f"feature table has {rows} rows but the sampler covers "
                f"{self._probabilities.size} instances"
            )

    def set_weights(self, weights: npt.ArrayLike | torch.Tensor) -> None:
        """Replaces the weights by fixed ones (as the constructor takes them); the next pass
        draws from them, until the next ``update`` or ``set_weights``. The features' moving
        average (``history``) is dropped: the next ``update`` starts it again.

        Args:
            weights: ``(n,)`` non-negative weights over the same n instances.

        Raises:
            InputDataError: if the weights are invalid, cover another number of instances, or
                have fewer non-zero entries than ``num_samples`` without replacement.
        """
        if isinstance(weights, torch.Tensor):
            weights = weights.detach().cpu().numpy()
        p, _ = check_probabilities(weights)
        if p.size != self._probabilities.size:
            raise InputDataError(
                f"weights cover {p.size} instances but the sampler covers "
                f"{self._probabilities.size}"
            )
        self._replace(p)
        self._history = None

    def _replace(self, p: np.ndarray) -> None:
        """The next pass draws from ``p`` (checked against ``num_samples`` first)."""
        if not self.replacement and self.num_samples > np.count_nonzero(p):
            raise InputDataError(
                f"num_samples = {self.num_samples} exceeds the {np.count_nonzero(p)} instances "
                "with non-zero probability, which is impossible without replacement"
            )
        self._probabilities = p
        self._alias = None

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch; each epoch draws an independent, reproducible set of indices.

        From the first call on, the epoch picks the draw (every pass of an epoch draws the same
        indices, unless a generator seeds each pass).
        """
        self.epoch = check_int(epoch, "epoch", low=0)
        self._epoch_set = True

    def indices(self) -> np.ndarray:
        """This rank's indices of the next pass, as an int64 array, without starting it.

        Every rank computes the same global draw and keeps its stripe. With replacement, the
        alias table is built once and reused by every pass until ``update``. With a generator,
        the generator is left as it was (the next ``__iter__`` draws the same indices).
        """
        seed, epoch = self._next_pass(advance=False)
        return self._draw(seed, epoch)

    def _next_pass(self, *, advance: bool) -> tuple[int, int]:
        """The ``(seed, epoch)`` of the next pass; with ``advance``, that pass starts."""
        epoch = self.epoch if self._epoch_set else self._passes
        seed = self.seed
        if self.generator is not None:
            state = None if advance else self.generator.get_state()
            # Like WeightedRandomSampler and RandomSampler: one int64 from the generator.
            seed = int(
                torch.empty((), dtype=torch.int64, device=self.generator.device)
                .random_(generator=self.generator)
                .item()
            )
            if state is not None:
                self.generator.set_state(state)
        if advance and not self._epoch_set:
            self._passes += 1
        return seed, epoch

    def _draw(self, seed: int, epoch: int) -> np.ndarray:
        if self.replacement and self.stratified:  # probabilities checked when they were set
            full = _draw_stratified(self._probabilities, self.num_samples, seed=seed, epoch=epoch)
        elif self.replacement:
            if self._alias is None:
                self._alias = AliasTable(self._probabilities)
            full = self._alias.draw(self.num_samples, seed=seed, epoch=epoch)
        else:
            full = draw_global(
                self._probabilities,
                self.num_samples,
                replacement=False,
                seed=seed,
                epoch=epoch,
            )
        return stripe(
            full, num_replicas=self.num_replicas, rank=self.rank, drop_last=self.drop_last
        )

    def __iter__(self) -> Iterator[int]:
        indices = self._draw(*self._next_pass(advance=True))
        # Python ints are made a chunk at a time: n of them at once would cost ~36 bytes each.
        chunk = 1 << 16
        return chain.from_iterable(
            indices[start : start + chunk].tolist() for start in range(0, indices.size, chunk)
        )

    def __len__(self) -> int:
        return per_rank_count(self.num_samples, self.num_replicas, drop_last=self.drop_last)


def _table(spec: SamplerSpec, features: np.ndarray | Mapping[str, npt.ArrayLike]) -> np.ndarray:
    """The checked ``(n, len(spec.columns))`` float64 table of ``features``."""
    columns = spec.feature_columns(features)
    return np.stack([columns[name] for name in spec.columns], axis=1).astype(np.float64)
