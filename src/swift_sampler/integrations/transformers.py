"""Swift Sampler in a Hugging Face ``Trainer``, and the search around a Hugging Face model.

Two things, both for sequence classifiers (a model whose output has ``logits`` ``(b, C)`` and
whose batches carry the labels, as ``AutoModelForSequenceClassification`` models):

- :class:`SwiftTrainer`: a ``transformers.Trainer`` that draws the training batches with a
  :class:`~swift_sampler.SwiftSampler` built from a learned spec, and refreshes the features
  (a forward pass of the model being trained over the training set) at the start of every
  epoch, before the epoch's indices are drawn::

      trainer = SwiftTrainer(model=model, args=args, train_dataset=train, eval_dataset=val,
                             sampler_spec=SamplerSpec.load("runs/mine/sampler.json"))
      trainer.train()

- :class:`HFTrainerAdapter`: the search's ``Trainer`` protocol around a Hugging Face model,
  scored by its evaluation metric (``compute_metrics``), so ``run_search`` can find the spec.

Multi-process (``accelerate launch``, ``torchrun``): Accelerate shards the training loader by
batches (process r takes batches ``r, r + W, ...`` of the loader's batch sampler). The sampler
is therefore built with ``num_replicas=1``: it yields the *global* index stream, the same on
every process because it is a function of ``(seed, epoch)`` and of probabilities computed from
one gathered feature table, and Accelerate's sharding is the only split. (Striping in the
sampler as well would split twice: each process would see a quarter of the draw with two.)
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler, Sampler, Subset

from swift_sampler import distributed
from swift_sampler._validate import check_int
from swift_sampler.errors import ConfigError, InputDataError
from swift_sampler.family import SamplerSpec
from swift_sampler.features import compute_features
from swift_sampler.integrations._common import (
    check_refresh,
    features_by_rank,
    missing_extra,
    uniform,
)
from swift_sampler.sampler import SwiftSampler
from swift_sampler.train.protocol import TrainState, cosine_lr

try:
    import accelerate  # noqa: F401  (the Trainer needs it; say so here rather than mid-training)
    import transformers
    from transformers import Trainer, TrainerCallback, TrainingArguments
except ImportError:
    raise missing_extra("transformers", "transformers and accelerate", "transformers") from None

__all__ = ["HFTrainerAdapter", "SwiftTrainer", "sequence_classifier_features"]

logger = logging.getLogger(__name__)


def _logits(outputs: Any) -> torch.Tensor:
    logits = outputs.get("logits") if isinstance(outputs, Mapping) else None
    if logits is None and isinstance(outputs, tuple | list) and outputs:
        logits = outputs[0]
    if not isinstance(logits, torch.Tensor):
        raise InputDataError(
            "the model must return (b, C) logits (an output with a `logits` field, as a "
            f"sequence-classification model does), got {type(outputs).__name__}"
        )
    return logits


def sequence_classifier_features(
    model: torch.nn.Module,
    loader: DataLoader[Any],
    names: tuple[str, ...],
    *,
    label_name: str = "labels",
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Features of every batch of a loader of dict batches, in the loader's order.

    The model runs in eval mode without gradients; its mode is restored after.

    Args:
        model: maps ``**batch`` (without the labels) to an output with ``(b, C)`` logits.
        loader: yields dicts holding the model's inputs and ``label_name``; not shuffled.
        names: feature names (columns), see ``swift_sampler.features.FEATURES``.
        label_name: the key of the labels in each batch.
        device: where the model runs; default the device of its first parameter.

    Returns:
        ``(number of instances, len(names))`` float32.
    """
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
    parts: list[np.ndarray] = []
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for batch in loader:
                if not isinstance(batch, Mapping) or label_name not in batch:
                    raise InputDataError(
                        f"each training batch must be a dict holding the labels under "
                        f"{label_name!r} (set TrainingArguments.label_names otherwise)"
                    )
                inputs = {
                    k: v.to(device) if isinstance(v, torch.Tensor) else v
                    for k, v in batch.items()
                    if k != label_name
                }
                logits = _logits(model(**inputs))
                labels = torch.as_tensor(batch[label_name]).to(device)
                parts.append(compute_features(logits, labels, names).cpu().numpy())
    finally:
        model.train(was_training)
    if not parts:
        return np.empty((0, len(names)), dtype=np.float32)
    return np.concatenate(parts)


