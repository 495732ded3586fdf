"""The shape of a loss curve along a path (barrier, plateau, monotonic decay) and distance."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

SHAPES = ("B", "P", "NB")


def shape_metrics(
    alphas: Sequence[float],
    losses: Sequence[float | None],
    barrier_rise: float = 0.05,
    plateau_band: float = 0.1,
    plateau_min_fraction: float = 0.5,
    read_from_end: bool = False,
) -> dict:
    """Shape metrics of DESIGN.md for one curve.

    Points that are NaN, inf or None are left out: the metrics describe the finite part
    and `nonfinite` counts what was dropped, so a diverging path still gets a shape.
    `read_from_end` reads the curve from alpha = 1 back to 0, for a path that starts at a
    trained state (theta_f -> theta_i'): its shape is then judged from the untrained end,
    as the paper reads every path, instead of as one long climb. `alpha_max` stays in the
    path's own alphas.
    """
    finite = [
        (float(a), float(v)) for a, v in zip(alphas, losses) if v is not None and math.isfinite(v)
    ]
    if read_from_end:
        finite.reverse()
    nonfinite = len(alphas) - len(finite)
    if len(finite) < 2:
        return {
            "shape": None,
            "max_rise": None,
            "barrier_height": None,
            "alpha_max": None,
            "plateau_fraction": None,
            "nonfinite": nonfinite,
        }
    grid = [a for a, _ in finite]
    curve = [v for _, v in finite]
    first, last = curve[0], curve[-1]
    drop = abs(first - last)

    max_rise, running_min = 0.0, curve[0]
    for value in curve:
        running_min = min(running_min, value)
        max_rise = max(max_rise, value - running_min)

    a0, a1 = grid[0], grid[-1]
    chord = [first + (a - a0) / (a1 - a0) * (last - first) for a in grid]
    barrier_height = max(v - c for v, c in zip(curve, chord))

    interior = range(1, len(curve) - 1) if len(curve) > 2 else range(len(curve))
    alpha_max = grid[max(interior, key=lambda j: curve[j])]

    plateau_fraction = sum(abs(v - first) <= plateau_band * drop for v in curve) / len(curve)

    if max_rise > barrier_rise * drop:
        shape = "B"
    elif plateau_fraction >= plateau_min_fraction:
        shape = "P"
    else:
        shape = "NB"
    return {
        "shape": shape,
        "max_rise": max_rise,
        "barrier_height": barrier_height,
        "alpha_max": alpha_max,
        "plateau_fraction": plateau_fraction,
        "nonfinite": nonfinite,
    }


def distance(
    theta_i: Mapping[str, torch.Tensor],
    theta_f: Mapping[str, torch.Tensor],
    parameter_names: Sequence[str] | None = None,
) -> float:
    """||theta_f - theta_i|| / ||theta_i|| over parameters (paper, App. E)."""
    names = (
        parameter_names
        if parameter_names is not None
        else [k for k, v in theta_i.items() if v.is_floating_point()]
    )
    diff = sum(float((theta_f[k].double() - theta_i[k].double()).pow(2).sum()) for k in names)
    norm = sum(float(theta_i[k].double().pow(2).sum()) for k in names)
    return math.sqrt(diff) / math.sqrt(norm)
