"""Loss and accuracy on a grid in the plane through three states of one model.

The point (x, y) of the plane through `origin`, `first` and `second` is

    state(x, y) = origin + x (first - origin) + y (second - origin)

on the entries a path key moves (`landscape.paths.moving_keys`); the others stay at `first`,
as a unit path keeps the rest of the network at theta_b. (0, 0) is `origin`, (1, 0) is
`first` and (0, 1) is `second`. Through theta_i, theta_f and theta_i' this is the plane of
Li et al. and `loss-landscapes`; through theta_i and the two "half-trained" states of
`weights_biases_ends` it is the (alpha_w, alpha_b) grid of the biased view (ICLR 2023).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from landscape.evaluate import (
    DEFAULT_CACHE_BYTES,
    PathEvaluator,
    as_fp32,
    batch_loss_and_correct,
    chunks,
    recompute_bn_statistics,
    run_stages,
    stages_to_use,
    without_autocast,
    working_copy,
)
from landscape.inputs import as_batches, check_loss, model_device
from landscape.paths import discover_units, is_interpolated, moving_keys
from landscape.stages import first_stage_reading

State = Mapping[str, torch.Tensor]
BASE_POINT = (1.0, 0.0)  # `first`: evaluated once, in the pass that fills the prefix cache


class PlaneEvaluator(PathEvaluator):
    """Summed loss and correct predictions per grid point; `work` holds `first`."""

    def __init__(self, work, stages, origin: State, first: State, second: State, points, loss,
                 recompute_batches=None):  # fmt: skip
        super().__init__(work, stages, origin, first, [], loss, recompute_batches)
        self.second, self.points = second, points
        device = self.endpoint_loss.device
        self.point_loss = torch.zeros(len(points), dtype=torch.float64, device=device)
        self.point_correct = torch.zeros(len(points), dtype=torch.int64, device=device)

    @torch.no_grad()
    def evaluate_points(self, keys: list[str], start: int, kept: list) -> None:
        """Every grid point but `first`, running the stages from `start` on."""
        live = [self.live[k] for k in keys]
        origin = [self.theta_a[k] for k in keys]
        towards_first = [self.theta_b[k] - self.theta_a[k] for k in keys]
        towards_second = [self.second[k] - self.theta_a[k] for k in keys]
        stages = self.stages[start:]
        for index, (x, y) in enumerate(self.points):
            if (x, y) == BASE_POINT:
                continue
            if live:  # (a plane that moves nothing is `first` everywhere)
                # three calls for every entry at once: two calls per entry cost about 5% of a
                # ResNet-18 forward per point at the smoke width (`make bench`, row f)
                torch._foreach_copy_(live, origin)
                torch._foreach_add_(live, towards_first, alpha=x)
                torch._foreach_add_(live, towards_second, alpha=y)
            if self.recompute_batches is not None:
                recompute_bn_statistics(self.work, self.recompute_batches)
            for cached, inputs, targets in kept:
                logits = run_stages(stages, cached[start] if start else inputs)
                summed, correct = batch_loss_and_correct(logits, targets, self.loss)
                self.point_loss[index] += summed.double()
                self.point_correct[index] += correct
        for k in self.live if self.recompute_batches is not None else keys:
            self.live[k].copy_(self.base[k])

    def values(self) -> tuple[list[float], list[float]]:
        losses = (self.point_loss / self.count).tolist()
        accs = (self.point_correct.double() / self.count).tolist()
        for index, point in enumerate(self.points):
            if point == BASE_POINT:
                losses[index] = float(self.endpoint_loss) / self.count
                accs[index] = float(self.endpoint_correct) / self.count
        return losses, accs


def evaluate_plane(
    model: nn.Module,
    origin: State,
    first: State,
    second: State,
    data,
    xs: Sequence[float],
    ys: Sequence[float],
    path: str = "full",
    loss: str = "cross_entropy",
    units: Mapping[str, list[str]] | None = None,
    bn_data=None,
    device: torch.device | str | None = None,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
) -> dict[str, list[list[float]]]:
    """Loss and accuracy at every (x, y) of the grid xs x ys: {"loss": rows, "acc": rows},
    row j holding y = ys[j] at every x of xs.

    Through the same machinery as `evaluate_paths` (float32, no autocast) and equal to the
    plain loop (build each point's state, load it, run the data): the data goes to the device
    once, `first` is evaluated once, in the pass that caches activations, and a plane that
    moves one unit (`path="unit/<name>"`) runs only the stages from that unit on.
    """
    check_loss(loss)
    device = model_device(model, device)
    units = dict(units) if units is not None else discover_units(model)
    keys = moving_keys(model, first, path, units)
    batches = as_batches(data, device)
    recompute_batches = as_batches(bn_data, device, "bn_data") if bn_data is not None else None
    origin, first, second = (as_fp32(s, device) for s in (origin, first, second))
    with without_autocast(device):
        work = working_copy(model, first, recompute_batches)
        stages = stages_to_use(work, batches[0][0], [keys])
        points = [(float(x), float(y)) for y in ys for x in xs]
        evaluator = PlaneEvaluator(
            work, stages, origin, first, second, points, loss, recompute_batches
        )
        start = first_stage_reading(stages, keys)
        boundaries = [start] if start > 0 else []
        per_example = evaluator.cached_bytes_per_example(batches[0][0], boundaries)
        for chunk in chunks(batches, per_example, cache_bytes):
            evaluator.evaluate_points(keys, start, evaluator.endpoint_pass(chunk, boundaries))
    losses, accs = evaluator.values()
    width = len(xs)
    return {
        "loss": [losses[j : j + width] for j in range(0, len(points), width)],
        "acc": [accs[j : j + width] for j in range(0, len(points), width)],
    }


def grid_points(low: float, high: float, count: int) -> list[float]:
    """`count` equally spaced values from `low` to `high`, rounded to 12 decimals so that the
    plane's states (0 and 1) are exactly on the grid whenever the spacing reaches them."""
    return [round(low + (high - low) * i / (count - 1), 12) for i in range(count)]


def weights_biases_ends(model: nn.Module, theta_i: State, theta_f: State) -> tuple[dict, dict]:
    """The two ends of the (alpha_w, alpha_b) grid through theta_i: every entry but the biases
    at theta_f (x = alpha_w), and every bias, BN shift included, at theta_f (y = alpha_b).

    BN running statistics go with the weights, so the diagonal alpha_w = alpha_b is the full
    path (every entry moves); on a network without BN the edge alpha_b = 1 is the `weights`
    path and alpha_w = 1 the `biases` path.
    """
    biases = set(moving_keys(model, theta_f, "biases"))
    weights_end = {k: theta_i[k] if k in biases else v for k, v in theta_f.items()}
    biases_end = {
        k: v if k in biases or not is_interpolated(v) else theta_i[k] for k, v in theta_f.items()
    }
    return weights_end, biases_end


def plane_coordinates(
    states: Sequence[State], origin: State, first: State, second: State, keys: Sequence[str]
) -> list[dict[str, float]]:
    """Each state's orthogonal projection on the plane, over `keys`: its (x, y) and its
    distance from the plane (for drawing a trajectory on a plane figure)."""
    u = torch.cat([(first[k] - origin[k]).double().flatten() for k in keys])
    v = torch.cat([(second[k] - origin[k]).double().flatten() for k in keys])
    basis = torch.stack([u, v], dim=1)
    gram = basis.T @ basis
    projected = []
    for state in states:
        offset = torch.cat([(state[k] - origin[k]).double().flatten() for k in keys])
        x, y = (torch.linalg.pinv(gram) @ (basis.T @ offset)).tolist()  # pinv: a flat side
        residual = offset - basis @ torch.tensor([x, y], dtype=torch.float64)
        projected.append({"x": x, "y": y, "off_plane": math.sqrt(float(residual @ residual))})
    return projected