class SwiftTrainer(Trainer):
    """A ``transformers.Trainer`` that trains under a learned Swift Sampler.

    The training loader draws ``len(train_dataset)`` indices per epoch (with replacement)
    from the sampler's probabilities. At the start of every epoch (a ``TrainerCallback``'s
    ``on_epoch_begin``, which the Trainer calls before it sets the epoch and draws the
    epoch's indices) the features of every training instance are recomputed with the model
    being trained, the transforms refitted, and the probabilities updated.

    The sampler replaces the Trainer's own sampling (``train_sampling_strategy``,
    ``group_by_length``). Under Accelerate's multi-process launch the sampler yields the
    global index stream and Accelerate's batch sharding splits it (see the module docstring);
    the feature pass is split by rows over the processes and gathered, so every process holds
    the same table.
    DDP only (the feature pass runs the unwrapped model on each process's rows; FSDP and
    DeepSpeed shard the weights, and are not supported).

    Args:
        *args: as ``transformers.Trainer``.
        sampler_spec: the learned sampler (``SamplerSpec.load(path)``).
        sampler_seed: the seed of the draws; epoch e draws with ``(sampler_seed, e)``.
        sampler_start_epoch: epochs before this one sample uniformly (the draw is still
            seeded by epoch), and features are first computed when it begins: the search
            scored a sampler acting after ``E_s`` uniform epochs (SPEC section 7).
        **kwargs: as ``transformers.Trainer``.

    Attributes:
        swift_sampler: the sampler of the training loader (None before ``train``).
        refreshes: how many times the features were computed.
    """

    def __init__(
        self,
        *args: Any,
        sampler_spec: SamplerSpec,
        sampler_seed: int = 0,
        sampler_start_epoch: int = 0,
        **kwargs: Any,
    ) -> None:
        if not isinstance(sampler_spec, SamplerSpec):
            raise InputDataError(
                f"sampler_spec must be a SamplerSpec (SamplerSpec.load(path)), "
                f"got {type(sampler_spec).__name__}"
            )
        check_refresh(sampler_spec, "SwiftTrainer")
        self.sampler_spec = sampler_spec
        self.sampler_seed = sampler_seed
        self.sampler_start_epoch = check_int(sampler_start_epoch, "sampler_start_epoch", low=0)
        self.swift_sampler: SwiftSampler | None = None
        self.refreshes = 0
        super().__init__(*args, **kwargs)
        self.add_callback(_RefreshEachEpoch(self))

    def _get_train_sampler(self, train_dataset: Any = None) -> Sampler[int]:
        dataset = self.train_dataset if train_dataset is None else train_dataset
        # Uniform until the first refresh, which comes before the draw of the start epoch.
        # One replica: the global stream, which Accelerate shards by batches.
        sampler = SwiftSampler(
            uniform(len(dataset)),
            replacement=False,  # a shuffle, as the search's uniform epochs
            seed=self.sampler_seed,
            num_replicas=1,
            rank=0,
        )
        sampler.spec = self.sampler_spec
        self.swift_sampler = sampler
        return sampler

    def get_train_dataloader(self) -> DataLoader[Any]:
        loader = super().get_train_dataloader()
        if self.swift_sampler is not None:
            # With Accelerate's seedable sampler off, `prepare` gives a sampler that has a
            # `generator` attribute a generator seeded from the global RNG. Ours needs none:
            # its draw is a function of (seed, epoch), already the same on every process.
            self.swift_sampler.generator = None
        return loader

    def refresh_features(self) -> np.ndarray:
        """Recomputes the features with the current model and updates the sampler.

        Returns:
            ``(n, len(spec.columns))`` float32, the same on every process.
        """
        if self.swift_sampler is None:
            raise ConfigError(
                "SwiftTrainer has no sampler: it needs a map-style train_dataset (one with "
                "__len__; an IterableDataset has no per-instance sampling), and refreshes the "
                "features from train() on"
            )
        dataset = self.train_dataset
        collator = self.data_collator
        if _is_hf_dataset(dataset):
            dataset = self._remove_unused_columns(dataset, description="features")
        else:
            collator = self._get_collator_with_removed_columns(collator, description="features")
        if len(self.label_names) != 1:
            raise ConfigError(
                f"the feature pass needs exactly one label field, got label_names "
                f"{self.label_names}"
            )
        columns = self.sampler_spec.columns
        model = self.model  # unwrapped: a forward pass needs no DDP (and must not sync)

        def local(rows: range) -> np.ndarray:
            loader: DataLoader[Any] = DataLoader(
                Subset(dataset, rows),
                batch_size=self.args.per_device_eval_batch_size,
                shuffle=False,
                collate_fn=collator,
            )
            return sequence_classifier_features(
                model, loader, columns, label_name=self.label_names[0], device=self.args.device
            )

        features = features_by_rank(local, len(dataset), len(columns))
        # The sampler's draws: i.i.d. from its probabilities, or stratified (spec.draw).
        self.swift_sampler.replacement = True
        self.swift_sampler.stratified = self.sampler_spec.draw == "stratified"
        self.swift_sampler.update(features)
        self.refreshes += 1
        return features


