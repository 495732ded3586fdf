"""`make attribution`: which unit makes the full path's barrier, read off the full path itself.

The paper asks which layers carry a barrier by moving one unit at a time (Fig. 1B, A11,
A16): a unit path keeps the others at theta_f. The full path's own rise splits exactly among
its units (`landscape.attribution`): each unit's share is the integral of grad_u L . delta_u
from where the largest rise starts to where it peaks. Per sweep of the target and per seed,
this report puts each unit's share (a fraction of the rise) beside that unit's own unit-path
`max_rise`, with the Spearman rank correlation between the two over the units and whether
both name the same top unit; per unit the mean and 95% interval over seeds; and the
curvature at the peak. A seed whose full path has no barrier (its tolerant shape is not B)
has nothing to split: it is counted, and its units' shares of the whole change L(1) - L(0)
are still listed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from scipy import stats  # noqa: E402

from paper.settings import TargetSetting, expected_settings, select  # noqa: E402
from paper.tables import bootstrap_interval, write_table  # noqa: E402
from paper.targets import Target  # noqa: E402
from runs.store import ReportError, Run  # noqa: E402

NAME = "attribution"


def diagnosed(run: Run) -> bool:
    """The run's full path has an attribution by units."""
    found = run.results.get("paths", {}).get("full", {}).get("diagnostics") or {}
    return found.get("partition") == "units" and "attribution" in found


def hessian_at(found: dict, at) -> dict:
    """The Hessian entry of the full path's curvature taken at `at` (an alpha or `peak`)."""
    entries = found.get("curvature", {}).get("hessian", [])
    return next((h for h in entries if h.get("at") == at and h.get("alpha") is not None), {})


def unit_rows(setting: TargetSetting, run: Run) -> list[dict]:
    """One row per unit of one run: its share of the full path's rise and of the whole
    change, its own unit path's max_rise, the full path's barrier and curvature."""
    full = run.results["paths"]["full"]
    found = full["diagnostics"]
    attribution = found["attribution"]
    # a barrier as the run's tolerant shape reads it: float noise on a flat curve is none
    barrier = attribution["barrier"] if full["shape"] == "B" else None
    peak = hessian_at(found, "peak") if barrier else {}
    along = found.get("curvature", {}).get("along_path")
    peak_index = run.results["alphas"].index(barrier["peak_alpha"]) if barrier else None
    run_numbers = {
        "panel": setting.panel,
        "seed": run.seed,
        "full_shape": full["shape"],
        "full_strict_shape": full.get("strict_shape"),
        "rise": barrier["rise"] if barrier else None,
        "rise_start_alpha": barrier["start_alpha"] if barrier else None,
        "peak_alpha": barrier["peak_alpha"] if barrier else None,
        "rise_residual": barrier["residual"] if barrier else None,
        "curvature_at_peak": along[peak_index] if along and barrier else None,
        "top_eigenvalue_at_0": hessian_at(found, 0).get("top_eigenvalue"),
        "top_eigenvalue_at_peak": peak.get("top_eigenvalue"),
        "top_eigenvalue_at_1": hessian_at(found, 1).get("top_eigenvalue"),
        "trace_at_peak": peak.get("trace"),
        "trace_standard_error_at_peak": peak.get("trace_standard_error"),
    }
    change = attribution["change"]
    return [
        {
            **run_numbers,
            "unit": unit,
            "share_of_rise": barrier["fraction"][unit] if barrier else None,
            "share_of_change": attribution["total"][unit] / change if change else None,
            "unit_path_max_rise": run.results["paths"].get(f"unit/{unit}", {}).get("max_rise"),
            "unit_path_shape": run.results["paths"].get(f"unit/{unit}", {}).get("shape"),
            "run": str(run.directory),
        }
        for unit in attribution["parts"]
    ]


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho, nan where it is undefined (fewer than 3 units, a constant side)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0 or np.isnan(x).any() or np.isnan(y).any():
        return math.nan
    return float(stats.spearmanr(x, y).statistic)


RUN_COLUMNS = ("full_shape", "rise", "curvature_at_peak", "top_eigenvalue_at_0",
               "top_eigenvalue_at_peak", "top_eigenvalue_at_1", "trace_at_peak")  # fmt: skip


