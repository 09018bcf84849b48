"""Your own data: real .npz / .npy files, real PNG trees, a real factory module on sys.path."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from swift_sampler.config import parse_config
from swift_sampler.data.own import (
    FactoryData,
    from_arrays,
    load_factory_data,
    load_own_data,
    read_arrays,
    read_image_folder,
)
from swift_sampler.errors import ConfigError, InputDataError, SwiftSamplerError


def _arrays(n: int = 120, classes: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = (rng.normal(size=(n, 3, 2)) + y[:, None, None]).astype(np.float32)
    return x, y


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Writes a real module into tmp_path, importable by its name; forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


# --------------------------------------------------------------------------------------------
# Arrays.


def test_npz_with_given_splits_keeps_them_and_injects_noise_in_train_and_val(
    tmp_path: Path,
) -> None:
    x, y = _arrays(200)
    xv, yv = _arrays(40, seed=1)
    xt, yt = _arrays(30, seed=2)
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=y, x_val=xv, y_val=yv, x_test=xt, y_test=yt)
    config = parse_config({"data": {"name": "arrays", "path": str(path), "noise_rate": 0.25}})
    data = load_own_data(config.data)
    assert (len(data.train), len(data.val), len(data.test)) == (200, 40, 30)
    assert data.num_classes == 4 and data.input_shape == (3, 2)
    # The test split is the file's, clean; val is the file's, with exactly 25% flipped.
    assert torch.equal(data.test.tensors[0], torch.from_numpy(xt))
    assert np.array_equal(data.test.tensors[1].numpy(), yt)
    assert np.array_equal(data.val_clean_labels, yv)
    assert data.val_noise_mask.sum() == 10 and data.train_noise_mask.sum() == 50
    noisy = data.train.tensors[1].numpy()
    assert np.array_equal(noisy != data.train_clean_labels, data.train_noise_mask)
    # The train rows are the file's x in a seeded order.
    assert sorted(data.split.train.tolist()) == list(range(200))
    assert data.split.val.tolist() == list(range(200, 240))


def test_npz_without_splits_is_cut_by_the_fractions_and_gets_no_noise_by_default(
    tmp_path: Path,
) -> None:
    x, y = _arrays(100)
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=y)
    config = parse_config(
        {"data": {"name": "arrays", "path": str(path), "val_fraction": 0.2, "seed": 3}}
    )
    assert config.data.noise_rate == 0.0  # your own data: no noise unless asked
    data = load_own_data(config.data)
    assert (len(data.train), len(data.val), len(data.test)) == (60, 20, 20)
    assert not data.train_noise_mask.any()
    # Stratified: each of the 4 classes has 5 validation rows.
    assert np.bincount(data.val.tensors[1].numpy()).tolist() == [5, 5, 5, 5]
    rows = np.concatenate(data.split)
    assert sorted(rows.tolist()) == list(range(100))
    assert np.array_equal(data.train.tensors[0].numpy(), x[data.split.train])
    again = load_own_data(config.data)
    assert np.array_equal(again.split.train, data.split.train)  # seeded


def test_an_npy_pair_and_integer_inputs(tmp_path: Path) -> None:
    x, y = _arrays(50)
    np.save(tmp_path / "x.npy", (x * 10).astype(np.int16))
    np.save(tmp_path / "y.npy", y.astype(np.uint8))
    parts = read_arrays(tmp_path / "x.npy", labels_path=tmp_path / "y.npy")
    assert parts["train"][0].dtype == np.float32 and parts["train"][1].dtype == np.int64
    assert np.array_equal(parts["train"][0], (x * 10).astype(np.int16).astype(np.float32))
    with pytest.raises(ConfigError, match=r"^data\.labels_path: .* give its labels"):
        read_arrays(tmp_path / "x.npy")


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((5, 2)), "y": np.zeros(4, dtype=int)}, r"one per input row, shape \(5,\)"),
        ({"x": np.zeros((5, 2)), "y": np.array([0, 1, 0.5, 1, 0])}, r"integer class .*entry 2"),
        ({"x": np.zeros((5, 2)), "y": np.array([0, 1, -1, 1, 0])}, r">= 0, but entry 2 is -1"),
        (
            {"x": np.array([[0.0], [1], [np.nan], [2]]), "y": np.array([0, 1, 0, 1])},
            r"finite, but row 2 holds NaN",
        ),
        ({"x": np.zeros(4), "y": np.zeros(4, dtype=int)}, r"reshape a 1-D array"),
        ({"x": np.zeros((4, 2)), "labels": np.zeros(4, dtype=int)}, r"did you mean 'y' for"),
        ({"x": np.zeros((4, 2)), "y": np.zeros(4, dtype=int), "x_val": np.zeros((2, 2))}, "both"),
        (
            {
                "x": np.zeros((4, 2)),
                "y": [0, 1, 0, 1],
                "x_test": np.zeros((2, 3)),
                "y_test": [0, 1],
            },
            "one shape",
        ),
    ],
)
def test_bad_arrays_name_data_path_and_the_rule(
    tmp_path: Path, arrays: dict[str, object], message: str
) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    with pytest.raises(SwiftSamplerError, match=message) as info:
        read_arrays(path)
    assert str(info.value).startswith("data.path")


def test_unreadable_or_missing_array_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^data\.path: .*nope\.npz does not exist"):
        read_arrays(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match=r"^data\.path: cannot read .*junk\.npz"):
        read_arrays(tmp_path / "junk.npz")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object))
    np.save(tmp_path / "y.npy", np.zeros(1, dtype=int))
    with pytest.raises(ConfigError, match=r"^data\.path: cannot read .*objects\.npy"):
        read_arrays(tmp_path / "objects.npy", labels_path=tmp_path / "y.npy")


def test_num_classes_given_checks_the_range_and_inferred_needs_two(tmp_path: Path) -> None:
    x, y = _arrays(40, classes=4)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    config = parse_config({"data": {"name": "arrays", "path": str(tmp_path / "d.npz")}})
    data = load_own_data(config.data.__class__(**{**vars(config.data), "num_classes": 6}))
    assert data.num_classes == 6  # a class may be missing from the file
    bad = config.data.__class__(**{**vars(config.data), "num_classes": 3})
    with pytest.raises(InputDataError, match=r"^data\.num_classes: labels must be < 3, .* is 3"):
        load_own_data(bad)
    np.savez(tmp_path / "one.npz", x=x, y=np.zeros(40, dtype=int))
    one = config.data.__class__(**{**vars(config.data), "path": str(tmp_path / "one.npz")})
    with pytest.raises(InputDataError, match="at least 2 classes"):
        load_own_data(one)


def test_from_arrays_reports_splits_that_come_out_empty() -> None:
    x, y = _arrays(6, classes=2)
    with pytest.raises(InputDataError, match=r"^data\.val_fraction / data\.test_fraction: "):
        from_arrays("arrays", {"train": (x, y)}, num_classes=2, val_fraction=0.05)


# --------------------------------------------------------------------------------------------
# An image folder.


def _png_tree(root: Path, *, mode: str = "L", size: tuple[int, int] = (5, 4)) -> np.ndarray:
    """Three classes of real PNGs; returns the pixel arrays in the order the reader sorts."""
    rng = np.random.default_rng(0)
    pixels = []
    for name, count in (("cat", 3), ("dog", 2), ("emu", 4)):
        (root / name).mkdir(parents=True)
        for i in range(count):
            shape = (size[1], size[0]) + ((3,) if mode == "RGB" else ())
            array = rng.integers(0, 256, size=shape, dtype=np.uint8)
            Image.fromarray(array, mode=mode).save(root / name / f"{i}.png")
            pixels.append(array)
    (root / "cat" / "notes.txt").write_text("not an image: skipped")
    return np.stack(pixels)


def test_a_gray_png_tree_reads_classes_in_sorted_order_and_exact_pixels(tmp_path: Path) -> None:
    pixels = _png_tree(tmp_path / "images")
    x, y, classes = read_image_folder(tmp_path / "images")
    assert classes == ["cat", "dog", "emu"]
    assert y.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]
    assert x.shape == (9, 1, 4, 5) and x.dtype == np.float32
    assert np.array_equal(x[:, 0], pixels.astype(np.float32) / 255)


def test_an_rgb_png_tree_has_three_channels(tmp_path: Path) -> None:
    pixels = _png_tree(tmp_path / "images", mode="RGB")
    x, _, _ = read_image_folder(tmp_path / "images")
    assert x.shape == (9, 3, 4, 5)
    assert np.array_equal(x, pixels.transpose(0, 3, 1, 2).astype(np.float32) / 255)


def test_a_folder_config_splits_and_injects_noise(tmp_path: Path) -> None:
    root = tmp_path / "images"
    for c in range(3):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(20):
            Image.new("L", (4, 4), color=10 * c + i).save(root / f"class{c}" / f"{i}.png")
    config = parse_config(
        {"data": {"name": "folder", "path": str(root), "noise_rate": 0.1, "test_fraction": 0.2}}
    )
    data = load_own_data(config.data)
    assert data.num_classes == 3 and data.input_shape == (1, 4, 4)
    assert (len(data.train), len(data.val), len(data.test)) == (42, 6, 12)
    assert data.train_noise_mask.sum() == 4  # round(0.1 * 42)


def test_bad_folders(tmp_path: Path) -> None:
    _png_tree(tmp_path / "a")
    (tmp_path / "a" / "fox").mkdir()
    (tmp_path / "a" / "fox" / "readme.txt").write_text("no images")
    with pytest.raises(InputDataError, match=r"^data\.path: the class folder .*fox holds no"):
        read_image_folder(tmp_path / "a")

    _png_tree(tmp_path / "b")
    (tmp_path / "b" / "dog" / "9.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(InputDataError, match=r"^data\.path: cannot read the image .*9\.png"):
        read_image_folder(tmp_path / "b")

    _png_tree(tmp_path / "c")
    Image.new("L", (7, 7)).save(tmp_path / "c" / "emu" / "big.png")
    with pytest.raises(InputDataError, match=r"one size, but .* is 5x4 and .*big\.png is 7x7"):
        read_image_folder(tmp_path / "c")

    (tmp_path / "d" / "only").mkdir(parents=True)
    Image.new("L", (2, 2)).save(tmp_path / "d" / "only" / "0.png")
    with pytest.raises(InputDataError, match=r"at least 2, but has 1"):
        read_image_folder(tmp_path / "d")

    Image.new("L", (2, 2)).save(tmp_path / "d" / "stray.png")
    with pytest.raises(InputDataError, match=r"stray\.png.*move them into their class"):
        read_image_folder(tmp_path / "d")

    with pytest.raises(ConfigError, match=r"^data\.path: .*missing does not exist"):
        read_image_folder(tmp_path / "missing")


# --------------------------------------------------------------------------------------------
# A factory.

_FACTORY = """
import torch
from torch.utils.data import Dataset, TensorDataset