class _RefreshEachEpoch(TrainerCallback):
    """Calls ``SwiftTrainer.refresh_features`` when an epoch begins."""

    def __init__(self, trainer: SwiftTrainer) -> None:
        self.trainer = trainer

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step > 0 and self.trainer.sampler_spec.history:
            logger.warning(
                "SwiftTrainer resumes at step %d with sampler_spec.history = %g: the features' "
                "moving average is not in the checkpoint and starts again at the next refresh",
                state.global_step,
                self.trainer.sampler_spec.history,
            )

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        epoch = math.floor((state.epoch or 0) + 1e-6)  # fractional when resumed mid-epoch
        if epoch >= self.trainer.sampler_start_epoch:
            self.trainer.refresh_features()
        sampler = self.trainer.swift_sampler
        if sampler is not None:
            # The Trainer sets it too, right after this hook; set here so that the draw of
            # this epoch is already what `sampler.indices()` answers inside other callbacks.
            sampler.set_epoch(epoch)


@contextmanager
def _kept_global_rng() -> Iterator[None]:
    """Restores Python's, NumPy's and torch's global generators (CPU and CUDA) on exit."""
    python, numpy = random.getstate(), np.random.get_state()  # noqa: NPY002 - the global one
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(python)
            np.random.set_state(numpy)  # noqa: NPY002 - the global one


def _is_hf_dataset(dataset: Any) -> bool:
    try:
        import datasets
    except ImportError:
        return False
    return isinstance(dataset, datasets.Dataset)


