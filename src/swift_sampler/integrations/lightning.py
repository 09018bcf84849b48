"""Swift Sampler in a Lightning ``Trainer``: a callback that refreshes the features each epoch.

The callback owns the sampler; give it to the training ``DataLoader``::

    swift = SwiftSamplerCallback(SamplerSpec.load("runs/mine/sampler.json"), train_set)
    loader = DataLoader(train_set, batch_size=64, sampler=swift.sampler)
    trainer = L.Trainer(max_epochs=20, callbacks=[swift], use_distributed_sampler=False)
    trainer.fit(module, loader)

Before every epoch's indices are drawn, the callback runs the module over the training set
(``module(x)`` must return ``(b, C)`` logits for the dataset's ``(x, y)`` items, or pass
``features_fn``), refits the transforms, updates the probabilities and sets the epoch.

Several processes (``strategy="ddp"``, ``"ddp_spawn"``): the sampler itself gives each process
its stripe of the one global draw (``draw[rank::world_size]``, as ``DistributedSampler``), the
callback setting its ``rank`` and ``num_replicas`` from the trainer; the feature pass is split
by rows and gathered, so every process holds the same probabilities. Lightning must therefore
leave the sampler alone: ``use_distributed_sampler=False``. With the default (True) Lightning
wraps it in a ``DistributedSamplerWrapper``, which would split (and reshuffle) the draw again;
the callback then stops with a ConfigError saying so before the first training step.

A fit resumed with ``ckpt_path`` draws what the uninterrupted fit draws from the resumed epoch
on (the epoch is read from the checkpoint's fit-loop state, also under strategies that load it
after ``on_fit_start``, as FSDP and DeepSpeed do; with ``spec.history > 0`` the features'
moving average is saved in the checkpoint and goes on). That holds for the checkpoints a
``ModelCheckpoint`` saves at each epoch's end inside the fit as well. A checkpoint saved in the
middle of an epoch (``every_n_train_steps``) is resumed as Lightning resumes a plain
``DataLoader``: it trains the epoch's remaining number of batches from a new iterator, and
the sampler draws that epoch (its own seed) from the features of the restored, half-trained
module, not the draw the interrupted epoch had begun. One callback may serve several fits:
each starts uniform until ``start_epoch``, with no average from the last.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from swift_sampler._validate import check_int
from swift_sampler.errors import ConfigError, InputDataError
from swift_sampler.family import SamplerSpec
from swift_sampler.features import extract_features
from swift_sampler.integrations._common import (
    check_refresh,
    features_by_rank,
    missing_extra,
    uniform,
)
from swift_sampler.sampler import SwiftSampler

try:
    import lightning.pytorch as pl
except ImportError:
    raise missing_extra("lightning", "lightning", "lightning") from None

__all__ = ["SwiftSamplerCallback"]

logger = logging.getLogger(__name__)

_HISTORY_KEY = "swift_sampler_history"
"""The checkpoint entry of the sampler's feature average (``spec.history > 0``)."""

#: ``features_fn(module, dataset) -> (len(dataset), m)`` float32 features of the given items.
FeaturesFn = Callable[[Any, Any], np.ndarray]


