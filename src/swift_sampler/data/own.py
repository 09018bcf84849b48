"""Your own data, from the config: arrays, an image folder, or a factory function.

Three ways in, each chosen in the ``[data]`` section (``load_own_data`` reads it):

``name = "arrays"``, ``path = "data.npz"``
    An ``.npz`` with ``x`` (inputs, ``(n, ...)``, any numeric dtype, used as float32 as they
    are) and ``y`` (labels, ``(n,)``, integers in ``[0, C)``), and optionally ``x_val``/``y_val``
    and ``x_test``/``y_test``. A split that is not in the file is cut from ``x`` by
    ``val_fraction`` / ``test_fraction`` (shares of ``x``), stratified and seeded. Or ``path``
    an inputs ``.npy`` with ``labels_path`` its labels ``.npy`` (both splits cut from them).
``name = "folder"``, ``path = "images/"``
    One sub-directory per class (sorted names are labels 0, 1, ...), each holding images
    (``.png``, ``.jpg``, ...) of one size, read with PIL into memory once: ``(1, H, W)`` when
    every image is grayscale, else ``(3, H, W)`` RGB, float32 in ``[0, 1]``. Split by the
    fractions.
``factory = "package.module:function"``
    ``function(**kwargs)`` (``[data.kwargs]``) returns ``{"train": ..., "val": ..., "test":
    ...}`` (or the tuple ``(train, val, test)``): map-style datasets (``__len__`` and
    ``__getitem__``) of ``(x, y)`` pairs, ``x`` a float tensor, ``y`` an integer class index.
    The dict may add ``"num_classes"`` (else ``data.num_classes``, else the largest label + 1)
    and ``"noise_mask"``, ``(n_train,)`` bools marking the training labels known to be wrong
    (for Figure 1 only). Every item is read once here, to check the labels and the inputs.

Label noise (``noise_rate``, ``noise_type``) is injected into the train and val labels of
arrays and folders as it is into the bundled datasets (test stays clean); a factory injects
its own. Every problem is one error naming the config key: a ``ConfigError`` for the factory
and the paths, an ``InputDataError`` for what the files or datasets hold.
"""

from __future__ import annotations

import difflib
import logging
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import Dataset, IterableDataset, TensorDataset

from swift_sampler._factory import bind_factory, import_factory
from swift_sampler.data._checks import NoiseType
from swift_sampler.data.dataset import (
    DEFAULT_TEST_FRACTION,
    ClassificationData,
    _read_only,
    labelled_data,
)
from swift_sampler.data.splits import SplitIndices, stratified_split
from swift_sampler.errors import ConfigError, InputDataError

if TYPE_CHECKING:
    from swift_sampler.config import DataConfig

__all__ = [
    "IMAGE_SUFFIXES",
    "FactoryData",
    "from_arrays",
    "load_factory_data",
    "load_own_data",
    "read_arrays",
    "read_image_folder",
]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
"""File suffixes (any case) that ``name = "folder"`` reads as images; other files are skipped."""

_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})
_SPLITS = ("train", "val", "test")
_FACTORY_KEYS = (*_SPLITS, "num_classes", "noise_mask")
_NPZ_KEYS = ("x", "y", "x_val", "y_val", "x_test", "y_test")

Pair = tuple[NDArray[Any], NDArray[Any]]

_ALIASES = {
    "inputs": "x",
    "features": "x",
    "data": "x",
    "images": "x",
    "labels": "y",
    "targets": "y",
    "target": "y",
    "validation": "val",
    "valid": "val",
    "dev": "val",
    "training": "train",
    "testing": "test",
    "mask": "noise_mask",
    "classes": "num_classes",
    "n_classes": "num_classes",
}
"""Names people use for the keys we read, for the did-you-mean of an unknown key."""


