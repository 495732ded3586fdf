"""The plain way to walk a path or a plane, with no engine code: the reference the engine is
checked against (tests) and the loop it is timed against (`make bench`).

It is the loop a competent user writes: one working copy of the model; per point, build the
point's state, `load_state_dict` it, re-estimate BN statistics if asked, run the batches.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

State = Mapping[str, torch.Tensor]


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


@torch.no_grad()
def plain_metrics(
    work: nn.Module, state: State, batches, loss: str = "cross_entropy", bn_batches=None
) -> tuple[float, float]:
    """Mean loss and accuracy over the examples of `batches` of `work` loaded with `state`,
    its BN statistics first replaced by their plain average over `bn_batches` if given.
    `loss`: "cross_entropy" or "bce" (one logit, float targets)."""
    assert loss in ("cross_entropy", "bce"), loss
    work.load_state_dict(state)
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
            loss_sum += F.binary_cross_entropy_with_logits(logits, targets, reduction="sum").item()
            correct += ((logits > 0).float() == targets).sum().item()
        else:
            loss_sum += F.cross_entropy(logits, targets, reduction="sum").item()
            correct += (logits.argmax(1) == targets).sum().item()
        count += targets.numel()
    return loss_sum / count, correct / count


def plain_points(model: nn.Module, states: Iterable[State], data, loss: str, bn_batches):
    """`plain_metrics` at each state, with one working copy of `model`: (losses, accs)."""
    batches, work = [data] if isinstance(data, tuple) else list(data), copy.deepcopy(model)
    points = [plain_metrics(work, state, batches, loss, bn_batches) for state in states]
    return [p[0] for p in points], [p[1] for p in points]


def reference_curve(
    model: nn.Module,
    theta_a: State,
    theta_b: State,
    moving: Iterable[str],
    data,
    alphas,
    loss: str = "cross_entropy",
    bn_batches=None,
) -> tuple[list[float], list[float]]:
    """Loss and accuracy along a path: per alpha, (1 - alpha) theta_a + alpha theta_b on the
    `moving` entries (theta_b elsewhere) through `plain_metrics`. Means are over examples,
    not batches. `data`: one (inputs, targets) pair or an iterable of them."""
    moving = set(moving)
    states = (
        {k: (1 - alpha) * theta_a[k] + alpha * v if k in moving else v for k, v in theta_b.items()}
        for alpha in alphas
    )
    return plain_points(model, states, data, loss, bn_batches)


def reference_plane(
    model: nn.Module,
    origin: State,
    first: State,
    second: State,
    moving: Iterable[str],
    data,
    xs,
    ys,
    loss: str = "cross_entropy",
    bn_batches=None,
) -> tuple[list[list[float]], list[list[float]]]:
    """Loss and accuracy rows (row j: y = ys[j]) on the plane origin + x (first - origin) +
    y (second - origin) over the `moving` entries (`first` elsewhere)."""
    moving = set(moving)
    states = (
        {
            k: origin[k] + x * (v - origin[k]) + y * (second[k] - origin[k]) if k in moving else v
            for k, v in first.items()
        }
        for y in ys
        for x in xs
    )
    losses, accs = plain_points(model, states, data, loss, bn_batches)
    rows = range(0, len(losses), len(xs))
    return [losses[j : j + len(xs)] for j in rows], [accs[j : j + len(xs)] for j in rows]
