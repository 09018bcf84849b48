"""Your own data and model through the command line: real files, real modules, real runs.

The bad-input cases run ``main`` in this process (fast); each must exit 2 with one message that
names the config key, and leave no run directory (nor a ``train --out`` directory) behind.
One search and final training run in a real ``swift-sampler`` process, started from a
directory that is not on ``PYTHONPATH``, so the factory module is found the way a user's is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from swift_sampler import SamplerSpec
from swift_sampler.cli import EXIT_BAD_INPUT, main
from swift_sampler.config import parse_config
from swift_sampler.search.setup import template_spec

_BUDGET = """
[train]
epochs = 4
lr = 0.1
threads = 1

[search]
trials = 3
startup_trials = 1
shared_epochs = 2
finetune_epochs = 2

[final]
seeds = [1]
"""

_MODULE = '''
import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import Dataset, TensorDataset

_digits = load_digits()
X = torch.tensor(_digits.data / 16, dtype=torch.float32)
Y = torch.tensor(_digits.target)


class Pairs(Dataset):
    """Not a TensorDataset: the loader reads it item by item."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


def load(n_train=900, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    order = torch.from_numpy(rng.permutation(len(Y)))
    x, y = X[order], Y[order].clone()
    mask = np.zeros(n_train, dtype=bool)
    mask[: round(noise * n_train)] = True
    y[: n_train][torch.from_numpy(mask)] = (y[: n_train][torch.from_numpy(mask)] + 1) % 10
    return {
        "train": Pairs(x[:n_train], y[:n_train]),
        "val": TensorDataset(x[n_train:1300], y[n_train:1300]),
        "test": TensorDataset(x[1300:], y[1300:]),
        "noise_mask": mask,
    }


def net(num_classes, input_shape, hidden=32):
    return nn.Sequential(
        nn.Flatten(), nn.Linear(int(np.prod(input_shape)), hidden), nn.ReLU(),
        nn.Linear(hidden, num_classes),
    )


def seven_outputs(hidden=8):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.Linear(hidden, 7))


def image_net():
    return nn.Conv2d(1, 10, 3)


def not_a_model():
    return [nn.Linear(64, 10)]


def broken():
    raise MemoryError("no room for the weights")


def wrong_kinds():
    return {"train": X, "val": X, "test": X}


def empty():
    return {"train": TensorDataset(X[:0], Y[:0]), "val": TensorDataset(X, Y),
            "test": TensorDataset(X, Y)}