def _hints(unknown: Sequence[str], known: Sequence[str]) -> str:
    """``"; did you mean 'y' for 'labels'?"`` for every unknown key with a likely meaning."""
    out = []
    for word in unknown:
        guess = _ALIASES.get(word.lower())
        close = difflib.get_close_matches(word.lower(), known, n=1, cutoff=0.6)
        choice = guess if guess in known else (close[0] if close else None)
        if choice is not None:
            out.append(f"{choice!r} for {word!r}")
    return f"; did you mean {', '.join(out)}?" if out else ""


@dataclass(frozen=True, eq=False)
class FactoryData:
    """The datasets a ``data.factory`` returned, checked.

    Attributes:
        name: the factory, ``package.module:function``.
        train: map-style training dataset of ``(x, y)``.
        val: validation dataset (the search's objective).
        test: test dataset (reports only).
        num_classes: ``C``; every label lies in ``[0, C)``.
        input_shape: shape of one ``x`` (no batch dimension).
        train_noise_mask: ``(n_train,)`` bools, the training labels known to be wrong, or
            ``None`` when the factory did not say.
    """

    name: str
    train: Dataset[Any] = field(repr=False)
    val: Dataset[Any] = field(repr=False)
    test: Dataset[Any] = field(repr=False)
    num_classes: int
    input_shape: tuple[int, ...]
    train_noise_mask: NDArray[np.bool_] | None = field(default=None, repr=False)


def load_own_data(config: DataConfig) -> ClassificationData | FactoryData:
    """Loads the data of a ``[data]`` section that names your own data (see the module doc).

    Raises:
        ConfigError: the factory or a path is wrong (the message names the key).
        InputDataError: the arrays, images or datasets break a rule (lengths, labels, NaN...).
    """
    if config.factory is not None:
        return load_factory_data(config.factory, config.kwargs, num_classes=config.num_classes)
    if config.path is None:  # parse_config refuses this; a hand-built DataConfig may not
        raise ConfigError(f"data.path: name = {config.name!r} needs data.path")
    if config.name == "arrays":
        parts = read_arrays(config.path, labels_path=config.labels_path)
        classes = None
    elif config.name == "folder":
        x, y, classes = read_image_folder(config.path)
        parts = {"train": (x, y)}
    else:
        raise ConfigError(f"data.name: {config.name!r} is not your own data")
    num_classes = _num_classes(parts, config.num_classes, len(classes) if classes else None)
    if classes:
        logger.info("classes of %s: %s", config.path, dict(enumerate(classes)))
    return from_arrays(
        config.name,
        parts,
        num_classes=num_classes,
        noise_rate=config.noise_rate,
        noise_type=config.noise_type,
        seed=config.seed,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
    )


# --------------------------------------------------------------------------------------------
# Arrays.


def read_arrays(path: str | Path, *, labels_path: str | Path | None = None) -> dict[str, Pair]:
    """The checked ``(x, y)`` pairs of an ``.npz`` (or an inputs ``.npy`` and labels ``.npy``).

    Returns:
        ``{"train": (x, y)}`` plus ``"val"`` and ``"test"`` when the file has them; ``x``
        float32 ``(n, ...)``, ``y`` int64 ``(n,)``.

    Raises:
        ConfigError: a missing or unreadable file, or an ``.npz`` with unexpected keys.
        InputDataError: the arrays break a rule (see :func:`_check_pair`).
    """
    file = _existing(path, "data.path", directory=False)
    if labels_path is not None or file.suffix == ".npy":
        if labels_path is None:
            raise ConfigError(
                f"data.labels_path: {file} is one .npy of inputs; give its labels as "
                "data.labels_path (an .npy of integers), or save both in one .npz (x, y)"
            )
        labels = _existing(labels_path, "data.labels_path", directory=False)
        x = _load_npy(file, "data.path")
        y = _load_npy(labels, "data.labels_path")
        where = f"data.path / data.labels_path ({file.name}, {labels.name})"
        return {"train": _check_pair(x, y, where)}
    arrays = _load_npz(file)
    unknown = [k for k in arrays if k not in _NPZ_KEYS]
    if unknown:
        raise ConfigError(
            f"data.path: {file} holds arrays {unknown} that are not inputs or labels; it may "
            f"hold only {list(_NPZ_KEYS)} (x and y required)" + _hints(unknown, _NPZ_KEYS)
        )
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise ConfigError(
            f"data.path: {file} must hold 'x' (inputs) and 'y' (labels), but has no "
            f"{' or '.join(repr(k) for k in missing)} (it holds {sorted(arrays)})"
        )
    parts = {"train": _check_pair(arrays["x"], arrays["y"], f"data.path {file.name} 'x'/'y'")}
    for split in ("val", "test"):
        xk, yk = f"x_{split}", f"y_{split}"
        if (xk in arrays) != (yk in arrays):
            have, lack = (xk, yk) if xk in arrays else (yk, xk)
            raise ConfigError(
                f"data.path: {file} holds {have!r} but not {lack!r}; save both or neither"
            )
        if xk in arrays:
            where = f"data.path {file.name} {xk!r}/{yk!r}"
            parts[split] = _check_pair(arrays[xk], arrays[yk], where)
    shapes = {split: x.shape[1:] for split, (x, _) in parts.items()}
    if len(set(shapes.values())) > 1:
        raise InputDataError(
            f"data.path: the inputs of every split must have one shape, but {file} has "
            + ", ".join(f"{s} {shape}" for s, shape in shapes.items())
        )
    return parts


