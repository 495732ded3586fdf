"""The plain way to walk a path, with no engine code: the reference the engine is checked
and timed against (tests, `make bench`)."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


def trained_copy(model: nn.Module, inputs: torch.Tensor, seed: int = 1, scale: float = 0.3) -> dict:
    """A second state of `model`: weights moved by `scale` * N(0, 1), BN statistics from a
    train-mode pass over `inputs`."""
    other = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(scale * torch.randn(p.shape, generator=generator))
        other.train()
        other(inputs)
    return {k: v.clone() for k, v in other.state_dict().items()}


def reference_curve(
    model: nn.Module,
    theta_a: dict,
    theta_b: dict,
    moving,
    data,
    alphas,
    loss: str = "cross_entropy",
    bn_batches=None,
) -> tuple[list[float], list[float]]:
    """Loss and accuracy along a path the slow, obvious way, with no engine code, so that the
    engine can be checked against it: per alpha, a deep copy loads (1 - alpha) theta_a +
    alpha theta_b on the `moving` entries (theta_b elsewhere), re-estimates BN statistics
    on `bn_batches` if given, and runs `data` (one (inputs, targets) pair or an iterable of
    them). Means are over examples, not batches. `loss`: "cross_entropy" or "bce" (one logit,
    float targets)."""
    assert loss in ("cross_entropy", "bce"), loss
    batches = [data] if isinstance(data, tuple) else data
    moving = set(moving)
    losses, accs = [], []
    for alpha in alphas:
        work = copy.deepcopy(model)
        work.load_state_dict(
            {
                k: (1 - alpha) * theta_a[k] + alpha * v if k in moving else v
                for k, v in theta_b.items()
            }
        )
        with torch.no_grad():
            if bn_batches is not None:
                for m in work.modules():
                    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
                        m.reset_running_stats()
                        m.momentum = None  # a plain average over the batches
                work.train()
                for inputs, _ in bn_batches:
                    work(inputs)
            work.eval()
            loss_sum, correct, count = 0.0, 0, 0
            for inputs, targets in batches:
                logits = work(inputs)
                if loss == "bce":
                    loss_sum += F.binary_cross_entropy_with_logits(
                        logits, targets, reduction="sum"
                    ).item()
                    correct += ((logits > 0).float() == targets).sum().item()
                else:
                    loss_sum += F.cross_entropy(logits, targets, reduction="sum").item()
                    correct += (logits.argmax(1) == targets).sum().item()
                count += targets.numel()
        losses.append(loss_sum / count)
        accs.append(correct / count)
    return losses, accs
