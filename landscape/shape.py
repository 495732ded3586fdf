"""The shape of a path's curves under the barrier definitions in use, side by side, and distance.

Every definition reads a curve where "worse" is up: the loss, or the error (1 - accuracy).

- `strict_shape` (Vlaar & Frankle 2022, Sec. 3.2 and App. E): "We consider the linear path to
  contain a barrier if it exhibits a monotonic increase in loss"; a path is monotonic when its
  loss "is monotonically decreasing". B for any rise at all, otherwise P or NB as below.
- `shape`: the tolerant classes. B when `max_rise` > max(barrier_rise * |L0 - L1|,
  barrier_atol); else P when the curve stays within max(plateau_band * |L0 - L1|,
  barrier_atol) of L0 on at least plateau_min_fraction of the grid; else NB. The tolerances
  are ours: the paper gives none.
- `barrier_height`, the chord barrier of linear mode connectivity (Frankle et al. 2020):
  max over alpha of L(alpha) - ((1 - alpha) L0 + alpha L1).
- `max_rise`, the largest bump of Lucas et al. 2021 (monotonic linear interpolation):
  max over alpha < alpha' of L(alpha') - L(alpha); 0 exactly when the curve is monotonic.

A curve with a NaN, inf or missing point is labelled `nonfinite`, with its numbers None and
`nonfinite` counting the bad points: a diverged path is never read as a shape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

SHAPES = ("NB", "B", "P")
NONFINITE = "nonfinite"
# Tolerant thresholds (conf/interpolation/default.yaml repeats them, with their meaning).
DEFAULT_THRESHOLDS = {
    "barrier_rise": 0.05,
    "barrier_atol": 1e-5,
    "plateau_band": 0.1,
    "plateau_min_fraction": 0.5,
}
# The strict reading: any rise is a barrier, the plateau test unchanged.
STRICT = {"barrier_rise": 0.0, "barrier_atol": 0.0}
# Definitions a report puts side by side: column -> (what it is, where it comes from).
DEFINITIONS = {
    "strict_shape": ("NB/B/P, any rise in loss is a barrier", "Vlaar & Frankle 2022, App. E"),
    "shape": ("NB/B/P with tolerances", "this suite (thresholds in the config)"),
    "barrier_height": ("chord barrier on loss", "Frankle et al. 2020 (linear mode connectivity)"),
    "max_rise": ("largest bump in loss", "Lucas et al. 2021 (monotonic linear interpolation)"),
    "error_strict_shape": ("strict shape of the error 1 - acc", "as strict_shape"),
    "error_shape": ("tolerant shape of the error", "as shape"),
    "error_barrier_height": ("chord barrier on error", "Frankle et al. 2020"),
    "error_max_rise": ("largest bump in error", "Lucas et al. 2021"),
}
CURVE_METRICS = ("shape", "strict_shape", "max_rise", "barrier_height")


def shape_metrics(
    alphas: Sequence[float],
    losses: Sequence[float | None],
    barrier_rise: float = DEFAULT_THRESHOLDS["barrier_rise"],
    barrier_atol: float = DEFAULT_THRESHOLDS["barrier_atol"],
    plateau_band: float = DEFAULT_THRESHOLDS["plateau_band"],
    plateau_min_fraction: float = DEFAULT_THRESHOLDS["plateau_min_fraction"],
    read_from_end: bool = False,
) -> dict:
    """Every definition of the module docstring for one curve (loss, or any "worse is up").

    `read_from_end` reads the curve from alpha = 1 back to 0, for a path that starts at a
    trained state (theta_f -> theta_i'): its shape is then judged from the untrained end,
    as the paper reads every path, instead of as one long climb. `alpha_max` stays in the
    path's own alphas. Points outside [0, 1] (extrapolation) are plotted, not judged.
    """
    nonfinite = sum(v is None or not math.isfinite(v) for v in losses)
    if nonfinite or len(losses) < 2:
        return {
            "shape": NONFINITE if nonfinite else None,
            "strict_shape": NONFINITE if nonfinite else None,
            "max_rise": None,
            "barrier_height": None,
            "alpha_max": None,
            "plateau_fraction": None,
            "nonfinite": nonfinite,
        }
    grid, curve = between_ends([float(a) for a in alphas], [float(v) for v in losses])
    if read_from_end:
        grid, curve = grid[::-1], curve[::-1]
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

    band = max(plateau_band * drop, barrier_atol)
    plateau_fraction = sum(abs(v - first) <= band for v in curve) / len(curve)

    def classify(rise_fraction: float, atol: float) -> str:
        if max_rise > max(rise_fraction * drop, atol):
            return "B"
        return "P" if plateau_fraction >= plateau_min_fraction else "NB"

    return {
        "shape": classify(barrier_rise, barrier_atol),
        "strict_shape": classify(STRICT["barrier_rise"], STRICT["barrier_atol"]),
        "max_rise": max_rise,
        "barrier_height": barrier_height,
        "alpha_max": alpha_max,
        "plateau_fraction": plateau_fraction,
        "nonfinite": nonfinite,
    }


def between_ends(grid: list[float], curve: list[float]) -> tuple[list[float], list[float]]:
    """The points with 0 <= alpha <= 1, when at least two are: the path between its ends."""
    inside = [(a, v) for a, v in zip(grid, curve) if 0.0 <= a <= 1.0]
    if len(inside) < 2:
        return grid, curve
    return [a for a, _ in inside], [v for _, v in inside]


def path_metrics(
    alphas: Sequence[float],
    losses: Sequence[float | None],
    accs: Sequence[float | None],
    thresholds: Mapping[str, float] | None = None,
    read_from_end: bool = False,
) -> dict:
    """`shape_metrics` of the loss, and the same definitions on the error as `error_*`."""
    thresholds = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    metrics = shape_metrics(alphas, losses, read_from_end=read_from_end, **thresholds)
    errors = [None if a is None else 1.0 - a for a in accs]
    on_error = shape_metrics(alphas, errors, read_from_end=read_from_end, **thresholds)
    metrics.update({f"error_{name}": on_error[name] for name in CURVE_METRICS})
    return metrics


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
