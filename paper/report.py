"""`python -m paper.report TARGET [RUN_DIRS...]`: a paper figure and table from finished runs.

Reads every results.json under RUN_DIRS (default: multirun/ and outputs/), takes the runs
whose training matches the target's settings at `--scale` (`paper.settings`: whatever
experiment made them), newest run per seed, and writes
reports/<target>/<target>_<experiment>.{png,csv,md}; the Markdown lists the run
directories used. `table1` writes reports/table1/table1.{csv,md}.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from landscape.errors import LinpathError, OneLineParser  # noqa: E402
from paper import attribution_report  # noqa: E402
from paper.attention import (  # noqa: E402
    attention_frame,
    attention_rows,
    markdown_attention,
    markdown_milestones,
    milestone_frame,
    read_again,
)
from paper.barrier_runs import barrier_runs  # noqa: E402
from paper.beyond_report import REPORTS as BEYOND_REPORTS  # noqa: E402
from paper.beyond_report import report as report_beyond  # noqa: E402
from paper.panels import extra_panels, prestage_notes  # noqa: E402
from paper.report_inputs import MANIFEST as INPUTS_FILE  # noqa: E402
from paper.report_inputs import record_inputs, report_is_current  # noqa: E402
from paper.settings import (  # noqa: E402
    Expected,
    TargetSetting,
    expected_settings,
    run_keys,
    select,
)
from paper.table1 import markdown_table1, table1_frame, table1_rows  # noqa: E402
from paper.tables import markdown_summary, paths_of, summary_frame, write_table  # noqa: E402
from paper.targets import TARGETS, Target, stand_in_used  # noqa: E402
from runs.figures import (  # noqa: E402
    MOST_BANDS,
    OTHER_STYLES,
    add_notes,
    curves_frame,
    draw_curves,
    legend_beside,
    path_style,
    y_label,
)
from runs.store import ReportError, Run, load_runs  # noqa: E402

OnBad = Callable[[Path, LinpathError], None]

TABLE1 = "table1"
ATTENTION = "attention"
SCALES = ("full", "smoke")
DEFAULT_DIRS = [Path("multirun"), Path("outputs")]


def seed_curves(settings: Sequence[TargetSetting], target: Target) -> pd.DataFrame:
    """Every shown path of every run that trained (diverged seeds are counted, not drawn),
    one row per alpha, tagged with panel and setting."""
    frames = []
    for setting in settings:
        shown = set(paths_of(setting, target))
        for run in setting.runs:
            frame = curves_frame(run.results)
            frame = frame[frame["path"].isin(shown)]
            label = setting.label + (f" ({setting.diverged_note})" if setting.diverged else "")
            frames.append(frame.assign(panel=setting.panel, setting=label, seed=run.seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def plot_target(
    settings: Sequence[TargetSetting],
    target: Target,
    title: str,
    out: Path,
    status: str = "",
    scale: str = "full",
) -> None:
    """Mean over seeds with a +-1 std band (on panels of at most MOST_BANDS lines); a row per
    sweep, loss left, accuracy right; one legend per row with every line's notes.

    One setting: a colour per path. Several: a colour per setting and a line style per
    whole-model path (full, towards a new init); unit and group paths of many settings are
    in the table (and the `unit_paths` panel). `status` goes under the title.
    """
    frame = seed_curves(settings, target)
    panels = list(dict.fromkeys(s.panel for s in settings))  # a panel of diverged seeds too
    notes: dict[str, dict[str, list[str]]] = {}
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(len(panels), 2, figsize=(12, 4.3 * len(panels)), squeeze=False)
    for row, panel in zip(axes, panels):
        data = frame[frame["panel"] == panel] if not frame.empty else frame
        ours = [s for s in settings if s.panel == panel]
        diverged = sum(len(s.diverged) for s in ours)
        counted = f"{diverged} of {diverged + sum(len(s.runs) for s in ours)} seeds diverged"
        if data.empty:
            for ax in row:
                ax.text(0.5, 0.5, f"no curves: {counted}", ha="center", transform=ax.transAxes)
                ax.set_title(panel, fontsize="medium")
            continue
        several = data["setting"].nunique() > 1
        shared, short = shared_overrides(list(dict.fromkeys(data["setting"])))
        data = data.assign(setting=data["setting"].map(short))
        whole_model = ~data["path"].str.startswith(("unit/", "group/"))
        if several and whole_model.any():
            data = data[whole_model]
        if several:  # a colour per setting; a style per path
            styles = dict(zip(dict.fromkeys(data["path"]), itertools.cycle(OTHER_STYLES)))
            style_of = styles.__getitem__
        else:
            style_of = path_style
        first = next(s for s in ours if s.runs).runs[0].results  # not a diverged seed's
        entry = next(iter(first["paths"].values()))
        hue = "setting" if several else "path"
        lines = data.groupby([hue, "path"]).ngroups
        band = lines <= MOST_BANDS  # more bands than this bury the lines under one blur
        notes[panel] = {}
        for ax, metric in zip(row, ("loss", "acc")):
            add_notes(notes[panel], draw_curves(ax, data, metric, hue, style_of, band=band))
            ax.set_ylabel(y_label(metric, entry))
            bands = "" if band else f", {lines} lines: no std bands"
            name = f"{panel} ({shared})" if shared else panel
            ax.set_title(
                f"{name}: {data['seed'].nunique()} seeds{bands}\n{counted}", fontsize="medium"
            )
    heading = figure_title(title, status, scale)
    height = fig.get_figheight()
    fig.suptitle(heading, y=1 - 0.1 / height, va="top")
    fig.tight_layout()  # before the legends, which then widen the canvas, not squeeze the axes
    # tight_layout leaves a fixed share of a tall figure's height for the title: in inches
    # it shrinks to nothing and the title covers the first row's panel titles
    heading_inches = 0.3 * (heading.count("\n") + 1) + 0.6
    fig.subplots_adjust(top=min(fig.subplotpars.top, 1 - heading_inches / height))
    for row, panel in zip(axes, panels):
        if panel in notes:  # a panel of diverged seeds only has no lines
            legend_beside(row[-1], notes[panel])
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)


def shared_overrides(labels: Sequence[str]) -> tuple[str, dict[str, str]]:
    """The overrides every one of several settings' labels shares, and each label without
    them: a legend then says only what differs, the panel's title what is common."""
    words = [label.split() for label in labels]
    common = [w for w in words[0] if all(w in other for other in words[1:])]
    if len(labels) < 2 or not common:
        return "", {label: label for label in labels}
    short = {label: " ".join(w for w in ws if w not in common) for label, ws in zip(labels, words)}
    return " ".join(common), short