def seed_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Per panel and seed: the top unit by share of the rise and by unit path (where a unit
    path has a barrier), the rank agreement of the two over the units, the curvature."""
    records = []
    for (panel, seed), group in rows.groupby(["panel", "seed"], sort=False):
        rising = group["share_of_rise"].notna().all()
        max_rise = group["unit_path_max_rise"]
        unit_barrier = bool(max_rise.notna().all() and group["unit_path_shape"].eq("B").any())
        records.append(
            {
                "panel": panel,
                "seed": seed,
                **{column: group[column].iloc[0] for column in RUN_COLUMNS},
                "top_unit_by_share": _top(group, "share_of_rise") if rising else None,
                "unit_path_barrier": unit_barrier,
                "top_unit_by_unit_path": _top(group, "unit_path_max_rise")
                if unit_barrier
                else None,
                "spearman": spearman(group["share_of_rise"], max_rise) if rising else math.nan,
            }
        )
    return pd.DataFrame(records)


def _top(group: pd.DataFrame, column: str) -> str:
    return group.loc[group[column].idxmax(), "unit"]


def unit_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per panel and unit: mean and 95% bootstrap interval over seeds of each number."""
    records = []
    for (panel, unit), group in rows.groupby(["panel", "unit"], sort=False):
        record = {"panel": panel, "unit": unit}
        for column in ("share_of_rise", "unit_path_max_rise", "share_of_change"):
            values = group[column].dropna().tolist()
            low, high = bootstrap_interval(values)
            record |= {f"{column}": np.mean(values) if values else math.nan,
                       f"{column}_low": low, f"{column}_high": high,
                       f"{column}_seeds": len(values)}  # fmt: skip
        records.append(record)
    return pd.DataFrame(records)


def findings(summary: pd.DataFrame, seeds: pd.DataFrame, panel: str) -> str:
    """What the runs of one panel say, in words, whichever way it comes out."""
    units, per_seed = summary[summary["panel"] == panel], seeds[seeds["panel"] == panel]
    rising = per_seed[per_seed["top_unit_by_share"].notna()]
    if rising.empty:
        seen = int(per_seed["unit_path_barrier"].sum())
        return (f"None of the {len(per_seed)} seeds' full paths has a barrier (shape B): "
                "there is no rise to split, only the whole change (table below). Some unit "
                f"path has one in {seen} of them.")  # fmt: skip
    top = units.loc[units["share_of_rise"].idxmax()]
    seen = rising[rising["unit_path_barrier"]]
    same = int((seen["top_unit_by_share"] == seen["top_unit_by_unit_path"]).sum())
    rho = rising["spearman"].dropna()
    saddle = rising[(rising["curvature_at_peak"] < 0) & (rising["top_eigenvalue_at_peak"] > 0)]
    sharper = rising[rising["top_eigenvalue_at_peak"] > rising[["top_eigenvalue_at_0",
                     "top_eigenvalue_at_1"]].max(axis=1)]  # fmt: skip
    return " ".join([
        f"{len(rising)} of {len(per_seed)} seeds' full paths have a barrier.",
        f"The largest mean share of the rise is {top['unit']}'s: {top['share_of_rise']:.2f} of "
        f"it [95% interval {top['share_of_rise_low']:.2f}, {top['share_of_rise_high']:.2f}]; "
        f"it is the top unit in {int((rising['top_unit_by_share'] == top['unit']).sum())} of "
        f"{len(rising)} seeds.",
        f"Some unit path has a barrier (shape B) in {len(seen)} of those {len(rising)} seeds"
        + (f"; there the unit paths' largest max_rise names the same top unit in {same}."
           if len(seen) else ": the unit paths do not see the full path's barrier."),
        f"Spearman rho between each unit's share and its unit path's max_rise: mean "
        f"{rho.mean():+.2f} over the {len(rho)} seeds where it is defined."
        if len(rho) else "Spearman rho is undefined in every seed (fewer than 3 units, or "
        "all unit paths' max_rise equal, e.g. 0).",
        f"At the peak the path curves down (d2L/dalpha2 < 0) while the Hessian's top "
        f"eigenvalue is positive in {len(saddle)} of {len(rising)} seeds (a saddle across the "
        f"path), and that eigenvalue exceeds both ends' in {len(sharper)}.",
    ])  # fmt: skip


def markdown(target: Target, summary: pd.DataFrame, seeds: pd.DataFrame, missing) -> str:
    lines = [f"# {target.title}", "", __doc__.split("\n\n")[1].replace("\n", " "), ""]
    for panel in dict.fromkeys(summary["panel"]):
        lines += [f"## {panel}", "", findings(summary, seeds, panel), ""]
        lines += ["| unit | share of the rise [95%] | seeds | unit path max_rise [95%] | "
                  "share of L(1) - L(0) [95%] |", "| --- | --- | --- | --- | --- |"]  # fmt: skip
        for row in summary[summary["panel"] == panel].itertuples():
            lines.append(
                f"| {row.unit} | {_ci(row, 'share_of_rise')} | {row.share_of_rise_seeds} | "
                f"{_ci(row, 'unit_path_max_rise')} | {_ci(row, 'share_of_change')} |"
            )
        lines += ["", "| seed | full path | rise | top unit (share) | top unit (unit paths) | "
                  "Spearman | d2L/dalpha2 at peak | top eigenvalue at 0 / peak / 1 | "
                  "trace at peak |", "|" + " --- |" * 9]  # fmt: skip
        for row in seeds[seeds["panel"] == panel].itertuples():
            eigenvalues = " / ".join(_num(getattr(row, f"top_eigenvalue_at_{at}"))
                                     for at in ("0", "peak", "1"))  # fmt: skip
            lines.append(
                f"| {row.seed} | {row.full_shape} | {_num(row.rise)} | "
                f"{_text(row.top_unit_by_share)} | {_text(row.top_unit_by_unit_path)} | "
                f"{_num(row.spearman, '+.2f')} | {_num(row.curvature_at_peak)} | {eigenvalues} | "
                f"{_num(row.trace_at_peak)} |"
            )
        lines.append("")
    for panel in missing:
        lines += [f"## {panel}", "", "No diagnosed runs of this setting were found: "
                  f"not run at this scale (`make {NAME}` runs it).", ""]  # fmt: skip
    return "\n".join(lines)


