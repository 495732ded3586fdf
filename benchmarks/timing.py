"""Side-by-side timing: the ways being compared take turns, so load on the machine hits both."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping


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
