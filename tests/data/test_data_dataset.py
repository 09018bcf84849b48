"""load_dataset: sizes, clean test labels, noise bookkeeping, seeding, immutability, errors."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import swift_sampler
from swift_sampler.data import (
    ClassificationData,
    inject_label_noise,
    load_dataset,
    load_digits_arrays,
)
from swift_sampler.errors import InputDataError

mnist1d_data = pytest.importorskip("mnist1d.data")


def _labels(dataset: Any) -> np.ndarray:
    return dataset.tensors[1].numpy()


def _inputs(dataset: Any) -> np.ndarray:
    return dataset.tensors[0].numpy()


@pytest.fixture(scope="module")
def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    return load_digits_arrays()


@pytest.fixture(scope="module")
def noisy_digits() -> ClassificationData:
    return load_dataset("digits", noise_rate=0.3, noise_type="symmetric", seed=5)


def test_digits_sizes_shapes_and_metadata(noisy_digits: ClassificationData) -> None:
    data = noisy_digits
    assert (len(data.train), len(data.val), len(data.test)) == (1258, 180, 359)
    assert data.input_shape == (1, 8, 8) and data.num_classes == 10
    assert (data.name, data.noise_type, data.noise_rate, data.seed) == (
        "digits",
        "symmetric",
        0.3,
        5,
    )
    x, y = data.train[0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32
    assert y.shape == () and y.dtype == torch.int64


def test_splits_trace_back_to_the_source_rows(
    noisy_digits: ClassificationData, digits_arrays: tuple[np.ndarray, np.ndarray]
) -> None:
    data, (x, y) = noisy_digits, digits_arrays
    joined = np.concatenate(data.split)
    np.testing.assert_array_equal(np.sort(joined), np.arange(len(y)))
    for part, dataset in zip(data.split, (data.train, data.val, data.test), strict=True):
        np.testing.assert_array_equal(_inputs(dataset), x[part])
    np.testing.assert_array_equal(_labels(data.test), y[data.split.test])  # test stays clean
    np.testing.assert_array_equal(data.train_clean_labels, y[data.split.train])
    np.testing.assert_array_equal(data.val_clean_labels, y[data.split.val])


def test_noise_masks_match_the_changed_labels_exactly(noisy_digits: ClassificationData) -> None:
    data = noisy_digits
    for dataset, clean, mask in (
        (data.train, data.train_clean_labels, data.train_noise_mask),
        (data.val, data.val_clean_labels, data.val_noise_mask),
    ):
        noisy = _labels(dataset)
        assert mask.dtype == np.bool_ and mask.sum() == round(0.3 * len(clean))
        np.testing.assert_array_equal(mask, noisy != clean)


def test_pair_noise_through_load_dataset(digits_arrays: tuple[np.ndarray, np.ndarray]) -> None:
    data = load_dataset("digits", noise_rate=0.4, noise_type="pair", seed=0)
    mask = data.train_noise_mask
    np.testing.assert_array_equal(
        _labels(data.train)[mask], (data.train_clean_labels[mask] + 1) % 10
    )
    np.testing.assert_array_equal(_labels(data.test), digits_arrays[1][data.split.test])


def test_instance_noise_through_load_dataset_is_one_annotator_for_train_and_val(
    digits_arrays: tuple[np.ndarray, np.ndarray],
) -> None:
    data = load_dataset("digits", noise_rate=0.4, noise_type="instance", seed=3)
    np.testing.assert_array_equal(_labels(data.test), digits_arrays[1][data.split.test])
    for dataset, clean, mask in (
        (data.train, data.train_clean_labels, data.train_noise_mask),
        (data.val, data.val_clean_labels, data.val_noise_mask),
    ):
        noisy = _labels(dataset)
        assert mask.sum() == round(0.4 * len(clean))
        np.testing.assert_array_equal(mask, noisy != clean)
        # The annotator is drawn from the data seed (3), the same for both splits, and sees
        # the inputs standardised by train and val together: asked to relabel nearly every
        # instance of the split, it gives most flipped ones the class they were given; another
        # annotator (4) agrees about as often as chance (1/9).
        agree = {}
        for annotator in (3, 4):
            again, chosen = inject_label_noise(
                clean,
                num_classes=10,
                rate=0.99,
                kind="instance",
                seed=11,
                inputs=_inputs(dataset),
                annotator_seed=annotator,
                reference_inputs=np.concatenate([_inputs(data.train), _inputs(data.val)]),
            )
            both = mask & chosen
            agree[annotator] = (again[both] == noisy[both]).mean()
        assert agree[3] > 0.7 and agree[4] < 0.2
    # The labels themselves, as experiments/outside.py's third set trained on them: a change to
    # the generator (its draws, their order, the standardisation) changes this digest, and
    # must also remove the cached jobs trained on such labels (results/*/runs/*-inst40-*).
    labels = np.concatenate([_labels(data.train), _labels(data.val)]).astype(np.int64)
    assert hashlib.sha256(labels.tobytes()).hexdigest() == (
        "c559021771bfcf109bea4facfac195c030e50930a03679c858cab64de8b6884b"
    )


def test_same_seed_identical_other_seed_different_and_noise_keeps_the_split() -> None:
    first = load_dataset("digits", noise_rate=0.2, seed=1)
    again = load_dataset("digits", noise_rate=0.2, seed=1)
    other = load_dataset("digits", noise_rate=0.2, seed=2)
    clean = load_dataset("digits", noise_rate=0.0, seed=1)
    for a, b in zip(first.split, again.split, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(_labels(first.train), _labels(again.train))
    np.testing.assert_array_equal(_inputs(first.train), _inputs(again.train))
    np.testing.assert_array_equal(first.train_noise_mask, again.train_noise_mask)
    assert not np.array_equal(np.sort(first.split.test), np.sort(other.split.test))
    for a, b in zip(first.split, clean.split, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not clean.train_noise_mask.any() and not clean.val_noise_mask.any()


def test_the_record_is_frozen_and_its_arrays_read_only(noisy_digits: ClassificationData) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        noisy_digits.noise_rate = 0.0  # type: ignore[misc]
    for array in (noisy_digits.train_noise_mask, noisy_digits.train_clean_labels):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1
    assert "noise_rate=0.3" in repr(noisy_digits) and "tensor" not in repr(noisy_digits)


def test_works_with_a_data_loader(noisy_digits: ClassificationData) -> None:
    x, y = next(iter(DataLoader(noisy_digits.train, batch_size=32)))
    assert x.shape == (32, 1, 8, 8) and y.shape == (32,)


def test_mnist5k_split_is_stratified_and_shuffled() -> None:
    data = load_dataset("mnist5k", noise_rate=0.5, seed=3)
    y = np.repeat(np.arange(10), 500)  # the file's labels, class-sorted (see the loader tests)
    assert (len(data.train), len(data.val), len(data.test)) == (3500, 500, 1000)
    assert data.input_shape == (1, 28, 28)
    np.testing.assert_array_equal(np.bincount(_labels(data.test)), np.full(10, 100))
    np.testing.assert_array_equal(np.bincount(data.val_clean_labels), np.full(10, 50))
    assert not (np.diff(data.train_clean_labels) >= 0).all()
    np.testing.assert_array_equal(_labels(data.test), y[data.split.test])
    assert data.train_noise_mask.sum() == 1750 and data.val_noise_mask.sum() == 250
    assert float(_inputs(data.train).min()) == 0.0 and float(_inputs(data.train).max()) == 1.0


def _fake_make_dataset(args: Any) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    return {
        "x": rng.normal(size=(4000, 40)),
        "x_test": rng.normal(size=(1000, 40)),
        "y": np.arange(4000) % 10,
        "y_test": np.arange(1000) % 10,
    }


def test_mnist1d_keeps_its_own_test_set_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mnist1d_data, "make_dataset", _fake_make_dataset)
    data = load_dataset("mnist1d", noise_rate=0.1, seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (3500, 500, 1000)
    assert data.input_shape == (1, 40)
    np.testing.assert_array_equal(np.sort(data.split.test), np.arange(4000, 5000))
    assert np.concatenate([data.split.train, data.split.val]).max() < 4000
    np.testing.assert_array_equal(_labels(data.test), data.split.test % 10)

    pooled = load_dataset("mnist1d", seed=0, test_fraction=0.3)
    assert (len(pooled.train), len(pooled.val), len(pooled.test)) == (3000, 500, 1500)
    assert (pooled.split.test < 4000).any() and (pooled.split.test >= 4000).any()


def test_mnist1d_val_fraction_must_leave_training_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mnist1d_data, "make_dataset", _fake_make_dataset)
    almost_all = load_dataset("mnist1d", val_fraction=0.79)
    assert (len(almost_all.train), len(almost_all.val)) == (50, 3950)
    with pytest.raises(
        InputDataError, match=r"must be < 1 to leave training data, got 0\.8 \+ 0\.2"
    ):
        load_dataset("mnist1d", val_fraction=0.8)


def test_a_larger_mnist1d_keeps_its_own_split_and_its_own_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real generator at 1,000 signals: mnist1d's 80 / 20 split, val out of the 80%, a cache
    file of its own (the default 5,000's is another), read back without generating again."""
    data = load_dataset("mnist1d", samples=1000, val_fraction=0.1, cache_dir=tmp_path)
    assert (len(data.train), len(data.val), len(data.test)) == (700, 100, 200)
    np.testing.assert_array_equal(np.sort(data.split.test), np.arange(800, 1000))
    assert np.bincount(_labels(data.test), minlength=10).sum() == 200
    assert [p.name for p in tmp_path.iterdir()] == ["mnist1d_n1000_v1.npz"]

    def refuse(args: object) -> None:
        raise AssertionError("the cache of 1,000 signals must be read, not generated again")

    monkeypatch.setattr(mnist1d_data, "make_dataset", refuse)
    again = load_dataset("mnist1d", samples=1000, val_fraction=0.1, cache_dir=tmp_path)
    np.testing.assert_array_equal(_labels(again.test), _labels(data.test))