class Lazy(Dataset):
    def __init__(self, n, label=None):
        self.n, self.label = n, label

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        y = (i % 3) if self.label is None else self.label
        return torch.full((2,), float(i)), y


def splits(n_train=12, extra=None):
    out = {"train": Lazy(n_train), "val": Lazy(6), "test": TensorDataset(
        torch.zeros(4, 2), torch.tensor([0, 1, 2, 1]))}
    out.update(extra or {})
    return out


def as_tuple():
    return Lazy(9), Lazy(3), Lazy(3)


def masked():
    return {**splits(), "noise_mask": [i == 4 for i in range(12)], "num_classes": 5}
"""


def test_a_factory_returns_checked_datasets(module) -> None:
    name = module("byo_factory_ok", _FACTORY)
    data = load_factory_data(f"{name}:splits", {"n_train": 9})
    assert isinstance(data, FactoryData)
    assert (len(data.train), len(data.val), len(data.test)) == (9, 6, 4)  # type: ignore[arg-type]
    assert data.num_classes == 3 and data.input_shape == (2,)
    assert data.train_noise_mask is None
    assert load_factory_data(f"{name}:as_tuple").num_classes == 3
    masked = load_factory_data(f"{name}:masked")
    assert masked.num_classes == 5
    assert masked.train_noise_mask is not None and masked.train_noise_mask.tolist() == [
        i == 4 for i in range(12)
    ]


_BAD_FACTORY = """
import numpy as np
import torch
from torch.utils.data import IterableDataset, TensorDataset

