"""``SwiftSampler``: a ``torch.utils.data.Sampler`` over learned sampling probabilities.

A drop-in for ``WeightedRandomSampler`` (same first three arguments) that is also a
``DistributedSampler``: each epoch's draw is a function of ``(seed, epoch)`` only, identical on
every rank, and rank r keeps its stripe of it (see ``swift_sampler.draw``).
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

from swift_sampler.draw import (
    AliasTable,
    check_probabilities,
    draw_global,
    per_rank_count,
    stripe,
)
from swift_sampler.errors import InputDataError, SpecError
from swift_sampler.family import SamplerSpec

__all__ = ["SwiftSampler"]

logger = logging.getLogger(__name__)


def _distributed_defaults(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    initialised = torch.distributed.is_available() and torch.distributed.is_initialized()
    if num_replicas is None:
        num_replicas = torch.distributed.get_world_size() if initialised else 1
    if rank is None:
        rank = torch.distributed.get_rank() if initialised else 0
    if num_replicas < 1:
        raise InputDataError(f"num_replicas must be >= 1, got {num_replicas}")
    if not 0 <= rank < num_replicas:
        raise InputDataError(f"rank must be in [0, {num_replicas - 1}], got {rank}")
    return num_replicas, rank


class SwiftSampler(Sampler[int]):
    """Draws dataset indices with per-instance probabilities, seeded per epoch, striped by rank.

    Build it from probabilities (``SwiftSampler(weights)``, like ``WeightedRandomSampler``) or
    from a learned spec and a feature table (``SwiftSampler.from_spec(spec, features)``); in the
    latter case ``update(features)`` refits the transforms on fresh features and recomputes the
    probabilities used from the next ``__iter__`` on.

    Args:
        probabilities: ``(n,)`` non-negative weights over the dataset (need not sum to one).
        num_samples: global number of indices per epoch (over all ranks); defaults to n.
        replacement: draw i.i.d. (default) or without replacement.
        seed: base seed, the same on every rank; epoch e uses ``(seed, e)``.
        num_replicas: number of ranks; taken from ``torch.distributed`` when it is
            initialised, else 1.
        rank: this rank; taken from ``torch.distributed`` when it is initialised, else 0.
        drop_last: with several ranks, drop the tail of the global draw instead of padding it.

    Example:
        >>> sampler = SwiftSampler([0.0, 1.0, 1.0, 2.0], num_samples=6, seed=3)
        >>> len(sampler), 0 in list(sampler)
        (6, False)
    """

    def __init__(
        self,
        probabilities: npt.ArrayLike,
        num_samples: int | None = None,
        replacement: bool = True,
        *,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
    ) -> None:
        p, _ = check_probabilities(probabilities)
        if num_samples is None:
            num_samples = p.size
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise InputDataError(f"num_samples must be a positive integer, got {num_samples!r}")
        if not isinstance(replacement, bool):
            raise InputDataError(f"replacement must be a bool, got {replacement!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InputDataError(f"seed must be a non-negative integer, got {seed!r}")
        if not replacement and num_samples > np.count_nonzero(p):
            raise InputDataError(
                f"num_samples = {num_samples} exceeds the {np.count_nonzero(p)} instances with "
                "non-zero probability, which is impossible without replacement"
            )
        self.num_replicas, self.rank = _distributed_defaults(num_replicas, rank)
        self.num_samples = num_samples
        self.replacement = replacement
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        self.spec: SamplerSpec | None = None
        self._probabilities = p
        self._alias: AliasTable | None = None  # built on first use, kept until update()

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
            **kwargs: ``seed``, ``num_replicas``, ``rank``, ``drop_last``.
        """
        sampler = cls(spec.probabilities(features), num_samples, replacement, **kwargs)
        sampler.spec = spec
        return sampler

    @property
    def probabilities(self) -> np.ndarray:
        """``(n,)`` current sampling weights (read-only view, as passed or as computed)."""
        view = self._probabilities.view()
        view.flags.writeable = False
        return view

    def update(self, features: np.ndarray | Mapping[str, npt.ArrayLike]) -> None:
        """Refits the transforms on fresh features; the next epoch samples from the result.

        Args:
            features: a feature table for the same n instances (see ``from_spec``).

        Raises:
            SpecError: if the sampler was not built with ``from_spec``.
            InputDataError: if the table is invalid or its length differs from n.
        """
        if self.spec is None:
            raise SpecError(
                "update(features) needs a sampler built with SwiftSampler.from_spec; "
                "this one was built from fixed probabilities"
            )
        p = self.spec.probabilities(features)
        if p.size != self._probabilities.size:
            raise InputDataError(
                f"feature table has {p.size} rows but the sampler covers "
                f"{self._probabilities.size} instances"
            )
        if not self.replacement and self.num_samples > np.count_nonzero(p):
            raise InputDataError(
                f"num_samples = {self.num_samples} exceeds the {np.count_nonzero(p)} instances "
                "with non-zero probability, which is impossible without replacement"
            )
        self._probabilities = p
        self._alias = None

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch; each epoch draws an independent, reproducible set of indices."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise InputDataError(f"epoch must be a non-negative integer, got {epoch!r}")
        self.epoch = epoch

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch, as an int64 array.

        Every rank computes the same global draw from ``(seed, epoch)`` and keeps its stripe.
        With replacement, the alias table is built once and reused by every epoch until
        ``update``.
        """
        if self.replacement:
            if self._alias is None:
                self._alias = AliasTable(self._probabilities)
            full = self._alias.draw(self.num_samples, seed=self.seed, epoch=self.epoch)
        else:
            full = draw_global(
                self._probabilities,
                self.num_samples,
                replacement=False,
                seed=self.seed,
                epoch=self.epoch,
            )
        return stripe(
            full, num_replicas=self.num_replicas, rank=self.rank, drop_last=self.drop_last
        )

    def __iter__(self) -> Iterator[int]:
        # Python ints are made a chunk at a time: n of them at once would cost ~36 bytes each.
        indices = self.indices()
        chunk = 1 << 16
        return chain.from_iterable(
            indices[start : start + chunk].tolist() for start in range(0, indices.size, chunk)
        )

    def __len__(self) -> int:
        return per_rank_count(self.num_samples, self.num_replicas, drop_last=self.drop_last)