def _existing(path: str | Path, key: str, *, directory: bool) -> Path:
    file = Path(path)
    ok = file.is_dir() if directory else file.is_file()
    if not ok:
        what = "directory" if directory else "file"
        state = "is not a " + what if file.exists() else "does not exist"
        raise ConfigError(
            f"{key}: {file} {state} (relative paths are read from the current directory, "
            f"{Path.cwd()}); give the path of the {what}"
        )
    return file


def _load_npy(file: Path, key: str) -> NDArray[Any]:
    try:
        return np.load(file, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:  # ValueError: pickled objects, bad header
        raise ConfigError(
            f"{key}: cannot read {file} as a NumPy .npy of numbers ({err}); save it with "
            "numpy.save from a numeric array"
        ) from None


def _load_npz(file: Path) -> dict[str, NDArray[Any]]:
    try:
        with np.load(file, allow_pickle=False) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise ValueError("it is a single array, not an .npz archive of named arrays")
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ConfigError(
            f"data.path: cannot read {file} as a NumPy .npz of numbers ({err}); save it with "
            "numpy.savez(path, x=inputs, y=labels)"
        ) from None


def _check_pair(x: NDArray[Any], y: NDArray[Any], where: str) -> Pair:
    """``(x float32, y int64)`` after checking them; ``where`` names them in messages."""
    if x.ndim < 2 or x.shape[0] == 0:
        raise InputDataError(
            f"{where}: the inputs must be an array (n, ...) with n >= 1 and at least one value "
            f"per row, got shape {x.shape}; reshape a 1-D array to (n, 1)"
        )
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise InputDataError(f"{where}: the inputs must be numbers, got dtype {x.dtype}")
    if y.ndim != 1 or len(y) != len(x):
        raise InputDataError(
            f"{where}: the labels must be one per input row, shape ({len(x)},), but they have "
            f"shape {y.shape} for inputs of shape {x.shape}; save inputs and labels of the "
            "same length"
        )
    if not np.issubdtype(y.dtype, np.integer):
        detail = ""
        if np.issubdtype(y.dtype, np.floating):
            fractional = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
            if len(fractional):
                detail = f" (entry {int(fractional[0])} is {y[fractional[0]]!r})"
        raise InputDataError(
            f"{where}: the labels must be integer class indices 0..C-1, got dtype "
            f"{y.dtype}{detail}; save them with y.astype(numpy.int64)"
        )
    if len(y) and y.min() < 0:
        bad = int(np.flatnonzero(y < 0)[0])
        raise InputDataError(
            f"{where}: the labels must be class indices >= 0, but entry {bad} is {y[bad]}; "
            "number the classes 0..C-1"
        )
    values = x.astype(np.float32, copy=False)
    finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise InputDataError(
            f"{where}: the inputs must be finite, but row {bad} holds NaN or inf "
            f"({(~finite).sum()} rows do); fill or drop those rows"
        )
    return np.ascontiguousarray(values), y.astype(np.int64, copy=False)


def _num_classes(parts: Mapping[str, Pair], given: int | None, folders: int | None) -> int:
    """``data.num_classes``, else the class folders, else the largest label + 1 (>= 2)."""
    largest = max(int(y.max()) for _, y in parts.values())
    if given is not None:
        for split, (_, y) in parts.items():
            if y.max() >= given:
                bad = int(np.flatnonzero(y >= given)[0])
                raise InputDataError(
                    f"data.num_classes: labels must be < {given}, but {split} label {bad} is "
                    f"{y[bad]}; raise data.num_classes to {largest + 1} or fix the labels"
                )
        if folders is not None and given != folders:
            raise ConfigError(
                f"data.num_classes: the folder has {folders} class folders, got {given}; "
                "leave data.num_classes out"
            )
        return given
    count = folders if folders is not None else largest + 1
    if count < 2:
        raise InputDataError(
            f"data.path: a classifier needs at least 2 classes, but the labels are all {largest}"
        )
    return count


def from_arrays(
    name: str,
    parts: Mapping[str, Pair],
    *,
    num_classes: int,
    noise_rate: float = 0.0,
    noise_type: NoiseType = "symmetric",
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float | None = None,
) -> ClassificationData:
    """Splits checked arrays and injects label noise, as ``load_dataset`` does for its own.

    Args:
        name: what the data is called in messages and in the record.
        parts: ``{"train": (x, y)}`` and optionally ``"val"``, ``"test"``; what is missing is
            cut from ``train`` (stratified, seeded by ``seed``).
        num_classes: ``C``; every label is in ``[0, C)``.
        noise_rate: share of train and of val labels flipped, in ``[0, 1)``.
        noise_type: ``"symmetric"``, ``"pair"`` or ``"instance"``.
        seed: seed of the split and of the noise (three independent streams).
        val_fraction: validation share of ``train`` when there is no ``val``.
        test_fraction: test share of ``train`` when there is no ``test`` (``None``:
            :data:`DEFAULT_TEST_FRACTION`).

    Returns:
        The :class:`ClassificationData`; its ``split`` indexes the concatenation of
        ``train``, ``val`` and ``test`` as given.
    """
    x, y = parts["train"]
    n = len(y)
    val_share = 0.0 if "val" in parts else val_fraction
    test_share = (
        0.0
        if "test" in parts
        else (DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction)
    )
    split_seed, train_noise_seed, val_noise_seed = (
        int(child.generate_state(1)[0]) for child in np.random.SeedSequence(seed).spawn(3)
    )
    try:
        cut = stratified_split(
            y, val_fraction=val_share, test_fraction=test_share, seed=split_seed
        )
    except InputDataError as err:
        raise InputDataError(f"data.val_fraction / data.test_fraction: {err}") from None
    xs, ys = [x], [y]
    offset = n
    indices = {"train": cut.train, "val": cut.val, "test": cut.test}
    for split in ("val", "test"):
        if split in parts:
            xs.append(parts[split][0])
            ys.append(parts[split][1])
            indices[split] = np.arange(offset, offset + len(parts[split][1]), dtype=np.int64)
            offset += len(parts[split][1])
    x_all, y_all = np.concatenate(xs), np.concatenate(ys)
    empty = [s for s in _SPLITS if len(indices[s]) == 0]
    if empty:
        raise InputDataError(
            f"data.val_fraction / data.test_fraction: every split must be non-empty, but "
            f"{empty} of {n} rows came out empty with val_fraction={val_share}, "
            f"test_fraction={test_share}; give more rows or larger fractions"
        )
    rows = SplitIndices(train=indices["train"], val=indices["val"], test=indices["test"])
    logger.info(
        "loaded %s: %d train / %d val / %d test, %d classes, %s noise at %.3f",
        name,
        len(rows.train),
        len(rows.val),
        len(rows.test),
        num_classes,
        noise_type,
        noise_rate,
    )
    return labelled_data(
        name,
        x_all,
        y_all,
        rows,
        num_classes=num_classes,
        noise_rate=noise_rate,
        noise_type=noise_type,
        seed=seed,
        noise_seeds=(train_noise_seed, val_noise_seed),
    )


# --------------------------------------------------------------------------------------------
# An image folder.


def read_image_folder(
    path: str | Path,
) -> tuple[NDArray[np.float32], NDArray[np.int64], list[str]]:
    """Reads a class-per-sub-directory image tree with PIL.

    Returns:
        ``(x, y, classes)``: ``x`` float32 ``(n, 1 or 3, H, W)`` in ``[0, 1]``, ``y`` int64
        ``(n,)`` (the index of the class folder in sorted order), ``classes`` the folder names.

    Raises:
        ConfigError: ``path`` is not a directory.
        InputDataError: fewer than 2 class folders, a class folder without images, an image
            PIL cannot read, images of different sizes, or images outside the class folders.
    """
    from PIL import Image

    root = _existing(path, "data.path", directory=True)
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    classes = [p for p in entries if p.is_dir()]
    stray = [p.name for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if stray:
        raise InputDataError(
            f"data.path: {root} must hold one sub-directory per class with the images inside, "
            f"but {stray[:3]} lie in {root} itself; move them into their class folders"
        )
    if len(classes) < 2:
        raise InputDataError(
            f"data.path: {root} must hold one sub-directory of images per class, at least 2, "
            f"but has {len(classes)} ({[p.name for p in classes]})"
        )
    files: list[tuple[Path, int]] = []
    for label, folder in enumerate(classes):
        images = sorted(
            p
            for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not images:
            raise InputDataError(
                f"data.path: the class folder {folder} holds no images "
                f"({', '.join(IMAGE_SUFFIXES)}); add its images or remove the folder"
            )
        files += [(p, label) for p in images]
    pictures = []
    for file, _ in files:
        try:
            with Image.open(file) as image:
                image.load()
                pictures.append(image.copy())
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
            # UnidentifiedImageError and "image file is truncated" are OSErrors.
            raise InputDataError(
                f"data.path: cannot read the image {file} ({type(err).__name__}: {err}); "
                "replace or remove it"
            ) from None
    gray = all(p.mode in _GRAY_MODES for p in pictures)
    mode, channels = ("L", 1) if gray else ("RGB", 3)
    sizes: dict[tuple[int, int], Path] = {}
    for picture, (file, _) in zip(pictures, files, strict=True):
        sizes.setdefault(picture.size, file)
    if len(sizes) > 1:
        (size_a, file_a), (size_b, file_b) = list(sizes.items())[:2]
        raise InputDataError(
            f"data.path: every image must have one size, but {file_a} is "
            f"{size_a[0]}x{size_a[1]} and {file_b} is {size_b[0]}x{size_b[1]}; resize them "
            "to one size"
        )
    width, height = next(iter(sizes))
    x = np.empty((len(files), channels, height, width), dtype=np.float32)
    for i, picture in enumerate(pictures):
        pixels = np.asarray(picture.convert(mode), dtype=np.float32) / np.float32(255.0)
        x[i] = pixels.reshape(height, width, channels).transpose(2, 0, 1)
    y = np.array([label for _, label in files], dtype=np.int64)
    return x, y, [p.name for p in classes]


# --------------------------------------------------------------------------------------------
# A factory.


def load_factory_data(
    spec: str, kwargs: Mapping[str, Any] | None = None, *, num_classes: int | None = None
) -> FactoryData:
    """Calls the ``data.factory`` ``spec`` with ``kwargs`` and checks what it returns.

    Args:
        spec: ``package.module:function``.
        kwargs: its keyword arguments (``[data.kwargs]``).
        num_classes: ``data.num_classes``, or ``None``.

    Raises:
        ConfigError: the factory does not import, is not callable, raises, or returns
            something other than the three datasets (and the optional keys).
        InputDataError: the datasets' items break a rule (not ``(x, y)``, a non-float or
            non-finite ``x``, a non-integer or out-of-range label, inputs of two shapes).
    """
    function = import_factory(spec, key="data.factory")
    returned = bind_factory(
        function, spec, kwargs or {}, key="data.factory", kwargs_key="data.kwargs"
    )()
    expected = (
        "return {'train': ..., 'val': ..., 'test': ...} (map-style datasets of (x, y)), "
        "optionally with 'num_classes' and 'noise_mask', or the tuple (train, val, test)"
    )
    if isinstance(returned, Mapping):
        unknown = [str(k) for k in returned if k not in _FACTORY_KEYS]
        if unknown:
            raise ConfigError(
                f"data.factory: {spec} returned unknown keys {unknown}; the keys are "
                f"{list(_FACTORY_KEYS)}" + _hints(unknown, _FACTORY_KEYS)
            )
        missing = [k for k in _SPLITS if k not in returned]
        if missing:
            raise ConfigError(f"data.factory: {spec} returned no {missing}; {expected}")
        splits = {k: returned[k] for k in _SPLITS}
        extra_classes = returned.get("num_classes")
        mask = returned.get("noise_mask")
    elif isinstance(returned, Sequence) and not isinstance(returned, str) and len(returned) == 3:
        splits = dict(zip(_SPLITS, returned, strict=True))
        extra_classes, mask = None, None
    else:
        what = type(returned).__name__
        if isinstance(returned, Sequence) and not isinstance(returned, str):
            what = f"{what} of {len(returned)} items"
        raise ConfigError(f"data.factory: {spec} returned a {what}; {expected}")

    for split, dataset in splits.items():
        if (
            isinstance(dataset, IterableDataset)
            or not hasattr(dataset, "__len__")
            or not hasattr(dataset, "__getitem__")
        ):
            raise ConfigError(
                f"data.factory: {spec} returned {split!r} of type {type(dataset).__name__}, "
                "not a map-style dataset; it needs __len__ and __getitem__ (e.g. "
                "torch.utils.data.TensorDataset(x, y))"
            )
        if len(dataset) == 0:
            raise InputDataError(f"data.factory: {spec} returned an empty {split!r} dataset")

    if extra_classes is not None:
        if (
            isinstance(extra_classes, bool)
            or not isinstance(extra_classes, int)
            or extra_classes < 2
        ):
            raise ConfigError(
                f"data.factory: {spec} returned num_classes {extra_classes!r}; it must be an "
                "integer >= 2"
            )
        if num_classes is not None and num_classes != extra_classes:
            raise ConfigError(
                f"data.num_classes: {num_classes} but {spec} returned num_classes "
                f"{extra_classes}; leave data.num_classes out"
            )
        num_classes = extra_classes
    where = "data.num_classes" if extra_classes is None else f"the num_classes {spec} returned"

    labels: dict[str, NDArray[np.int64]] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for split, dataset in splits.items():
        labels[split], shapes[split] = _scan(dataset, split, spec)
    if len(set(shapes.values())) > 1:
        raise InputDataError(
            f"data.factory: the inputs of every split must have one shape, but {spec} gives "
            + ", ".join(f"{s} {shape}" for s, shape in shapes.items())
        )
    largest = max(int(y.max()) for y in labels.values())
    if num_classes is None:
        num_classes = largest + 1
        if num_classes < 2:
            raise InputDataError(
                f"data.factory: a classifier needs at least 2 classes, but every label of "
                f"{spec} is {largest}"
            )
    for split, y in labels.items():
        if y.max() >= num_classes:
            bad = int(np.flatnonzero(y >= num_classes)[0])
            raise InputDataError(
                f"data.factory: labels must be < {num_classes} ({where}), but item {bad} of "
                f"{split!r} has label {y[bad]}; fix the labels or the number of classes"
            )
    if mask is not None:
        mask = np.asarray(mask)
        n_train = len(labels["train"])
        if mask.dtype != np.bool_ or mask.shape != (n_train,):
            raise ConfigError(
                f"data.factory: {spec} returned a noise_mask of dtype {mask.dtype} and shape "
                f"{mask.shape}; it must be ({n_train},) bools, True where a training label "
                "is known to be wrong"
            )
    logger.info(
        "loaded %s: %s train / %s val / %s test, %d classes, inputs %s",
        spec,
        *(len(labels[s]) for s in _SPLITS),
        num_classes,
        shapes["train"],
    )
    return FactoryData(
        name=spec,
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        num_classes=num_classes,
        input_shape=shapes["train"],
        train_noise_mask=None if mask is None else _read_only(mask),
    )


def _scan(dataset: Any, split: str, spec: str) -> tuple[NDArray[np.int64], tuple[int, ...]]:
    """The labels of a dataset and the shape of its inputs, checking every item."""
    where = f"data.factory: {spec} {split!r}"
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) == 2:
        x, y = dataset.tensors
        _check_x(x[0], f"{where} item 0")
        if x.is_floating_point() and not bool(torch.isfinite(x).all()):
            rows = ~torch.isfinite(x.reshape(len(x), -1)).all(dim=1)
            bad = int(torch.nonzero(rows)[0])
            raise InputDataError(f"{where} item {bad}: the input holds NaN or inf; fix or drop it")
        return _labels(y, where), tuple(x.shape[1:])
    found: list[Any] = []
    shape: tuple[int, ...] | None = None
    for i in range(len(dataset)):
        item = dataset[i]
        if not isinstance(item, tuple | list) or len(item) != 2:
            kind = type(item).__name__ + (
                f" of {len(item)}" if isinstance(item, tuple | list) else ""
            )
            raise InputDataError(
                f"{where} item {i}: items must be (x, y) pairs, got a {kind}; return x and "
                "its label from __getitem__"
            )
        x, label = item
        _check_x(x, f"{where} item {i}")
        if shape is None:
            shape = tuple(x.shape)
        elif tuple(x.shape) != shape:
            raise InputDataError(
                f"{where} item {i}: every input must have one shape, got {tuple(x.shape)} "
                f"after {shape} for item 0; resize or pad them"
            )
        if not bool(torch.isfinite(x).all()):
            raise InputDataError(f"{where} item {i}: the input holds NaN or inf; fix or drop it")
        found.append(
            label.item() if isinstance(label, torch.Tensor) and label.ndim == 0 else label
        )
    assert shape is not None  # the dataset is not empty
    return _labels(found, where), shape


def _check_x(x: Any, where: str) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        got = type(x).__name__ if not isinstance(x, torch.Tensor) else f"a {x.dtype} tensor"
        raise InputDataError(
            f"{where}: x must be a floating-point torch.Tensor, got {got}; return e.g. "
            "torch.as_tensor(x, dtype=torch.float32)"
        )


def _labels(values: Any, where: str) -> NDArray[np.int64]:
    """Labels as int64, or an error naming the first one that is not a class index."""
    if isinstance(values, torch.Tensor):
        if values.is_floating_point() or values.dtype == torch.bool or values.ndim != 1:
            raise InputDataError(
                f"{where}: labels must be integer class indices, got a {values.dtype} tensor of "
                f"shape {tuple(values.shape)}"
            )
        y = values.numpy().astype(np.int64)
    else:
        for i, value in enumerate(values):
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise InputDataError(
                    f"{where} item {i}: labels must be integer class indices, got "
                    f"{value!r} ({type(value).__name__})"
                )
        y = np.asarray(values, dtype=np.int64)
    if y.min() < 0:
        bad = int(np.flatnonzero(y < 0)[0])
        raise InputDataError(f"{where} item {bad}: labels must be >= 0, got {y[bad]}")
    return y
