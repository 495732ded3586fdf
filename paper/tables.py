"""Seed-aggregated tables: one row per (setting, path), with the paper's numbers beside."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from statistics import mean, stdev

import numpy as np
import pandas as pd
from scipy import stats

from landscape.shape import NONFINITE, SHAPES, drawn_alpha, stored_path_metrics
from paper.targets import PaperRow, Target
from runs.store import Run, Setting

# per-run numbers: (column, how to read it from results.json, scale for the table)
RUN_METRICS = {
    "test_acc": (lambda r: r["final"].get("test_acc"), 100.0),
    "train_acc": (lambda r: r["final"].get("train_acc"), 100.0),  # eval mode, clean images
    # the last epoch's running mean over its augmented batches, as a training log shows it
    "running_train_acc": (lambda r: last(r.get("history", {}).get("train/acc")), 100.0),
    "test_loss": (lambda r: r["final"].get("test_loss"), 1.0),
    "distance": (lambda r: r.get("distance"), 1.0),
}
# barrier definitions with a number per run (landscape.shape): mean and 95% interval
PATH_METRICS = ("max_rise", "barrier_height", "error_max_rise", "error_barrier_height")
# where the tolerant barrier starts and peaks: mean over the seeds whose path has one
LOCATION = ("barrier_start_alpha", "barrier_peak_alpha")
# barrier definitions with a label per run: counts side by side, both labelled
SHAPE_READINGS = {"": "shape", "strict_": "strict_shape"}
CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 9999


def last(values: Sequence[float | None] | None) -> float | None:
    return values[-1] if values else None


def mean_std(values: Sequence[float | None]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (nan for one value) and count of the non-missing values."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return math.nan, math.nan, 0
    return mean(values), (stdev(values) if len(values) > 1 else math.nan), len(values)


def bootstrap_interval(values: Sequence[float | None]) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean over the non-missing values
    (`scipy.stats.bootstrap`, fixed seed so a report is reproducible); nan for fewer than
    two values, the value itself when they are all equal."""
    return _bootstrap([_present(values)], lambda x, axis: np.mean(x, axis=axis))


def difference_interval(
    values: Sequence[float | None], others: Sequence[float | None]
) -> tuple[float, float]:
    """95% percentile-bootstrap interval of mean(values) - mean(others), two independent
    samples each resampled on its own; nan when either has fewer than two values."""
    return _bootstrap(
        [_present(values), _present(others)],
        lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
    )


def _present(values: Sequence[float | None]) -> np.ndarray:
    return np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)