def figure_title(title: str, status: str, scale: str) -> str:
    """The target's title (naming a stand-in), what it shows, its status line, and whether
    it is the smoke scale."""
    lines = [f"{title} (mean over seeds, band +-1 std)", *([status] if status else [])]
    if scale == "smoke":
        lines.append("smoke scale: tiny data and models, exercises the code, means nothing")
    return "\n".join(lines)


def collect(target: Target, by_key: dict[str, list[Run]], expected: Sequence[Expected], scale: str):
    """The settings of `target` among the runs; none at all is bad input."""
    settings = select(by_key, expected, target.shows)
    if not settings:
        raise ReportError(
            f"no run trained as {target.name}'s settings at scale={scale} "
            f"(experiments {list(target.experiments)}); run them first (make {target.name})"
        )
    return settings


def load(
    run_dirs: Sequence[str], evaluation: str | None = None, skipped: list[str] | None = None
) -> dict[str, list[Run]]:
    """Runs by key; `evaluation` takes each run's re-evaluation of that name
    (runs.reevaluate) instead of its own results; with `skipped`, an unreadable
    results.json is left out and its error kept there (else it is the error)."""
    dirs = [Path(d) for d in run_dirs] or DEFAULT_DIRS
    runs = load_runs(dirs, evaluation, keep_in(skipped))
    if not runs and skipped:
        raise ReportError(f"no readable results.json under {[str(d) for d in dirs]}: {skipped[0]}")
    if not runs and evaluation is not None and load_runs(dirs, None, lambda *_: None):
        raise ReportError(
            f"no run under {[str(d) for d in dirs]} has an evaluation named {evaluation!r} "
            f"(RUN/evaluations/{evaluation}/); python -m runs.reevaluate run_dir=RUN "
            f"name={evaluation} makes one"
        )
    if not runs:
        raise ReportError(
            f"no results.json under {[str(d) for d in dirs]}; run an experiment first"
        )
    return run_keys(runs)


def keep_in(skipped: list[str] | None) -> OnBad | None:
    """An unreadable run's error, kept in `skipped` (None: raised)."""
    return None if skipped is None else lambda path, error: skipped.append(str(error))