@pytest.mark.parametrize(
    ("name", "samples", "message"),
    [
        ("mnist5k", 1000, "samples is for the generated mnist1d only, not 'mnist5k'"),
        ("mnist1d", 1005, "must be a multiple of 10 .* of at least 100, got 1005"),
        ("mnist1d", 90, "of at least 100, got 90"),
    ],
)
def test_a_bad_mnist1d_size_is_one_clear_error(name: str, samples: int, message: str) -> None:
    with pytest.raises(InputDataError, match=message):
        load_dataset(name, samples=samples)  # type: ignore[arg-type]


def test_unknown_name_lists_the_known_names() -> None:
    with pytest.raises(InputDataError) as info:
        load_dataset("cifar10")  # type: ignore[arg-type]
    assert "['digits', 'mnist5k', 'mnist1d'], got 'cifar10'" in str(info.value)


def test_every_problem_is_reported_in_one_error() -> None:
    with pytest.raises(InputDataError) as info:
        load_dataset(
            "mnist",  # type: ignore[arg-type]
            noise_rate=1.5,
            noise_type="asym",  # type: ignore[arg-type]
            seed=-3,
            val_fraction=0.0,
        )
    message = str(info.value)
    for fragment in ("got 'mnist'", "got 1.5", "got 'asym'", "got -3", "val_fraction must be > 0"):
        assert fragment in message


def test_a_split_that_rounds_to_empty_is_rejected() -> None:
    with pytest.raises(InputDataError, match=r"\['val'\] of digits .* came out empty"):
        load_dataset("digits", val_fraction=0.0001)


def test_importing_the_package_does_not_import_torch_or_sklearn() -> None:
    src = str(Path(swift_sampler.__file__).parents[1])
    code = (
        "import sys, swift_sampler.data as d; "
        "assert d.DATASET_NAMES == ('digits', 'mnist5k', 'mnist1d'); "
        "heavy = sorted({'torch', 'sklearn', 'mnist1d'} & set(sys.modules)); "
        "assert not heavy, heavy"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