def _bootstrap(samples: list[np.ndarray], statistic) -> tuple[float, float]:
    if any(len(sample) < 2 for sample in samples):
        return math.nan, math.nan
    if all(np.all(sample == sample[0]) for sample in samples):
        value = float(statistic(*samples, axis=-1))
        return value, value
    result = stats.bootstrap(
        tuple(samples),
        statistic,
        confidence_level=CONFIDENCE,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(0),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def shape_counts(shapes: Sequence[str]) -> dict[str, int]:
    """Runs per shape; a curve with non-finite points counts as `nonfinite`, not as a shape."""
    counts = Counter(shapes)
    return {shape: counts.get(shape, 0) for shape in (*SHAPES, NONFINITE)}


def path_entry(run: Run, path: str) -> dict:
    """A path's entry with every barrier definition (`landscape.shape.stored_path_metrics`)."""
    return stored_path_metrics(run.results, path)


def majority_shape(shapes: Sequence[str]) -> str:
    """The most common shape; a tie lists the tied shapes ('B/P')."""
    counts = shape_counts(shapes)
    top = max(counts.values(), default=0)
    if top == 0:
        return "-"
    return "/".join(s for s in SHAPES if counts[s] == top)


def paths_of(setting: Setting, target: Target) -> list[str]:
    """The paths of `setting` that `target` shows, in the order the runs list them."""
    seen: dict[str, None] = {}
    for run in setting.runs:
        for path in run.results["paths"]:
            if target.shows(path):
                seen[path] = None
    return list(seen)


def paper_row(setting: Setting, rows: Sequence[PaperRow]) -> PaperRow | None:
    matches = [row for row in rows if all(setting.has(m) for m in row.match)]
    return max(matches, key=lambda row: len(row.match), default=None)


def summary_frame(settings: Sequence[Setting], target: Target) -> pd.DataFrame:
    """One row per (setting, path): mean and std over seeds, shape counts, paper's numbers."""
    rows = []
    paper_columns = sorted({k for row in target.paper for k in row.values})
    for setting in settings:
        paper = paper_row(setting, target.paper)
        per_run = {}
        for name, (read, factor) in RUN_METRICS.items():
            values = [read(run.results) for run in setting.runs]
            per_run[name] = [None if v is None else v * factor for v in values]
        if not setting.runs:  # every seed diverged: a row that says so, and nothing else
            row = {"experiment": setting.experiment, "setting": setting.label, "path": "-"}
            row |= {"seeds": 0, "diverged": len(setting.diverged)}
            for prefix in SHAPE_READINGS:  # counts stay integers beside the other rows'
                row |= {f"{prefix}{shape}": n for shape, n in shape_counts([]).items()}
            rows.append(row)
            continue
        for path in paths_of(setting, target):
            entries = [
                path_entry(run, path) for run in setting.runs if path in run.results["paths"]
            ]
            row = {"experiment": setting.experiment, "setting": setting.label, "path": path}
            row["seeds"] = len(entries)  # the seeds that trained; diverged ones beside
            row["diverged"] = len(setting.diverged)
            for name, values in per_run.items():
                row[f"{name}_mean"], row[f"{name}_std"], _ = mean_std(values)
                row[f"{name}_ci_low"], row[f"{name}_ci_high"] = bootstrap_interval(values)
            for prefix, key in SHAPE_READINGS.items():
                counts = shape_counts([e[key] for e in entries])
                row.update({f"{prefix}{shape}": n for shape, n in counts.items()})
                row[key] = majority_shape([e[key] for e in entries])
            for metric in PATH_METRICS:
                values = [e.get(metric) for e in entries]
                row[f"{metric}_mean"], row[f"{metric}_std"], _ = mean_std(values)
                row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = bootstrap_interval(values)
            for metric in LOCATION:  # from the untrained end, as the figures draw it
                row[f"{metric}_mean"], row[f"{metric}_std"], _ = mean_std(
                    [None if e.get(metric) is None else drawn_alpha(e, e[metric]) for e in entries]
                )
            for column in paper_columns:
                row[f"paper_{column}"] = paper.values.get(column, math.nan) if paper else math.nan
            row["paper_row"] = paper.label if paper else ""
            rows.append(row)
    return pd.DataFrame(rows)


def _pm(mean_value: float, std_value: float, digits: int) -> str:
    if math.isnan(mean_value):
        return "-"
    if math.isnan(std_value):
        return f"{mean_value:.{digits}f}"
    return f"{mean_value:.{digits}f} ± {std_value:.{digits}f}"


def _ci(row: dict, name: str, digits: int) -> str:
    """'mean [low, high]': the mean over seeds and its 95% bootstrap interval."""
    if math.isnan(row[f"{name}_mean"]):
        return "-"
    text = f"{row[f'{name}_mean']:.{digits}f}"
    if not math.isnan(row[f"{name}_ci_low"]):
        text += f" [{row[f'{name}_ci_low']:.{digits}f}, {row[f'{name}_ci_high']:.{digits}f}]"
    return text


def _counts(row: dict, prefix: str) -> str:
    text = "/".join(str(row[f"{prefix}{s}"]) for s in SHAPES)
    return text + (
        f" ({row[f'{prefix}{NONFINITE}']} non-finite)" if row[f"{prefix}{NONFINITE}"] else ""
    )


DEFINITION_NOTE = (
    "Shapes: tolerant NB/B/P/ER use the run's thresholds; strict NB/B/P/ER count any rise in "
    "loss (App. E: monotonic means the loss 'is monotonically decreasing'). B: a rise that "
    "comes down again (a barrier); ER: a rise that never does (an end rise, e.g. test loss "
    "climbing to an overfitted theta_f); P: a flat stretch at L0 (a rise within its band is "
    "no barrier); NB: monotonic decay. Barrier at alpha: where the tolerant barrier starts "
    "and peaks (alpha from the untrained end, as drawn), mean over the seeds with one. "
    "Largest bump: max over alpha < alpha' of L(alpha') - L(alpha) (Lucas et al. 2021). "
    "Chord barrier: max over alpha of L(alpha) - "
    "((1 - alpha) L0 + alpha L1) (Frankle et al. 2020). 'error' columns: the same on 1 - "
    "accuracy. [a, b]: 95% percentile-bootstrap interval of the mean over seeds."
)


DIVERGED_NOTE = (
    "seeds: the runs that trained. diverged: seeds whose theta_f holds NaN or inf, or whose "
    "final test loss blew up at chance accuracy (results.json's `divergence`); they are left "
    "out of every mean, interval and shape count."
)


def _location(row: dict) -> str:
    start, peak = row["barrier_start_alpha_mean"], row["barrier_peak_alpha_mean"]
    return "-" if math.isnan(peak) else f"{start:.2f} -> {peak:.2f}"


def markdown_summary(frame: pd.DataFrame, title: str) -> str:
    """The summary as a Markdown table: 'mean ± std' for accuracy, loss and distance, shape
    counts as 'NB/B/P/ER' (tolerant and strict), each barrier number as 'mean [95% interval]'."""
    header = ["experiment", "setting", "path", "seeds", "diverged", "test acc (%)"]
    header += ["test acc 95% CI"]
    header += ["train acc, eval (%)", "train acc, last epoch running (%)"]
    header += ["test loss", "distance", "tolerant NB/B/P/ER", "strict NB/B/P/ER"]
    header += ["barrier at alpha", "largest bump", "chord barrier", "error bump"]
    header += ["error chord barrier"]
    paper_columns = [c for c in frame.columns if c.startswith("paper_") and c != "paper_row"]
    header += [f"paper {c.removeprefix('paper_').replace('_', ' ')}" for c in paper_columns]
    lines = [f"# {title}", "", DEFINITION_NOTE, "", DIVERGED_NOTE, ""]
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in frame.to_dict("records"):
        diverged = int(row.get("diverged") or 0)
        total = int(row["seeds"]) + diverged
        cells = [row["experiment"], row["setting"], row["path"], str(row["seeds"])]
        cells += [f"{diverged} of {total}"]
        if row["path"] == "-":  # nothing trained: no numbers to show
            lines.append("| " + " | ".join(cells + ["-"] * (len(header) - len(cells))) + " |")
            continue
        cells += [
            _pm(row["test_acc_mean"], row["test_acc_std"], 2),
            _ci(row, "test_acc", 2).partition(" ")[2] or "-",
            _pm(row["train_acc_mean"], row["train_acc_std"], 2),
            _pm(row["running_train_acc_mean"], row["running_train_acc_std"], 2),
            _pm(row["test_loss_mean"], row["test_loss_std"], 4),
            _pm(row["distance_mean"], row["distance_std"], 3),
            _counts(row, ""),
            _counts(row, "strict_"),
            _location(row),
            *(_ci(row, metric, 4) for metric in PATH_METRICS),
        ]
        cells += ["-" if math.isnan(row[c]) else f"{row[c]:g}" for c in paper_columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_table(frame: pd.DataFrame, markdown: str, stem: Path) -> list[Path]:
    """`stem`.csv and `stem`.md, side by side."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(stem.with_suffix(".csv"), index=False)
    stem.with_suffix(".md").write_text(markdown)
    return [stem.with_suffix(".csv"), stem.with_suffix(".md")]