class HFTrainerAdapter:
    """The search's ``Trainer`` protocol around a Hugging Face sequence classifier.

    The search (``run_search``) asks it to train epochs under candidate samplers, compute
    features and score; the score is the model's evaluation metric, computed by a
    ``transformers.Trainer`` with your ``compute_metrics`` on ``eval_dataset``. The recipe
    comes from ``args``: ``num_train_epochs`` (an integer: the schedule), per-device train
    and eval batch sizes, ``learning_rate``, ``weight_decay``, ``max_grad_norm``; the
    optimiser is AdamW and the learning rate follows a cosine over the whole run (the tail of
    which each candidate's fine-tune continues). Single process.

    Args:
        model_init: builds a fresh model (called with the torch seed set).
        train_dataset: map-style dataset of dicts holding the model's inputs and the labels
            only (tokenised; drop text columns first: the collator batches every field).
        eval_dataset: the validation split the search scores on.
        args: ``TrainingArguments``.
        compute_metrics: ``EvalPrediction -> dict``, as for ``transformers.Trainer``.
        metric: the key of ``compute_metrics``' result to maximise (``"accuracy"``).
        data_collator: batches a list of items (default: ``transformers.default_data_collator``).
        test_dataset: optional test split (``score(state, "test")``).
        seed: seed of the weights, of the uniform shuffles and of each epoch's dropout (an
            epoch's randomness depends on ``(seed, epoch)`` only, so a resumed search scores
            as an uninterrupted one).
        worst_score: the worst value of ``metric``: what a candidate whose training diverges
            scores, and the floor of every score (0 for accuracy, the default; for example
            -1 for a Matthews correlation).

    Scoring builds a ``transformers.Trainer``, which seeds Python's, NumPy's and torch's
    global generators; their states are restored afterwards, so the caller's are unchanged.
    """

    def __init__(
        self,
        model_init: Callable[[], torch.nn.Module],
        train_dataset: Any,
        eval_dataset: Any,
        *,
        args: TrainingArguments,
        compute_metrics: Callable[[Any], Mapping[str, float]],
        metric: str = "accuracy",
        data_collator: Callable[[list[Any]], Any] | None = None,
        test_dataset: Any = None,
        seed: int = 0,
        worst_score: float = 0.0,
    ) -> None:
        epochs = args.num_train_epochs
        if float(epochs) != int(epochs) or int(epochs) < 2:
            raise ConfigError(
                f"args.num_train_epochs must be a whole number >= 2 (the search trains a "
                f"shared start, then fine-tunes), got {epochs!r}"
            )
        self.model_init = model_init
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset
        self.test_dataset = test_dataset
        self.args = args
        self.compute_metrics = compute_metrics
        self.metric = metric
        self.data_collator = data_collator or transformers.default_data_collator
        self.seed = seed
        self.worst_score = float(worst_score)
        self.label_name = (args.label_names or ["labels"])[0]

    @property
    def num_instances(self) -> int:
        return len(self.train_dataset)

    @property
    def total_epochs(self) -> int:
        return int(self.args.num_train_epochs)

    def with_seed(self, seed: int) -> HFTrainerAdapter:
        return HFTrainerAdapter(
            self.model_init,
            self.train_dataset,
            self.eval_dataset,
            args=self.args,
            compute_metrics=self.compute_metrics,
            metric=self.metric,
            data_collator=self.data_collator,
            test_dataset=self.test_dataset,
            seed=seed,
            worst_score=self.worst_score,
        )

    def new_state(self, seed: int | None = None) -> TrainState:
        with torch.random.fork_rng(devices=[]):  # the caller's global RNG is left alone
            torch.manual_seed(self.seed if seed is None else seed)
            model = self.model_init().to(self.args.device)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=self.args.learning_rate, weight_decay=self.args.weight_decay
        )
        return TrainState(model=model, optimizer=optimizer, epoch=0)

    def train_epoch(
        self,
        state: TrainState,
        sampler: Sampler[int] | None = None,
        *,
        schedule_window: tuple[float, float] | None = None,
    ) -> float:
        if distributed.world_size() > 1:
            raise ConfigError("HFTrainerAdapter trains in a single process (no torchrun)")
        epoch = state.epoch
        if sampler is None:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            sampler = RandomSampler(range(self.num_instances), generator=generator)
        elif hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        loader: DataLoader[Any] = DataLoader(
            self.train_dataset,
            batch_size=self.args.per_device_train_batch_size,
            sampler=sampler,
            collate_fn=self.data_collator,
        )
        start, end = schedule_window if schedule_window is not None else (epoch, epoch + 1)
        state.model.train()
        with _kept_global_rng():
            torch.manual_seed(self.seed * 1_000_003 + epoch)  # this epoch's dropout
            total, count = self._steps(loader, state, start, end)
        state.epoch = epoch + 1
        return total / count if count else float("nan")

    def _steps(
        self, loader: DataLoader[Any], state: TrainState, start: float, end: float
    ) -> tuple[float, int]:
        steps = len(loader)
        model, optimizer = state.model, state.optimizer
        total, count = 0.0, 0
        for i, batch in enumerate(loader):
            lr = cosine_lr(
                self.args.learning_rate,
                start + (end - start) * i / max(steps, 1),
                self.total_epochs,
            )
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            inputs = {
                k: v.to(self.args.device) if isinstance(v, torch.Tensor) else v
                for k, v in batch.items()
            }
            loss = model(**inputs).loss
            if loss is None:
                raise InputDataError(
                    f"the model returned no loss: each batch must hold the labels under "
                    f"{self.label_name!r}"
                )
            loss.backward()
            if self.args.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), self.args.max_grad_norm)
            optimizer.step()
            total += float(loss.item())
            count += 1
        return total, count

    def features(self, state: TrainState, names: tuple[str, ...]) -> np.ndarray:
        loader: DataLoader[Any] = DataLoader(
            self.train_dataset,
            batch_size=self.args.per_device_eval_batch_size,
            shuffle=False,
            collate_fn=self.data_collator,
        )
        return sequence_classifier_features(
            state.model, loader, names, label_name=self.label_name, device=self.args.device
        )

    def score(self, state: TrainState, split: str) -> float:
        """The evaluation metric ``metric`` on ``"val"`` or ``"test"``, by ``Trainer.evaluate``."""
        if split == "val":
            dataset = self.eval_dataset
        elif split == "test":
            if self.test_dataset is None:
                raise ConfigError("this adapter has no test_dataset")
            dataset = self.test_dataset
        else:
            raise ConfigError(f"unknown split {split!r}; use 'val' or 'test'")
        with _kept_global_rng():  # Trainer() calls set_seed(args.seed)
            evaluator = Trainer(
                model=state.model,
                args=self.args,
                data_collator=self.data_collator,
                compute_metrics=self.compute_metrics,
            )
            results = evaluator.evaluate(eval_dataset=dataset)
        key = f"eval_{self.metric}"
        if key not in results:
            raise ConfigError(
                f"compute_metrics returned no {self.metric!r}; it returned "
                f"{sorted(k.removeprefix('eval_') for k in results)}"
            )
        return float(results[key])

    def state_dict(self, state: TrainState) -> dict[str, Any]:
        return {
            "model": state.model.state_dict(),
            "optimizer": state.optimizer.state_dict(),
            "epoch": state.epoch,
        }

    def load_state_dict(self, state: TrainState, saved: dict[str, Any]) -> None:
        state.model.load_state_dict(saved["model"])
        state.optimizer.load_state_dict(saved["optimizer"])
        state.epoch = int(saved["epoch"])
