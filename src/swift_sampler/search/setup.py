"""From a run configuration to the objects the search and the final training use."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from swift_sampler.errors import ConfigError
from swift_sampler.family import SamplerSpec
from swift_sampler.models import build_model
from swift_sampler.search.objective import InnerLoop
from swift_sampler.train import ClassificationTrainer, TrainConfig, Trainer

if TYPE_CHECKING:
    from collections.abc import Callable

    from swift_sampler.config import Config
    from swift_sampler.data import ClassificationData, TextData
    from swift_sampler.data.own import FactoryData

__all__ = ["Experiment", "build_experiment", "template_spec"]


@dataclass(frozen=True)
class Experiment:
    """What a search trains: a trainer (data, model, recipe) and, if known, the noise mask.

    Built from a config by ``build_experiment``, or by hand to search on your own map-style
    dataset of ``(x, y)`` and your own ``nn.Module``::

        trainer = ClassificationTrainer(MyNet, train_set, val_set, test_set,
                                        config=TrainConfig(epochs=20))
        run_search(config, "runs/mine", experiment=Experiment(trainer))

    (the config's ``[search]`` and ``[sampler]`` sections are used; its ``[data]`` and
    ``[model]`` only enter the fingerprint.)

    Attributes:
        trainer: the trainer the search drives.
        noise_mask: ``(n,)`` bool, which training labels are known to be wrong (injected
            noise; for a text dataset, the contaminated sequences); only used for reports
            (Figure 1). None when unknown.
        data: the loaded dataset when built from a config (a ``FactoryData`` for a
            ``data.factory``).
    """

    trainer: Trainer
    noise_mask: np.ndarray | None = None
    data: ClassificationData | FactoryData | TextData | None = None


def template_spec(config: Config) -> SamplerSpec:
    """The sampler spec of the config, at the uniform theta."""
    s = config.sampler
    return SamplerSpec(
        features=tuple(s.features),
        transform=s.transform,
        num_segments=s.segments,
        lipschitz=s.lipschitz,
        eps=s.eps,
        history=s.history,
        increments=s.increments,
        draw=s.draw,
        combine=s.combine,
        refresh=s.refresh,
    )


def _check_fit(
    config: Config, data: ClassificationData | FactoryData, model_fn: Callable[[], Any]
) -> None:
    """Fails early, with a config error, when the model or features cannot work on the data."""
    if "er" in config.sampler.features and data.num_classes < 3:
        raise ConfigError(
            f"sampler.features: 'er' needs at least 3 classes, {data.name} has {data.num_classes}"
        )
    factory = config.model.factory
    key, what = ("model.factory", factory) if factory else ("model.name", config.model.name)
    x = torch.stack([data.train[i][0] for i in range(min(2, len(data.train)))])  # type: ignore[arg-type]
    with torch.random.fork_rng(devices=[]):
        model = model_fn()  # a factory's own errors are ConfigErrors naming model.factory
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"{key}: {what} returned a {type(model).__name__}, not a torch.nn.Module; return "
            "the network"
        )
    shape_in = tuple(data.input_shape)
    try:
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            logits = model(x)
    except Exception as err:  # shape mismatches surface as RuntimeError deep inside torch
        fix = (
            f"make its first layer take a batch of inputs of shape (b, *{shape_in})"
            if factory
            else "choose another model.name ('mlp' flattens any input) or your own model.factory"
        )
        raise ConfigError(
            f"{key}: {what!r} cannot take {data.name} inputs of shape {shape_in}: {err}; {fix}"
        ) from None
    shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
    if shape != (len(x), data.num_classes):
        raise ConfigError(
            f"{key}: {what!r} returns {shape} for {len(x)} inputs, expected logits of shape "
            f"({len(x)}, {data.num_classes}) ({data.num_classes} classes); give the model "
            f"{data.num_classes} outputs"
        )


def _model_fn(
    config: Config, input_shape: tuple[int, ...], num_classes: int
) -> Callable[[], nn.Module]:
    """A call that builds a fresh model: a bundled one by name, or ``model.factory``'s."""
    m = config.model
    if m.factory is None:
        kwargs = {} if m.width is None else {"width": m.width}
        return partial(build_model, m.name, input_shape, num_classes, **kwargs)
    from swift_sampler._factory import bind_factory, import_factory

    function = import_factory(m.factory, key="model.factory")
    return bind_factory(
        function,
        m.factory,
        m.kwargs,
        key="model.factory",
        kwargs_key="model.kwargs",
        offered={"num_classes": num_classes, "input_shape": tuple(input_shape)},
    )


def build_inner_loop(config: Config, trainer: Trainer) -> InnerLoop:
    """The inner loop of ``config``'s search over ``trainer``.

    Under torch.distributed with several ranks (rank 0 calling), the loop is wrapped so that
    each of its calls also runs on the other ranks, which sit in :func:`follow_inner_loop`.
    """
    from swift_sampler import distributed

    inner = _inner_loop(config, trainer)
    if distributed.world_size() == 1:
        return inner
    distributed.broadcast_object(config)  # the followers build the same loop
    return distributed.Lockstep(inner)  # type: ignore[return-value]


