"""Loss and accuracy along straight lines between two states of one model."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from landscape.paths import discover_units, moving_keys

LOSSES = ("cross_entropy", "bce")

Batch = tuple[torch.Tensor, torch.Tensor]


def interpolate_state(
    theta_a: Mapping[str, torch.Tensor],
    theta_b: Mapping[str, torch.Tensor],
    alpha: float,
    keys: Iterable[str] | None = None,
) -> dict[str, torch.Tensor]:
    """theta_b with `keys` (default: every floating entry) moved to (1 - alpha) a + alpha b."""
    moving = (
        set(keys) if keys is not None else {k for k, v in theta_b.items() if v.is_floating_point()}
    )
    return {k: torch.lerp(theta_a[k], v, alpha) if k in moving else v for k, v in theta_b.items()}


def batch_loss_and_correct(
    logits: torch.Tensor, targets: torch.Tensor, loss: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed loss and number of correct predictions in one batch."""
    if loss == "bce":
        logits = logits.reshape(-1)
        targets = targets.reshape(-1).to(logits.dtype)
        summed = F.binary_cross_entropy_with_logits(logits, targets, reduction="sum")
        correct = ((logits > 0) == (targets > 0.5)).sum()
    else:
        summed = F.cross_entropy(logits, targets, reduction="sum")
        correct = (logits.argmax(dim=1) == targets).sum()
    return summed, correct


def as_batches(data, device: torch.device) -> list[Batch]:
    """One (inputs, targets) pair or an iterable of them, moved to `device` once."""
    if (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(t, torch.Tensor) for t in data)
    ):
        data = [data]
    return [(x.to(device), y.to(device)) for x, y in data]


@torch.no_grad()
def evaluate_state(model: nn.Module, batches: Sequence[Batch], loss: str) -> tuple[float, float]:
    """Mean loss and accuracy of `model` (as it stands, in eval mode) over every example."""
    total_loss = torch.zeros((), dtype=torch.float64, device=batches[0][0].device)
    total_correct = torch.zeros((), dtype=torch.int64, device=total_loss.device)
    count = 0
    for inputs, targets in batches:
        summed, correct = batch_loss_and_correct(model(inputs), targets, loss)
        total_loss += summed.double()
        total_correct += correct
        count += targets.shape[0]
    return float(total_loss) / count, float(total_correct) / count


@torch.no_grad()
def recompute_bn_statistics(model: nn.Module, batches: Sequence[Batch]) -> None:
    """Replace every BN layer's running statistics by their exact average over `batches`."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    for inputs, _ in batches:
        model(inputs)
    model.eval()
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum


def evaluate_paths(
    model: nn.Module,
    theta_a: Mapping[str, torch.Tensor],
    theta_b: Mapping[str, torch.Tensor],
    data,
    alphas: Sequence[float] = (0.0, 0.5, 1.0),
    paths: Sequence[str] = ("full",),
    loss: str = "cross_entropy",
    units: Mapping[str, list[str]] | None = None,
    bn_data=None,
    device: torch.device | str | None = None,
) -> dict[str, dict[str, list[float]]]:
    """Loss and accuracy at every alpha of every path from theta_a (alpha=0) to theta_b.

    `model` gives the architecture only: it is left as it was found. A path moves the
    entries named by its key (see `landscape.paths.moving_keys`) and keeps the rest at
    theta_b. With `bn_data` (training batches) BN statistics are re-estimated at every
    alpha instead of interpolated.
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {list(LOSSES)}")
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
    device = torch.device(device)
    batches = as_batches(data, device)
    recompute_batches = as_batches(bn_data, device) if bn_data is not None else None
    units = dict(units) if units is not None else discover_units(model)
    theta_a = {k: v.to(device) for k, v in theta_a.items()}
    theta_b = {k: v.to(device) for k, v in theta_b.items()}

    work = copy.deepcopy(model).to(device).eval()
    curves: dict[str, dict[str, list[float]]] = {}
    for path in paths:
        keys = moving_keys(model, theta_b, path, units)
        losses, accs = [], []
        for alpha in alphas:
            work.load_state_dict(interpolate_state(theta_a, theta_b, float(alpha), keys))
            if recompute_batches is not None:
                recompute_bn_statistics(work, recompute_batches)
            mean_loss, acc = evaluate_state(work, batches, loss)
            losses.append(mean_loss)
            accs.append(acc)
        curves[path] = {"loss": losses, "acc": accs}
    return curves
