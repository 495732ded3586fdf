"""Path evaluation split over the ranks of a torch.distributed job, gathered on rank 0.

The work is every (path, alpha) point. Rank r takes points r, r + world, ... of the
path-major list, evaluates them with `evaluate_paths`, and rank 0 puts the curves back
together. A point is computed the same way whichever rank owns it, so the curves equal
one process's, bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from landscape.distributed import rank_and_world
from landscape.evaluate import evaluate_paths
from landscape.inputs import alpha_grid, check_paths
from landscape.paths import discover_units, expand_paths

Point = tuple[str, int]  # (path key, index into alphas)
Share = dict[Point, tuple[float, float]]  # point -> (loss, acc)


def shard_points(paths: Sequence[str], count: int, rank: int, world: int) -> list[Point]:
    """The (path, alpha index) points rank `rank` of `world` evaluates: round robin."""
    if not 0 <= rank < world:
        raise ValueError(f"rank must be in [0, {world}), got {rank}")
    points = [(path, j) for path in paths for j in range(count)]
    return points[rank::world]


def evaluate_share(
    model: nn.Module,
    theta_a: Mapping[str, torch.Tensor],
    theta_b: Mapping[str, torch.Tensor],
    data,
    alphas: Sequence[float],
    paths: Sequence[str],
    rank: int,
    world: int,
    **options,
) -> Share:
    """Loss and accuracy at this rank's points; `options` go to `evaluate_paths`."""
    share: Share = {}
    mine = shard_points(paths, len(alphas), rank, world)
    for path in paths:
        indices = [j for p, j in mine if p == path]
        if not indices:
            continue
        curve = evaluate_paths(
            model, theta_a, theta_b, data, [alphas[j] for j in indices], [path], **options
        )[path]
        for j, loss, acc in zip(indices, curve["loss"], curve["acc"]):
            share[(path, j)] = (loss, acc)
    return share


def merge_shares(
    shares: Sequence[Share], paths: Sequence[str], count: int
) -> dict[str, dict[str, list[float]]]:
    """Curves in `evaluate_paths` form from every rank's share; each point exactly once."""
    merged: Share = {}
    for share in shares:
        overlap = merged.keys() & share.keys()
        if overlap:
            raise ValueError(f"points evaluated twice: {sorted(overlap)[:3]}")
        merged.update(share)
    missing = [(p, j) for p in paths for j in range(count) if (p, j) not in merged]
    if missing:
        raise ValueError(f"points nobody evaluated: {missing[:3]}")
    return {
        path: {
            "loss": [merged[(path, j)][0] for j in range(count)],
            "acc": [merged[(path, j)][1] for j in range(count)],
        }
        for path in paths
    }


def evaluate_paths_sharded(
    model: nn.Module,
    theta_a: Mapping[str, torch.Tensor],
    theta_b: Mapping[str, torch.Tensor],
    data,
    alphas: int | Sequence[float] = (0.0, 0.5, 1.0),
    paths: Sequence[str] = ("full",),
    **options,
) -> dict[str, dict[str, list[float]]] | None:
    """`evaluate_paths` with the points spread over the process group (`unit/*` expanded
    first, so each unit's points are shared too); every rank must call it with the same
    arguments. Rank 0 gets the curves, the other ranks None. Without a process
    group it is `evaluate_paths`.
    """
    rank, world = rank_and_world()
    if world == 1:
        return evaluate_paths(model, theta_a, theta_b, data, alphas, paths, **options)
    alphas = alpha_grid(alphas)
    units = options.get("units")
    paths = expand_paths(check_paths(paths), units if units is not None else discover_units(model))
    share = evaluate_share(model, theta_a, theta_b, data, alphas, paths, rank, world, **options)
    gathered: list[Share] | None = [{} for _ in range(world)] if rank == 0 else None
    torch.distributed.gather_object(share, gathered, dst=0)
    if rank != 0:
        return None
    return merge_shares(gathered, paths, len(alphas))
