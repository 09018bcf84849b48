"""Offline loaders: shapes, dtypes, value ranges, class counts, and the MNIST-1D cache."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pytest

from swift_sampler.data import (
    MNIST1D_CACHE_NAME,
    load_digits_arrays,
    load_mnist1d_arrays,
    load_mnist5k_arrays,
)

mnist1d_data = pytest.importorskip("mnist1d.data")


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    return load_digits_arrays()


@pytest.fixture(scope="module")
def mnist5k() -> tuple[np.ndarray, np.ndarray]:
    return load_mnist5k_arrays()


def test_digits_shape_dtype_range_and_classes(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = digits
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(np.unique(y), np.arange(10))
    assert np.bincount(y).min() >= 174


def test_mnist5k_has_5000_rows_500_per_class_in_0_1(
    mnist5k: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = mnist5k
    assert x.shape == (5000, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (5000,) and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 500))
    assert x.min() == 0.0 and x.max() == 1.0
    assert (np.diff(y) >= 0).all()  # the file is sorted by class: splits must shuffle


def test_mnist5k_pixels_are_row_major_28_by_28(mnist5k: tuple[np.ndarray, np.ndarray]) -> None:
    # A "1" is a vertical stroke: its mean image is bright in the middle columns across many
    # rows, so the column profile is far more peaked than the row profile. A transposed or
    # shifted layout (e.g. the label read as a pixel) breaks this.
    x, y = mnist5k
    ones = x[y == 1, 0].mean(axis=0)
    column_profile, row_profile = ones.mean(axis=0), ones.mean(axis=1)
    assert column_profile.argmax() in range(11, 17)
    assert (
        column_profile.max() / column_profile.mean() > 2 * row_profile.max() / row_profile.mean()
    )
    # Ink sits in the centre, the borders are nearly blank.
    assert x[:, 0, 10:18, 10:18].mean() > 0.3
    assert x[:, 0, :2, :].mean() < 0.01 and x[:, 0, :, :2].mean() < 0.01


def _fake_make_dataset(args: Any) -> dict[str, Any]:
    """A fast stand-in with mnist1d's output layout; it reseeds the globals like the real one."""
    random.seed(args.seed)
    np.random.seed(args.seed)  # noqa: NPY002
    rng = np.random.default_rng(1)
    return {
        "x": rng.normal(size=(4000, 40)),
        "x_test": rng.normal(size=(1000, 40)),
        "y": np.arange(4000) % 10,
        "y_test": np.arange(1000) % 10,
        "t": np.linspace(-1, 1, 40),
        "templates": {},
    }


def _raise_if_called(args: Any) -> dict[str, Any]:
    raise AssertionError("make_dataset must not be called when the cache is valid")


@pytest.fixture
def fake_generator(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    calls = []

    def counting(args: Any) -> dict[str, Any]:
        calls.append(args)
        return _fake_make_dataset(args)

    monkeypatch.setattr(mnist1d_data, "make_dataset", counting)
    return lambda: len(calls)


def test_mnist1d_layout_pools_its_train_then_test_rows(fake_generator: Callable[[], int]) -> None:
    x, y = load_mnist1d_arrays()
    raw = _fake_make_dataset(mnist1d_data.get_dataset_args())
    assert x.shape == (5000, 1, 40) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x[:4000, 0], raw["x"].astype(np.float32))
    np.testing.assert_array_equal(x[4000:, 0], raw["x_test"].astype(np.float32))
    np.testing.assert_array_equal(y, np.concatenate([raw["y"], raw["y_test"]]))
    assert fake_generator() == 1


def test_mnist1d_cache_round_trips_and_the_second_load_reads_it(
    fake_generator: Callable[[], int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "new" / "cache"
    x1, y1 = load_mnist1d_arrays(cache_dir=cache_dir)
    assert fake_generator() == 1
    assert [p.name for p in cache_dir.iterdir()] == [MNIST1D_CACHE_NAME]  # no temp file left
    monkeypatch.setattr(mnist1d_data, "make_dataset", _raise_if_called)
    x2, y2 = load_mnist1d_arrays(cache_dir=cache_dir)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert x2.dtype == np.float32 and y2.dtype == np.int64


def test_no_cache_dir_writes_nothing_and_regenerates(
    fake_generator: Callable[[], int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    load_mnist1d_arrays()
    load_mnist1d_arrays(cache_dir=None)
    assert fake_generator() == 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda handle: handle.write(b"not an npz file"),
        lambda handle: np.savez(handle, x=np.zeros((5000, 40), np.float32)),  # y missing
        lambda handle: np.savez(
            handle, x=np.zeros((10, 40), np.float32), y=np.zeros(10, np.int64)
        ),
        lambda handle: np.savez(
            handle, x=np.full((5000, 40), np.nan, np.float32), y=np.zeros(5000, np.int64)
        ),
    ],
)
def test_a_bad_cache_file_is_logged_and_replaced(
    fake_generator: Callable[[], int],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    corrupt: Callable[[BinaryIO], object],
) -> None:
    path = tmp_path / MNIST1D_CACHE_NAME
    with path.open("wb") as handle:
        corrupt(handle)
    with caplog.at_level(logging.WARNING, logger="swift_sampler.data"):
        x, _ = load_mnist1d_arrays(cache_dir=tmp_path)
    assert fake_generator() == 1
    assert "regenerating" in caplog.text
    assert np.isfinite(x).all() and x.shape == (5000, 1, 40)
    with np.load(path) as npz:  # rewritten with good arrays
        np.testing.assert_array_equal(npz["x"], x[:, 0])


def test_generation_leaves_the_global_random_state_untouched(
    fake_generator: Callable[[], int],
) -> None:
    random.seed(123)
    np.random.seed(123)  # noqa: NPY002
    expected_python, expected_numpy = random.random(), np.random.random()  # noqa: NPY002
    random.seed(123)
    np.random.seed(123)  # noqa: NPY002
    load_mnist1d_arrays()
    assert fake_generator() == 1
    assert random.random() == expected_python
    assert np.random.random() == expected_numpy  # noqa: NPY002


@pytest.fixture(scope="module")
def real_mnist1d_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache_dir = tmp_path_factory.mktemp("mnist1d_cache")
    load_mnist1d_arrays(cache_dir=cache_dir)
    return cache_dir


@pytest.mark.slow
def test_real_mnist1d_is_deterministic_and_its_cache_round_trips(
    real_mnist1d_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_x, fresh_y = load_mnist1d_arrays()  # generated again, no cache
    assert fresh_x.shape == (5000, 1, 40) and fresh_x.dtype == np.float32
    assert fresh_y.shape == (5000,) and fresh_y.dtype == np.int64
    np.testing.assert_array_equal(np.unique(fresh_y), np.arange(10))
    assert np.isfinite(fresh_x).all()
    assert abs(float(fresh_x.mean())) < 0.01 and abs(float(fresh_x.std()) - 1) < 0.01
    monkeypatch.setattr(mnist1d_data, "make_dataset", _raise_if_called)
    cached_x, cached_y = load_mnist1d_arrays(cache_dir=real_mnist1d_cache)
    np.testing.assert_array_equal(cached_x, fresh_x)
    np.testing.assert_array_equal(cached_y, fresh_y)