def report(
    target: str,
    run_dirs: Sequence[str] = (),
    out_root: Path = Path("reports"),
    scale: str | None = None,
    digits: bool = False,
    evaluation: str | None = None,
    skipped: list[str] | None = None,
) -> list[Path]:
    """Writes the target's figure and tables; returns the files written. With `skipped`,
    a run whose results.json cannot be read is left out and its error added there;
    without, it is the error."""
    if target in BEYOND_REPORTS:  # off the straight line: trajectory, weights_biases
        return report_beyond(target, run_dirs, out_root, scale, keep_in(skipped))
    if target not in TARGETS:
        raise ReportError(
            f"unknown report target {target!r}; expected one of {[*TARGETS, *BEYOND_REPORTS]}"
        )
    spec = TARGETS[target]
    scale = scale or "full"
    by_key = load(run_dirs, evaluation, skipped)
    out = out_root / (target if evaluation is None else f"{target}_{evaluation}")
    if target == TABLE1:
        rows = table1_rows(by_key, scale, digits)
        frame = table1_frame(rows)
        if frame.empty:
            raise ReportError("none of the runs found is an intervention of Table 1")
        used = [
            (f"{row.intervention}: {s.label}", [*s.runs, *s.diverged])
            for row, settings, *_ in rows
            for s in settings
        ]
        used += [(f"control of {row.intervention}", control) for row, _, control, _ in rows]
        intervened = [s for _, settings, *_ in rows for s in settings]
        markdown = markdown_table1(frame) + prestage_notes(intervened) + runs_used(used)
        written = write_table(frame, markdown, out / TABLE1)
        if evaluation is None:  # any run may enter Table 1: no settings to name
            inputs = keyed(by_key, [r for _, runs in used for r in runs])
            record_report_inputs(out, report_args(scale, digits, run_dirs), None, inputs,
                                 spec.shows, written, skipped)  # fmt: skip
        return written
    if target == attribution_report.NAME:
        written, settings, expected = attribution_report.report(spec, by_key, scale, digits, out)
    else:
        expected = expected_settings(spec.sweeps, scale, digits)
        settings = collect(spec, by_key, expected, scale)
        if target == ATTENTION:
            written = report_attention(spec, settings, by_key, scale, out / ATTENTION)
        else:
            written = report_settings(spec, settings, by_key, scale, digits, out / spec.stem)
    if evaluation is None:
        record_settings_read(out, (scale, digits, run_dirs), expected, settings, by_key, spec,
                             written, skipped)  # fmt: skip
    return written


def report_settings(spec: Target, settings, by_key, scale: str, digits: bool, stem: Path):
    """A paper target's figure, its summary table and its panels; returns the files."""
    frame = summary_frame(settings, spec)
    if frame.empty:
        raise ReportError(f"the runs found have none of the paths {list(spec.paths)}")
    found = barrier_runs(spec, by_key, settings, scale, digits)
    title = spec.titled(stand_in_used(scale, digits))
    status = found.headline if found else ""
    plot_target(settings, spec, title, stem.with_suffix(".png"), status, scale)
    written = [stem.with_suffix(".png")]
    markdown = markdown_summary(frame, title) + (found.markdown() if found else "")
    markdown += prestage_notes(settings)
    markdown += extra_panels(spec, settings, stem, written)
    markdown += runs_used([(s.label, [*s.runs, *s.diverged]) for s in settings])
    return written + write_table(frame, markdown, stem)


def record_settings_read(out: Path, asked: tuple, expected, settings, by_key, spec: Target,
                         written, skipped) -> None:  # fmt: skip
    """record_report_inputs for a report of the `expected` settings: every run of `settings`
    it read, diverged ones included."""
    inputs = keyed(by_key, [r for s in settings for r in [*s.runs, *s.diverged]])
    record_report_inputs(out, report_args(*asked), [e.key for e in expected], inputs, spec.shows,
                         written, skipped)  # fmt: skip


def record_report_inputs(out: Path, args: dict, settings, inputs, shows, written, skipped) -> None:
    """What the report read (paper.report_inputs), for run_target's up-to-date check; a
    report that left an unreadable run out is never current, so it records nothing."""
    if skipped:
        (out / INPUTS_FILE).unlink(missing_ok=True)
        return
    record_inputs(out, args, settings, inputs, shows, written)


def keyed(by_key: dict[str, list[Run]], runs: Sequence[Run]) -> list[tuple[str, Run]]:
    """Each of `runs` with its setting key."""
    key_of = {id(run): key for key, found in by_key.items() for run in found}
    return [(key_of[id(run)], run) for run in runs]


