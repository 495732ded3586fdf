"""Row f: a 21 x 21 loss plane through the engine against the plain per-point loop."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from benchmarks.engine import cifar_like, end_states
from benchmarks.timing import side_by_side
from landscape.planes import evaluate_plane, plane_state
from lightning_modules.models import resnet
from tests.conftest import trained_copy

SMOKE_WIDTH = 0.0625  # conf/scale/smoke.yaml's width_factor


def plain_plane(model, origin, first, second, inputs, targets, xs, ys, batch_size):
    """The common practice: per grid point, copy the model, load the point's state, loop over
    a DataLoader; mean loss per point, rows by y."""
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=batch_size)
    rows = []
    for y in ys:
        row = []
        for x in xs:
            work = copy.deepcopy(model)
            work.load_state_dict(plane_state(origin, first, second, x, y))
            work.eval()
            with torch.no_grad():
                summed = sum(F.cross_entropy(work(a), b, reduction="sum").item() for a, b in loader)
            row.append(summed / len(targets))
        rows.append(row)
    return rows


def row_f(examples: int, points: int, repeats: int, batch_size: int = 128) -> dict:
    """Engine vs the plain loop on the plane through theta_i, theta_f and theta_i' of a
    ResNet-18 (CIFAR stem, BN) at the smoke scale's width, over [-0.5, 1.5]^2."""
    torch.manual_seed(0)
    model = resnet((3, 32, 32), 10, depth=18, width=SMOKE_WIDTH)
    inputs, targets = cifar_like(examples)
    theta_i, theta_f = end_states(model, inputs)
    theta_new = trained_copy(model, inputs, seed=2, scale=0.05)
    grid = torch.linspace(-0.5, 1.5, points).tolist()
    batches = [(inputs[i : i + batch_size], targets[i : i + batch_size])
               for i in range(0, examples, batch_size)]  # fmt: skip
    results = {}

    def engine():
        results["engine"] = evaluate_plane(model, theta_i, theta_f, theta_new, batches, grid, grid)

    def plain():
        results["plain"] = plain_plane(
            model, theta_i, theta_f, theta_new, inputs, targets, grid, grid, batch_size
        )

    seconds = side_by_side({"plain": plain, "engine": engine}, repeats)
    ratio = seconds["plain"] / seconds["engine"]
    engine_losses = [v for row in results["engine"]["loss"] for v in row]
    plain_losses = [v for row in results["plain"] for v in row]
    return {
        "row": "f",
        "what": f"engine vs plain per-point loop, {points}x{points} plane, ResNet-18 smoke width",
        "ratio": ratio,
        "target": ">= 1.5",
        "met": ratio >= 1.5,
        "seconds": seconds,
        "max_loss_difference": max(abs(a - b) for a, b in zip(engine_losses, plain_losses)),
        "loss_min": min(plain_losses),
        "loss_max": max(plain_losses),
        "setup": {"examples": examples, "points": points, "width": SMOKE_WIDTH},
    }
