"""Per-instance features from model outputs, and the streaming pass that computes them.

The feature functions follow cleanlab's habit: they take model outputs as arrays,
``logits (n, C)`` and ``labels (n,)``, not the model. ``extract_features`` runs the model over a
dataset (eval mode, no gradient) and fills an ``(n, m)`` float32 table aligned with dataset
indices, whatever order the batches come back in.

Definitions (SPEC section 2), with ``p = softmax(z)``:

* ``loss``: ``-log p[y]``.
* ``er`` (renormed entropy): ``q = softmax(z without the label's logit)``,
  ``Er = H(q) / log(C - 1)`` in [0, 1]. Needs ``C >= 3``.
* ``grad_norm``: ``||p - onehot(y)||_2``, the norm of d loss / d logits; the cgf transform
  weighs instances by it.
* ``margin``: ``p[y] - max_{c != y} p[c]`` in [-1, 1].
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from swift_sampler.errors import InputDataError, NonFiniteError

if TYPE_CHECKING:
    from torch.utils.data import DataLoader, Dataset

__all__ = [
    "FEATURES",
    "FEATURE_RANGES",
    "compute_features",
    "compute_sequence_features",
    "extract_features",
    "grad_norm",
    "loss",
    "margin",
    "renormed_entropy",
]

logger = logging.getLogger(__name__)


def loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each instance: ``(n, C), (n,) -> (n,)``."""
    return F.cross_entropy(logits, labels, reduction="none")


def renormed_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Entropy of the prediction over the classes other than the label, divided by log(C-1).

    Stable for confident predictions: the label's logit is removed before a log-softmax, so
    a huge label logit neither overflows nor swamps the other classes.

    Args:
        logits: ``(n, C)`` with ``C >= 3``.
        labels: ``(n,)`` class indices.

    Returns:
        ``(n,)`` values in [0, 1]: 1 when the other classes share the rest evenly, 0 when one
        other class takes all of it.
    """
    num_classes = logits.shape[1]
    if num_classes < 3:
        raise InputDataError(f"renormed entropy needs at least 3 classes, got C = {num_classes}")
    others = torch.ones_like(logits, dtype=torch.bool)
    others[torch.arange(logits.shape[0], device=logits.device), labels] = False
    log_q = torch.log_softmax(logits.masked_fill(~others, -math.inf), dim=1)
    # q log q is 0 for the removed class (q = 0, log q = -inf), so mask it out instead of 0*inf.
    plogp = torch.where(others, log_q.exp() * log_q, torch.zeros((), dtype=log_q.dtype))
    entropy = -plogp.sum(dim=1)
    return (entropy / math.log(num_classes - 1)).clamp_(0.0, 1.0)


def grad_norm(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Norm of the gradient of the loss w.r.t. the logits, ``||softmax(z) - onehot(y)||_2``."""
    residual = torch.softmax(logits, dim=1)
    residual[torch.arange(logits.shape[0], device=logits.device), labels] -= 1.0
    return torch.linalg.vector_norm(residual, dim=1)


def margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Probability margin ``p[y] - max_{c != y} p[c]`` in [-1, 1]."""
    p = torch.softmax(logits, dim=1)
    rows = torch.arange(logits.shape[0], device=logits.device)
    p_label = p[rows, labels]
    best_other = p.index_put((rows, labels), torch.full_like(p_label, -1.0)).amax(dim=1)
    return p_label - best_other


FEATURES: Mapping[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "loss": loss,
    "er": renormed_entropy,
    "grad_norm": grad_norm,
    "margin": margin,
}
"""Known feature names and the functions that compute them."""

_SLACK = 1e-4  # float32 rounding at the edges of each range
FEATURE_RANGES: Mapping[str, tuple[float, float]] = {
    "loss": (-_SLACK, math.inf),
    "er": (-_SLACK, 1.0 + _SLACK),
    "grad_norm": (-_SLACK, math.sqrt(2.0) + _SLACK),
    "margin": (-1.0 - _SLACK, 1.0 + _SLACK),
}
"""Range of each feature's values; a table value outside it means a wrong or corrupt column."""


