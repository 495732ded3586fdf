"""Row h: attribution along the smoke ResNet-18's full path against the forward-only path
evaluation on the same grid (the issue's goal: at most 3.5x, a backward being ~2 forwards)."""

from __future__ import annotations

import torch

from benchmarks.engine import cifar_like, end_states
from benchmarks.planes import SMOKE_WIDTH
from benchmarks.timing import agreement, side_by_side
from landscape import diagnose_paths, evaluate_paths
from lightning_modules.models import resnet


def row_h(examples: int, alphas: int, repeats: int, batch_size: int = 128) -> dict:
    """`diagnose_paths(diagnostics=["attribution"])` vs `evaluate_paths`, ResNet-18 at smoke
    width with BN (statistics interpolated, so they get their share), full path."""
    torch.manual_seed(0)
    model = resnet((3, 32, 32), 10, depth=18, width=SMOKE_WIDTH)
    inputs, targets = cifar_like(examples)
    theta_i, theta_f = end_states(model, inputs)
    batches = [
        (inputs[i : i + batch_size], targets[i : i + batch_size])
        for i in range(0, examples, batch_size)
    ]
    grid = [i / (alphas - 1) for i in range(alphas)]
    results = {}

    def forward():
        results["forward"] = evaluate_paths(model, theta_i, theta_f, batches, alphas=grid)

    def attribution():
        results["attribution"] = diagnose_paths(
            model, theta_i, theta_f, batches, alphas=grid, diagnostics=["attribution"]
        )

    seconds = side_by_side({"forward": forward, "attribution": attribution}, repeats)
    ratio = seconds["attribution"] / seconds["forward"]
    found = results["attribution"]["full"]
    check = agreement(found["loss"], results["forward"]["full"]["loss"])
    split = found["attribution"]
    return {
        "row": "h",
        "what": "attribution (a gradient per alpha) vs forward-only path evaluation, "
        "smoke ResNet-18 BN, full path",
        "baseline": "evaluate_paths on the same model, states, batches and alphas",
        "ratio": ratio,
        "target": "<= 3.5",
        "met": ratio <= 3.5 and check["agrees"],
        "seconds": seconds,
        **check,
        "residual_relative": abs(split["residual"][-1]) / abs(split["change"]),
        "setup": {"examples": examples, "alphas": alphas, "width": SMOKE_WIDTH},
    }
