from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from swift_sampler.errors import InputDataError
from swift_sampler.features import (
    compute_features,
    extract_features,
    grad_norm,
    loss,
    margin,
    renormed_entropy,
)


def _reference(z: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Float64 numpy versions of the SPEC formulas, written independently."""
    z = z.astype(np.float64)
    n, c = z.shape
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    others = np.stack([np.delete(z[i], y[i]) for i in range(n)])
    q = np.exp(others - others.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.nansum(np.where(q > 0, q * np.log(q), 0.0), axis=1)
    onehot = np.eye(c)[y]
    best_other = np.where(onehot > 0, -1.0, p).max(axis=1)
    return {
        "loss": -np.log(p[rows, y]),
        "er": h / math.log(c - 1),
        "grad_norm": np.linalg.norm(p - onehot, axis=1),
        "margin": p[rows, y] - best_other,
    }


def test_features_match_the_spec_formulas() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(300, 10, generator=g) * 3
    y = torch.randint(0, 10, (300,), generator=g)
    ref = _reference(z.numpy(), y.numpy())
    table = compute_features(z, y, ("loss", "er", "grad_norm", "margin")).numpy()
    assert table.dtype == np.float32 and table.shape == (300, 4)
    for j, name in enumerate(("loss", "er", "grad_norm", "margin")):
        np.testing.assert_allclose(table[:, j], ref[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_grad_norm_is_the_norm_of_the_loss_gradient() -> None:
    z = torch.randn(64, 7, requires_grad=True)
    y = torch.randint(0, 7, (64,))
    loss(z, y).sum().backward()
    assert z.grad is not None
    expected = torch.linalg.vector_norm(z.grad, dim=1)
    torch.testing.assert_close(grad_norm(z.detach(), y), expected)


def test_renormed_entropy_extremes() -> None:
    # Others all equal -> the renormalised prediction is uniform -> Er = 1.
    z = torch.tensor([[5.0, 1.0, 1.0, 1.0], [0.0, 2.0, 2.0, 2.0]])
    torch.testing.assert_close(renormed_entropy(z, torch.tensor([0, 0])), torch.ones(2))
    # One other class takes everything -> Er near 0 (the mislabelled-instance signature).
    z = torch.tensor([[0.0, 30.0, 0.0, 0.0]])
    assert renormed_entropy(z, torch.tensor([0])).item() < 1e-9


def test_renormed_entropy_is_stable_for_confident_predictions() -> None:
    # A label logit of 1e4 would overflow a naive softmax; the other classes still decide Er.
    z = torch.tensor([[1e4, 0.0, 0.0, 0.0], [1e4, 1e3, 0.0, 0.0], [-1e4, 0.0, 0.0, 0.0]])
    er = renormed_entropy(z, torch.tensor([0, 0, 0]))
    assert torch.isfinite(er).all()
    torch.testing.assert_close(er, torch.tensor([1.0, 0.0, 1.0]))
    values = compute_features(z, torch.tensor([0, 0, 0]), ("loss", "grad_norm", "margin"))
    assert torch.isfinite(values).all()
    assert values[2, 0] > 9999  # the loss of a confidently wrong instance is ~1e4, not inf


def test_margin_sign() -> None:
    z = torch.tensor([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    m = margin(z, torch.tensor([0, 0]))
    assert m[0] > 0 > m[1]


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(1, 20),
    c=st.integers(3, 12),
    scale=st.floats(0.01, 1e3),
    seed=st.integers(0, 1000),
)
def test_feature_ranges(n: int, c: int, scale: float, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, c, generator=g) * scale
    y = torch.randint(0, c, (n,), generator=g)
    t = compute_features(z, y, ("loss", "er", "grad_norm", "margin"))
    assert torch.isfinite(t).all()
    assert (t[:, 0] >= 0).all()
    assert ((t[:, 1] >= 0) & (t[:, 1] <= 1)).all()
    assert ((t[:, 2] >= 0) & (t[:, 2] <= math.sqrt(2) + 1e-6)).all()
    assert ((t[:, 3] >= -1) & (t[:, 3] <= 1)).all()


@pytest.mark.parametrize(
    ("logits", "labels", "names", "message"),
    [
        (torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), ("er",), "at least 3 classes"),
        (torch.zeros(3, 4), torch.tensor([0, 4, 1]), ("loss",), r"labels must be in \[0, 3\]"),
        (torch.zeros(3, 4), torch.tensor([0, 1]), ("loss",), "labels must have shape"),
        (torch.zeros(3, 4), torch.zeros(3), ("loss",), "integer class indices"),
        (torch.zeros(4), torch.zeros(4, dtype=torch.long), ("loss",), r"shape \(n, C\)"),
        (
            torch.tensor([[0.0, 1.0, 2.0], [0.0, math.nan, 1.0]]),
            torch.tensor([0, 0]),
            ("loss",),
            "row 1 holds NaN",
        ),
        (torch.zeros(3, 4), torch.zeros(3, dtype=torch.long), ("entropy",), "unknown feature"),
        (torch.zeros(3, 4), torch.zeros(3, dtype=torch.long), ("loss", "loss"), "distinct"),
    ],
)
def test_bad_outputs_are_rejected(
    logits: torch.Tensor, labels: torch.Tensor, names: tuple[str, ...], message: str
) -> None:
    with pytest.raises(InputDataError, match=message):
        compute_features(logits, labels, names)


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5)
        )
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _digits_dataset(digits: tuple[np.ndarray, np.ndarray]) -> TensorDataset:
    x, y = digits
    return TensorDataset(torch.from_numpy(x), torch.from_numpy(y))


def test_extract_features_matches_a_direct_eval_pass(digits) -> None:
    torch.manual_seed(0)
    model = _Net()
    model.train()
    ds = _digits_dataset(digits)
    table = extract_features(model, ds, names=("loss", "er", "grad_norm"), batch_size=100)
    model.eval()
    with torch.no_grad():
        direct = compute_features(model(ds.tensors[0]), ds.tensors[1], ("loss", "er", "grad_norm"))
    np.testing.assert_allclose(table, direct.numpy(), rtol=1e-5, atol=1e-6)


def test_extract_features_aligns_rows_with_dataset_indices_for_a_shuffling_loader(digits) -> None:
    torch.manual_seed(0)
    model = _Net()
    ds = _digits_dataset(digits)
    reference = extract_features(model, ds, batch_size=256)
    loader = DataLoader(ds, batch_size=64, shuffle=True, drop_last=True, num_workers=2)
    from_loader = extract_features(model, loader)
    np.testing.assert_allclose(from_loader, reference, rtol=1e-5, atol=1e-6)
    assert from_loader.shape == (len(ds), 2)


def test_extract_features_restores_modes_and_records_no_gradient(digits) -> None:
    model = _Net()
    model.train()
    model.body[1].eval()  # a mixed state must come back exactly as it was
    extract_features(model, _digits_dataset(digits))
    assert model.training and model.head.training and model.body[0].training
    assert not model.body[1].training
    assert all(p.grad is None for p in model.parameters())


def test_extract_features_restores_modes_when_the_model_fails(digits) -> None:
    class Broken(_Net):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            assert not self.training
            raise RuntimeError("boom")

    model = Broken()
    model.train()
    with pytest.raises(RuntimeError, match="boom"):
        extract_features(model, _digits_dataset(digits))
    assert all(m.training for m in model.modules())


def test_extract_features_fills_a_memory_mapped_table(digits, tmp_path) -> None:
    model = _Net()
    ds = _digits_dataset(digits)
    out = np.lib.format.open_memmap(
        tmp_path / "features.npy", mode="w+", dtype=np.float32, shape=(len(ds), 2)
    )
    result = extract_features(model, ds, out=out)
    assert result is out
    out.flush()
    np.testing.assert_array_equal(np.load(tmp_path / "features.npy"), extract_features(model, ds))
    with pytest.raises(InputDataError, match="out must be a float32 array of shape"):
        extract_features(model, ds, out=np.empty((len(ds), 3), dtype=np.float32))


def test_a_model_returning_a_tuple_is_a_clear_error(digits) -> None:
    class TwoOutputs(_Net):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
            logits = super().forward(x)
            return logits, logits.detach()

    with pytest.raises(InputDataError, match="logits tensor, got tuple"):
        extract_features(TwoOutputs(), _digits_dataset(digits))
    with pytest.raises(InputDataError, match="logits must be a tensor, got list"):
        compute_features([[0.0, 1.0, 2.0]], torch.tensor([0]))  # type: ignore[arg-type]