def plot(summary: pd.DataFrame, rows: pd.DataFrame, out: Path) -> None:
    """Per panel: each unit's share of the full path's rise (left; of its whole change
    L(1) - L(0) where no seed's path has a barrier) beside its unit path's max_rise (right); bars
    are means over seeds, lines 95% intervals, dots seeds."""
    panels = list(dict.fromkeys(summary["panel"]))
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(len(panels), 2, figsize=(12, 3.6 * len(panels)), squeeze=False,
                             layout="constrained")  # fmt: skip
    for (left, right), panel in zip(axes, panels):
        units = summary[summary["panel"] == panel]
        runs = rows[rows["panel"] == panel]
        rises = runs["share_of_rise"].notna().any()
        for ax, column, label in (
            (left, "share_of_rise", "share of the full path's rise")
            if rises
            else (
                left,
                "share_of_change",
                "share of the full path's L(1) - L(0)\n(no seed has a barrier)",
            ),
            (right, "unit_path_max_rise", "max_rise of the unit's own path"),
        ):
            x = np.arange(len(units))
            ax.bar(x, units[column], color="tab:blue", alpha=0.5, label="mean over seeds")
            ax.vlines(x, units[f"{column}_low"], units[f"{column}_high"], color="black",
                      label="95% interval (bootstrap)")  # fmt: skip
            for i, unit in enumerate(units["unit"]):
                values = runs.loc[runs["unit"] == unit, column].dropna()
                ax.plot(np.full(len(values), i) + 0.15, values, ".", color="tab:red",
                        label="seeds" if i == 0 else None)  # fmt: skip
            ax.axhline(0, color="black", lw=0.5)
            ax.set_xticks(x, units["unit"], rotation=30, ha="right")
            ax.set_ylabel(label)
            ax.set_title(f"{panel}  ({units[f'{column}_seeds'].max()} seeds)", fontsize="medium")
    fig.legend(*axes[0][1].get_legend_handles_labels(), loc="outside lower center", ncol=3)
    fig.suptitle("which unit makes the barrier: the full path's own split (left) and the "
                 "unit paths (right)")  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)


def report(target: Target, by_key: dict[str, list[Run]], scale: str, digits: bool, out: Path):
    """Writes the target's figure, its table per unit and seed (CSV and Markdown) and a
    CSV per seed under `out`; returns the files written, the settings read and the settings
    looked for (for `paper.report_inputs`)."""
    by_key = {key: [r for r in runs if diagnosed(r)] for key, runs in by_key.items()}
    expected = expected_settings(target.sweeps, scale, digits)
    settings = select(by_key, expected, target.shows)
    if not settings:
        raise ReportError(
            f"no run with diagnostics of the full path trained as {target.name}'s settings at "
            f"scale={scale}; run them first (make {target.name})"
        )
    rows = pd.DataFrame([row for s in settings for run in s.runs for row in unit_rows(s, run)])
    seeds, summary = seed_frame(rows), unit_summary(rows)
    missing = [w.sweep.panel for w in expected if w.sweep.panel not in set(rows["panel"])]
    stem = out / target.stem
    seeds_csv = stem.with_name(f"{stem.name}_seeds.csv")
    plot(summary, rows, stem.with_suffix(".png"))
    seeds.to_csv(seeds_csv, index=False)
    written = write_table(rows, markdown(target, summary, seeds, dict.fromkeys(missing)), stem)
    return [stem.with_suffix(".png"), seeds_csv, *written], settings, expected


def _ci(row, column: str) -> str:
    value, low, high = (getattr(row, f"{column}{s}") for s in ("", "_low", "_high"))
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.3f} [{_num(low, '.3f')}, {_num(high, '.3f')}]"


def _text(value) -> str:
    return "-" if value is None or value != value else str(value)


def _num(value, spec: str = ".4g") -> str:
    return "-" if value is None or value != value else format(value, spec)
