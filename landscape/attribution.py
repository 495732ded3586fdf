"""Which parts of the state make a path's loss change: the path's own change, split exactly.

Along theta(s) = theta_a + s delta (delta = theta_b - theta_a on the path's moving entries),

    L(alpha) - L(alpha_0) = sum over parts u of int_{alpha_0}^{alpha} grad_u L(theta(s)).delta_u ds

holds exactly (the fundamental theorem of calculus along the line), so the gradient at every
grid point, dotted with each part's delta and integrated on the grid, gives every part's share
of every rise and fall of the curve, interactions included. What the parts' sum misses of the
curve's change is the quadrature's error: the residual, reported beside the shares.

This module is the arithmetic on the grid (partitions, quadrature, the barrier's two points);
`landscape.diagnostics` takes the gradients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import nn

from landscape.paths import NORM_LAYERS, PathError, _owner, _under, discover_units, group_of
from landscape.shape import shape_metrics

PARTITIONS = ("units", "groups", "weights_biases")
OTHER = "other"  # entries no part of the partition claims (a module outside every unit)


def partition_keys(
    model: nn.Module,
    keys: Sequence[str],
    partition: str = "units",
    units: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, list[str]]:
    """The moving `keys` split into parts, each key in exactly one, empty parts left out.

    `units`: one part per unit (a unit's BN statistics are its own); `groups`: one part per
    unit and parameter group, `layer3/bn_stats` as the `group/` path keys name them;
    `weights_biases`: every weight, every bias (BN affine included, as the `weights` and
    `biases` paths move them) and the BN statistics.
    """
    if partition not in PARTITIONS:
        raise PathError(f"unknown partition {partition!r}; expected one of {list(PARTITIONS)}")
    units = dict(units) if units is not None else discover_units(model)
    modules = dict(model.named_modules())
    parts: dict[str, list[str]] = {}
    for key in keys:
        unit = next((u for u, names in units.items() if _under(key, list(names))), None)
        if partition == "units":
            part = unit or OTHER
        elif partition == "groups":
            part = f"{unit or OTHER}/{group_of(key, modules) or OTHER}"
        else:
            part = _weight_or_bias(key, modules)
        parts.setdefault(part, []).append(key)
    return parts


def _weight_or_bias(key: str, modules: Mapping[str, nn.Module]) -> str:
    owner, leaf = _owner(key)
    if isinstance(modules.get(owner), NORM_LAYERS) and leaf.startswith("running_"):
        return "bn_stats"
    return {"weight": "weights", "bias": "biases"}.get(leaf, OTHER)


def cumulative_trapezoid(alphas: Sequence[float], rates: Sequence[float]) -> list[float]:
    """Integral of `rates` from the first alpha to each alpha, by the trapezoid rule."""
    total, out = 0.0, [0.0]
    for j in range(1, len(alphas)):
        total += (alphas[j] - alphas[j - 1]) * (rates[j] + rates[j - 1]) / 2
        out.append(total)
    return out


def simpson(alphas: Sequence[float], rates: Sequence[float], first: int, last: int) -> float | None:
    """Integral of `rates` from alphas[first] to alphas[last] (signed: negative when last <
    first) by composite Simpson, spacing free (each pair of intervals by its own quadratic);
    None when the span is not an even number of intervals: the grid does not allow it."""
    low, high = sorted((first, last))
    if (high - low) % 2:
        return None
    total = 0.0
    for j in range(low, high, 2):
        h0, h1 = alphas[j + 1] - alphas[j], alphas[j + 2] - alphas[j + 1]
        total += (
            (h0 + h1)
            / 6
            * (
                (2 - h1 / h0) * rates[j]
                + (h0 + h1) ** 2 / (h0 * h1) * rates[j + 1]
                + (2 - h0 / h1) * rates[j + 2]
            )
        )
    return total if last >= first else -total


def barrier_points(alphas: Sequence[float], losses: Sequence[float], **reading) -> tuple | None:
    """Grid indices (start, peak) of the path's barrier where results.json locates it
    (`barrier_start_alpha`, `barrier_peak_alpha` of `landscape.shape.shape_metrics`, read
    with its keyword arguments `reading`: thresholds, read_from_end, end_rise_as_barrier);
    None when the curve has no barrier in the tolerant reading."""
    found = shape_metrics(alphas, losses, **reading)
    if found["barrier_peak_alpha"] is None:
        return None
    grid = [float(a) for a in alphas]
    return grid.index(found["barrier_start_alpha"]), grid.index(found["barrier_peak_alpha"])


def attribution(
    alphas: Sequence[float],
    losses: Sequence[float],
    rates: Mapping[str, Sequence[float]],
    reading: Mapping | None = None,
) -> dict:
    """Every part's share of the curve, from `rates[part][j]`, the derivative of the loss
    along the path due to that part at alphas[j] (grad_u L . delta_u).

    `rate`: `rates` as given. `cumulative[part][j]`: the part's share of L(alphas[j]) -
    L(alphas[0]) (trapezoid); `residual[j]`: that change minus the parts' sum. `total`,
    `total_simpson`: each part's share of the whole change, by both rules. `barrier`: each
    part's share of the barrier's rise, from its start to its peak (`barrier_points`, read
    with `reading`), as loss and as a fraction of the rise; None without a barrier.
    """
    parts = list(rates)
    count = len(alphas)
    cumulative = {u: cumulative_trapezoid(alphas, rates[u]) for u in parts}
    change = losses[-1] - losses[0]
    by_simpson = {u: simpson(alphas, rates[u], 0, count - 1) for u in parts}
    simpson_ok = count > 1 and all(v is not None for v in by_simpson.values())
    entry = {
        "rule": "trapezoid",
        "parts": parts,
        "change": change,
        "rate": {u: list(rates[u]) for u in parts},
        "cumulative": cumulative,
        "residual": [
            losses[j] - losses[0] - sum(cumulative[u][j] for u in parts) for j in range(count)
        ],
        "total": {u: cumulative[u][-1] for u in parts},
        "total_simpson": by_simpson if simpson_ok else None,
        "residual_simpson": change - sum(by_simpson.values()) if simpson_ok else None,
        "barrier": None,
    }
    points = barrier_points(alphas, losses, **(reading or {}))
    if points is not None:
        entry["barrier"] = barrier_shares(alphas, losses, rates, cumulative, *points)
    return entry


def barrier_shares(alphas, losses, rates, cumulative, start: int, peak: int) -> dict:
    """Each part's share of the rise from grid index `start` to `peak` (either order)."""
    rise = losses[peak] - losses[start]
    share = {u: cumulative[u][peak] - cumulative[u][start] for u in rates}
    by_simpson = {u: simpson(alphas, rates[u], start, peak) for u in rates}
    simpson_ok = all(v is not None for v in by_simpson.values())
    return {
        "start_alpha": alphas[start],
        "peak_alpha": alphas[peak],
        "rise": rise,
        "share": share,
        "fraction": {u: v / rise for u, v in share.items()},
        "residual": rise - sum(share.values()),
        "share_simpson": by_simpson if simpson_ok else None,
        "residual_simpson": rise - sum(by_simpson.values()) if simpson_ok else None,
    }
