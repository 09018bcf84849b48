"""The README's integration examples, run as written on a tiny model and data (sizes shrunk)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")
pytest.importorskip("lightning")

import _hf_job  # tests/integrations/_hf_job.py
import _lightning_job  # tests/integrations/_lightning_job.py

README = Path(__file__).resolve().parents[2] / "README.md"


def _examples() -> list[str]:
    text = README.read_text()
    start = text.index("## Training with Hugging Face Transformers or Lightning")
    section = text[start : text.index("\n## ", start + 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the examples write out/, runs/... relative to the cwd
    spec_path = tmp_path / "runs" / "mine" / "sampler.json"
    spec_path.parent.mkdir(parents=True)
    _hf_job.spec().save(spec_path)
    return tmp_path


def test_the_section_has_three_examples() -> None:
    examples = _examples()
    assert [
        ("SwiftTrainer(" in e, "SwiftSamplerCallback(" in e, "run_search(" in e) for e in examples
    ] == [
        (True, False, False),
        (False, True, False),
        (False, False, True),
    ]


# TrainingArguments pins memory by default (dataloader_pin_memory=True); torch warns about that
# on a machine without an accelerator, such as the test machine. The README keeps the defaults.
_NO_ACCELERATOR = "ignore:'pin_memory' argument is set as true but no accelerator:UserWarning"


@pytest.mark.slow
@pytest.mark.filterwarnings(_NO_ACCELERATOR)
def test_readme_swift_trainer(workdir: Path) -> None:
    namespace: dict[str, Any] = {
        "model": _hf_job.tiny_bert(),
        "train_set": _hf_job.TokenDataset(48),
        "val_set": _hf_job.TokenDataset(24, seed=1),
    }
    exec(_examples()[0], namespace)
    trainer = namespace["trainer"]
    assert trainer.refreshes == 3 and trainer.state.global_step == 3 * 6  # 48 / 8 per epoch


@pytest.mark.slow
@pytest.mark.filterwarnings(
    # Lightning 2.6's own CombinedLoader calls torch's deprecated LeafSpec; not our code.
    r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning:"
    r"lightning\.pytorch\.utilities\._pytree",
    # A hint to use DataLoader workers (on machines with more than 2 cores): moot in memory.
    "ignore:.*does not have many workers",
    # Lightning's notice that its default logger falls back to CSV without tensorboard.
    "ignore:Starting from v1.9.0, `tensorboardX` has been removed:UserWarning",
)
def test_readme_lightning_callback(workdir: Path) -> None:
    import lightning.pytorch as pl
    import torch

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(9, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

        def training_step(self, batch: Any, batch_index: int) -> torch.Tensor:
            x, y = batch
            return torch.nn.functional.cross_entropy(self(x), y)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    # 50 batches of 64: no fewer than Lightning's logging interval (it warns otherwise).
    train_set = _lightning_job.dataset(50 * 64)
    namespace: dict[str, Any] = {"module": Module(), "train_set": train_set}
    exec(_examples()[1], namespace)
    assert namespace["swift"].refreshes == 3
    assert namespace["trainer"].global_step == 3 * 50


@pytest.mark.slow
@pytest.mark.filterwarnings(_NO_ACCELERATOR)
def test_readme_search_with_the_adapter(workdir: Path) -> None:
    from transformers import BertConfig

    from swift_sampler import SamplerSpec

    example = _examples()[2]
    for old, new in (
        ("num_train_epochs=10", "num_train_epochs=3"),
        ('"epochs": 10', '"epochs": 3'),
        ('"trials": 20', '"trials": 2, "startup_trials": 1'),
    ):
        assert old in example
        example = example.replace(old, new)
    namespace: dict[str, Any] = {
        "model_config": BertConfig(**_hf_job.tiny_bert().config.to_diff_dict()),
        "train_set": _hf_job.TokenDataset(48),
        "val_set": _hf_job.TokenDataset(24, seed=1),
    }
    exec(example, namespace)
    result = namespace["result"]
    assert [t.slot for t in result.trials] == [0, 1]
    assert all(0.0 <= t.score <= 1.0 for t in result.trials)  # eval_accuracy
    assert result.best_score == max(t.score for t in result.trials)
    assert SamplerSpec.load(workdir / "runs" / "hf" / "sampler.json").theta == result.best_theta
