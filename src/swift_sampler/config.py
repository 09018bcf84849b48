"""Run configuration: a TOML file -> frozen dataclasses, with every problem reported at once.

A run config has six sections, all optional, and every key has a default::

    [data]     dataset (bundled, or your own: a factory, arrays, a folder), label noise
               (contamination for text), splits, sequences
    [model]    network name and width (the gpt: layers, d_model, heads, context), or your
               own model's factory
    [train]    epochs, batch size, optimiser, seed
    [sampler]  features, transform, segments S, Lipschitz bound L, eps
    [search]   trials, outer loop, E_s (shared_epochs) and E_o (finetune_epochs), storage
    [final]    seeds of the final runs

:func:`parse_config` checks every key (type, range, known names), then the rules that tie keys
together, and raises one :class:`~swift_sampler.errors.ConfigError` listing every problem, one per
line, each starting with its dotted key. :meth:`Config.fingerprint` hashes the canonical JSON of
every field (defaults included), so a resumed run can refuse a config that changed.

This module imports nothing heavy (no torch, no numpy): ``swift-sampler --help`` and config
checking must stay fast. The known names are written out here rather than imported from the
modules that implement them, because those modules import torch and sit above config in the
layering; ``tests/test_config.py`` checks that the two lists agree.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import hashlib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from swift_sampler._frozen import FrozenTable, freeze, thaw
from swift_sampler._validate import as_int, as_real, short_repr
from swift_sampler.errors import ConfigError
from swift_sampler.portfolio import FAMILY as PORTFOLIO_FAMILY
from swift_sampler.portfolio import THETAS as PORTFOLIO_THETAS

__all__ = [
    "CONTAMINATION_KINDS",
    "DATASET_NAMES",
    "DEFAULT_TEST_FRACTION",
    "FEATURE_NAMES",
    "FILE_DATASET_NAMES",
    "FINETUNE_SCHEDULES",
    "GPT_DEFAULTS",
    "MISSING",
    "MODEL_NAMES",
    "NOISE_TYPES",
    "OUTER_LOOPS",
    "PRESETS",
    "SEARCH_SHAPING_KEYS",
    "SWIFT_PRESET",
    "TEXT_DATASET_NAMES",
    "TOKENIZERS",
    "TRANSFORM_NAMES",
    "Config",
    "DataConfig",
    "FinalConfig",
    "ModelConfig",
    "SamplerConfig",
    "SearchConfig",
    "TrainSection",
    "added_default",
    "check_value",
    "default_config",
    "load_config",
    "parse_config",
    "read_config_file",
    "resolve_epochs",
    "search_choice",
    "start_problems",
]

DatasetName = Literal["digits", "mnist5k", "mnist1d", "shakespeare", "text"]
DATASET_NAMES: tuple[str, ...] = get_args(DatasetName)
FileDatasetName = Literal["arrays", "folder"]
FILE_DATASET_NAMES: tuple[str, ...] = get_args(FileDatasetName)
"""Your own data from files: an ``.npz`` (or ``.npy`` pair), or a class-per-folder image tree."""
TEXT_DATASET_NAMES: tuple[str, ...] = ("shakespeare", "text")
"""The language-modelling datasets: model.name = "gpt", contamination instead of label noise."""
ContaminationKind = Literal["mixed", "random", "shuffled", "offdomain"]
CONTAMINATION_KINDS: tuple[str, ...] = get_args(ContaminationKind)
TokenizerName = Literal["char", "byte"]
TOKENIZERS: tuple[str, ...] = get_args(TokenizerName)
NoiseType = Literal["symmetric", "pair", "instance"]
NOISE_TYPES: tuple[str, ...] = get_args(NoiseType)
ModelName = Literal["mlp", "cnn", "conv1d", "resnet", "gpt"]
MODEL_NAMES: tuple[str, ...] = get_args(ModelName)
GPT_DEFAULTS: dict[str, int] = {"layers": 2, "d_model": 128, "heads": 4}
"""The gpt's size when its ``[model]`` keys are unset (``context`` defaults to data.seq_len)."""
GPT_KEYS = ("layers", "d_model", "heads", "context", "vocab_size")
FeatureName = Literal["loss", "er", "grad_norm", "margin"]
FEATURE_NAMES: tuple[str, ...] = get_args(FeatureName)
TransformName = Literal["cdf", "cgf"]
TRANSFORM_NAMES: tuple[str, ...] = get_args(TransformName)
IncrementsName = Literal["clipped", "scaled"]
INCREMENTS: tuple[str, ...] = get_args(IncrementsName)
DrawName = Literal["iid", "stratified"]
DRAWS: tuple[str, ...] = get_args(DrawName)
CombineName = Literal["product", "noisy_or"]
COMBINES: tuple[str, ...] = get_args(CombineName)
RefreshName = Literal["every_epoch", "once"]
REFRESHES: tuple[str, ...] = get_args(RefreshName)
OuterLoop = Literal["gp", "random", "tpe", "cmaes", "qmc", "rl"]
OUTER_LOOPS: tuple[str, ...] = get_args(OuterLoop)
FinetuneSchedule = Literal["compressed", "tail"]
FINETUNE_SCHEDULES: tuple[str, ...] = get_args(FinetuneSchedule)
PrunerName = Literal["none", "successive_halving", "hyperband", "synchronous_halving"]
PRUNERS: tuple[str, ...] = get_args(PrunerName)

DEFAULT_TEST_FRACTION = 0.2
"""Test share the data loader uses when ``data.test_fraction`` is unset (see ``load_dataset``)."""


# --------------------------------------------------------------------------------------------
# Per-key rules. The dataclasses below hold the names and defaults; _RULES says what each key
# accepts (a test checks that the two cover the same keys).