def check_feature_names(names: Sequence[str]) -> tuple[str, ...]:
    """Returns the names as a tuple, or raises InputDataError naming an unknown or repeated one."""
    if isinstance(names, str):
        names = (names,)
    names = tuple(names)
    if not names:
        raise InputDataError("at least one feature name is needed")
    for name in names:
        if name not in FEATURES:
            raise InputDataError(f"unknown feature {name!r}; known features: {sorted(FEATURES)}")
    if len(set(names)) != len(names):
        raise InputDataError(f"feature names must be distinct, got {list(names)}")
    return names


def _check_outputs(logits: torch.Tensor, labels: torch.Tensor) -> None:
    for name, value in (("logits", logits), ("labels", labels)):
        if not isinstance(value, torch.Tensor):
            raise InputDataError(f"{name} must be a tensor, got {type(value).__name__}")
    if logits.ndim != 2:
        raise InputDataError(f"logits must have shape (n, C), got {tuple(logits.shape)}")
    if labels.ndim != 1 or labels.shape[0] != logits.shape[0]:
        raise InputDataError(
            f"labels must have shape ({logits.shape[0]},) to match the logits, "
            f"got {tuple(labels.shape)}"
        )
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise InputDataError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if labels.numel():
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= logits.shape[1]:
            bad = low if low < 0 else high
            raise InputDataError(
                f"labels must be in [0, {logits.shape[1] - 1}] for C = {logits.shape[1]} "
                f"classes, got {bad}"
            )
    finite = torch.isfinite(logits).all(dim=1)
    if not bool(finite.all()):
        row = int((~finite).nonzero()[0, 0])
        raise NonFiniteError(f"logits must be finite, but row {row} holds NaN or inf")


def compute_features(
    logits: torch.Tensor, labels: torch.Tensor, names: Sequence[str] = ("loss", "er")
) -> torch.Tensor:
    """Computes the named features of every instance.

    Args:
        logits: ``(n, C)`` model outputs.
        labels: ``(n,)`` integer labels (the training labels, possibly noisy).
        names: feature names, columns in this order (see ``FEATURES``).

    Returns:
        ``(n, m)`` float32 tensor on the logits' device.

    Raises:
        InputDataError: on unknown names, mismatched shapes, labels out of range, non-finite
            logits, or ``er`` with fewer than 3 classes.
    """
    names = check_feature_names(names)
    _check_outputs(logits, labels)
    # float32 softmax and entropy are accurate enough for ranks; half precision is not.
    z = logits.detach().float()
    y = labels.detach().long()
    return torch.stack(_shared_features(z, y, names), dim=1)


def _shared_features(
    z: torch.Tensor, y: torch.Tensor, names: tuple[str, ...]
) -> list[torch.Tensor]:
    """The same values as ``FEATURES[name](z, y)``, from one log-softmax shared by all names.

    On a tiny model the features, not the model, dominate the pass (42 ms vs 5 ms per batch of
    65,536 with 10 classes), so the common work is done once.
    """
    rows = torch.arange(z.shape[0], device=z.device)
    log_p = torch.log_softmax(z, dim=1)
    log_p_label = log_p[rows, y]
    values: dict[str, torch.Tensor] = {}
    if "loss" in names:
        values["loss"] = -log_p_label
    if "grad_norm" in names or "margin" in names:
        p = log_p.exp()
        p_label = log_p_label.exp()
        if "grad_norm" in names:
            # ||p - e_y||^2 = sum p^2 - 2 p_y + 1
            squared = (p * p).sum(dim=1) - 2.0 * p_label + 1.0
            values["grad_norm"] = squared.clamp_(min=0.0).sqrt_()
        if "margin" in names:
            values["margin"] = p_label - p.index_put(
                (rows, y), torch.full_like(p_label, -1.0)
            ).amax(1)
    if "er" in names:
        num_classes = z.shape[1]
        if num_classes < 3:
            raise InputDataError(
                f"renormed entropy needs at least 3 classes, got C = {num_classes}"
            )
        # log q over the other classes = log p - log(sum of the others' p), the latter a
        # masked logsumexp (stable when p_y is 1 up to rounding).
        masked = log_p.index_put((rows, y), torch.full_like(log_p_label, -math.inf))
        log_q = masked - torch.logsumexp(masked, dim=1, keepdim=True)
        plogp = log_q.exp() * log_q
        plogp[rows, y] = 0.0  # 0 * -inf for the removed class
        entropy = -plogp.sum(dim=1)
        values["er"] = (entropy / math.log(num_classes - 1)).clamp_(0.0, 1.0)
    return [values[name] for name in names]


