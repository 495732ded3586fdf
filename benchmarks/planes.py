"""Rows f and g: 21 x 21 loss planes through the engine.

A plane that moves the whole network needs one full forward pass per point whoever computes
it, so row f holds the engine to that compute limit: its examples/s against a bare forward
pass of the same model over the same points. A plane that moves one unit (row g) is where
the engine can do less work than the loop a user writes (the prefix before the unit is
computed once), so row g holds it to a speedup over that loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks.engine import FAIR_LOOP, cifar_like, end_states
from benchmarks.reference import reference_plane, trained_copy
from benchmarks.timing import agreement, side_by_side
from landscape import moving_keys
from landscape.planes import evaluate_plane
from lightning_modules.models import resnet

SMOKE_WIDTH = 0.0625  # conf/scale/smoke.yaml's width_factor


def plane_setup(examples: int, points: int, batch_size: int):
    """ResNet-18 (CIFAR stem, BN) at the smoke width, theta_i, theta_f, theta_i', batches,
    and the grid over [-0.5, 1.5]."""
    torch.manual_seed(0)
    model = resnet((3, 32, 32), 10, depth=18, width=SMOKE_WIDTH)
    inputs, targets = cifar_like(examples)
    theta_i, theta_f = end_states(model, inputs)
    theta_new = trained_copy(model, inputs, seed=2, scale=0.05)
    batches = [(inputs[i : i + batch_size], targets[i : i + batch_size])
               for i in range(0, examples, batch_size)]  # fmt: skip
    grid = torch.linspace(-0.5, 1.5, points).tolist()
    return model, (theta_i, theta_f, theta_new), batches, grid


def plane_ways(model, states, batches, grid, path: str, results: dict) -> dict:
    """The engine and the fair loop on the plane of `path`, each storing its flat losses."""
    keys = moving_keys(model, states[1], path)

    def engine():
        plane = evaluate_plane(model, *states, batches, grid, grid, path=path)
        results["engine"] = [v for row in plane["loss"] for v in row]

    def plain():
        losses, _ = reference_plane(model, *states, keys, batches, grid, grid)
        results["plain"] = [v for row in losses for v in row]

    return {"plain": plain, "engine": engine}


def row_f(examples: int, points: int, repeats: int, batch_size: int = 128) -> dict:
    """The full plane through theta_i, theta_f, theta_i': engine examples/s against a bare
    eval forward of the same model over the same points (points^2 passes over the data);
    the fair loop's time beside it."""
    model, states, batches, grid = plane_setup(examples, points, batch_size)
    bare = resnet((3, 32, 32), 10, depth=18, width=SMOKE_WIDTH)
    bare.load_state_dict(states[1])
    bare.eval()

    def forward():
        with torch.no_grad():
            for _ in range(points * points):
                for x, y in batches:
                    F.cross_entropy(bare(x), y, reduction="sum").item()

    results = {}
    ways = {"forward": forward, **plane_ways(model, states, batches, grid, "full", results)}
    seconds = side_by_side(ways, repeats)
    ratio = seconds["forward"] / seconds["engine"]  # the same examples: rates' ratio
    check = agreement(results["engine"], results["plain"])
    return {
        "row": "f",
        "what": f"full {points}x{points} plane, engine examples/s / bare forward examples/s",
        "baseline": "one model at theta_f in eval mode, a bare forward over the same batches "
        "once per point; the fair loop timed beside it",
        "ratio": ratio,
        "target": ">= 0.9",
        "met": ratio >= 0.9 and check["agrees"],
        "fair_loop_ratio": seconds["plain"] / seconds["engine"],
        "seconds": seconds,
        **check,
        "setup": {"examples": examples, "points": points, "width": SMOKE_WIDTH, "path": "full"},
    }


def row_g(examples: int, points: int, repeats: int, batch_size: int = 128) -> dict:
    """A plane that moves one unit (`unit/layer4`, the prefix before it computed once) against
    the fair per-point loop."""
    model, states, batches, grid = plane_setup(examples, points, batch_size)
    results = {}
    seconds = side_by_side(
        plane_ways(model, states, batches, grid, "unit/layer4", results), repeats
    )
    ratio = seconds["plain"] / seconds["engine"]
    check = agreement(results["engine"], results["plain"])
    return {
        "row": "g",
        "what": f"unit/layer4 {points}x{points} plane, engine vs the fair per-point loop",
        "baseline": FAIR_LOOP,
        "ratio": ratio,
        "target": ">= 1.5",
        "met": ratio >= 1.5 and check["agrees"],
        "seconds": seconds,
        **check,
        "setup": {"examples": examples, "points": points, "width": SMOKE_WIDTH},
    }