@dataclass(frozen=True)
class _Rule:
    """What one key accepts; ``check`` returns the normalised value or a problem."""

    kind: Literal[
        "str", "int", "float", "bool", "str_list", "int_list", "factory", "table", "thetas"
    ]
    optional: bool = False
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def _bounds(self, high: float | None = None) -> str:
        high = self.high if high is None else high
        if self.low is not None and high is not None:
            left = "(" if self.low_open else "["
            right = ")" if self.high_open else "]"
            return f" in {left}{_number(self.low)}, {_number(high)}{right}"
        if self.low is not None:
            return f" {'>' if self.low_open else '>='} {_number(self.low)}"
        if high is not None:
            return f" {'<' if self.high_open else '<='} {_number(high)}"
        return ""

    def _over_cap(self, value: Any) -> bool:
        """Whether ``value`` (an int key's value or list) holds an integer above INT_CAP."""
        if self.kind not in ("int", "int_list") or self.high is not None:
            return False
        values = value if isinstance(value, list | tuple) else [value]
        return any((as_int(v) or 0) > INT_CAP for v in values)

    def describe(self, capped: bool = False) -> str:
        """The rule in words, e.g. ``must be an integer >= 1`` (``capped``: with the implicit
        upper bound INT_CAP of the int keys that have no bound of their own)."""
        cap = INT_CAP if capped else None
        if self.kind == "bool":
            text = "must be true or false"
        elif self.kind == "int":
            text = f"must be an integer{self._bounds(cap)}"
        elif self.kind == "float":
            text = f"must be a finite number{self._bounds()}"
        elif self.kind == "str":
            choices = f"one of {list(self.choices)}"
            text = f"must be {choices if self.choices else 'a non-empty string'}"
        elif self.kind == "str_list":
            text = f"must be a non-empty list of distinct names from {list(self.choices)}"
        elif self.kind == "factory":
            text = "must be 'package.module:function' (a callable to import)"
        elif self.kind == "table":
            text = (
                "must be a table of keyword arguments (strings, numbers, booleans, lists, tables)"
            )
        elif self.kind == "thetas":
            text = "must be a list of distinct thetas, each a list of numbers in [0, 1]"
        else:
            text = f"must be a non-empty list of distinct integers{self._bounds(cap)}"
        return f"{text} (or absent)" if self.optional else text

    def _in_range(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def _scalar(self, value: Any) -> tuple[bool, Any]:
        """Whether a scalar value passes, and its normalised form."""
        if self.kind == "bool":
            return isinstance(value, bool), value
        if self.kind in ("int", "int_list"):
            # bool is an int subclass in Python, but `trials = true` is a mistake, not a 1.
            integer = as_int(value)
            if integer is None:
                return False, value
            capped = self.high is not None or integer <= INT_CAP
            return self._in_range(integer) and capped, integer
        if self.kind == "float":
            # A float, so `lr = 1` and `lr = 1.0` give equal configs; None for a bool, a
            # non-number, inf, nan, or an int too large for a float (`lr = 1000...0`).
            number = as_real(value)
            if number is None:
                return False, value
            return self._in_range(number), number
        ok = isinstance(value, str) and (value in self.choices if self.choices else value != "")
        return ok, value

    def check(self, value: Any) -> tuple[Any, str | None]:
        """Returns ``(normalised value, None)``, or ``(None, problem)`` when the value is bad."""
        if value is None and self.optional:
            return None, None
        problem = f"{self.describe(self._over_cap(value))}, got {short_repr(value)}"
        if self.kind == "factory":
            ok = isinstance(value, str) and _FACTORY.fullmatch(value) is not None
            return (value, None) if ok else (None, problem)
        if self.kind == "table":
            bad = _not_plain(value) if isinstance(value, Mapping) else ""
            return (FrozenTable(value), None) if bad is None else (None, problem + bad)
        if self.kind == "thetas":
            return _thetas(value, problem)
        if self.kind not in ("str_list", "int_list"):
            ok, normalised = self._scalar(value)
            if ok:
                return normalised, None
            if self.choices and isinstance(value, str):
                problem += _did_you_mean(value, self.choices)
            return None, problem
        if not isinstance(value, list | tuple) or not value:
            return None, problem
        items = []
        for item in value:
            ok, normalised = self._scalar(item)
            if not ok:
                if self.choices and isinstance(item, str):
                    problem += _did_you_mean(item, self.choices, suffix=f" for {item!r}")
                return None, problem
            items.append(normalised)
        if len(set(items)) != len(items):
            duplicates = sorted({str(item) for item in items if items.count(item) > 1})
            return None, f"{problem} (repeated: {', '.join(duplicates)})"
        return tuple(items), None


def _thetas(value: Any, problem: str) -> tuple[Any, str | None]:
    """A list of thetas as a tuple of float tuples, or the problem (naming the bad entry)."""
    if not isinstance(value, list | tuple):
        return None, problem
    thetas = []
    for i, theta in enumerate(value):
        if not isinstance(theta, list | tuple) or not theta:
            return None, f"{problem} (entry {i} is not a non-empty list)"
        numbers = [as_real(x) for x in theta]
        for j, x in enumerate(numbers):
            if x is None or not 0.0 <= x <= 1.0:
                return None, f"{problem} (entry {i}, position {j}: {short_repr(theta[j])})"
        thetas.append(tuple(float(x) for x in numbers if x is not None))
    repeated = sorted({i for i, t in enumerate(thetas) if thetas.index(t) != i})
    if repeated:
        return None, f"{problem} (entries {repeated} repeat earlier ones)"
    return tuple(thetas), None


_FACTORY = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
"""``package.module:function`` (the attribute may be dotted: ``module:Class.build``)."""


def _not_plain(value: Any, where: str = "") -> str | None:
    """``None`` when ``value`` holds only TOML values that survive a JSON round trip, else
    what does not (a date, an infinite number)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _not_plain(item, f"{where}.{key}" if where else str(key))
            if found is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _not_plain(item, f"{where}[{i}]")
            if found is not None:
                return found
        return None
    if isinstance(value, float) and as_real(value) is None:
        return f" ({where} is not finite)"
    if isinstance(value, datetime.date | datetime.time):
        return f" ({where} is a date or time; write it as a string)"
    if not isinstance(value, str | bool | int | float):
        return f" ({where} is a {type(value).__name__})"
    return None


def _did_you_mean(word: str, known: tuple[str, ...] | list[str], *, suffix: str = "") -> str:
    """``"; did you mean 'x'?"`` for the closest known name, or ``""`` when none is close."""
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}{suffix}?" if close else ""


# --------------------------------------------------------------------------------------------
# The sections.


@dataclass(frozen=True)
class DataConfig:
    """The ``[data]`` section: which dataset, how much label noise, how it is split.

    Attributes:
        name: One of ``digits``, ``mnist5k``, ``mnist1d`` (bundled), or ``arrays`` or
            ``folder`` (your own files, at ``path``).
        noise_rate: Share of train and val labels flipped, in ``[0, 1)``.
        noise_type: ``symmetric`` (any other class), ``pair`` (the next class) or
            ``instance`` (another class that depends on the input, one annotator for train
            and val: :func:`swift_sampler.data.inject_label_noise`).
        seed: Seed of the split and of the noise, ``>= 0``.
        val_fraction: Validation share of the whole dataset, in ``(0, 1)``.
        test_fraction: Test share, in ``(0, 1)``, or ``None`` for the dataset's default
            (MNIST-1D's own test set, else :data:`DEFAULT_TEST_FRACTION`).
            ``val_fraction + test_fraction`` must be < 1.
        cache_dir: Where MNIST-1D caches its generated data; ``None`` for no cache.
        samples: ``mnist1d`` only: signals to generate, a multiple of 10 from 100 to
            10,000,000; ``None`` (default): mnist1d's 5,000. Its own 80 / 20 train / test
            split is kept, so ``val_fraction`` (of all signals) comes out of the 80%.
        factory: ``package.module:function`` that returns your train / val / test datasets
            (see ``swift_sampler.data.own``); ``name`` is then not used. The module is
            imported as written (the command line puts the current directory on
            ``sys.path``, as ``python -m`` does).
        kwargs: Keyword arguments of ``factory`` (the ``[data.kwargs]`` table).
        path: With ``name = "arrays"`` an ``.npz`` file (``x``, ``y`` and optionally ``x_val``,
            ``y_val``, ``x_test``, ``y_test``) or an inputs ``.npy`` beside ``labels_path``;
            with ``name = "folder"`` a directory with one sub-directory of images per class.
            Relative paths are read from the current directory.
        labels_path: The labels ``.npy`` when ``path`` is an inputs ``.npy``.
        num_classes: Number of classes of your own data (``>= 2``), or ``None`` to count
            them (the largest label + 1, or the class folders).

    Your own data (``factory``, ``arrays``, ``folder``) gets no label noise unless
    ``noise_rate`` is given: :func:`parse_config` fills in 0 for it, not 0.4. A ``factory``
    injects its own noise (and may return the mask), so there ``noise_rate`` must be 0.

    The text datasets (``shakespeare``: the shipped works; ``text``: ``corpus``) are split by
    work with ``val_fraction`` and ``test_fraction`` of the characters and ignore the label
    noise keys; their keys:

    Attributes:
        contamination: Share of training sequences replaced by junk, in ``[0, 1)``
            (validation and test stay clean); only for text datasets.
        contamination_kind: ``mixed`` (the three in equal shares), ``random`` (random
            characters), ``shuffled`` (real lines, characters shuffled) or ``offdomain``
            (Python's standard-library documentation).
        seq_len: Input tokens of one sequence (an instance), ``>= 1``.
        tokens: ``char`` (the corpus's characters and ``<unk>``) or ``byte`` (256 tokens).
        corpus: For ``name = "text"`` (and only then): a UTF-8 file or a directory of
            ``*.txt`` works.
        train_sequences: Training sequences kept, drawn at random from the training works
            (at most all of them), ``>= 1``.
        eval_sequences: Validation and test sequences kept, each, ``>= 1``.
    """

    name: DatasetName | FileDatasetName = "mnist5k"
    noise_rate: float = 0.4
    noise_type: NoiseType = "symmetric"
    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float | None = None
    cache_dir: str | None = None
    samples: int | None = None
    factory: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=FrozenTable)
    path: str | None = None
    labels_path: str | None = None
    num_classes: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kwargs", freeze(self.kwargs))  # read-only, hashable

    @property
    def own(self) -> bool:
        """Whether this is your own data (a factory or files), not a bundled dataset."""
        return self.factory is not None or self.name in FILE_DATASET_NAMES

    contamination: float = 0.0
    contamination_kind: ContaminationKind = "mixed"
    seq_len: int = 128
    tokens: TokenizerName = "char"
    corpus: str | None = None
    train_sequences: int = 2000
    eval_sequences: int = 500


@dataclass(frozen=True)
class ModelConfig:
    """The ``[model]`` section.

    Attributes:
        name: One of ``mlp``, ``cnn``, ``conv1d``, ``resnet``, or ``gpt`` (the language
            model, for the text datasets).
        width: Width of the network (``>= 1``), or ``None`` for the model's default; not for
            ``gpt`` (its width is ``d_model``).
        factory: ``package.module:function`` returning your ``nn.Module`` (``(b, C)``
            logits); ``name`` and ``width`` are then not used. It is called once per model,
            with ``kwargs``, plus ``num_classes`` and ``input_shape`` (one input, without the
            batch dimension) when it has parameters of those names.
        kwargs: Keyword arguments of ``factory`` (the ``[model.kwargs]`` table).

    The ``gpt`` keys (each ``>= 1``, ``None`` for the default; only with ``name = "gpt"``):

    Attributes:
        layers: Transformer blocks (default 2).
        d_model: Width of the residual stream, a multiple of ``heads`` (default 128).
        heads: Attention heads (default 4).
        context: Longest input in tokens, ``>= data.seq_len`` (default ``data.seq_len``).
        vocab_size: Output width; must hold the data's vocabulary (default: its size).
    """

    name: ModelName = "cnn"
    width: int | None = None
    factory: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=FrozenTable)
    layers: int | None = None
    d_model: int | None = None
    heads: int | None = None
    context: int | None = None
    vocab_size: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kwargs", freeze(self.kwargs))  # read-only, hashable


@dataclass(frozen=True)
class TrainSection:
    """The ``[train]`` section: the full training run (SGD with momentum).

    Attributes:
        epochs: Epochs of a full run, ``>= 1``.
        batch_size: Training batch size, ``>= 1``.
        lr: Learning rate, ``> 0``.
        momentum: SGD momentum, in ``[0, 1)``.
        weight_decay: L2 weight decay, ``>= 0``.
        eval_batch_size: Batch size of evaluation and feature passes, ``>= 1``.
        seed: Seed of initialisation and data order, ``>= 0``.
        threads: Torch CPU threads (1 to 1024), or ``None`` to leave torch's setting alone.
    """

    epochs: int = 20
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    eval_batch_size: int = 128
    seed: int = 0
    threads: int | None = None


@dataclass(frozen=True)
class SamplerConfig:
    """The ``[sampler]`` section: the family searched over.

    Attributes:
        features: Distinct feature names from ``loss``, ``er``, ``grad_norm``, ``margin``;
            ``grad_norm`` is the weight of the ``cgf`` transform, so not a feature with it.
        transform: ``cdf`` or ``cgf``.
        segments: Segments ``S`` of each piecewise-linear function, ``>= 1``.
        lipschitz: Slope bound ``L``, ``> 0``.
        eps: Floor of a weight relative to the mean weight, in ``(0, 1)``.
        history: Weight of the past in a moving average of each feature over the sampler's
            refreshes, in ``[0, 1)``: refresh t uses ``history * avg_(t-1) + (1 - history) *
            f_t`` (the first uses ``f_0``). 0 (default): the current model's features only,
            the paper's. An ablation (docs/results.md, "Feature history").
        increments: How theta's entries become knot steps: ``clipped`` (default, SPEC 4: a
            step of at most L/S, clipped to [0, 1], so whole regions of theta give one
            function) or ``scaled`` (the same functions, each step ``(2 theta - 1)`` times
            the smaller of L/S and the room left towards 1 or 0, so no region inside the box
            is flat). An ablation (docs/results.md, "Knot increments without plateaus").
        draw: How an epoch's N indices are drawn from the probabilities: ``iid`` (default,
            SPEC 5: N independent draws, so an instance of probability 1/N is missed in
            about a third of the epochs) or ``stratified`` (systematic resampling: instance i
            ``floor(N p_i)`` or ``ceil(N p_i)`` times, the same expected counts; at the
            uniform sampler, a shuffle like the uniform epochs'). An ablation
            (docs/results.md, "Stratified draws").
        combine: How the features' functions make one weight: ``product`` (default, SPEC 4:
            ``prod_m h_m``, 0 wherever any ``h_m`` is 0, so a zero drops a whole band of one
            feature) or ``noisy_or`` (``1 - prod_m (1 - h_m)``, 0 only where every ``h_m`` is
            0, so it can drop a corner such as high loss AND low Er and keep high loss with
            high Er). The same theta and the same uniform sampler. An ablation
            (docs/results.md, "Combining the features").
        refresh: When the features under the sampler are recomputed: ``every_epoch``
            (default, SPEC 7: before every epoch from E_s on, from the network being trained)
            or ``once`` (only at the switch, E_s: the probabilities of the first epoch under
            the sampler are kept for the whole tail, so an instance the sampler keeps cannot
            gain weight by being memorised). The search's fine-tunes and the final training
            follow it; the Lightning and transformers callbacks refuse ``once``. With ``once``,
            ``history`` and ``search.refresh_every`` have no refresh to act on and must stay
            at their defaults. An ablation (docs/results.md, "Features frozen at the
            switch").
    """

    features: tuple[FeatureName, ...] = ("loss", "er")
    transform: TransformName = "cgf"
    segments: int = 4
    lipschitz: float = 2.0
    eps: float = 1e-6
    history: float = 0.0
    increments: IncrementsName = "clipped"
    draw: DrawName = "iid"
    combine: CombineName = "product"
    refresh: RefreshName = "every_epoch"

    @property
    def num_params(self) -> int:
        """Length of theta: ``len(features) * (segments + 1)`` (10 with the defaults)."""
        return len(self.features) * (self.segments + 1)


@dataclass(frozen=True)
class SearchConfig:
    """The ``[search]`` section: the outer loop and the inner-loop fine-tunes it scores.

    Attributes:
        trials: Sampler candidates scored, ``>= 1``.
        startup_trials: Random trials before the outer loop models the results,
            ``>= 0`` and ``<= trials``.
        outer: Outer loop: ``gp``, ``random``, ``tpe``, ``cmaes``, ``qmc`` or ``rl``.
        seed: Seed of the outer loop, ``>= 0``.
        shared_fraction: ``E_s`` as a share of ``train.epochs`` when ``shared_epochs`` is
            unset, in ``(0, 1)``: the protocol scales with the schedule, so a 40-epoch run gets
            the same protocol as a 20-epoch one. The default 0.4 and 20 trials were chosen on
            validation (``experiments/early_start.py``: against 0.75 with 40 trials, a higher
            best validation score in 7 of 8 noise settings on two datasets, one tie).
        shared_epochs: ``E_s``, epochs of the shared uniform pre-training; ``< train.epochs``.
            Unset: ``round(shared_fraction * train.epochs)``, kept inside
            ``[1, train.epochs - 1]``.
        finetune_epochs: ``E_o``, epochs each candidate fine-tunes from the shared checkpoint.
            Unset: the rest of the schedule, ``train.epochs - E_s``.
        finetune_schedule: ``tail`` (the schedule's epochs ``E_s .. E_s + E_o`` as they are,
            which must fit in ``train.epochs``; the default: scoring on the real tail is what
            separates a noise-filtering sampler from uniform, docs/results.md) or
            ``compressed`` (the remaining schedule squeezed into ``E_o`` epochs).

    A built :class:`Config` always holds the resolved ``shared_epochs`` and
    ``finetune_epochs``.
        storage: Optuna storage URL, or ``None`` for SQLite in the run directory.
        study_name: Optuna study name, non-empty.
        pruner: ``none`` (every candidate fine-tunes all ``E_o`` epochs: the full-fidelity
            reference), ``successive_halving`` or ``hyperband`` (Optuna's pruners: the
            validation score at each rung is an intermediate value and weak candidates stop
            early), or ``synchronous_halving`` (every trial stops at the first rung, then the
            best ``1/eta`` of each rung go on from their saved state, rung after rung:
            ``search.halving``). A pruner needs two steps at least
            (``finetune_epochs * epoch_parts >= 2``).
        min_resource: Steps of the pruner's first rung (a step is ``1/epoch_parts`` of a
            fine-tune epoch), ``>= 1`` and ``< finetune_epochs * epoch_parts`` when a pruner
            is set.
        reduction_factor: The pruner's ``eta``: about ``1/eta`` of the candidates reaching a
            rung go on to the next, ``>= 2``.
        epoch_parts: Pruner steps per fine-tune epoch, ``>= 1`` (1: whole epochs). With
            ``P > 1`` a candidate can be scored, and stopped, after ``1/P`` of an epoch
            (partial-epoch fidelity); needs a pruner.
        bootstrap_count: The first this many candidates to reach the first rung stop there,
            ``>= 0`` (successive halving only). 0 (default): Optuna's rule, where a candidate
            alone at a rung goes on, so the first trials of a serial search (the uniform
            sampler, the first start-up points) run their whole fine-tune unchallenged.
        finalists: Synchronous halving: every rung keeps at least this many candidates, so
            this many run the whole fine-tune and the last choice is made on full scores,
            ``>= 1`` (default 2; 1 is plain successive halving).
        keep_uniform: Synchronous halving: the uniform sampler (trial 0) is kept at every
            rung, in the last place when it is not among the best, so it runs the whole
            fine-tune and the search never returns a sampler that scores below uniform there.
        refresh_every: Recompute the features every this many fine-tune epochs, ``>= 1``
            (1, default: before every epoch, the paper's protocol; the first epoch always uses
            the shared start's features). In between the sampler keeps its probabilities.
        patience: Stop the search early when ``patience`` trials after the start-up trials
            have not raised the best score by more than ``min_improvement``; ``0`` (default)
            runs all ``trials``, which stay the cap either way.
        min_improvement: The improvement of the best validation score (accuracy in [0, 1])
            that counts for ``patience``, ``>= 0``.
        portfolio: Try the first this many thetas of the built-in start portfolio
            (:mod:`swift_sampler.portfolio`: samplers that full searches found on other data)
            right after the uniform trial, ``>= 0`` (0, default: none). Needs the family they
            were found for (the ``[sampler]`` defaults: :data:`swift_sampler.portfolio.FAMILY`).
        start_thetas: Your own thetas to try after the portfolio's and before the start-up
            points, e.g. samplers found on earlier data; each of length ``M (S + 1)``.
        preset: ``"swift"``: the search for about two and a half trainings measured in
            docs/benchmarks.md ("The whole portfolio, screened by halving"): every key of
            :data:`SWIFT_PRESET` that the config does not set takes its value there,
            ``trials`` is one for the uniform sampler, each portfolio theta, each of
            ``start_thetas`` and each of ``startup_trials`` (5 at least), and
            ``min_resource`` is a third of the fine-tune (in thirds of an epoch,
            ``epoch_parts = 3``, when the fine-tune's epochs do not divide by 3; about a
            third, rounded down, in the steps of an ``epoch_parts`` you set).
            None: no preset, the full search (``preset = "none"`` in TOML). A TOML config
            that leaves the key out, or sets ``"auto"``, gets ``"swift"`` where the evidence
            for it holds and None elsewhere (:func:`_resolve_preset`): ``"swift"`` for a
            classifier with the default ``[sampler]`` family and no key of
            :data:`SEARCH_SHAPING_KEYS` set; the built config holds the outcome.

    Slot 0 is always the uniform sampler; ``portfolio`` and ``start_thetas`` fill the next
    slots (at most ``trials - 1`` in all), then come ``startup_trials`` Sobol points, then
    the outer loop's model (:attr:`Config.start_thetas`).
    """

    trials: int = 20
    startup_trials: int = 8
    outer: OuterLoop = "gp"
    seed: int = 0
    shared_fraction: float = 0.4
    shared_epochs: int | None = None
    finetune_epochs: int | None = None
    finetune_schedule: FinetuneSchedule = "tail"
    storage: str | None = None
    study_name: str = "swift-sampler"
    pruner: PrunerName = "none"
    min_resource: int = 1
    reduction_factor: int = 3
    patience: int = 0
    min_improvement: float = 0.0
    epoch_parts: int = 1
    bootstrap_count: int = 0
    refresh_every: int = 1
    finalists: int = 2
    keep_uniform: bool = False
    portfolio: int = 0
    start_thetas: tuple[tuple[float, ...], ...] = ()
    preset: str | None = None


SWIFT_PRESET: dict[str, Any] = {
    # The uniform sampler and the whole built-in portfolio (5 candidates, no start-up points),
    # each fine-tuned on the first third of the tail, then the best two finish the tail.
    "trials": 5,
    "startup_trials": 0,
    "portfolio": 4,
    "pruner": "synchronous_halving",
    "reduction_factor": 3,
    "finalists": 2,
    "refresh_every": 3,
    "patience": 0,
}
"""``search.preset = "swift"``'s keys; ``epoch_parts`` and ``min_resource`` follow the
fine-tune's length (:func:`_apply_preset`)."""

PRESETS: tuple[str, ...] = ("auto", "swift", "none")
"""``search.preset``'s values: ``auto`` (the default) resolves to ``swift`` or ``none``."""

SEARCH_SHAPING_KEYS: tuple[str, ...] = (
    *SWIFT_PRESET,
    "outer",
    "min_resource",
    "epoch_parts",
    "min_improvement",
    "bootstrap_count",
    "keep_uniform",
)
"""``[search]`` keys that shape the search itself: with any of them set, ``preset = "auto"``
is the full search with your keys. The others (``seed``, the protocol's ``shared_fraction``,
``shared_epochs``, ``finetune_epochs``, ``finetune_schedule``, the storage, the study's name,
``start_thetas``) work the same under either search."""


@dataclass(frozen=True)
class FinalConfig:
    """The ``[final]`` section: full runs with the best sampler found.

    Attributes:
        seeds: Distinct training seeds (each ``>= 0``), one full run each; none of them may be
            ``search.seed``, the seed the search selected its sampler on (a final run with it
            would replay the selected trial, not measure the sampler on a fresh run).
        uniform: Also run the uniform sampler with the same seeds, as the baseline.
    """

    seeds: tuple[int, ...] = (1,)
    uniform: bool = True


INT_CAP = 2**31 - 1
"""The largest value of an int key without a bound of its own: a seed, count or size beyond it
is a slip, and torch, numpy and itertools overflow on some of them (a seed of 2e13 overflows
the per-epoch shuffle seed, a batch size of 1e20 itertools.islice)."""


def _number(x: float) -> str:
    """A bound in a message: integers in full (2147483647, not 2.14748e+09)."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"


_FRACTION = _Rule("float", low=0.0, high=1.0, low_open=True, high_open=True)  # (0, 1)
_UNIT = _Rule("float", low=0.0, high=1.0, high_open=True)  # [0, 1)
_POSITIVE = _Rule("float", low=0.0, low_open=True)  # > 0
_SEED = _Rule("int", low=0)
_COUNT = _Rule("int", low=1)

_RULES: dict[str, dict[str, _Rule]] = {
    "data": {
        "name": _Rule("str", choices=DATASET_NAMES + FILE_DATASET_NAMES),
        "noise_rate": _UNIT,
        "noise_type": _Rule("str", choices=NOISE_TYPES),
        "seed": _SEED,
        "val_fraction": _FRACTION,
        "test_fraction": dataclasses.replace(_FRACTION, optional=True),
        "cache_dir": _Rule("str", optional=True),
        "samples": _Rule("int", low=100, high=10_000_000, optional=True),
        "factory": _Rule("factory", optional=True),
        "kwargs": _Rule("table"),
        "path": _Rule("str", optional=True),
        "labels_path": _Rule("str", optional=True),
        "num_classes": _Rule("int", low=2, optional=True),
        "contamination": _UNIT,
        "contamination_kind": _Rule("str", choices=CONTAMINATION_KINDS),
        "seq_len": _COUNT,
        "tokens": _Rule("str", choices=TOKENIZERS),
        "corpus": _Rule("str", optional=True),
        "train_sequences": _COUNT,
        "eval_sequences": _COUNT,
    },
    "model": {
        "name": _Rule("str", choices=MODEL_NAMES),
        "width": _Rule("int", low=1, optional=True),
        "factory": _Rule("factory", optional=True),
        "kwargs": _Rule("table"),
        "layers": _Rule("int", low=1, optional=True),
        "d_model": _Rule("int", low=1, optional=True),
        "heads": _Rule("int", low=1, optional=True),
        "context": _Rule("int", low=1, optional=True),
        "vocab_size": _Rule("int", low=1, optional=True),
    },
    "train": {
        "epochs": _COUNT,
        "batch_size": _COUNT,
        "lr": _POSITIVE,
        "momentum": _UNIT,
        "weight_decay": _Rule("float", low=0.0),
        "eval_batch_size": _COUNT,
        "seed": _SEED,
        "threads": _Rule("int", low=1, high=1024, optional=True),
    },
    "sampler": {
        "features": _Rule("str_list", choices=FEATURE_NAMES),
        "transform": _Rule("str", choices=TRANSFORM_NAMES),
        "segments": _COUNT,
        "lipschitz": _POSITIVE,
        "eps": _FRACTION,
        "history": _UNIT,
        "increments": _Rule("str", choices=INCREMENTS),
        "draw": _Rule("str", choices=DRAWS),
        "combine": _Rule("str", choices=COMBINES),
        "refresh": _Rule("str", choices=REFRESHES),
    },
    "search": {
        "trials": _COUNT,
        "startup_trials": _Rule("int", low=0),
        "outer": _Rule("str", choices=OUTER_LOOPS),
        "seed": _SEED,
        "shared_fraction": _FRACTION,
        "shared_epochs": dataclasses.replace(_COUNT, optional=True),
        "finetune_epochs": dataclasses.replace(_COUNT, optional=True),
        "finetune_schedule": _Rule("str", choices=FINETUNE_SCHEDULES),
        "storage": _Rule("str", optional=True),
        "study_name": _Rule("str"),
        "pruner": _Rule("str", choices=PRUNERS),
        "min_resource": _COUNT,
        "reduction_factor": _Rule("int", low=2),
        "patience": _Rule("int", low=0),
        "min_improvement": _Rule("float", low=0.0),
        "epoch_parts": _COUNT,
        "bootstrap_count": _Rule("int", low=0),
        "refresh_every": _COUNT,
        "finalists": _COUNT,
        "keep_uniform": _Rule("bool"),
        "portfolio": _Rule("int", low=0),
        "start_thetas": _Rule("thetas"),
        "preset": _Rule("str", choices=PRESETS, optional=True),
    },
    "final": {
        "seeds": _Rule("int_list", low=0),
        "uniform": _Rule("bool"),
    },
}

_ADDED_KEYS: dict[str, dict[str, Any]] = {
    "data": {
        "samples": None,
        "factory": None,
        "kwargs": {},
        "path": None,
        "labels_path": None,
        "num_classes": None,
        "contamination": 0.0,
        "contamination_kind": "mixed",
        "seq_len": 128,
        "tokens": "char",
        "corpus": None,
        "train_sequences": 2000,
        "eval_sequences": 500,
    },
    "model": {"factory": None, "kwargs": {}, **{key: None for key in GPT_KEYS}},
    "sampler": {
        "history": 0.0,
        "increments": "clipped",
        "draw": "iid",
        "combine": "product",
        "refresh": "every_epoch",
    },
    "search": {
        "pruner": "none",
        "min_resource": 1,
        "reduction_factor": 3,
        "patience": 0,
        "min_improvement": 0.0,
        "epoch_parts": 1,
        "bootstrap_count": 0,
        "refresh_every": 1,
        "finalists": 2,
        "keep_uniform": False,
        "portfolio": 0,
        "start_thetas": [],
        "preset": None,
    },
}
"""Keys (and their defaults) that the fingerprint leaves out while at the default."""


def check_value(section: str, key: str, value: Any) -> tuple[Any, str | None]:
    """Checks one value against the config's rule for ``section.key``.

    Other files that hold the same settings (a sampler spec's ``features``, ``eps``...) are
    checked with the same rules, so they accept and refuse the same values.

    Returns:
        ``(normalised value, None)``, or ``(None, problem)`` with the problem in words, e.g.
        ``must be a finite number in (0, 1), got None``.
    """
    return _RULES[section][key].check(value)


_Section = DataConfig | ModelConfig | TrainSection | SamplerConfig | SearchConfig | FinalConfig
_SECTIONS: dict[str, type[_Section]] = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainSection,
    "sampler": SamplerConfig,
    "search": SearchConfig,
    "final": FinalConfig,
}


@dataclass(frozen=True)
class Config:
    """A whole run config: one frozen dataclass per TOML section.

    Build one with :func:`load_config`, :func:`parse_config` or :func:`default_config`;
    those check every rule and resolve ``search.preset = "auto"`` (``Config()`` itself has
    the dataclasses' defaults: the full search). Change one with ``dataclasses.replace`` and
    re-check it with ``parse_config(config.to_dict())``.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainSection = field(default_factory=TrainSection)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    final: FinalConfig = field(default_factory=FinalConfig)

    def __post_init__(self) -> None:
        s = self.search
        shared, finetune = resolve_epochs(
            self.train.epochs, s.shared_fraction, s.shared_epochs, s.finetune_epochs
        )
        if (shared, finetune) != (s.shared_epochs, s.finetune_epochs):
            resolved = dataclasses.replace(s, shared_epochs=shared, finetune_epochs=finetune)
            object.__setattr__(self, "search", resolved)

    @property
    def start_thetas(self) -> tuple[tuple[float, ...], ...]:
        """The thetas of slots ``1, 2, ...``: the first ``search.portfolio`` thetas of the
        built-in portfolio, then ``search.start_thetas``."""
        s = self.search
        return tuple(PORTFOLIO_THETAS[: s.portfolio]) + s.start_thetas

    @property
    def epochs_split(self) -> tuple[int, int]:
        """``(E_s, E_o)``: the shared-start and fine-tune epochs, resolved."""
        s = self.search
        assert s.shared_epochs is not None and s.finetune_epochs is not None  # __post_init__
        return s.shared_epochs, s.finetune_epochs

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Every field, defaults included, as plain JSON types (tuples become lists).

        ``parse_config(config.to_dict()) == config``.
        """
        out: dict[str, dict[str, Any]] = {}
        for name in _SECTIONS:
            section = getattr(self, name)
            out[name] = {
                f.name: _plain(getattr(section, f.name)) for f in dataclasses.fields(section)
            }
        return out

    def fingerprint(self) -> str:
        """SHA-256 hex digest of the canonical JSON of :meth:`to_dict` (sorted keys).

        Two configs have the same fingerprint exactly when every field is equal, so a resumed
        run can compare it with the one it stored and refuse a changed config. Keys added
        after studies were already stored (:data:`_ADDED_KEYS`) enter it only when they differ
        from their default, so those studies still resume. With ``search.portfolio = k`` the
        k thetas themselves enter it too, so a study does not resume with other built-in
        thetas than it started with. ``search.preset`` enters it like any key: a study
        started with the preset resumes with the preset (studies stored with it keep their
        fingerprint).
        """
        data = self.to_dict()
        for section, keys in _ADDED_KEYS.items():
            for key, default in keys.items():
                if data[section][key] == default:
                    del data[section][key]
        if self.search.portfolio:
            data["search"]["portfolio_thetas"] = [
                list(t) for t in PORTFOLIO_THETAS[: self.search.portfolio]
            ]
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def to_toml(self) -> str:
        """The config as TOML text that :func:`parse_config` reads back to an equal config.

        Every set field is written, defaults included; ``None`` fields are left out, since
        TOML has no null and an absent key means ``None``.
        """
        lines = ["# swift-sampler run config"]
        for name, section in self.to_dict().items():
            lines += ["", f"[{name}]"]
            lines += [f"{key} = {_toml_value(v)}" for key, v in section.items() if v is not None]
        return "\n".join(lines) + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return thaw(value)
    return [_plain(item) for item in value] if isinstance(value, tuple) else value


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # repr is the shortest text that reads back to the same float, and is valid TOML for
        # finite values (parse_config rejects inf and nan).
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):  # an inline table: {a = 1, "b c" = "x"}
        items = (f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML: {value!r}")


_TOML_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def _toml_string(text: str) -> str:
    out = []
    for char in text:
        if char in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:  # control characters must be escaped
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


# --------------------------------------------------------------------------------------------
# Parsing.


def resolve_epochs(
    epochs: int, shared_fraction: float, shared: int | None, finetune: int | None
) -> tuple[int, int]:
    """``(E_s, E_o)`` of a schedule of ``epochs``: the given values, or for unset ones
    ``E_s = round(shared_fraction * epochs)`` inside ``[1, epochs - 1]`` and
    ``E_o = epochs - E_s`` (the rest of the schedule; at least 1)."""
    if shared is None:
        shared = min(max(1, round(shared_fraction * epochs)), max(1, epochs - 1))
    if finetune is None:
        finetune = max(1, epochs - shared)
    return shared, finetune


def default_config() -> Config:
    """The config of an empty TOML file: every key at its default, ``search.preset = "auto"``
    resolved (to the swift preset: MNIST-5k, the CNN and the default family qualify).

    ``Config()`` holds the dataclasses' own defaults instead, the full search. A sampler
    family changed on this config with ``dataclasses.replace`` no longer fits the preset's
    portfolio: :func:`swift_sampler.search.driver.run_search` refuses it
    (:func:`start_problems`); re-check a changed config with ``parse_config``."""
    return parse_config({}, source="<default config>")


def load_config(path: str | os.PathLike[str]) -> Config:
    """Reads and checks a TOML run config.

    Args:
        path: The ``.toml`` file.

    Returns:
        The checked config.

    Raises:
        ConfigError: The file is missing or unreadable, is not valid TOML (the message has the
            path and tomllib's line and column), or breaks any rule (all are listed).
    """
    return parse_config(read_config_file(path), source=str(Path(path)))


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The TOML of a config file, unchecked (:func:`load_config` checks it).

    Raises:
        ConfigError: The file is missing, a directory or not a regular file, unreadable, or
            not valid TOML (the message has the path and tomllib's line and column).
    """
    file = Path(path)
    if file.is_dir():
        raise ConfigError(f"config file {file} is a directory; give the .toml file")
    if file.exists() and not file.is_file():  # a FIFO or device: reading it could block
        raise ConfigError(f"config file {file} is not a regular file; give the .toml file")
    if not file.is_file():
        raise ConfigError(f"config file not found: {file}")
    try:
        with file.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"invalid TOML in config file {file}: {err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"invalid TOML in config file {file}: not UTF-8 ({err})") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {file}: {err}") from None
    return data


def parse_config(data: Mapping[str, Any], *, source: str = "<config>") -> Config:
    """Checks a config given as nested mappings (parsed TOML, or :meth:`Config.to_dict`).

    Every section and key is optional. Bools are not accepted as numbers; ints are accepted
    where a float is expected. ``None`` means "absent" for the keys that may be unset.

    Args:
        data: ``{section: {key: value}}``.
        source: Where ``data`` came from (a path), for the first line of the error message.

    Returns:
        The checked config; lists are stored as tuples and ints for floats as floats.

    Raises:
        ConfigError: One error listing every problem, one per line, each starting with its
            dotted key, e.g. ``search.trials: must be an integer >= 1, got 'ten'``.
    """
    return _parse(data, source)[0]


def _parse(data: Mapping[str, Any], source: str) -> tuple[Config, _PresetChoice]:
    """:func:`parse_config`, and what ``search.preset`` resolved to and why."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: a config must be a table of sections, got {data!r}")
    problems: list[str] = []
    known_sections = list(_SECTIONS)
    for name in data:
        if name not in _SECTIONS and not isinstance(data[name], Mapping):
            # ``trials = 5`` above every [section]: TOML puts it at the top level.
            homes = [f"[{s}]" for s, cls in _SECTIONS.items() if name in _field_names(cls)]
            where = f"; put it under {' or '.join(homes)}" if homes else ""
            problems.append(
                f"{name}: a key outside any section (known sections: "
                f"{', '.join(known_sections)}){where}"
            )
        elif name not in _SECTIONS:
            problems.append(
                f"unknown section {name!r} (known: {', '.join(known_sections)})"
                + _did_you_mean(str(name), known_sections)
            )

    values: dict[str, dict[str, Any]] = {}
    bad: set[str] = set()  # dotted keys with a problem; cross-field rules skip them
    for name, cls in _SECTIONS.items():
        raw = data.get(name, {})
        if not isinstance(raw, Mapping):
            problems.append(f"{name}: must be a table ([{name}]), got {raw!r}")
            bad.update(f"{name}.{f.name}" for f in dataclasses.fields(cls))
            raw = {}
        values[name] = _parse_section(name, cls, raw, problems, bad)

    raw_data = data.get("data", {})
    if isinstance(raw_data, Mapping) and "noise_rate" not in raw_data:
        d = values["data"]
        if d["factory"] is not None or d["name"] in FILE_DATASET_NAMES:
            d["noise_rate"] = 0.0  # your own data is used as it is unless noise is asked for
    if isinstance(raw_data, Mapping) and values["data"]["name"] in TEXT_DATASET_NAMES:
        # A default value passes: Config.to_toml writes every key into a run's config.toml,
        # which `search DIR/config.toml --resume` reads back.
        problems += [
            f"data.{key}: the text datasets have no labels to flip; use data.contamination "
            f"(and data.contamination_kind), got {key} = {raw_data[key]!r}"
            for key in ("noise_rate", "noise_type")
            if key in raw_data
            and f"data.{key}" not in bad
            and values["data"][key] != getattr(DataConfig, key)
        ]
    raw_search = data.get("search", {})
    filled: set[str] = set()
    # "auto" (or no preset key): which search it became, and the keys that turned it off.
    choice = _PresetChoice(None, False, [], "[search] is not a table")
    if isinstance(raw_search, Mapping):
        choice = _resolve_preset(values, raw_search, bad)
        values["search"]["preset"] = choice.preset
    if values["search"]["preset"] is not None and isinstance(raw_search, Mapping):
        filled = _apply_preset(values, raw_search, bad)
    problems += [
        _preset_note(p, filled, values["search"], choice=choice)
        for p in _cross_field_problems(values, bad)
    ]
    problems += _own_data_problems(values, bad)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise ConfigError(f"{source}: {count} in config:\n" + "\n".join(problems))
    sections: dict[str, Any] = {name: cls(**values[name]) for name, cls in _SECTIONS.items()}
    return Config(**sections), choice


def _parse_section(
    name: str,
    cls: type[_Section],
    raw: Mapping[str, Any],
    problems: list[str],
    bad: set[str],
) -> dict[str, Any]:
    """The section's values (defaults filled in); appends problems and bad dotted keys."""
    fields = dataclasses.fields(cls)
    known = [f.name for f in fields]
    values: dict[str, Any] = {}
    for f in fields:
        if f.name not in raw:
            values[f.name] = _default(f)
            continue
        value, problem = _RULES[name][f.name].check(raw[f.name])
        if problem is None:
            values[f.name] = value
        else:
            problems.append(f"{name}.{f.name}: {problem}")
            bad.add(f"{name}.{f.name}")
            values[f.name] = _default(f)
    for key in raw:
        if key not in known:
            problems.append(
                f"{name}.{key}: unknown key (known: {', '.join(known)})"
                + _did_you_mean(str(key), known)
            )
    return values


@dataclass(frozen=True)
class _PresetChoice:
    """What ``search.preset`` resolved to, and why."""

    preset: str | None
    """``"swift"`` or None (the full search), as the built config holds it."""
    automatic: bool
    """Whether the config left it to ``"auto"``."""
    off_by: list[str]
    """The search-shaping keys that turned ``auto``'s preset off (else empty)."""
    why: str
    """Why, in words: ``written``, or the rule of ``auto`` that decided."""


def _resolve_preset(
    values: dict[str, dict[str, Any]], raw_search: Mapping[str, Any], bad: set[str]
) -> _PresetChoice:
    """``search.preset`` as the built config holds it: ``"swift"`` or None (the full search).

    ``"auto"`` (also a config without the key, or with it None) is ``"swift"`` for a
    classifier (not a text dataset) with the default ``[sampler]`` family (the only one the
    portfolio's thetas were found in) and no key of :data:`SEARCH_SHAPING_KEYS` in
    ``[search]`` (a config that sets one asks for its own search); otherwise None. The
    evidence behind it: docs/results.md, "The swift preset against the full search, on
    validation".

    """
    preset = values["search"]["preset"]
    if "search.preset" in bad:
        return _PresetChoice(None, False, [], "search.preset is bad")
    if preset is not None and preset != "auto":
        return _PresetChoice(None if preset == "none" else preset, False, [], "written")
    data, sampler = values["data"], values["sampler"]
    family = [f"sampler.{key}" for key in PORTFOLIO_FAMILY]
    if bad.intersection(["data.name", "data.factory", *family]):
        # Reported as it is; which search it would be does not matter then.
        return _PresetChoice(None, True, [], "a bad data or sampler key")
    if data["name"] in TEXT_DATASET_NAMES and data["factory"] is None:
        return _PresetChoice(None, True, [], f"a text dataset, {data['name']!r}")
    ours = {k: tuple(v) if k == "features" else v for k, v in sampler.items()}
    other = [key for key, value in PORTFOLIO_FAMILY.items() if ours[key] != value]
    if other:
        keys = ", ".join(f"sampler.{key}" for key in other)
        return _PresetChoice(
            None, True, [], f"the [sampler] family is not the portfolio's: {keys}"
        )
    shaping = [key for key in SEARCH_SHAPING_KEYS if key in raw_search]
    if shaping:
        keys = ", ".join(f"search.{key}" for key in shaping)
        return _PresetChoice(None, True, shaping, f"[search] sets {keys}")
    return _PresetChoice(
        "swift", True, [], "a classifier with the default [sampler] and no search-shaping key"
    )


def search_choice(data: Mapping[str, Any], *, source: str = "<config>") -> tuple[Config, str]:
    """The checked config of ``data`` (parsed TOML), and which search it runs and why in one
    line, e.g. ``the full search (search.preset = 'auto': [search] sets search.trials)``.

    Raises:
        ConfigError: as :func:`parse_config`, when ``data`` breaks a rule.
    """
    config, choice = _parse(data, source)
    name = "the swift preset" if config.search.preset == "swift" else "the full search"
    written = data.get("search", {}).get("preset")
    rule = f"search.preset = {written!r}" if choice.why == "written" else "search.preset = 'auto'"
    return config, f"{name} ({rule}{'' if choice.why == 'written' else ': ' + choice.why})"


def _apply_preset(
    values: dict[str, dict[str, Any]], raw_search: Mapping[str, Any], bad: set[str]
) -> set[str]:
    """Fills the ``search`` keys the config leaves unset with ``search.preset``'s values.

    Returns:
        The keys it filled (``trials``, ``epoch_parts``, ``min_resource`` included when
        derived), so a problem with one of them can say where its value came from.
    """
    search = values["search"]
    filled = {key for key in SWIFT_PRESET if key not in raw_search}
    for key in filled:
        search[key] = SWIFT_PRESET[key]
    if "trials" not in raw_search and not bad.intersection(
        ("search.portfolio", "search.start_thetas", "search.startup_trials")
    ):
        # One trial for the uniform sampler, each portfolio theta, each of your own thetas and
        # each start-up point you ask for; never fewer than the preset's own.
        wanted = 1 + search["portfolio"] + len(search["start_thetas"]) + search["startup_trials"]
        search["trials"] = max(SWIFT_PRESET["trials"], wanted)
    if "min_resource" in raw_search or search["pruner"] == "none":
        return filled
    epoch_keys = ("search.shared_fraction", "search.shared_epochs", "search.finetune_epochs")
    if "train.epochs" in bad or bad.intersection(epoch_keys) or "search.epoch_parts" in bad:
        return filled  # reported as it is; the third of a bad fine-tune means nothing
    _, finetune = resolve_epochs(
        values["train"]["epochs"],
        search["shared_fraction"],
        search["shared_epochs"],
        search["finetune_epochs"],
    )
    # The first rung is a third of the fine-tune: in whole epochs when they divide by 3, else
    # in thirds of an epoch (a 5-epoch tail is screened on 5 of its 15 thirds).
    if "epoch_parts" not in raw_search:
        search["epoch_parts"] = 1 if finetune % 3 == 0 else 3
        filled.add("epoch_parts")
    search["min_resource"] = max(1, finetune * search["epoch_parts"] // 3)
    return filled | {"min_resource"}


def _preset_note(
    problem: str, filled: set[str], search: Mapping[str, Any], *, choice: _PresetChoice
) -> str:
    """``problem`` with the values it names that ``search.preset`` set, and how to override.

    Under the automatic preset, setting one of its keys turns the preset off, so the advice
    is to write ``preset = "swift"`` beside it. A problem with a key that only a pruner
    reads, set where it turned the automatic preset off (``choice.off_by``) and no pruner of
    the config's own, says so: the user may have meant to tune the preset's."""
    named = sorted(k for k in filled if re.search(rf"\bsearch\.{k}\b", problem))
    if named:
        which = ", ".join(f"search.{k} = {search[k]!r}" for k in named)
        them = "it" if len(named) == 1 else "them"
        if choice.automatic:
            return (
                f"{problem} ({which} from the automatic search.preset = 'swift'; setting "
                f"{them} in [search] alone asks for the full search instead: write preset = "
                f"'swift' beside {them} to keep the preset with your value)"
            )
        return (
            f"{problem} ({which} from search.preset = {search['preset']!r}; set {them} in "
            "[search] to override)"
        )
    # Keys that only a pruner reads: set alone, they were likely meant for the preset's.
    pruner_keys = ("min_resource", "reduction_factor", "finalists", "keep_uniform", "epoch_parts")
    off_by = choice.off_by
    mine = "pruner" not in off_by and any(
        k in pruner_keys and problem.startswith(f"search.{k}:") for k in off_by
    )
    if mine:
        keys = ", ".join(f"search.{k}" for k in off_by)
        them = "it" if len(off_by) == 1 else "them"
        return (
            f"{problem} ([search] sets {keys}, so it is the full search, not the automatic "
            f"swift preset; write preset = 'swift' beside {them} to keep the preset with your "
            "values)"
        )
    return problem


def start_problems(config: Config) -> list[str]:
    """The problems of ``config``'s start thetas (the portfolio against the sampler family,
    their count against the trials), as :func:`parse_config` reports them: for a config
    changed with ``dataclasses.replace`` after it was checked."""
    data = config.to_dict()
    return _start_problems(data["sampler"], data["search"], lambda *keys: True)


def added_default(section: str, key: str) -> Any:
    """The value a key added after studies were stored had before it existed (its default),
    or :data:`MISSING` for a key that every stored config holds."""
    return _ADDED_KEYS.get(section, {}).get(key, MISSING)


MISSING = object()
"""What :func:`added_default` returns for a key that is not an added one."""


def _field_names(cls: type[_Section]) -> set[str]:
    """The keys a section takes."""
    return {f.name for f in dataclasses.fields(cls)}


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not dataclasses.MISSING:  # a table: an empty FrozenTable
        return f.default_factory()
    return f.default


def _text_problems(values: dict[str, dict[str, Any]], usable: Any) -> list[str]:
    """The rules of the text datasets and the gpt: which keys go together, what fits."""
    problems = []
    data, model = values["data"], values["model"]
    text = data["name"] in TEXT_DATASET_NAMES and data["factory"] is None
    gpt = model["name"] == "gpt"
    if text and model["factory"] is not None:
        return [
            f"model.factory: a text dataset ({data['name']!r}) trains the built-in gpt, not a "
            f"factory's model; leave model.factory out and set model.name = 'gpt'"
        ]
    if data["factory"] is not None and gpt:
        return [
            "model.name: the gpt trains on the text datasets (data.name in "
            f"{list(TEXT_DATASET_NAMES)}), not on a data.factory's datasets"
        ]
    if usable("data.name", "model.name") and text != gpt:
        if text:
            problems.append(
                f"model.name: data.name = {data['name']!r} is a text dataset and needs "
                f"model.name = 'gpt', got {model['name']!r}"
            )
        else:
            problems.append(
                f"model.name: 'gpt' is a language model and needs a text dataset (data.name "
                f"in {list(TEXT_DATASET_NAMES)}), got data.name = {data['name']!r}"
            )
    if usable("data.name", "data.contamination") and not text and data["contamination"] > 0:
        problems.append(
            f"data.contamination: only the text datasets {list(TEXT_DATASET_NAMES)} are "
            f"contaminated (use data.noise_rate for {data['name']!r}), "
            f"got {data['contamination']!r}"
        )
    if usable("data.name") and not text:
        # The text datasets' other keys: silently unused on another dataset, where
        # contamination and corpus are refused. A default value passes (Config.to_dict and
        # a saved config.toml write every key).
        for key in (
            "contamination_kind",
            "seq_len",
            "tokens",
            "train_sequences",
            "eval_sequences",
        ):
            if usable(f"data.{key}") and data[key] != getattr(DataConfig, key):
                problems.append(
                    f"data.{key}: only the text datasets {list(TEXT_DATASET_NAMES)} use it "
                    f"(data.name is {data['name']!r}"
                    + (" with a data.factory" if data["factory"] is not None else "")
                    + f"), got {data[key]!r}; leave it out"
                )
    if usable("data.name", "data.corpus"):
        if data["name"] == "text" and data["corpus"] is None:
            problems.append(
                "data.corpus: data.name = 'text' needs a corpus: a UTF-8 text file or a "
                "directory of *.txt files"
            )
        elif data["name"] != "text" and data["corpus"] is not None:
            problems.append(
                f"data.corpus: only data.name = 'text' reads a corpus (data.name is "
                f"{data['name']!r}), got {data['corpus']!r}"
            )
    if usable("model.name"):
        if gpt and model["width"] is not None:
            problems.append(
                f"model.width: the gpt's width is model.d_model, got width = {model['width']}"
            )
        if not gpt:
            for key in GPT_KEYS:
                if model[key] is not None:
                    problems.append(
                        f"model.{key}: only model.name = 'gpt' has {key}, got model.name = "
                        f"{model['name']!r}"
                    )
    if gpt and usable("model.d_model", "model.heads"):
        d_model = model["d_model"] or GPT_DEFAULTS["d_model"]
        heads = model["heads"] or GPT_DEFAULTS["heads"]
        if d_model % heads:
            problems.append(
                f"model.heads: model.d_model ({d_model}) must be a multiple of model.heads "
                f"({heads}): each head takes d_model / heads channels"
            )
    context = model["context"]
    fits = context is None or data["seq_len"] <= context
    if gpt and not fits and usable("model.context", "data.seq_len"):
        problems.append(
            f"data.seq_len: a sequence of {data['seq_len']} tokens does not fit the gpt's "
            f"model.context = {context}; raise model.context or lower data.seq_len"
        )
    return problems


def _start_problems(sampler: dict[str, Any], search: dict[str, Any], usable: Any) -> list[str]:
    """search.portfolio and search.start_thetas against the family and the trial count."""
    problems = []
    count = search["portfolio"] if usable("search.portfolio") else 0
    available = len(PORTFOLIO_THETAS)
    if count > available:
        problems.append(
            f"search.portfolio: the built-in portfolio holds {available} thetas, got {count}"
        )
    keys = tuple(f"sampler.{k}" for k in PORTFOLIO_FAMILY)
    if count and usable(*keys):
        family = {
            k: tuple(sampler[k]) if k == "features" else sampler[k] for k in PORTFOLIO_FAMILY
        }
        theirs = PORTFOLIO_FAMILY
        differ = [
            f"sampler.{k} = {_toml_value(v)} (the portfolio's: {_toml_value(theirs[k])})"
            for k, v in family.items()
            if v != theirs[k]
        ]
        if differ:
            fix = (
                "search.preset = 'swift' tries the whole portfolio: drop the preset"
                if search["preset"] is not None
                else "set portfolio = 0"
            )
            problems.append(
                "search.portfolio: the built-in portfolio's thetas mean what they mean only in "
                f"the family they were found for, but {'; '.join(differ)}; {fix} or use that "
                "family"
            )
    thetas = search["start_thetas"] if usable("search.start_thetas") else ()
    if thetas and usable("sampler.features", "sampler.segments"):
        size = len(sampler["features"]) * (sampler["segments"] + 1)
        wrong = [i for i, theta in enumerate(thetas) if len(theta) != size]
        if wrong:
            problems.append(
                f"search.start_thetas: every theta must have M (S + 1) = "
                f"{len(sampler['features'])} x {sampler['segments'] + 1} = {size} numbers "
                f"(sampler.features, sampler.segments), but entry {wrong[0]} has "
                f"{len(thetas[wrong[0]])}"
            )
    # Tuples: a config's own thetas are, to_dict()'s are lists (start_problems).
    shared = [i for i, theta in enumerate(thetas) if tuple(theta) in PORTFOLIO_THETAS[:count]]
    if shared:
        j = PORTFOLIO_THETAS.index(tuple(thetas[shared[0]]))
        problems.append(
            f"search.start_thetas: entry {shared[0]} is the portfolio's theta {j}, which "
            f"search.portfolio = {count} already tries; leave it out"
        )
    room = search["trials"] - 1
    if usable("search.trials") and count + len(thetas) > room:
        problems.append(
            f"search.trials: slot 0 is the uniform sampler, so {search['trials']} trials leave "
            f"room for {room} start theta{'' if room == 1 else 's'}, but search.portfolio "
            f"asks for {count} and search.start_thetas holds {len(thetas)}; raise trials or "
            "try fewer"
            + (
                " (search.preset = 'swift' makes room for all of them when trials is left out)"
                if search["preset"] is not None
                else ""
            )
        )
    return problems


def _cross_field_problems(values: dict[str, dict[str, Any]], bad: set[str]) -> list[str]:
    """Rules that tie keys together; a rule is skipped when one of its keys already failed."""
    problems = []

    def usable(*keys: str) -> bool:
        return not bad.intersection(keys)

    data, sampler, search = values["data"], values["sampler"], values["search"]
    epochs = values["train"]["epochs"]
    # The resolved E_s and E_o, as the built Config holds them (a bad key has its default here).
    derived = search["shared_epochs"] is None
    search = dict(search)
    search["shared_epochs"], search["finetune_epochs"] = resolve_epochs(
        epochs, search["shared_fraction"], search["shared_epochs"], search["finetune_epochs"]
    )

    if usable("data.val_fraction", "data.test_fraction"):
        val, test = data["val_fraction"], data["test_fraction"]
        if test is None and val + DEFAULT_TEST_FRACTION >= 1:
            problems.append(
                f"data.val_fraction: must be < {1 - DEFAULT_TEST_FRACTION:g} with data."
                f"test_fraction unset (the default test share is {DEFAULT_TEST_FRACTION:g}) "
                f"to leave training data, got {val!r}"
            )
        elif test is not None and val + test >= 1:
            problems.append(
                f"data.test_fraction: data.val_fraction + data.test_fraction must be < 1 to "
                f"leave training data, got {val!r} + {test!r}"
            )

    samples = data["samples"]
    if samples is not None and usable("data.samples", "data.name"):
        if data["name"] != "mnist1d" or data["factory"] is not None:
            problems.append(
                f"data.samples: only the generated mnist1d has a size to choose, but data.name "
                f"is {data['name']!r}{' with a data.factory' if data['factory'] else ''}; "
                "leave data.samples out"
            )
        elif samples % 10:
            problems.append(
                f"data.samples: must be a multiple of 10 (mnist1d makes as many signals of each "
                f"class), got {samples}"
            )

    cache = data["cache_dir"]
    # A file where the cache directory goes: mkdir would fail with only "File exists".
    if (
        cache is not None
        and usable("data.cache_dir")
        and Path(cache).exists()
        and not Path(cache).is_dir()
    ):
        problems.append(
            f"data.cache_dir: {cache} exists and is not a directory; name a directory "
            "(it is created if missing)"
        )

    problems += _text_problems(values, usable)

    if (
        usable("sampler.features", "sampler.transform")
        and sampler["transform"] == "cgf"
        and "grad_norm" in sampler["features"]
    ):
        problems.append(
            "sampler.features: 'grad_norm' cannot be a feature with sampler.transform = 'cgf' "
            f"(cgf uses it as the weight), got {list(sampler['features'])!r}"
        )

    search_seed = search["seed"]
    if usable("final.seeds", "search.seed") and search_seed in values["final"]["seeds"]:
        others = list(range(search_seed + 1, search_seed + 4))
        problems.append(
            f"final.seeds: must not include search.seed ({search_seed}), the seed of the shared "
            f"start and the candidates' draws the sampler was selected on (that final run would "
            f"replay the selected trial); report other seeds, e.g. {others}, got "
            f"{list(values['final']['seeds'])!r}"
        )

    if usable("search.trials", "search.startup_trials") and (
        search["startup_trials"] > search["trials"]
    ):
        problems.append(
            f"search.startup_trials: must be <= search.trials ({search['trials']}), "
            f"got {search['startup_trials']}"
        )

    problems += _start_problems(sampler, search, usable)
    # With the features computed once there is no refresh to average over or to thin out.
    if usable("sampler.refresh", "sampler.history") and (
        sampler["refresh"] == "once" and sampler["history"] > 0
    ):
        problems.append(
            f"sampler.history: a moving average over refreshes, read only with "
            f"sampler.refresh = 'every_epoch' (here 'once'), got {sampler['history']!r}; "
            "set history = 0.0 or refresh = 'every_epoch'"
        )
    if usable("sampler.refresh", "search.refresh_every") and (
        sampler["refresh"] == "once" and search["refresh_every"] > 1
    ):
        problems.append(
            f"search.refresh_every: thins the refreshes, read only with sampler.refresh = "
            f"'every_epoch' (here 'once'), got {search['refresh_every']}; set refresh_every = "
            "1 or refresh = 'every_epoch'"
        )

    if usable("train.epochs") and derived and epochs < 2:
        problems.append(
            f"train.epochs: a search needs at least 2 epochs (a shared start, then the "
            f"fine-tunes), got {epochs}"
        )
    elif usable("search.shared_epochs", "train.epochs") and search["shared_epochs"] >= epochs:
        problems.append(
            f"search.shared_epochs: must be < train.epochs ({epochs}), "
            f"got {search['shared_epochs']}"
        )
    elif (
        usable("search.shared_epochs", "search.finetune_epochs", "search.finetune_schedule")
        and usable("train.epochs")
        and search["finetune_schedule"] == "tail"
        and search["shared_epochs"] + search["finetune_epochs"] > epochs
    ):
        shared, finetune = search["shared_epochs"], search["finetune_epochs"]
        problems.append(
            f"search.finetune_epochs: with search.finetune_schedule = 'tail', "
            f"search.shared_epochs + search.finetune_epochs must be <= train.epochs "
            f"({epochs}), got {shared} + {finetune} = {shared + finetune}"
        )
    if usable("search.pruner", "search.finetune_epochs", "search.min_resource") and (
        search["pruner"] != "none"
    ):
        pruner, finetune = search["pruner"], search["finetune_epochs"]
        parts = search["epoch_parts"] if usable("search.epoch_parts") else 1
        if finetune * parts < 2:
            problems.append(
                f"search.pruner: {pruner!r} needs search.finetune_epochs >= 2 or "
                f"search.epoch_parts >= 2 (a pruner stops a candidate between steps), got "
                f"{finetune} epoch(s) of {parts} part(s); set pruner = 'none'"
            )
        elif search["min_resource"] >= finetune * parts:
            unit = "" if parts == 1 else f" * search.epoch_parts = {finetune * parts} steps"
            problems.append(
                f"search.min_resource: must be < search.finetune_epochs ({finetune}){unit} "
                f"with search.pruner = {pruner!r} (the first rung must come before the last "
                f"step), got {search['min_resource']}"
            )
    if (
        usable("search.pruner", "search.epoch_parts")
        and search["pruner"] == "none"
        and search["epoch_parts"] > 1
    ):
        problems.append(
            f"search.epoch_parts: {search['epoch_parts']} parts per epoch only matter to a "
            "pruner (they are the steps it may stop a candidate at); set search.pruner = "
            "'successive_halving' or 'hyperband', or epoch_parts = 1"
        )
    # Keys that only a pruner reads, set to another value than their default where the
    # chosen pruner ignores them: the user asked for something the search would not do.
    # (config.toml writes every key, so a default value is never refused.)
    default_search = SearchConfig()
    readers = {
        "min_resource": ("successive_halving", "hyperband", "synchronous_halving"),
        "reduction_factor": ("successive_halving", "hyperband", "synchronous_halving"),
        "finalists": ("synchronous_halving",),
        "keep_uniform": ("synchronous_halving",),
    }
    for key, pruners in readers.items():
        if (
            usable("search.pruner", f"search.{key}")
            and search["pruner"] not in pruners
            and search[key] != getattr(default_search, key)
        ):
            which = (
                "a pruner" if len(pruners) > 1 else f"search.pruner = {_toml_value(pruners[0])}"
            )
            problems.append(
                f"search.{key}: read only with {which} (here "
                f"{_toml_value(search['pruner'])}), got {_toml_value(search[key])}; set "
                f"{'one' if len(pruners) > 1 else 'that pruner'} or leave {key} out"
            )
    if (
        usable("search.pruner", "search.bootstrap_count")
        and search["pruner"] != "successive_halving"
        and search["bootstrap_count"] > 0
    ):
        problems.append(
            f"search.bootstrap_count: works with search.pruner = 'successive_halving' only "
            f"(got {search['pruner']!r}: without a pruner nothing is promoted, and each "
            "Hyperband bracket has its own first rung); set bootstrap_count = 0"
        )
    if usable("search.patience", "search.trials") and search["patience"] >= search["trials"]:
        problems.append(
            f"search.patience: must be < search.trials ({search['trials']}) (0 turns the "
            f"stopping rule off), got {search['patience']}"
        )
    return problems


def _own_data_problems(values: dict[str, dict[str, Any]], bad: set[str]) -> list[str]:
    """The rules of your own data and model: which keys go with ``factory``, ``arrays`` and
    ``folder``; a rule is skipped when one of its keys already failed."""
    problems = []
    data, model = values["data"], values["model"]
    default_data, default_model = DataConfig(), ModelConfig()
    own = data["factory"] is not None or data["name"] in FILE_DATASET_NAMES
    if data["factory"] is not None:
        if data["name"] != default_data.name and "data.name" not in bad:
            problems.append(
                f"data.name: leave it out with data.factory (the factory gives the data), "
                f"got {data['name']!r}"
            )
        if data["noise_rate"] != 0 and "data.noise_rate" not in bad:
            problems.append(
                f"data.noise_rate: must be 0 with data.factory (inject the noise in the "
                f"factory and return its 'noise_mask'), got {data['noise_rate']!r}"
            )
        for key in ("path", "labels_path", "test_fraction"):
            if data[key] is not None:
                problems.append(
                    f"data.{key}: not used with data.factory (the factory makes the splits; "
                    f"pass it in [data.kwargs]), got {data[key]!r}"
                )
    elif data["kwargs"]:
        problems.append(
            f"data.kwargs: only used with data.factory, got {data['kwargs']!r}; set "
            "data.factory = 'package.module:function' or remove [data.kwargs]"
        )
    if data["factory"] is None and data["name"] in FILE_DATASET_NAMES and "data.name" not in bad:
        what = (
            "an .npz file (x, y and optional x_val, y_val, x_test, y_test), or an inputs .npy "
            "with data.labels_path"
            if data["name"] == "arrays"
            else "a directory with one sub-directory of images per class"
        )
        if data["path"] is None and "data.path" not in bad:
            problems.append(f"data.path: name = {data['name']!r} needs data.path, {what}")
        if data["labels_path"] is not None and data["name"] != "arrays":
            problems.append(
                f"data.labels_path: only used with name = 'arrays', got {data['labels_path']!r}"
            )
    elif data["factory"] is None and "data.name" not in bad:
        for key in ("path", "labels_path"):
            if data[key] is not None:
                problems.append(
                    f"data.{key}: only used with name = 'arrays' or 'folder' (your own files), "
                    f"not with the bundled {data['name']!r}; got {data[key]!r}"
                )
    if not own and data["num_classes"] is not None and "data.name" not in bad:
        problems.append(
            f"data.num_classes: only used with your own data (data.factory, name = 'arrays' or "
            f"'folder'); {data['name']!r} has its own, got {data['num_classes']!r}"
        )

    text = data["name"] in TEXT_DATASET_NAMES and data["factory"] is None
    if model["factory"] is not None:
        # With text data, the one message is model.factory's (the text rules).
        if model["name"] != default_model.name and "model.name" not in bad and not text:
            problems.append(
                f"model.name: leave it out with model.factory (the factory builds the model), "
                f"got {model['name']!r}"
            )
        if model["width"] is not None:
            problems.append(
                f"model.width: not used with model.factory (pass it in [model.kwargs]), "
                f"got {model['width']!r}"
            )
    elif model["kwargs"]:
        problems.append(
            f"model.kwargs: only used with model.factory, got {model['kwargs']!r}; set "
            "model.factory = 'package.module:function' or remove [model.kwargs]"
        )
    return problems
