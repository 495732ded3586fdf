"""Side-by-side timing (the ways being compared take turns, so load on the machine hits both)
and the agreement check every row's verdict needs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Mapping

# Two ways agree when every loss differs by at most this, relative to max(1, |loss|):
# float32 rounding on losses in the hundreds (a plane's far corners) is not disagreement.
AGREEMENT = 1e-5


def side_by_side(ways: Mapping[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each way over `repeats` rounds, the ways interleaved in each round
    (after one untimed warm-up round)."""
    for run in ways.values():
        run()
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, run in ways.items():
            started = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in seconds.items()}


def agreement(values: Iterable[float], reference: Iterable[float]) -> dict:
    """Largest loss difference between two ways (absolute, and relative to max(1, |loss|)),
    the reference's loss range (a difference of 0 on a flat curve is no agreement), and
    whether they agree."""
    pairs = list(zip(values, reference, strict=True))
    relative = max(abs(a - b) / max(1.0, abs(b)) for a, b in pairs)
    low, high = min(b for _, b in pairs), max(b for _, b in pairs)
    return {
        "max_loss_difference": max(abs(a - b) for a, b in pairs),
        "max_relative_difference": relative,
        "loss_min": low,
        "loss_max": high,
        "agrees": relative <= AGREEMENT and high > low,
    }
