"""The shape of a path's curves under the barrier definitions in use, side by side, and distance.

Every definition reads a curve where "worse" is up: the loss, or the error (1 - accuracy),
on the grid points with 0 <= alpha <= 1 only (points beyond the ends are plotted, never
judged); a shape needs at least `MIN_POINTS` of them, else it and its numbers are None with
a `note` saying why.

- A *rise* climbs from the lowest point before it (the running minimum) to a peak. It is a
  *barrier* when the curve comes down again after the peak by more than the tolerance, and
  an *end rise* when it never does (the test loss of an overfitted net often rises to
  theta_f). A rise that starts and peaks within the plateau band of L0 on a plateau path is
  plateau noise, in both readings: the paper's P is "neither monotonically decreasing or
  encountering barriers" (Sec. 3.2).
- `strict_shape` (Vlaar & Frankle 2022, Sec. 3.2 and App. E): "We consider the linear path to
  contain a barrier if it exhibits a monotonic increase in loss"; a path is monotonic when its
  loss "is monotonically decreasing". B for any barrier at all, ER for any end rise; else P
  or NB as below.
- `shape`: the tolerant classes. B when a barrier rises by more than max(barrier_rise *
  |L0 - L1|, barrier_atol) and comes down by as much; ER when only an end rise does; else P
  when the curve stays within max(plateau_band * |L0 - L1|, barrier_atol) of L0 on at least
  plateau_min_fraction of the grid; else NB. The tolerances are ours: the paper gives none.
  `end_rise_as_barrier` folds ER into B in both readings (the paper's letter: any rise).
- `barrier_start_alpha`, `barrier_peak_alpha`: where the tolerant shape's barrier (the
  largest such rise) starts and peaks; None unless `shape` is B. "At the height of the
  barrier" (Fig. 3) is the peak, not the curve's highest interior point (`alpha_max`, often
  the grid step next to theta_i when the bump stays below L0).
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

BARRIER, END_RISE = "B", "ER"
SHAPES = ("NB", BARRIER, "P", END_RISE)
NONFINITE = "nonfinite"
MIN_POINTS = 3  # a rise and a fall need a point between the ends
# Tolerant thresholds (conf/interpolation/default.yaml repeats them, with their meaning).
DEFAULT_THRESHOLDS = {
    "barrier_rise": 0.05,
    "barrier_atol": 1e-5,
    "plateau_band": 0.1,
    "plateau_min_fraction": 0.5,
}
# The strict reading: any rise is a barrier or an end rise, the plateau test unchanged.
STRICT = {"barrier_rise": 0.0, "barrier_atol": 0.0}
# Definitions a report puts side by side: column -> (what it is, where it comes from).
DEFINITIONS = {
    "strict_shape": ("NB/B/P/ER, any rise in loss counts", "Vlaar & Frankle 2022, App. E"),
    "shape": ("NB/B/P/ER with tolerances", "this suite (thresholds in the config)"),
    "barrier_start_alpha": ("where the tolerant barrier's rise starts", "this suite"),
    "barrier_peak_alpha": ("where the tolerant barrier peaks", "this suite"),
    "barrier_height": ("chord barrier on loss", "Frankle et al. 2020 (linear mode connectivity)"),
    "max_rise": ("largest bump in loss", "Lucas et al. 2021 (monotonic linear interpolation)"),
    "error_strict_shape": ("strict shape of the error 1 - acc", "as strict_shape"),
    "error_shape": ("tolerant shape of the error", "as shape"),
    "error_barrier_height": ("chord barrier on error", "Frankle et al. 2020"),
    "error_max_rise": ("largest bump in error", "Lucas et al. 2021"),
}
CURVE_METRICS = ("shape", "strict_shape", "max_rise", "barrier_height")
NUMBERS = ("max_rise", "barrier_height", "alpha_max", "plateau_fraction")
LOCATION = ("barrier_start_alpha", "barrier_peak_alpha")


def shape_metrics(
    alphas: Sequence[float],
    losses: Sequence[float | None],
    barrier_rise: float = DEFAULT_THRESHOLDS["barrier_rise"],
    barrier_atol: float = DEFAULT_THRESHOLDS["barrier_atol"],
    plateau_band: float = DEFAULT_THRESHOLDS["plateau_band"],
    plateau_min_fraction: float = DEFAULT_THRESHOLDS["plateau_min_fraction"],
    read_from_end: bool = False,
    end_rise_as_barrier: bool = False,
) -> dict:
    """Every definition of the module docstring for one curve (loss, or any "worse is up").

    `read_from_end` reads the curve from alpha = 1 back to 0, for a path that starts at a
    trained state (theta_f -> theta_i'): its shape is then judged from the untrained end,
    as the paper reads every path, instead of as one long climb. Alphas in the result stay
    in the path's own alphas.
    """
    judged = [(float(a), v) for a, v in zip(alphas, losses) if 0.0 <= float(a) <= 1.0]
    nonfinite = sum(v is None or not math.isfinite(v) for _, v in judged)
    empty = {"shape": None, "strict_shape": None, **dict.fromkeys((*NUMBERS, *LOCATION))}
    if len(judged) < MIN_POINTS:
        note = (
            f"not judged: {len(judged)} grid point(s) with 0 <= alpha <= 1; a shape needs "
            f"at least {MIN_POINTS}"
        )
        return {**empty, "nonfinite": nonfinite, "note": note}
    if nonfinite:
        return {**empty, "shape": NONFINITE, "strict_shape": NONFINITE, "nonfinite": nonfinite}
    grid = [a for a, _ in judged]
    curve = [float(v) for _, v in judged]
    if read_from_end:
        grid, curve = grid[::-1], curve[::-1]
    first, last = curve[0], curve[-1]
    drop = abs(first - last)
    starts, rises, falls = rises_and_falls(curve)

    a0, a1 = grid[0], grid[-1]
    chord = [first + (a - a0) / (a1 - a0) * (last - first) for a in grid]
    barrier_height = max(v - c for v, c in zip(curve, chord))
    alpha_max = grid[max(range(1, len(curve) - 1), key=lambda j: curve[j])]

    band = max(plateau_band * drop, barrier_atol)
    in_band = [abs(v - first) <= band for v in curve]
    plateau_fraction = sum(in_band) / len(curve)
    plateau = plateau_fraction >= plateau_min_fraction
    # rises that are not plateau noise (start and peak within the band of a plateau path)
    counted = [j for j in range(len(curve)) if not (plateau and in_band[starts[j]] and in_band[j])]

    def classify(rise_fraction: float, atol: float) -> tuple[str, int | None]:
        """The shape, and the peak of its barrier (None when it has none)."""
        tolerance = max(rise_fraction * drop, atol)
        barriers = [j for j in counted if rises[j] > tolerance and falls[j] > tolerance]
        end_rises = [j for j in counted if rises[j] > tolerance]
        if barriers or (end_rises and end_rise_as_barrier):
            return BARRIER, max(barriers or end_rises, key=lambda j: rises[j])
        if end_rises:
            return END_RISE, None
        return ("P" if plateau else "NB"), None

    shape, peak = classify(barrier_rise, barrier_atol)
    strict_shape, _ = classify(STRICT["barrier_rise"], STRICT["barrier_atol"])
    return {
        "shape": shape,
        "strict_shape": strict_shape,
        "max_rise": max(rises),
        "barrier_height": barrier_height,
        "barrier_start_alpha": None if peak is None else grid[starts[peak]],
        "barrier_peak_alpha": None if peak is None else grid[peak],
        "alpha_max": alpha_max,
        "plateau_fraction": plateau_fraction,
        "nonfinite": nonfinite,
    }


def rises_and_falls(curve: Sequence[float]) -> tuple[list[int], list[float], list[float]]:
    """Per point j: the lowest point up to j (the latest, if tied: where the climb begins),
    how far j rises above it, and how far the curve comes down after j."""
    starts, rises, low = [], [], 0
    for j, value in enumerate(curve):
        if value <= curve[low]:
            low = j
        starts.append(low)
        rises.append(value - curve[low])
    falls, lowest_after = [], math.inf
    for value in reversed(curve):
        lowest_after = min(lowest_after, value)
        falls.append(value - lowest_after)
    return starts, rises, falls[::-1]


def path_metrics(
    alphas: Sequence[float],
    losses: Sequence[float | None],
    accs: Sequence[float | None],
    thresholds: Mapping[str, float] | None = None,
    read_from_end: bool = False,
    end_rise_as_barrier: bool = False,
) -> dict:
    """`shape_metrics` of the loss, and the same definitions on the error as `error_*`."""
    options = {
        **DEFAULT_THRESHOLDS,
        **(thresholds or {}),
        "read_from_end": read_from_end,
        "end_rise_as_barrier": end_rise_as_barrier,
    }
    metrics = shape_metrics(alphas, losses, **options)
    errors = [None if a is None else 1.0 - a for a in accs]
    on_error = shape_metrics(alphas, errors, **options)
    metrics.update({f"error_{name}": on_error[name] for name in CURVE_METRICS})
    return metrics


def stored_path_metrics(results: Mapping, path: str) -> dict:
    """results.json's entry for `path` with every definition: the ones the run stored, and
    the ones an older run lacks computed from its curves with its own options."""
    return stored_metrics(results, results["paths"][path])


def drawn_alpha(entry: Mapping, alpha: float) -> float:
    """Alpha as figures and tables show it, from a path's untrained end: a path stored from
    theta_f (`read_from_end` in results.json: theta_f -> theta_i') is shown from theta_i'."""
    return 1.0 - alpha if entry.get("read_from_end") else alpha


def stored_metrics(results: Mapping, entry: Mapping) -> dict:
    """`stored_path_metrics` for a path's entry of any view of the run."""
    if all(name in entry for name in DEFINITIONS):
        return dict(entry)
    return {**curve_metrics(results, entry), **entry}


def curve_metrics(results: Mapping, entry: Mapping) -> dict:
    """Every definition computed afresh from a path's curves (an entry of results.json or of
    any file with its `alphas`) with the run's own thresholds and options."""
    computed = path_metrics(
        results["alphas"],
        entry["loss"],
        entry.get("acc", [None] * len(entry["loss"])),
        results.get("thresholds"),
        read_from_end=entry.get("read_from_end", False),
        end_rise_as_barrier=results.get("end_rise_as_barrier", False),
    )
    computed.pop("note", None)
    return computed


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