def compute_sequence_features(
    logits: torch.Tensor, targets: torch.Tensor, names: Sequence[str] = ("loss", "er")
) -> torch.Tensor:
    """Per-sequence features of a language model: each token's feature, aggregated.

    Every position ``t`` of a sequence is one V-way prediction with label ``targets[:, t]``,
    and its features are the classification ones (``p = softmax(z_t)``). A sequence gets
    the mean over its positions of ``loss`` (its mean token loss), ``er`` (the renormed
    entropy of the prediction with the target token removed) and ``margin``; ``grad_norm`` is
    ``sqrt(mean_t ||p_t - onehot(y_t)||^2)``: the norm of the gradient of the sequence's mean
    loss with respect to its ``(T, V)`` logits, times ``sqrt(T)`` (a constant), so it stays in
    ``[0, sqrt(2)]`` and weighs sequences for cgf exactly as that gradient norm does.

    Args:
        logits: ``(b, V, T)`` model outputs (the class dimension second, as ``GPT`` returns).
        targets: ``(b, T)`` integer next tokens.
        names: feature names, columns in this order.

    Returns:
        ``(b, m)`` float32 tensor on the logits' device.

    Raises:
        InputDataError: on unknown names, mismatched shapes, targets out of range, non-finite
            logits, or ``er`` with fewer than 3 tokens in the vocabulary.
    """
    names = check_feature_names(names)
    if not isinstance(logits, torch.Tensor) or logits.ndim != 3:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits)
        raise InputDataError(f"sequence logits must have shape (b, V, T), got {shape}")
    b, v, t = logits.shape
    if not isinstance(targets, torch.Tensor) or tuple(targets.shape) != (b, t):
        shape = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets)
        raise InputDataError(
            f"targets must have shape ({b}, {t}) to match the logits, got {shape}"
        )
    z = logits.detach().float().transpose(1, 2).reshape(b * t, v)
    y = targets.detach().reshape(b * t)
    _check_outputs(z, y)
    columns = _shared_features(z, y.long(), names)
    out = []
    for name, column in zip(names, columns, strict=True):
        per_token = column.view(b, t)
        if name == "grad_norm":
            out.append(per_token.square().mean(dim=1).sqrt())
        else:
            out.append(per_token.mean(dim=1))
    return torch.stack(out, dim=1)


