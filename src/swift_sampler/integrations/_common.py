"""What the integrations share: the error for a missing extra, the collective feature pass,
and the check of the sampler specs they can follow."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from swift_sampler import distributed
from swift_sampler.errors import ConfigError, InputDataError, NonFiniteError
from swift_sampler.family import SamplerSpec

__all__ = ["check_refresh", "features_by_rank", "missing_extra", "uniform"]


def check_refresh(spec: SamplerSpec, where: str) -> None:
    """Refuses a spec whose features are computed once (``refresh = "once"``): the callbacks
    refresh before every epoch, and a resumed fit could not rebuild the probabilities of the
    switch epoch from a later checkpoint's module.

    Raises:
        ConfigError: naming the spec's ``refresh`` and what to do.
    """
    if spec.refresh != "every_epoch":
        raise ConfigError(
            f"{where} refreshes the features before every epoch; this sampler spec has "
            f"refresh = {spec.refresh!r}, which it does not support: train it with "
            "swift-sampler's own loop (swift-sampler train, or "
            "swift_sampler.search.final_training with your trainer or HFTrainerAdapter), or "
            "search a sampler with sampler.refresh = 'every_epoch'"
        )


def missing_extra(module: str, package: str, extra: str) -> ImportError:
    """The one error raised when an integration's framework is not installed."""
    return ImportError(
        f"swift_sampler.integrations.{module} needs {package}, which is not installed; "
        f"install the extra: pip install 'swift-sampler[{extra}]'"
    )


def features_by_rank(local: Callable[[range], np.ndarray], total: int, width: int) -> np.ndarray:
    """The ``(total, width)`` feature table, each rank computing its rows ``rank::world``.

    Under ``torch.distributed`` every rank computes a share and the shares are gathered, so
    every rank holds the same table (and, from it, the same probabilities and the same draw).

    Args:
        local: computes the features of the given dataset rows, ``(len(rows), width)``.
        total: number of instances.
        width: number of feature columns.
    """
    world = distributed.world_size()
    rows = range(distributed.rank(), total, world)
    if world == 1:
        return local(rows)
    error: Exception | None = None
    try:
        part = local(rows)
    except Exception as err:  # any error: every rank must reach the collective below, or the
        # others wait in it until the backend's timeout
        error, part = err, np.zeros((len(rows), width), dtype=np.float32)
    if distributed.sum_across([float(error is not None)])[0] > 0:
        raise error or NonFiniteError("another rank's feature pass failed (see its error)")
    return distributed.gather_rows(part, total)


def uniform(size: int) -> np.ndarray:
    """``(size,)`` uniform probabilities over a training set, which must not be empty."""
    if size < 1:
        raise InputDataError("the training dataset is empty: there is nothing to sample")
    return np.full(size, 1.0 / size)
