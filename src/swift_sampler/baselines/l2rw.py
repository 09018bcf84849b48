"""Learning to Reweight (Ren et al. 2018): per-batch weights from a small clean set.

At each step the batch's instances get weights ``eps`` (all 0); one virtual SGD step on
``sum_i eps_i * loss_i`` moves the parameters to ``theta - lr * grad``; the clean set's mean
loss at the moved parameters is differentiated with respect to ``eps``. Weights are the
negative of that gradient, clamped at 0 and normalised to sum to 1 (all 0 when none is
positive), and the real step minimises ``sum_i w_i * loss_i``. The virtual step uses
``torch.func.functional_call`` on detached copies of the parameters, so it leaves the model,
its gradients and its buffers (batch-norm statistics) untouched.

The method needs clean labels by design: the clean set must carry true labels. Its registry
entry says so (``uses_clean_labels``); :func:`~swift_sampler.baselines.clean_subset` draws one
from the validation split with the labels as they were before noise.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.utils.data import Dataset, TensorDataset, default_collate

from swift_sampler.baselines._base import BaselineTrainer
from swift_sampler.errors import InputDataError
from swift_sampler.train import ClassificationTrainer, TrainState

__all__ = ["L2RWTrainer", "l2rw_weights"]


def l2rw_weights(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    clean_x: torch.Tensor,
    clean_y: torch.Tensor,
    *,
    lr: float,
) -> torch.Tensor:
    """Learning-to-Reweight weights of one batch.

    Args:
        model: the network being trained (not modified).
        x: ``(b, ...)`` batch inputs.
        y: ``(b,)`` batch labels (noisy).
        clean_x: ``(m, ...)`` inputs of the clean set.
        clean_y: ``(m,)`` true labels of the clean set.
        lr: step size of the virtual SGD step (the current learning rate). At ``eps = 0``
            the gradient with respect to ``eps`` is ``-lr * grad(clean loss) . grad(loss_i)``,
            so ``lr`` only scales the raw weights, which are then normalised (``lr = 0``
            gives all 0).

    Returns:
        ``(b,)`` non-negative weights, detached, summing to 1 (or all 0 when no instance's
        gradient agrees with the clean set's).
    """
    params = {name: p.detach().requires_grad_(True) for name, p in model.named_parameters()}
    # Copies, so that batch-norm's running statistics are not updated by the virtual passes.
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    dtype = x.dtype if x.is_floating_point() else torch.float32
    eps = torch.zeros(len(y), dtype=dtype, device=x.device, requires_grad=True)
    logits = functional_call(model, {**params, **buffers}, (x,))
    weighted = (eps * F.cross_entropy(logits, y, reduction="none")).sum()
    names = list(params)
    grads = torch.autograd.grad(
        weighted, [params[n] for n in names], create_graph=True, allow_unused=True
    )
    moved = {
        n: params[n] if g is None else params[n] - lr * g
        for n, g in zip(names, grads, strict=True)
    }
    clean_loss = F.cross_entropy(functional_call(model, {**moved, **buffers}, (clean_x,)), clean_y)
    (eps_grad,) = torch.autograd.grad(clean_loss, [eps], allow_unused=True)
    if eps_grad is None:  # no parameter links the batch to the clean loss
        return torch.zeros_like(eps).detach()
    weights = torch.clamp(-eps_grad.detach(), min=0.0)
    total = weights.sum()
    return weights / total if total > 0 else weights


def _stack(dataset: Dataset[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(dataset, TensorDataset):
        return dataset.tensors[0], dataset.tensors[1]
    x, y = default_collate([dataset[i] for i in range(len(dataset))])  # type: ignore[arg-type]
    return x, y


class L2RWTrainer(BaselineTrainer):
    """Trains with Learning-to-Reweight's per-batch weights from a clean set.

    Args:
        base: the uniform trainer.
        clean_set: a small map-style dataset of ``(x, y)`` with TRUE labels (e.g. 10 per
            class, from :func:`~swift_sampler.baselines.clean_subset`); the whole set is
            used at every step.
    """

    def __init__(self, base: ClassificationTrainer, *, clean_set: Dataset[Any]) -> None:
        super().__init__(base)
        clean_x, clean_y = _stack(clean_set)
        if len(clean_y) == 0:
            raise InputDataError("the clean set of Learning to Reweight must not be empty")
        if clean_y.ndim != 1 or clean_y.dtype.is_floating_point:
            raise InputDataError(
                f"the clean set's labels must be (m,) class indices, got {clean_y.dtype} "
                f"of shape {tuple(clean_y.shape)}"
            )
        self.clean_x = clean_x
        self.clean_y = clean_y

    def batch_loss(
        self, state: TrainState, x: torch.Tensor, y: torch.Tensor, *, lr: float
    ) -> tuple[torch.Tensor, float]:
        if self.clean_x.device != x.device:  # moved once, to the model's device
            self.clean_x, self.clean_y = self.clean_x.to(x.device), self.clean_y.to(x.device)
        weights = l2rw_weights(state.model, x, y, self.clean_x, self.clean_y, lr=lr)
        losses = F.cross_entropy(state.model(x), y, reduction="none")
        loss = (weights * losses).sum()
        # Report the plain mean loss: the weighted one is 0 whenever every weight is.
        return loss, losses.detach().mean().item()