class _Indexed:
    """Wraps a map-style dataset so each item also carries its index."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[int, Any]:
        return index, self.dataset[index]


class _IndexedCollate:
    def __init__(self, collate: Callable[[list[Any]], Any]) -> None:
        self.collate = collate

    def __call__(self, items: list[tuple[int, Any]]) -> tuple[torch.Tensor, Any]:
        indices = torch.tensor([i for i, _ in items], dtype=torch.int64)
        return indices, self.collate([item for _, item in items])


def _tensor_batches(
    dataset: Any, batch_size: int
) -> Iterable[tuple[torch.Tensor, tuple[torch.Tensor, ...]]]:
    tensors = dataset.tensors
    n = len(tensors[0])
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        yield torch.arange(start, stop), tuple(t[start:stop] for t in tensors)


def _module_modes(model: torch.nn.Module) -> list[tuple[torch.nn.Module, bool]]:
    return [(module, module.training) for module in model.modules()]


def extract_features(
    model: torch.nn.Module,
    data: Dataset[Any] | DataLoader[Any],
    *,
    names: Sequence[str] = ("loss", "er"),
    batch_size: int = 512,
    num_workers: int = 0,
    device: torch.device | str | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Runs the model over a dataset and returns the features of every instance.

    The model is put in eval mode for the pass and every submodule's mode is restored after,
    also when the pass fails. No gradients are recorded.

    Args:
        model: maps a batch of inputs to ``(b, C)`` logits.
        data: a map-style dataset of ``(x, y)`` items, or a DataLoader over one. For a
            DataLoader, its dataset, batch size, workers and collate function are reused but
            its sampler is not: every instance is visited exactly once, in index order, and the
            rows of the table are aligned with dataset indices (a shuffling or weighted sampler
            would otherwise skip or repeat instances).
        names: feature names (columns, in order), see ``FEATURES``.
        batch_size: batch size when ``data`` is a dataset.
        num_workers: DataLoader workers when ``data`` is a dataset.
        device: where to run the model; defaults to the device of its first parameter.
        out: optional preallocated ``(n, m)`` float32 array (e.g. a ``numpy.memmap``) to fill;
            memory then stays O(n * m), whatever the number of classes.

    Returns:
        ``(n, m)`` float32 array; row ``i`` holds the features of dataset item ``i``.

    Raises:
        InputDataError: on unknown feature names, a wrong ``out`` shape, model outputs that
            are not ``(b, C)`` finite logits, or labels out of range.
    """
    from torch.utils.data import DataLoader, TensorDataset, default_collate

    names = check_feature_names(names)
    if isinstance(data, DataLoader):
        dataset = data.dataset
        batch_size = data.batch_size or batch_size
        num_workers = data.num_workers
        collate = data.collate_fn or default_collate
        pin_memory = data.pin_memory
    else:
        dataset = data
        collate = default_collate
        pin_memory = False
    n = len(dataset)  # type: ignore[arg-type]
    shape = (n, len(names))
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    elif out.shape != shape or out.dtype != np.float32:
        raise InputDataError(
            f"out must be a float32 array of shape {shape}, got {out.dtype} {out.shape}"
        )
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
    device = torch.device(device)

    loader: Iterable[tuple[torch.Tensor, Any]]
    if isinstance(dataset, TensorDataset) and collate is default_collate:
        # In-memory tensors: contiguous slices, no per-item fetch and collate (it cost 40% of
        # the pass on MNIST-5k).
        loader = _tensor_batches(dataset, batch_size)
    else:
        loader = DataLoader(
            _Indexed(dataset),  # type: ignore[arg-type]
            batch_size=batch_size,
            shuffle=False,
            num_workers=num_workers,
            collate_fn=_IndexedCollate(collate),
            pin_memory=pin_memory,
        )
    seen = np.zeros(n, dtype=np.bool_)
    modes = _module_modes(model)
    model.eval()
    try:
        with torch.inference_mode():
            for indices, batch in loader:
                x, y = batch[0], batch[1]
                logits = model(x.to(device, non_blocking=True))
                if not isinstance(logits, torch.Tensor):
                    # e.g. a model returning (logits, features) or a dict of outputs
                    raise InputDataError(
                        "the model must return a (b, C) logits tensor, got "
                        f"{type(logits).__name__}; wrap it in a module that returns the "
                        "logits alone"
                    )
                values = compute_features(logits, y.to(device, non_blocking=True), names)
                rows = indices.numpy()
                out[rows] = values.cpu().numpy()
                seen[rows] = True
    finally:
        for module, training in modes:
            module.training = training
    if not seen.all():
        missing = int(np.flatnonzero(~seen)[0])
        raise InputDataError(f"the feature pass did not reach instance {missing} of {n}")
    return out
