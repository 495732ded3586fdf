"""The optimiser's own path against the straight line from theta_i to theta_f.

A kept state theta_t projects on the line at

    alpha_t = <theta_t - theta_i, theta_f - theta_i> / ||theta_f - theta_i||^2

and lies `off_line` = ||theta_t - theta_i - alpha_t (theta_f - theta_i)|| from it. Both are
computed over the parameters (BN running statistics are not what the optimiser moves), for
the whole model and for each unit on its own. The loss of a unit's trajectory is that of
theta_f with the unit at theta_t, as a unit path keeps the rest at theta_f.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from landscape.evaluate import evaluate_paths
from landscape.paths import moving_keys

State = Mapping[str, torch.Tensor]


def flat(state: State, keys: Sequence[str], minus: State | None = None) -> torch.Tensor:
    """The entries `keys` of `state` (less those of `minus`) as one float64 vector."""
    return torch.cat(
        [
            (state[k].double() - (minus[k].double() if minus is not None else 0)).flatten()
            for k in keys
        ]
    )


def line_coordinates(
    states: Sequence[State], theta_i: State, theta_f: State, keys: Sequence[str]
) -> dict[str, list[float]]:
    """alpha_t and the distance from the line of every state, over `keys`."""
    direction = flat(theta_f, keys, theta_i)
    squared = float(direction @ direction)
    alphas, off_line = [], []
    for state in states:
        offset = flat(state, keys, theta_i)
        alpha = float(offset @ direction) / squared if squared > 0 else 0.0
        residual = offset - alpha * direction
        alphas.append(alpha)
        off_line.append(math.sqrt(float(residual @ residual)))
    return {"alpha": alphas, "off_line": off_line, "line_length": math.sqrt(squared)}


def parameter_keys(model: nn.Module, state: State, path: str, units) -> list[str]:
    """The parameters (not buffers) a path moves: what the trajectory is projected over."""
    names = {name for name, _ in model.named_parameters()}
    return [k for k in moving_keys(model, state, path, units) if k in names]


def trajectory_curves(
    model: nn.Module,
    states: Sequence[State],
    theta_i: State,
    theta_f: State,
    data,
    paths: Sequence[str],
    units: Mapping[str, list[str]],
    **options,
) -> dict[str, dict[str, list[float]]]:
    """Per path key (`full`, `unit/<name>`): alpha_t, off_line, loss and acc of every kept
    state. `options` go to `evaluate_paths` (loss, device, cache_bytes, bn_data)."""
    curves = {}
    for path in paths:
        keys = parameter_keys(model, theta_f, path, units)
        curves[path] = {**line_coordinates(states, theta_i, theta_f, keys), "loss": [], "acc": []}
    for state in states:
        # alpha = 0 of the path from theta_t to theta_f: theta_t on `full`, theta_f with one
        # unit at theta_t on `unit/<name>`; prefix reuse makes the unit points cheap
        at_state = evaluate_paths(
            model, state, theta_f, data, alphas=[0.0], paths=paths, units=units, **options
        )
        for path in paths:
            curves[path]["loss"].append(at_state[path]["loss"][0])
            curves[path]["acc"].append(at_state[path]["acc"][0])
    return curves


def crossing(
    trajectory: Mapping,
    path_alphas: Sequence[float],
    path_losses: Sequence[float],
    alpha_max: float | None,
) -> dict:
    """Did training pass through the straight path's barrier region, or around it?

    The trajectory's loss where its alpha_t first reaches the path's `alpha_max` (linear
    between the two kept states around it) against the path's loss there (its peak).
    """
    peak = path_losses[list(path_alphas).index(alpha_max)] if alpha_max is not None else None
    alphas, losses = trajectory["alpha"], trajectory["loss"]
    at_peak = None
    if alpha_max is not None:
        for (a0, l0), (a1, l1) in zip(zip(alphas, losses), zip(alphas[1:], losses[1:])):
            if min(a0, a1) <= alpha_max <= max(a0, a1):
                share = (alpha_max - a0) / (a1 - a0) if a1 != a0 else 0.0
                at_peak = l0 + share * (l1 - l0)
                break
    return {
        "alpha_max": alpha_max,
        "path_peak_loss": peak,
        "trajectory_loss_at_alpha_max": at_peak,
        "trajectory_max_loss": max(losses[1:]) if len(losses) > 1 else None,
        "through_barrier": None if at_peak is None or peak is None else at_peak >= peak,
    }


def largest_direction_off_line(
    states: Sequence[State], theta_i: State, theta_f: State, keys: Sequence[str]
) -> dict[str, torch.Tensor]:
    """theta_i plus the trajectory's largest direction away from the line (the first
    principal direction of the states' residuals from it), scaled to the line's length and
    signed so that the trajectory lies at positive y: the third state of the trajectory plane.
    Entries outside `keys` are theta_i's."""
    direction = flat(theta_f, keys, theta_i)
    squared = float(direction @ direction)
    residuals = []
    for state in states:
        offset = flat(state, keys, theta_i)
        residuals.append(offset - (float(offset @ direction) / squared) * direction)
    stacked = torch.stack(residuals)
    if float(stacked.abs().max()) == 0.0:
        raise ValueError("the kept states all lie on the line: no direction away from it")
    _, _, right = torch.linalg.svd(stacked, full_matrices=False)
    top = right[0]
    if float((stacked @ top).sum()) < 0:
        top = -top
    top = top * math.sqrt(squared)
    third, offset = dict(theta_i), 0
    for k in keys:
        size = theta_i[k].numel()
        piece = top[offset : offset + size].reshape(theta_i[k].shape)
        third[k] = theta_i[k] + piece.to(theta_i[k].dtype)
        offset += size
    return third
