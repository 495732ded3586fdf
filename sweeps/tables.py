"""Seed-aggregated tables: one row per (setting, path), with the paper's numbers beside."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from statistics import mean, stdev

import pandas as pd

from sweeps.runs import Setting
from sweeps.targets import PaperRow, Target

SHAPES = ("NB", "B", "P")
# per-run numbers: (column, how to read it from results.json, scale for the table)
RUN_METRICS = {
    "test_acc": (lambda r: r["final"].get("test_acc"), 100.0),
    "train_acc": (lambda r: r["final"].get("train_acc"), 100.0),  # eval mode, clean images
    # the last epoch's running mean over its augmented batches, as a training log shows it
    "running_train_acc": (lambda r: last(r.get("history", {}).get("train/acc")), 100.0),
    "test_loss": (lambda r: r["final"].get("test_loss"), 1.0),
    "distance": (lambda r: r.get("distance"), 1.0),
}
PATH_METRICS = ("max_rise", "barrier_height")


def last(values: Sequence[float | None] | None) -> float | None:
    return values[-1] if values else None


def mean_std(values: Sequence[float | None]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (nan for one value) and count of the non-missing values."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return math.nan, math.nan, 0
    return mean(values), (stdev(values) if len(values) > 1 else math.nan), len(values)


def shape_counts(shapes: Sequence[str]) -> dict[str, int]:
    counts = Counter(shapes)
    return {shape: counts.get(shape, 0) for shape in SHAPES}


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
        for path in paths_of(setting, target):
            entries = [
                run.results["paths"][path] for run in setting.runs if path in run.results["paths"]
            ]
            row = {"experiment": setting.experiment, "setting": setting.label, "path": path}
            row["seeds"] = len(entries)
            for name, values in per_run.items():
                row[f"{name}_mean"], row[f"{name}_std"], _ = mean_std(values)
            row.update(shape_counts([e["shape"] for e in entries]))
            row["shape"] = majority_shape([e["shape"] for e in entries])
            for metric in PATH_METRICS:
                row[f"{metric}_mean"], row[f"{metric}_std"], _ = mean_std(
                    [e.get(metric) for e in entries]
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


def markdown_summary(frame: pd.DataFrame, title: str) -> str:
    """The summary as a Markdown table: 'mean ± std', shape counts as 'NB/B/P'."""
    header = ["experiment", "setting", "path", "seeds", "test acc (%)", "train acc, eval (%)"]
    header += ["train acc, last epoch running (%)"]
    header += ["test loss", "distance", "shapes NB/B/P", "max_rise", "barrier height"]
    paper_columns = [c for c in frame.columns if c.startswith("paper_") and c != "paper_row"]
    header += [f"paper {c.removeprefix('paper_').replace('_', ' ')}" for c in paper_columns]
    lines = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in frame.to_dict("records"):
        cells = [row["experiment"], row["setting"], row["path"], str(row["seeds"])]
        cells += [
            _pm(row["test_acc_mean"], row["test_acc_std"], 2),
            _pm(row["train_acc_mean"], row["train_acc_std"], 2),
            _pm(row["running_train_acc_mean"], row["running_train_acc_std"], 2),
            _pm(row["test_loss_mean"], row["test_loss_std"], 4),
            _pm(row["distance_mean"], row["distance_std"], 3),
            f"{row['NB']}/{row['B']}/{row['P']}",
            _pm(row["max_rise_mean"], row["max_rise_std"], 4),
            _pm(row["barrier_height_mean"], row["barrier_height_std"], 4),
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
