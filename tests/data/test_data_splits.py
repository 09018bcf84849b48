"""Stratified splits: exact sizes, disjoint and covering, stratified, seeded and shuffled."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swift_sampler.data import SplitIndices, stratified_split
from swift_sampler.errors import InputDataError


def _assert_partition(split: SplitIndices, n: int) -> None:
    joined = np.concatenate(split)
    assert all(part.dtype == np.int64 for part in split)
    assert len(joined) == n
    np.testing.assert_array_equal(np.sort(joined), np.arange(n))


@pytest.fixture(scope="module")
def sorted_labels() -> np.ndarray:
    # Class-sorted like MNIST-5k, with unequal classes: 50, 100, ..., 500.
    return np.repeat(np.arange(10), np.arange(1, 11) * 50)


def test_splits_are_disjoint_covering_and_have_exact_sizes(sorted_labels: np.ndarray) -> None:
    n = len(sorted_labels)  # 2750
    split = stratified_split(sorted_labels, val_fraction=0.1, test_fraction=0.2, seed=0)
    _assert_partition(split, n)
    assert (len(split.train), len(split.val), len(split.test)) == (1925, 275, 550)


def test_every_class_is_within_one_of_its_share(sorted_labels: np.ndarray) -> None:
    split = stratified_split(sorted_labels, val_fraction=0.13, test_fraction=0.27, seed=4)
    class_sizes = np.bincount(sorted_labels)
    for part, fraction in ((split.val, 0.13), (split.test, 0.27)):
        counts = np.bincount(sorted_labels[part], minlength=10)
        assert np.abs(counts - fraction * class_sizes).max() < 1


def test_splits_of_class_sorted_labels_are_shuffled(sorted_labels: np.ndarray) -> None:
    split = stratified_split(sorted_labels, val_fraction=0.1, test_fraction=0.2, seed=0)
    for part in split:
        assert not (np.diff(sorted_labels[part]) >= 0).all()
        assert not (np.diff(part) > 0).all()


def test_same_seed_gives_identical_indices_and_another_seed_differs(
    sorted_labels: np.ndarray,
) -> None:
    first = stratified_split(sorted_labels, val_fraction=0.1, test_fraction=0.2, seed=9)
    again = stratified_split(sorted_labels, val_fraction=0.1, test_fraction=0.2, seed=9)
    other = stratified_split(sorted_labels, val_fraction=0.1, test_fraction=0.2, seed=10)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(np.sort(first.test), np.sort(other.test))


def test_zero_test_fraction_and_a_singleton_class() -> None:
    labels = np.array([0] * 20 + [1] * 20 + [7])
    split = stratified_split(labels, val_fraction=0.25, test_fraction=0.0, seed=1)
    _assert_partition(split, 41)
    assert len(split.test) == 0 and len(split.val) == 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "must be < 1 to leave training data"),
        ({"val_fraction": -0.1}, "val_fraction must be a number in [0, 1), got -0.1"),
        ({"test_fraction": 1.0}, "test_fraction must be a number in [0, 1), got 1.0"),
        ({"seed": 1.5}, "seed must be a non-negative integer, got 1.5"),
        ({"val_fraction": 0.46, "test_fraction": 0.48}, "give 5 val + 5 test"),
    ],
)
def test_bad_arguments_raise_input_data_error_naming_the_value(
    kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"val_fraction": 0.1, "test_fraction": 0.2, "seed": 0}
    arguments.update(kwargs)
    with pytest.raises(InputDataError) as info:
        stratified_split(np.arange(10) % 2, **arguments)  # type: ignore[arg-type]
    assert message in str(info.value)


@pytest.mark.parametrize("labels", [[], [[0, 1]], [0.5, 1.0], [0, -2]])
def test_bad_labels_raise_input_data_error(labels: list[object]) -> None:
    with pytest.raises(InputDataError, match="labels must"):
        stratified_split(np.array(labels), val_fraction=0.1, test_fraction=0.1, seed=0)


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 6), min_size=3, max_size=200),
    val_fraction=st.floats(0.0, 0.45),
    test_fraction=st.floats(0.0, 0.45),
    seed=st.integers(0, 2**32 - 1),
)
def test_split_invariants(
    labels: list[int], val_fraction: float, test_fraction: float, seed: int
) -> None:
    y = np.array(labels)
    n = len(y)
    if round(val_fraction * n) + round(test_fraction * n) >= n:
        return  # rejected with an error, covered above
    split = stratified_split(y, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    _assert_partition(split, n)
    assert len(split.val) == round(val_fraction * n)
    assert len(split.test) == round(test_fraction * n)
