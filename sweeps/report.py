"""`python -m sweeps.report TARGET [RUN_DIRS...]`: a paper figure and table from finished runs.

Reads every results.json under RUN_DIRS (default: multirun/<experiment> and
outputs/<experiment> for the target's experiments), groups runs by setting (overrides minus
seed), and writes reports/<target>/<target>_<experiment>.{png,csv,md}. `table1` reads every
run under RUN_DIRS (default: multirun/ and outputs/) and writes reports/table1/table1.{csv,md}.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from landscape.errors import LinpathError  # noqa: E402
from sweeps.beyond_report import REPORTS as BEYOND_REPORTS  # noqa: E402
from sweeps.beyond_report import report as report_beyond  # noqa: E402
from sweeps.plots import PATH_STYLES, curves_frame  # noqa: E402
from sweeps.runs import ReportError, Setting, group_settings, load_runs  # noqa: E402
from sweeps.tables import (  # noqa: E402
    markdown_summary,
    markdown_table1,
    paths_of,
    summary_frame,
    table1_frame,
    write_table,
)
from sweeps.targets import TARGETS, Target  # noqa: E402

TABLE1 = "table1"
SCALES = ("full", "smoke")


def seed_curves(settings: Sequence[Setting], target: Target) -> pd.DataFrame:
    """Every shown path of every run, one row per alpha, tagged with experiment and setting."""
    frames = []
    for setting in settings:
        shown = set(paths_of(setting, target))
        for run in setting.runs:
            frame = curves_frame(run.results)
            frame = frame[frame["path"].isin(shown)]
            frames.append(
                frame.assign(experiment=setting.experiment, setting=setting.label, seed=run.seed)
            )
    return pd.concat(frames, ignore_index=True)


def plot_target(settings: Sequence[Setting], target: Target, out: Path) -> None:
    """Mean over seeds with a +-1 std band; a row per experiment, loss left, accuracy right.

    One setting: a colour per path. Several: a colour per setting, and only the full path
    where there is one (a line style per path otherwise); the table keeps every path.
    """
    frame = seed_curves(settings, target)
    experiments = list(dict.fromkeys(frame["experiment"]))
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(len(experiments), 2, figsize=(12, 4 * len(experiments)), squeeze=False)
    for row, experiment in zip(axes, experiments):
        data = frame[frame["experiment"] == experiment]
        several = data["setting"].nunique() > 1
        if several and "full" in set(data["path"]):
            data = data[data["path"] == "full"]  # unit paths of many settings: in the table
        style = "path" if several and data["path"].nunique() > 1 else None
        split = next(s for s in settings if s.experiment == experiment).runs[0].results
        split = next(iter(split["paths"].values())).get("split", "test")
        for ax, metric in zip(row, ("loss", "acc")):
            sns.lineplot(
                data=data,
                x="alpha",
                y=metric,
                hue="setting" if several else "path",
                style=style,
                errorbar="sd",
                ax=ax,
                legend=several and ax is row[-1],
            )
            if not several:
                for line, path in zip(ax.get_lines(), data["path"].unique()):
                    line.set_linestyle(PATH_STYLES.get(path, "-"))
                    line.set_label(path)
            ax.set_xlabel(r"$\alpha$")
            ax.set_ylabel(f"{split} {metric}")
            ax.set_title(f"{experiment}  (seeds: {data['seed'].nunique()})", fontsize="medium")
        handles = None if several else row[-1].get_lines()[: data["path"].nunique()]
        row[-1].legend(
            handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small"
        )
    fig.suptitle(target.title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)


def default_dirs(target: str) -> list[Path]:
    if target == TABLE1:
        return [Path("multirun"), Path("outputs")]
    experiments = TARGETS[target].experiments
    return [Path(root) / e for e in experiments for root in ("multirun", "outputs")]


def collect(
    target: str, run_dirs: Sequence[str], scale: str | None, evaluation: str | None = None
) -> list[Setting]:
    """The settings a report is made of; no runs at all is bad input. `evaluation` takes each
    run's re-evaluation of that name (sweeps.reevaluate) instead of its own results."""
    if target != TABLE1 and target not in TARGETS:
        raise ReportError(f"unknown report target {target!r}; expected one of {[*TARGETS, TABLE1]}")
    dirs = [Path(d) for d in run_dirs] or default_dirs(target)
    runs = load_runs(dirs, evaluation)
    if target != TABLE1:
        runs = [r for r in runs if r.experiment in TARGETS[target].experiments]
    if scale:
        runs = [r for r in runs if r.scale == scale]
    if not runs:
        wanted = "any experiment" if target == TABLE1 else f"{list(TARGETS[target].experiments)}"
        scale_note = f" at scale={scale}" if scale else ""
        scale_note += f" with an evaluation {evaluation!r}" if evaluation else ""
        raise ReportError(
            f"no results.json of {wanted}{scale_note} under {[str(d) for d in dirs]}; "
            f"run the experiment first (make {target})"
        )
    return group_settings(runs)


def report(target: str, run_dirs: Sequence[str] = (), out_root: Path = Path("reports"),
           scale: str | None = None, evaluation: str | None = None) -> list[Path]:  # fmt: skip
    """Writes the target's figure and tables; returns the files written."""
    if target in BEYOND_REPORTS:  # off the straight line: trajectory, biased_view
        return report_beyond(target, run_dirs, out_root, scale)
    settings = collect(target, run_dirs, scale, evaluation)
    out = out_root / (target if evaluation is None else f"{target}_{evaluation}")
    if target == TABLE1:
        frame = table1_frame(settings)
        if frame.empty:
            raise ReportError("none of the runs found is an intervention of Table 1")
        return write_table(frame, markdown_table1(frame), out / TABLE1)
    spec = TARGETS[target]
    stem = out / spec.stem
    frame = summary_frame(settings, spec)
    if frame.empty:
        raise ReportError(f"the runs found have none of the paths {list(spec.paths)}")
    plot_target(settings, spec, stem.with_suffix(".png"))
    return [
        stem.with_suffix(".png"),
        *write_table(frame, markdown_summary(frame, spec.title), stem),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sweeps.report", description=__doc__.split("\n")[0]
    )
    parser.add_argument("target", help=f"one of {', '.join([*TARGETS, TABLE1, *BEYOND_REPORTS])}")
    parser.add_argument("run_dirs", nargs="*", help="directories searched for results.json")
    parser.add_argument("--out", default="reports", help="reports root (default: reports)")
    parser.add_argument("--scale", choices=SCALES, help="only runs at this scale (scale=...)")
    parser.add_argument(
        "--evaluation",
        metavar="NAME",
        help="each run's re-evaluation NAME (RUN/evaluations/NAME) instead of its own results",
    )
    args = parser.parse_args(argv)
    try:
        written = report(args.target, args.run_dirs, Path(args.out), args.scale, args.evaluation)
    except LinpathError as error:
        print(f"linpath: error: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