def follow_inner_loop(trainer: Trainer | None = None) -> bool:
    """Ranks other than 0 under torch.distributed: runs rank 0's inner-loop calls.

    Returns when rank 0 releases the followers (``distributed.release_followers``), also when
    rank 0 stopped before building an inner loop: whether rank 0 failed.

    Args:
        trainer: this rank's trainer (default: built from the config rank 0 sends, as the
            command line does); a program that searches with its own trainer passes it here.
    """
    from swift_sampler import distributed

    config = distributed.broadcast_object()
    if isinstance(config, tuple):  # released before any inner loop was built
        _, args, _ = config
        return distributed.released_failed(args)
    if trainer is None:
        trainer = build_experiment(config).trainer
    inner = _inner_loop(config, trainer)

    def adjust(name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if name == "train_shared_start":  # rank 0 saves the checkpoint
            return (None, *args[1:])
        return args

    return distributed.Lockstep(inner, adjust=adjust).follow()


def _inner_loop(config: Config, trainer: Trainer) -> InnerLoop:
    s = config.search
    shared, finetune = config.epochs_split
    return InnerLoop(
        trainer,
        shared_epochs=shared,
        finetune_epochs=finetune,
        schedule=s.finetune_schedule,
        seed=s.seed,
        epoch_parts=s.epoch_parts,
        refresh_every=s.refresh_every,
    )


def build_experiment(config: Config, *, seed: int | None = None) -> Experiment:
    """Loads the data (offline) and builds the trainer of ``config``.

    Args:
        config: the run configuration.
        seed: the trainer's seed (weights and uniform shuffles); defaults to ``train.seed``.
    """
    from swift_sampler.config import TEXT_DATASET_NAMES
    from swift_sampler.data import load_dataset
    from swift_sampler.data.own import load_own_data

    d = config.data
    if d.name in TEXT_DATASET_NAMES:
        return _build_language_model(config, seed=seed)
    data: ClassificationData | FactoryData
    if d.own:
        data = load_own_data(d)
    else:
        data = load_dataset(
            d.name,  # type: ignore[arg-type]  # a bundled name: d.own is False, text returned
            noise_rate=d.noise_rate,
            noise_type=d.noise_type,
            seed=d.seed,
            val_fraction=d.val_fraction,
            test_fraction=d.test_fraction,
            cache_dir=d.cache_dir,
            samples=d.samples,
        )
    model_fn = _model_fn(config, data.input_shape, data.num_classes)
    _check_fit(config, data, model_fn)
    trainer = ClassificationTrainer(
        model_fn,
        data.train,
        data.val,
        data.test,
        config=_train_config(config),
        seed=config.train.seed if seed is None else seed,
    )
    mask = None if data.train_noise_mask is None else np.asarray(data.train_noise_mask)
    return Experiment(trainer=trainer, noise_mask=mask, data=data)


def _train_config(config: Config) -> TrainConfig:
    t = config.train
    return TrainConfig(
        epochs=t.epochs,
        batch_size=t.batch_size,
        lr=t.lr,
        momentum=t.momentum,
        weight_decay=t.weight_decay,
        eval_batch_size=t.eval_batch_size,
    )


def _build_language_model(config: Config, *, seed: int | None) -> Experiment:
    """A text dataset (split by work, contaminated) and the gpt trainer of ``config``."""
    from swift_sampler.config import GPT_DEFAULTS
    from swift_sampler.data import DEFAULT_TEST_FRACTION, load_text_dataset
    from swift_sampler.train import LanguageModelTrainer

    d, m = config.data, config.model
    data = load_text_dataset(
        d.name,  # type: ignore[arg-type]
        seq_len=d.seq_len,
        tokens=d.tokens,
        corpus=d.corpus,
        contamination=d.contamination,
        contamination_kind=d.contamination_kind,
        seed=d.seed,
        val_fraction=d.val_fraction,
        test_fraction=DEFAULT_TEST_FRACTION if d.test_fraction is None else d.test_fraction,
        train_sequences=d.train_sequences,
        eval_sequences=d.eval_sequences,
    )
    vocab = data.vocab.size
    if m.vocab_size is not None and m.vocab_size < vocab:
        unit = "characters and <unk>" if d.tokens == "char" else "bytes"
        raise ConfigError(
            f"model.vocab_size: the vocabulary of {d.name} has {vocab} tokens ({unit}), "
            f"more than the model's {m.vocab_size}; raise model.vocab_size or leave it unset"
        )
    if "er" in config.sampler.features and vocab < 3:
        raise ConfigError(f"sampler.features: 'er' needs at least 3 tokens, {d.name} has {vocab}")
    size = {key: getattr(m, key) or default for key, default in GPT_DEFAULTS.items()}
    context = m.context or d.seq_len
    width = m.vocab_size or vocab
    model_fn = partial(build_model, "gpt", (context,), width, **size)
    trainer = LanguageModelTrainer(
        model_fn,
        data.train,
        data.val,
        data.test,
        vocab_size=width,
        config=_train_config(config),
        seed=config.train.seed if seed is None else seed,
    )
    return Experiment(
        trainer=trainer, noise_mask=np.asarray(data.train_contamination_mask), data=data
    )