def report_args(scale: str, digits: bool, run_dirs: Sequence[str] = ()) -> dict:
    """What a report was asked for, as `paper.report_inputs` records it."""
    dirs = [Path(d) for d in run_dirs] or DEFAULT_DIRS
    return {"scale": scale, "digits": digits, "run_dirs": [str(d.resolve()) for d in dirs]}


def report_is_up_to_date(target: str, scale: str, digits: bool = False,
                         out_root: Path = Path("reports")) -> bool:  # fmt: skip
    """Whether `report(target, scale=scale, digits=digits)` would write what is there already."""
    args = report_args(scale, digits)
    dirs = [Path(d) for d in args["run_dirs"]]
    return report_is_current(out_root / target, args, dirs, TARGETS[target].shows)


def report_attention(spec: Target, settings, by_key, scale: str, stem: Path) -> list[Path]:
    """The attention interventions against their controls (paper.attention), the modular
    addition milestones, every setting's mean curves (one panel per sweep), and every
    path's shape counts and numbers per setting (attention_paths: each unit's)."""
    again = {id(run): read_again(run) for runs in by_key.values() for run in runs}
    by_key = {key: [again[id(run)] for run in runs] for key, runs in by_key.items()}
    settings = [dataclasses.replace(s, runs=[again[id(r)] for r in s.runs]) for s in settings]
    rows = attention_rows(by_key, scale)
    frame = attention_frame(rows)
    if frame.empty:
        raise ReportError("no intervention of the attention table has runs and a control")
    # the whole-model paths only: a panel of every unit's band is unreadable (their shapes
    # are in attention_paths)
    whole_model = dataclasses.replace(spec, paths=("full", "final_to_new_init"))
    plot_target(settings, whole_model, spec.title, stem.with_suffix(".png"), scale=scale)
    markdown = markdown_attention(frame)
    markdown += markdown_milestones(milestone_frame([(s.label, s.runs) for s in settings]))
    markdown += f"\n![mean full path of every setting]({stem.name}.png)\n"
    markdown += runs_used([(s.label, [*s.runs, *s.diverged]) for s in settings])
    paths = summary_frame(settings, spec)
    per_path = write_table(paths, markdown_summary(paths, spec.title), stem.with_name(
        f"{stem.name}_paths"))  # fmt: skip
    return [stem.with_suffix(".png"), *write_table(frame, markdown, stem), *per_path]


def runs_used(groups: Sequence[tuple[str, Sequence[Run]]]) -> str:
    """The run directories a report used, per setting."""
    lines = ["", "## Runs used", ""]
    for label, runs in groups:
        lines.append(f"- {label}: " + ", ".join(f"`{r.directory}`" for r in runs))
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m paper.report", description=__doc__.split("\n")[0])
    parser.add_argument("target", help=f"one of {', '.join([*TARGETS, *BEYOND_REPORTS])}")
    parser.add_argument("run_dirs", nargs="*", help="directories searched for results.json")
    parser.add_argument("--out", default="reports", help="reports root (default: reports)")
    parser.add_argument("--scale", choices=SCALES, help="the runs' scale (paper targets: full)")
    parser.add_argument(
        "--digits", action="store_true", help="runs on the digits stand-in, not MNIST (full scale)"
    )
    parser.add_argument(
        "--evaluation",
        metavar="NAME",
        help="each run's re-evaluation NAME (RUN/evaluations/NAME) instead of its own results",
    )
    parser.add_argument(
        "--wandb",
        action="store_true",
        help="also log the report's figures, tables and files as a wandb run (offline; "
        "`wandb sync` uploads)",
    )
    args = parser.parse_args(argv)
    skipped: list[str] = []
    try:
        written = report(
            args.target,
            args.run_dirs,
            Path(args.out),
            args.scale,
            args.digits,
            args.evaluation,
            skipped,
        )
    except LinpathError as error:
        print(f"linpath: error: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    if args.wandb:
        from runs.wandb_log import log_report

        run_id = log_report(args.target, written, written[0].parent)
        print(f"linpath: logged to wandb run {run_id} (report-{args.target})")
    for error in skipped:  # written without them: each named, and no success
        print(f"linpath: warning: left out of the report: {error}", file=sys.stderr)
    if skipped:
        print(f"linpath: error: {len(skipped)} run(s) could not be read", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