class SwiftSamplerCallback(pl.Callback):
    """Keeps a :class:`~swift_sampler.SwiftSampler` in step with the model Lightning trains.

    Args:
        spec: the learned sampler (``SamplerSpec.load(path)``).
        train_dataset: the map-style training dataset the loader draws from.
        seed: the seed of the draws; epoch e draws with ``(seed, e)`` on every process.
        start_epoch: epochs before this one sample uniformly (the draw is still seeded by
            epoch), and features are first computed when it begins: the search scored a
            sampler acting after ``E_s`` uniform epochs (SPEC section 7).
        num_samples: global number of draws per epoch; default ``len(train_dataset)``.
        batch_size: batch size of the feature pass.
        features_fn: computes the ``(len(items), len(spec.columns))`` features of a dataset
            (a ``Subset`` of the training set) with the module; default
            ``extract_features(module, items, names=spec.columns)``, for a module returning
            logits from the dataset's ``(x, y)`` items.

    Attributes:
        sampler: the sampler to pass to the training ``DataLoader``.
        refreshes: how many times the features were computed.
    """

    def __init__(
        self,
        spec: SamplerSpec,
        train_dataset: Any,
        *,
        seed: int = 0,
        start_epoch: int = 0,
        num_samples: int | None = None,
        batch_size: int = 256,
        features_fn: FeaturesFn | None = None,
    ) -> None:
        if not isinstance(spec, SamplerSpec):
            raise InputDataError(
                f"spec must be a SamplerSpec (SamplerSpec.load(path)), got {type(spec).__name__}"
            )
        check_refresh(spec, "SwiftSamplerCallback")
        self.spec = spec
        self.train_dataset = train_dataset
        self.batch_size = batch_size
        self.start_epoch = check_int(start_epoch, "start_epoch", low=0)
        self.features_fn = features_fn
        # Uniform until the first refresh (before the start epoch's draw). One replica until
        # the trainer says how many processes train (setup).
        # A shuffle, as the search's uniform epochs (when the epoch is not longer).
        self._uniform_replacement = num_samples is not None and num_samples > len(train_dataset)
        self.sampler = SwiftSampler(
            uniform(len(train_dataset)),
            num_samples,
            replacement=self._uniform_replacement,
            seed=seed,
            num_replicas=1,
            rank=0,
        )
        self.sampler.spec = spec
        self.refreshes = 0
        self._refreshed_epoch: int | None = None
        # The epoch a fit resumed from a checkpoint starts with (on_load_checkpoint), and
        # whether this fit's on_fit_start has run (some strategies load after it).
        self._resume_epoch: int | None = None
        self._resume_history: np.ndarray | None = None
        self._fit_started = False

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage == "fit":
            # Before Lightning sizes the loader: len(sampler) is this process's share.
            self.sampler.num_replicas = trainer.world_size
            self.sampler.rank = trainer.global_rank
            self._fit_started = False  # a fit of its own, also when the callback served one
            self._resume_epoch = None
            self._resume_history = None

    def on_load_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        # Only a fit resumes the draw (validate/test with ckpt_path load the checkpoint too).
        # The first epoch a resumed fit trains is the fit loop's "processed" count (the epoch
        # Lightning itself gives the sampler); the loop state itself is restored later.
        if trainer.state.fn != "fit":
            return
        saved = checkpoint.get(_HISTORY_KEY)  # the features' moving average (spec.history)
        self._resume_history = None if saved is None else np.asarray(saved, dtype=np.float64)
        try:
            progress = checkpoint["loops"]["fit_loop"]["epoch_progress"]["current"]
            epoch = int(progress["processed"])
        except (KeyError, TypeError, ValueError):
            logger.warning(
                "SwiftSamplerCallback: the checkpoint holds no fit-loop progress "
                "(loops.fit_loop.epoch_progress); the sampler starts from epoch %d, which may "
                "not be the epoch the fit resumes at",
                trainer.current_epoch,
            )
            self._resume_history = None  # an average of another epoch than the one it starts
            if self._fit_started:  # loaded after on_fit_start: use the restored module
                self._begin(trainer, pl_module, trainer.current_epoch)
            return
        if self._fit_started:
            # FSDP, DeepSpeed and model-parallel strategies restore the checkpoint after
            # on_fit_start: start again from the restored module and epoch (the feature pass
            # on_fit_start made on the module before its restore is then spent for nothing:
            # a callback cannot tell at on_fit_start that a checkpoint will come).
            self._begin(trainer, pl_module, epoch)
        else:
            self._resume_epoch = epoch  # the usual order: before on_fit_start

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        history = self.sampler.history
        if history is not None:  # a tensor: the checkpoint loads with weights_only=True
            checkpoint[_HISTORY_KEY] = torch.from_numpy(np.array(history))

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        # The first epoch's features and draw seed, before the loader is first iterated
        # (with workers, Lightning starts the iterator, and so the draw, before
        # on_train_epoch_start; a resumed fit's first epoch is read from its checkpoint).
        epoch = trainer.current_epoch if self._resume_epoch is None else self._resume_epoch
        self._resume_epoch = None
        self._fit_started = True
        self._begin(trainer, pl_module, epoch)

    def _begin(self, trainer: Any, pl_module: Any, epoch: int) -> None:
        """The sampler of a fit's first epoch ``epoch``: refreshed from the module from the
        start epoch on, else uniform (also after an earlier fit left learned probabilities)."""
        self._refreshed_epoch = None
        self.sampler.replacement = self._uniform_replacement
        self.sampler.stratified = False  # uniform epochs: a shuffle, or i.i.d. when longer
        self.sampler.set_weights(uniform(len(self.train_dataset)))  # drops any old average
        history, self._resume_history = self._resume_history, None
        if history is not None and self.spec.history:
            self.sampler.restore_history(history)  # the average up to the checkpoint's epoch
        if epoch >= self.start_epoch:
            self._refresh(trainer, pl_module, epoch)
        else:
            self.sampler.set_epoch(epoch)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if not any(_uses(loader, self.sampler) for loader in _loaders(trainer.train_dataloader)):
            if trainer.world_size > 1:
                raise ConfigError(
                    "the training DataLoader does not draw from SwiftSamplerCallback.sampler: "
                    "with several processes Lightning replaced it by a distributed sampler, "
                    "which would split the draw a second time; pass "
                    "Trainer(use_distributed_sampler=False) (the sampler already gives each "
                    "process its stripe)"
                )
            raise ConfigError(
                "the training DataLoader does not draw from SwiftSamplerCallback.sampler; "
                "build it as DataLoader(train_dataset, ..., sampler=callback.sampler)"
            )

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        epoch = trainer.current_epoch
        if epoch >= self.start_epoch and self._refreshed_epoch != epoch:
            self._refresh(trainer, pl_module, epoch)
        self.sampler.set_epoch(epoch)

    def _refresh(self, trainer: Any, pl_module: Any, epoch: int) -> None:
        columns = self.spec.columns
        compute = self.features_fn or self._default_features

        def local(rows: range) -> np.ndarray:
            return np.asarray(compute(pl_module, Subset(self.train_dataset, rows)))

        features = features_by_rank(local, len(self.train_dataset), len(columns))
        # The sampler's draws: i.i.d. from its probabilities, or stratified (spec.draw).
        self.sampler.replacement = True
        self.sampler.stratified = self.spec.draw == "stratified"
        self.sampler.update(features)
        self.sampler.set_epoch(epoch)
        self._refreshed_epoch = epoch
        self.refreshes += 1
        logger.debug("epoch %d: features refreshed", epoch)

    def _default_features(self, module: Any, dataset: Any) -> np.ndarray:
        return extract_features(
            module, dataset, names=self.spec.columns, batch_size=self.batch_size
        )


def _loaders(obj: Any) -> Iterator[Any]:
    """The DataLoaders inside Lightning's train_dataloader (a loader, or a list/dict of them)."""
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, list | tuple):
        for item in obj:
            yield from _loaders(item)
    elif obj is not None:
        yield obj


def _uses(loader: Any, sampler: SwiftSampler) -> bool:
    if not isinstance(loader, DataLoader):
        return False
    batch_sampler = getattr(loader, "batch_sampler", None)
    return loader.sampler is sampler or getattr(batch_sampler, "sampler", None) is sampler
