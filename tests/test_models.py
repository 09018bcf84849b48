from __future__ import annotations

import pytest
import torch

from swift_sampler.errors import InputDataError
from swift_sampler.models import build_model


@pytest.mark.parametrize(
    ("name", "shape"),
    [("mlp", (1, 8, 8)), ("cnn", (1, 28, 28)), ("conv1d", (1, 40)), ("resnet", (3, 32, 32))],
)
def test_models_map_inputs_to_logits_and_learn(name: str, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    model = build_model(name, shape, 10)
    x = torch.randn(8, *shape)
    y = torch.arange(8) % 10
    logits = model(x)
    assert logits.shape == (8, 10) and torch.isfinite(logits).all()
    # A few steps on one batch lower its loss: gradients reach the parameters.
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    first = torch.nn.functional.cross_entropy(model(x), y).item()
    for _ in range(40):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    assert torch.nn.functional.cross_entropy(model(x), y).item() < 0.7 * first


def test_mlp_width_is_its_hidden_units() -> None:
    # The config's model.width must work for every model, the MLP included.
    model = build_model("mlp", (1, 8, 8), 10, width=48)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert sum(p.numel() for p in model.parameters()) == 64 * 48 + 48 + 48 * 48 + 48 + 48 * 10 + 10


def test_width_and_unknown_model() -> None:
    narrow = build_model("cnn", (1, 28, 28), 10, width=8)
    wide = build_model("cnn", (1, 28, 28), 10, width=32)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(wide) > 2 * count(narrow)
    with pytest.raises(InputDataError, match="unknown model 'vit'"):
        build_model("vit", (3, 32, 32), 10)
