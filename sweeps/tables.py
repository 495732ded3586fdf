"""Seed-aggregated tables: one row per (setting, path), and the paper's Table 1."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from statistics import mean, stdev

import pandas as pd

from sweeps.runs import Setting
from sweeps.targets import TABLE1_BASE, TABLE1_PAPER, PaperRow, Target

SHAPES = ("NB", "B", "P")
# per-run numbers: (column, how to read it from results.json, scale for the table)
RUN_METRICS = {
    "test_acc": (lambda r: r["final"].get("test_acc"), 100.0),
    "train_acc": (lambda r: r["final"].get("train_acc"), 100.0),
    "test_loss": (lambda r: r["final"].get("test_loss"), 1.0),
    "distance": (lambda r: r.get("distance"), 1.0),
}
PATH_METRICS = ("max_rise", "barrier_height")
# Table 1: unit barriers count as higher / lower than the base beyond this relative margin
UNIT_BARRIER_MARGIN = 0.1


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
    header = ["experiment", "setting", "path", "seeds", "test acc (%)", "train acc (%)"]
    header += ["test loss", "distance", "shapes NB/B/P", "max_rise", "barrier height"]
    paper_columns = [c for c in frame.columns if c.startswith("paper_") and c != "paper_row"]
    header += [f"paper {c.removeprefix('paper_').replace('_', ' ')}" for c in paper_columns]
    lines = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in frame.to_dict("records"):
        cells = [row["experiment"], row["setting"], row["path"], str(row["seeds"])]
        cells += [
            _pm(row["test_acc_mean"], row["test_acc_std"], 2),
            _pm(row["train_acc_mean"], row["train_acc_std"], 2),
            _pm(row["test_loss_mean"], row["test_loss_std"], 4),
            _pm(row["distance_mean"], row["distance_std"], 3),
            f"{row['NB']}/{row['B']}/{row['P']}",
            _pm(row["max_rise_mean"], row["max_rise_std"], 4),
            _pm(row["barrier_height_mean"], row["barrier_height_std"], 4),
        ]
        cells += ["-" if math.isnan(row[c]) else f"{row[c]:g}" for c in paper_columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---- Table 1 -------------------------------------------------------------------------------


def unit_max_rise(setting: Setting) -> float:
    """Mean over seeds and unit paths of max_rise: the height of the unit barriers."""
    rises = [
        entry["max_rise"]
        for run in setting.runs
        for path, entry in run.results["paths"].items()
        if path.startswith("unit/")
    ]
    return mean(rises) if rises else math.nan


def table1_frame(settings: Sequence[Setting]) -> pd.DataFrame:
    """Table 1: per intervention, shape of the full path, unit barriers and test acc vs base.

    The base is the plain `blockwise` setting (the one with the fewest overrides: not the
    no-WD runs that Fig. 3 starts from). Unit barriers are higher (H-LB) or lower
    (L-LB) when the mean unit max_rise differs from the base's by more than
    UNIT_BARRIER_MARGIN; '-' where a
    side has no unit paths.
    """
    blockwise = [s for s in settings if s.experiment == TABLE1_BASE]
    fewest = min((len(s.overrides) for s in blockwise), default=0)
    base = [s for s in blockwise if len(s.overrides) == fewest]
    base_runs = [run for s in base for run in s.runs]
    base_acc = mean_std([r.results["final"].get("test_acc") for r in base_runs])[0]
    base_rise = unit_max_rise(Setting(TABLE1_BASE, (), base_runs)) if base_runs else math.nan
    rows = []
    for setting in settings:
        if setting.experiment != TABLE1_BASE and setting.experiment not in TABLE1_PAPER:
            continue
        figure, paper_shape, paper_acc = TABLE1_PAPER.get(setting.experiment, ("Fig. 1B", "", ""))
        full = [
            r.results["paths"]["full"]["shape"]
            for r in setting.runs
            if "full" in r.results["paths"]
        ]
        rise = unit_max_rise(setting)
        if math.isnan(rise) or math.isnan(base_rise):
            unit_barriers = "-"
        elif rise > (1 + UNIT_BARRIER_MARGIN) * base_rise:
            unit_barriers = "H-LB"
        elif rise < base_rise / (1 + UNIT_BARRIER_MARGIN):
            unit_barriers = "L-LB"
        else:
            unit_barriers = "="
        acc = mean_std([r.results["final"].get("test_acc") for r in setting.runs])[0]
        rows.append(
            {
                "experiment": setting.experiment,
                "setting": setting.label,
                "figure": figure,
                "seeds": len(setting.runs),
                "full_shape": majority_shape(full),
                "unit_barriers": unit_barriers,
                "unit_max_rise": rise,
                "base_unit_max_rise": base_rise,
                "test_acc": 100 * acc,
                "delta_test_acc": 100 * (acc - base_acc),
                "paper_shape": paper_shape,
                "paper_test_acc": paper_acc,
            }
        )
    return pd.DataFrame(rows)


def markdown_table1(frame: pd.DataFrame) -> str:
    header = ["intervention", "setting", "figure", "seeds", "full path", "unit barriers"]
    header += ["test acc (%)", "Δ test acc vs base (pp)", "paper: shape", "paper: test acc"]
    lines = ["# Table 1: interventions against the base (blockwise)", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in frame.to_dict("records"):
        number = lambda v, fmt: "-" if math.isnan(v) else format(v, fmt)  # noqa: E731
        cells = [row["experiment"], row["setting"], row["figure"], str(row["seeds"])]
        cells += [row["full_shape"], row["unit_barriers"], number(row["test_acc"], ".2f")]
        cells += [number(row["delta_test_acc"], "+.2f"), row["paper_shape"], row["paper_test_acc"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_table(frame: pd.DataFrame, markdown: str, stem: Path) -> list[Path]:
    """`stem`.csv and `stem`.md, side by side."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(stem.with_suffix(".csv"), index=False)
    stem.with_suffix(".md").write_text(markdown)
    return [stem.with_suffix(".csv"), stem.with_suffix(".md")]