x, y = torch.zeros(6, 2), torch.tensor([0, 1, 2, 0, 1, 2])
good = TensorDataset(x, y)
NOT_A_FUNCTION = 3


def boom():
    raise RuntimeError("the bucket is empty")


def two():
    return good, good


def renamed():
    return {"train": good, "validation": good, "test": good}


def stream():
    class Stream(IterableDataset):
        def __iter__(self):
            yield x[0], y[0]
    return {"train": Stream(), "val": good, "test": good}


def ints():
    return {"train": TensorDataset(torch.zeros(6, 2, dtype=torch.long), y), "val": good,
            "test": good}


def float_labels():
    return {"train": [(x[i], 0.5) for i in range(6)], "val": good, "test": good}


def nan_inputs():
    bad = x.clone()
    bad[4, 1] = float("nan")
    return {"train": TensorDataset(bad, y), "val": good, "test": good}


def too_few_classes():
    return {"train": good, "val": good, "test": good, "num_classes": 2}


def bad_mask():
    return {"train": good, "val": good, "test": good, "noise_mask": np.zeros(5, dtype=bool)}


def not_pairs():
    return {"train": [{"x": x[i]} for i in range(6)], "val": good, "test": good}
"""


@pytest.mark.parametrize(
    ("spec", "kwargs", "error", "message"),
    [
        ("byo_nowhere:load", {}, ConfigError, r"cannot import 'byo_nowhere': no module named"),
        ("{m}:bom", {}, ConfigError, r"has no attribute 'bom' .*did you mean {m}:boom\?"),
        ("{m}:NOT_A_FUNCTION", {}, ConfigError, r"is a int, not a function"),
        ("{m}:boom", {}, ConfigError, r"raised RuntimeError: the bucket is empty"),
        ("{m}:boom", {"size": 3}, ConfigError, r"^data\.kwargs: .*unexpected keyword.*size"),
        ("{m}:two", {}, ConfigError, r"returned a tuple of 2 items; return \{'train'"),
        ("{m}:renamed", {}, ConfigError, r"did you mean 'val' for 'validation'\?"),
        ("{m}:stream", {}, ConfigError, r"'train' of type Stream, not a map-style dataset"),
        ("{m}:ints", {}, InputDataError, r"x must be a floating-point .*torch\.int64"),
        ("{m}:float_labels", {}, InputDataError, r"item 0: labels must be integer.*0\.5"),
        ("{m}:nan_inputs", {}, InputDataError, r"'train' item 4: the input holds NaN"),
        ("{m}:too_few_classes", {}, InputDataError, r"labels must be < 2 .*item 2 .*label 2"),
        ("{m}:bad_mask", {}, ConfigError, r"noise_mask of dtype bool and shape \(5,\)"),
        ("{m}:not_pairs", {}, InputDataError, r"items must be \(x, y\) pairs, got a dict"),
    ],
)
def test_bad_factories_name_the_key_and_the_fix(
    module, spec: str, kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    name = module("byo_factory_bad", _BAD_FACTORY)
    with pytest.raises(error, match=message.replace("{m}", name)) as info:
        load_factory_data(spec.replace("{m}", name), kwargs)
    assert str(info.value).startswith(("data.factory: ", "data.kwargs: "))


def test_a_factory_module_that_fails_to_import(module) -> None:
    name = module("byo_factory_syntax", "def load(:\n")
    with pytest.raises(ConfigError, match=rf"^data\.factory: importing '{name}' failed: Syntax"):
        load_factory_data(f"{name}:load")
    name = module("byo_factory_needs", "import byo_not_installed\n")
    with pytest.raises(ConfigError, match=r"it needs 'byo_not_installed', which is not installed"):
        load_factory_data(f"{name}:load")


def test_a_misspelt_keyword_argument_gets_a_did_you_mean(module) -> None:
    name = module("byo_factory_kwargs", _FACTORY)
    with pytest.raises(ConfigError, match=r"; did you mean 'n_train' for 'n_trian'\?$"):
        load_factory_data(f"{name}:splits", {"n_trian": 5})


def test_a_factory_gets_its_own_plain_copy_of_the_config_table(module) -> None:
    name = module(
        "byo_factory_plain",
        _FACTORY
        + "\n\nSEEN = []\n\n"
        + "def grows(sizes, opts):\n"
        + "    SEEN.append((type(sizes), type(opts)))\n"
        + "    sizes.append(9); opts['new'] = 1\n"
        + "    return splits(n_train=len(sizes))\n",
    )
    config = parse_config(
        {"data": {"factory": f"{name}:grows", "kwargs": {"sizes": [1, 2], "opts": {"a": 1}}}}
    )
    first = load_factory_data(config.data.factory, config.data.kwargs)
    second = load_factory_data(config.data.factory, config.data.kwargs)
    assert len(first.train) == len(second.train) == 3  # the config's list stays [1, 2]
    assert config.data.kwargs == {"sizes": [1, 2], "opts": {"a": 1}}
    seen = sys.modules[name].SEEN
    assert seen == [(list, dict), (list, dict)]
    # One binding called again (as a model factory is, once per training) starts afresh too.
    from swift_sampler._factory import bind_factory

    grows = sys.modules[name].grows
    build = bind_factory(grows, f"{name}:grows", config.data.kwargs, key="k", kwargs_key="kw")
    assert [len(build()["train"]) for _ in range(3)] == [3, 3, 3]
    # What the library offers (a model's input_shape) reaches the function as it is.
    shape = module("byo_factory_shape", "def net(width, input_shape):\n    return input_shape\n")
    net = importlib.import_module(shape).net
    offered = {"input_shape": (1, 28, 28), "num_classes": 10}
    bound = bind_factory(
        net, f"{shape}:net", {"width": 4}, key="k", kwargs_key="kw", offered=offered
    )
    assert bound() == (1, 28, 28)
