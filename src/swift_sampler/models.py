"""Small networks for the demo, the tests, the benchmarks and the experiments.

The classifiers take a batch ``x`` and return ``(b, C)`` logits; :class:`GPT`, the language
model, takes ``(b, T)`` token ids and returns ``(b, V, T)`` logits. They are deliberately small:
the machine they are measured on has 2 CPU cores.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from swift_sampler.errors import InputDataError

__all__ = ["GPT", "MLP", "MODELS", "Conv1dNet", "SmallCNN", "SmallResNet", "build_model"]


class MLP(nn.Module):
    """Two hidden layers over flattened inputs (sklearn digits: ``(b, 64)``)."""

    def __init__(self, in_features: int = 64, num_classes: int = 10, *, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SmallCNN(nn.Module):
    """Two conv blocks and a linear head for ``(b, 1, 28, 28)`` images (MNIST)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, *, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * width * 7 * 7, 64), nn.ReLU(), nn.Linear(64, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Conv1dNet(nn.Module):
    """A 1-D CNN for ``(b, 1, 40)`` signals (MNIST-1D)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, *, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, width, 5, padding=2),
            nn.ReLU(),
            nn.Conv1d(width, width, 3, padding=1, stride=2),
            nn.ReLU(),
            nn.Conv1d(width, width, 3, padding=1, stride=2),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(4),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2:
            x = x.unsqueeze(1)
        return self.head(self.features(x))


class _Block(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or channels_in != channels_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 1, stride, bias=False),
                nn.BatchNorm2d(channels_out),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """A ResNet with three stages of one basic block for ``(b, 3, 32, 32)`` inputs."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, *, width: int = 16) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        self.stages = nn.Sequential(
            _Block(width, width, 1), _Block(width, 2 * width, 2), _Block(2 * width, 4 * width, 2)
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


class _Attention(nn.Module):
    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        shape = (b, t, self.heads, d // self.heads)
        q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))  # (b, heads, t, d/heads)
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class _TransformerBlock(nn.Module):
    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attention = _Attention(d_model, heads)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    """A small decoder-only transformer (pre-LayerNorm, learned positions, tied embeddings).

    ``forward`` maps ``(b, T)`` token ids, ``T <= context``, to ``(b, V, T)`` next-token logits:
    the class dimension second, the layout ``F.cross_entropy(logits, targets)`` takes for
    ``(b, T)`` targets, so the classification training loop trains it unchanged.

    Args:
        vocab_size: V, the number of token ids.
        context: the longest input T (positions learned).
        layers: transformer blocks.
        d_model: width of the residual stream; a multiple of ``heads``.
        heads: attention heads.
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        context: int = 128,
        layers: int = 2,
        d_model: int = 128,
        heads: int = 4,
    ) -> None:
        super().__init__()
        problems = []
        for name, value in (
            ("vocab_size", vocab_size),
            ("context", context),
            ("layers", layers),
            ("d_model", d_model),
            ("heads", heads),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{name} must be an integer >= 1, got {value!r}")
        if not problems and d_model % heads:
            problems.append(f"d_model ({d_model}) must be a multiple of heads ({heads})")
        if problems:
            raise InputDataError("GPT: " + "; ".join(problems))
        self.context = context
        self.vocab_size = vocab_size
        self.token = nn.Embedding(vocab_size, d_model)
        self.position = nn.Embedding(context, d_model)
        self.blocks = nn.Sequential(*(_TransformerBlock(d_model, heads) for _ in range(layers)))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.head.weight = self.token.weight  # tied: fewer parameters, better small models
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        if t > self.context:
            raise InputDataError(f"GPT: inputs of {t} tokens exceed the context of {self.context}")
        positions = torch.arange(t, device=x.device)
        h = self.blocks(self.token(x) + self.position(positions))
        return self.head(self.norm(h)).transpose(1, 2)


MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": MLP,
    "cnn": SmallCNN,
    "conv1d": Conv1dNet,
    "resnet": SmallResNet,
    "gpt": GPT,
}


def build_model(
    name: str, input_shape: tuple[int, ...], num_classes: int, **kwargs: int
) -> nn.Module:
    """Builds a named model for inputs of shape ``input_shape`` (without the batch dimension).

    ``width`` (the config's ``model.width``) sets the channels of the convolutional models and
    the hidden units of the MLP. For ``"gpt"``, ``input_shape`` is ``(context,)``,
    ``num_classes`` the vocabulary size, and the keyword arguments its size (``layers``,
    ``d_model``, ``heads``).

    Raises:
        InputDataError: for an unknown name.
    """
    if name not in MODELS:
        raise InputDataError(f"unknown model {name!r}; known models: {sorted(MODELS)}")
    if name == "mlp":
        in_features = 1
        for size in input_shape:
            in_features *= size
        if "width" in kwargs:
            kwargs = {("hidden" if k == "width" else k): v for k, v in kwargs.items()}
        return MLP(in_features, num_classes, **kwargs)
    if name == "gpt":
        return GPT(num_classes, context=input_shape[0], **kwargs)
    return MODELS[name](input_shape[0], num_classes, **kwargs)