'''


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``tmp_path`` as the current directory, holding ``own_module.py``; ``main`` puts the
    current directory on ``sys.path`` (as the console script does): undone afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    (tmp_path / "own_module.py").write_text(_MODULE)
    yield tmp_path
    sys.modules.pop("own_module", None)


def _write_config(directory: Path, data: str, model: str = '[model]\nname = "mlp"') -> Path:
    path = directory / "own.toml"
    path.write_text(textwrap.dedent(data) + "\n" + textwrap.dedent(model) + "\n" + _BUDGET)
    return path


def _digits_npz(path: Path, **extra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16).astype(np.float32)
    y = digits.target.astype(np.int64)
    np.savez(path, x=x[:1500], y=y[:1500], x_test=x[1500:], y_test=y[1500:], **extra)
    return x, y


def _digit_pngs(root: Path, *, classes: int = 4, per_class: int = 40) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    for c in range(classes):
        (root / f"digit{c}").mkdir(parents=True)
        rows = np.flatnonzero(digits.target == c)[:per_class]
        for i in rows:
            pixels = (digits.images[i] * 255 / 16).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(root / f"digit{c}" / f"{i}.png")


# --------------------------------------------------------------------------------------------
# It works.


@pytest.mark.slow
def test_factory_search_and_train_in_a_real_process(workdir: Path) -> None:
    config = _write_config(
        workdir,
        """
        [data]
        factory = "own_module:load"
        [data.kwargs]
        n_train = 800
        noise = 0.25
        """,
        """
        [model]
        factory = "own_module:net"
        [model.kwargs]
        hidden = 24
        """,
    )
    script = Path(sys.executable).with_name("swift-sampler")
    assert script.is_file(), "the console script (make venv installs it)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(script), "--threads", "1", *args],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    search = cli("search", "own.toml", "--run-dir", "runs/own")
    assert search.returncode == 0, search.stderr
    result = json.loads((workdir / "runs/own/result.json").read_text())
    assert [t["slot"] for t in result["trials"] if t["state"] == "COMPLETE"] == [0, 1, 2]
    with np.load(workdir / "runs/own/figure1.npz") as arrays:
        assert arrays["noisy"].sum() == 200  # the factory's noise mask reaches Figure 1
        assert arrays["probability"].shape == (800,)
    saved = (workdir / "runs/own/config.toml").read_text()
    assert 'factory = "own_module:load"' in saved and "kwargs = {n_train = 800" in saved

    train = cli("train", str(config), "--sampler", "runs/own/sampler.json", "--out", "final")
    assert train.returncode == 0, train.stderr
    final = json.loads((workdir / "final/final.json").read_text())
    uniform = final["arms"]["uniform"]["runs"][0]
    assert len(uniform["test_top1"]) == 4 and uniform["last"] > 0.5  # it learned digits
    assert uniform["noisy_share"] == pytest.approx([0.25] * 4)
    assert "swift" in final["arms"]
    assert final["model"] == "own_module:net"  # named by its factory, not the unused name


@pytest.mark.slow
def test_arrays_search_injects_noise_and_keeps_the_files_test_split(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _digits_npz(workdir / "digits.npz")
    config = _write_config(
        workdir,
        """
        [data]
        name = "arrays"
        path = "digits.npz"
        noise_rate = 0.2
        val_fraction = 0.2
        """,
    )
    assert main(["search", str(config), "--run-dir", "run"]) == 0
    with np.load(workdir / "run/figure1.npz") as arrays:
        assert arrays["probability"].shape == (1200,)  # 1500 - 20% validation
        assert arrays["noisy"].sum() == 240
    assert "best validation score" in capsys.readouterr().out


@pytest.mark.slow
def test_folder_search(workdir: Path) -> None:
    _digit_pngs(workdir / "pngs")
    config = _write_config(workdir, '[data]\nname = "folder"\npath = "pngs"\n')
    assert main(["search", str(config), "--run-dir", "run"]) == 0
    spec = SamplerSpec.load(workdir / "run/sampler.json")
    assert len(spec.theta) == 10
    with np.load(workdir / "run/figure1.npz") as arrays:
        assert arrays["probability"].shape == (112,)  # 160 - 10% val - 20% test
        assert not arrays["noisy"].any()  # your own data gets no noise unless asked


# --------------------------------------------------------------------------------------------
# Bad input: exit 2, one message naming the key, nothing created.


def _npz(**arrays: object) -> Callable[[Path], None]:
    def write(directory: Path) -> None:
        np.savez(directory / "bad.npz", **arrays)  # type: ignore[arg-type]

    return write


def _pngs(spoil: Callable[[Path], None]) -> Callable[[Path], None]:
    def write(directory: Path) -> None:
        _digit_pngs(directory / "pngs", per_class=3)
        spoil(directory / "pngs")

    return write


def _nothing(directory: Path) -> None:
    del directory


def _source(name: str, text: str) -> Callable[[Path], None]:
    def write(directory: Path) -> None:
        (directory / f"{name}.py").write_text(text)
        sys.modules.pop(name, None)  # written afresh for this test: import it afresh

    return write


_ARRAYS = '[data]\nname = "arrays"\npath = "bad.npz"\n'
_FOLDER = '[data]\nname = "folder"\npath = "pngs"\n'
_GOOD = np.zeros((6, 4), dtype=np.float32)
_LABELS = np.array([0, 1, 2, 0, 1, 2])

BAD_INPUT = {
    # A factory that calls sys.exit(0) ended the search with exit 0 and no message; a module
    # that parses the command line on import printed its own usage under our name.
    "factory exits": (
        _source("exiting_module", "import sys\n\ndef load():\n    sys.exit(0)\n"),
        '[data]\nfactory = "exiting_module:load"\n',
        "data.factory: exiting_module:load exited (sys.exit(0)) instead of returning; a "
        "factory must return its result, not call sys.exit or parse the command line",
    ),
    "factory module parses the command line": (
        _source(
            "script_module",
            "import argparse\n\nparser = argparse.ArgumentParser(prog='script')\n"
            "parser.parse_args(['--size'])  # as a script's parser meets our command line\n"
            "\ndef load():\n    pass\n",
        ),
        '[data]\nfactory = "script_module:load"\n',
        "data.factory: importing 'script_module' exited (sys.exit(2), after printing 'script: "
        "error: unrecognized arguments: --size'): the module runs a script when imported; put "
        'that code under `if __name__ == "__main__":`',
    ),
    "factory module missing": (
        _nothing,
        '[data]\nfactory = "no_such_module:load"\n',
        "data.factory: cannot import 'no_such_module': no module named",
    ),
    "factory not callable": (
        _nothing,
        '[data]\nfactory = "own_module:X"\n',
        "data.factory: 'own_module:X' is a Tensor, not a function",
    ),
    "factory misspelt": (
        _nothing,
        '[data]\nfactory = "own_module:lod"\n',
        "did you mean own_module:load?",
    ),
    "factory raises": (
        _nothing,
        '[data]\nfactory = "own_module:load"\n[data.kwargs]\nn_train = 5000\n',
        "data.factory: own_module:load raised",
    ),
    "factory kwargs it does not take": (
        _nothing,
        '[data]\nfactory = "own_module:load"\n[data.kwargs]\nsize = 3\n',
        "data.kwargs: own_module:load cannot be called with these keyword arguments (size)",
    ),
    "factory returns tensors": (
        _nothing,
        '[data]\nfactory = "own_module:wrong_kinds"\n',
        "data.factory: own_module:wrong_kinds 'train' item 0: items must be (x, y) pairs",
    ),
    "factory returns an empty split": (
        _nothing,
        '[data]\nfactory = "own_module:empty"\n',
        "data.factory: own_module:empty returned an empty 'train' dataset",
    ),
    "arrays of mismatched length": (
        _npz(x=_GOOD, y=_LABELS[:5]),
        _ARRAYS,
        "data.path bad.npz 'x'/'y': the labels must be one per input row, shape (6,)",
    ),
    "non-integer labels": (
        _npz(x=_GOOD, y=_LABELS + 0.5),
        _ARRAYS,
        "the labels must be integer class indices 0..C-1, got dtype float64 (entry 0 is",
    ),
    "labels out of range": (
        _npz(x=_GOOD, y=_LABELS),
        _ARRAYS + "num_classes = 2\n",
        "data.num_classes: labels must be < 2, but train label 2 is 2",
    ),
    "NaN inputs": (
        _npz(x=np.where(np.arange(24).reshape(6, 4) == 9, np.nan, _GOOD), y=_LABELS),
        _ARRAYS,
        "the inputs must be finite, but row 2 holds NaN or inf",
    ),
    "missing arrays file": (
        _nothing,
        _ARRAYS,
        "data.path: bad.npz does not exist (relative paths are read from the current directory",
    ),
    "empty class folder": (
        _pngs(lambda root: (root / "digit9").mkdir()),
        _FOLDER,
        "data.path: the class folder pngs/digit9 holds no images",
    ),
    "unreadable image": (
        _pngs(lambda root: (root / "digit1" / "x.png").write_bytes(b"\x89PNG broken")),
        _FOLDER,
        "data.path: cannot read the image pngs/digit1/x.png (UnidentifiedImageError",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_data_exits_2_naming_the_key_and_creates_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    make, data, message = BAD_INPUT[case]
    make(workdir)
    config = _write_config(workdir, data)
    before = sorted(p.relative_to(workdir) for p in workdir.rglob("*"))
    assert main(["search", str(config), "--run-dir", "run"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("swift-sampler: error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert message in errors[0], errors[0]
    assert sorted(p.relative_to(workdir) for p in workdir.rglob("*")) == before


BAD_MODEL = {
    "too few outputs": (
        '[model]\nfactory = "own_module:seven_outputs"\n',
        "model.factory: 'own_module:seven_outputs' returns (2, 7) for 2 inputs, expected "
        "logits of shape (2, 10) (10 classes); give the model 10 outputs",
    ),
    "cannot take the inputs": (
        '[model]\nfactory = "own_module:image_net"\n',
        "model.factory: 'own_module:image_net' cannot take arrays inputs of shape (64,)",
    ),
    "not a module": (
        '[model]\nfactory = "own_module:not_a_model"\n',
        "model.factory: own_module:not_a_model returned a list, not a torch.nn.Module",
    ),
    "raises": (
        '[model]\nfactory = "own_module:broken"\n',
        "model.factory: own_module:broken raised MemoryError: no room for the weights",
    ),
    "kwargs it does not take": (
        '[model]\nfactory = "own_module:net"\n[model.kwargs]\ndepth = 3\n',
        "model.kwargs: own_module:net cannot be called with these keyword arguments (depth)",
    ),
    "a bundled model that does not fit": (
        '[model]\nname = "cnn"\n',
        "model.name: 'cnn' cannot take arrays inputs of shape (64,)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_MODEL))
def test_a_model_that_does_not_fit_exits_2_in_search_and_train(
    workdir: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    model, message = BAD_MODEL[case]
    _digits_npz(workdir / "digits.npz")
    config = _write_config(workdir, '[data]\nname = "arrays"\npath = "digits.npz"\n', model)
    sampler = workdir / "sampler.json"
    template_spec(parse_config({})).save(sampler)
    assert main(["search", str(config), "--run-dir", "run"]) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
    assert not (workdir / "run").exists()
    args = ["train", str(config), "--sampler", str(sampler), "--out", "final"]
    assert main(args) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
    assert not (workdir / "final").exists()


def test_config_rules_of_own_data_exit_2_before_anything(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write_config(
        workdir,
        '[data]\nfactory = "own_module:load"\nnoise_rate = 0.3\nname = "digits"\n',
        '[model]\nfactory = "own_module:net"\nwidth = 8\n',
    )
    assert main(["search", str(config), "--run-dir", "run"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "3 problems in config" in err
    for key in ("data.name: leave it out", "data.noise_rate: must be 0", "model.width: not used"):
        assert key in err
    assert not (workdir / "run").exists()
    assert "own_module" not in sys.modules  # the config is refused before any import


def test_the_library_surface_is_swift_sampler_search(workdir: Path) -> None:
    from swift_sampler import search

    assert set(search.__all__) <= set(dir(search))
    for name in search.__all__:
        assert getattr(search, name) is not None
    assert search.run_search.__module__ == "swift_sampler.search.driver"
    shutil.copy(workdir / "own_module.py", workdir / "own_module_lib.py")
    sys.path.insert(0, str(workdir))
    try:
        config = search.parse_config(
            {"data": {"factory": "own_module_lib:load"}, "model": {"factory": "own_module:net"}}
        )
        experiment = search.build_experiment(config)
    finally:
        sys.modules.pop("own_module_lib", None)
    assert experiment.data is not None and experiment.data.num_classes == 10
    assert experiment.noise_mask is not None and not experiment.noise_mask.any()


def test_a_worker_with_bad_data_creates_no_study(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write_config(workdir, '[data]\nfactory = "own_module:empty"\n')
    journal = workdir / "study.log"
    args = ["worker", "--storage", f"journal:///{journal}", "--study", "s", "--config"]
    assert main([*args, str(config), "--run-dir", "run"]) == EXIT_BAD_INPUT
    assert "data.factory: own_module:empty returned an empty 'train'" in capsys.readouterr().err
    assert not journal.exists() and not (workdir / "run").exists()
