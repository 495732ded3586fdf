"""A run on a wandb dashboard, from its results.json and its figures: plain wandb, no Lightning.

Every number of results.json goes into the run summary, flattened: `final/test_acc`,
`path/full/strict_shape`, `path/full/error_max_rise`, `view/train/interpolate/path/full/shape`,
`timing/fit_s`. Each path's curve is logged point by point against `curve/alpha` (wandb's
`define_metric`), so a line panel over a group of runs (the seeds of one setting) draws
their mean and band; the same points are one table with the setting and seed as columns.
Figures are images. A re-evaluation resumes its run by id and logs under `evaluation/NAME/`;
a report is a run of its own with its tables and figures as an artifact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

PROJECT = "linpath"
# A job's overrides that are no part of its setting (seeds of one setting share the rest):
# bookkeeping, and what changes neither training nor the evaluation logged (runs.identity)
SETTING_EXCLUDES = (
    "seed", "experiment", "logger", "ckpt_path", "checkpoint", "hydra", "reuse", "beyond",
    "callbacks", "progress", "threads", "data.root", "data.check_integrity",
)  # fmt: skip
GROUP_LIMIT = 128  # wandb's longest group (and job_type: 64)
CURVE_METRICS = ("loss", "acc")


def sweep_setting(overrides: Sequence[str], excludes: Sequence[str] = SETTING_EXCLUDES) -> str:
    """The job's command-line overrides that define its setting, e.g. `optimizer.lr=0.1`;
    keys in `excludes` (and their sub-keys) are left out, so seeds of one setting share it."""

    def excluded(override: str) -> bool:
        key = override.split("=", 1)[0].lstrip("+~")
        return any(key == e or key.startswith(f"{e}.") or key.startswith(f"{e}/") for e in excludes)

    return ",".join(o for o in overrides if not excluded(o)) or "default"


def run_names(experiment: str, setting: str, seed: int) -> dict[str, str]:
    """A run's wandb name (`experiment-setting-seedN`), group (its setting: seeds of one
    setting are one group) and job type (the experiment)."""
    group = f"{experiment}-{setting}"[:GROUP_LIMIT]
    return {"name": f"{group}-seed{seed}", "group": group, "job_type": experiment[:64]}


def summary_of(results: Mapping) -> dict:
    """Every number, string, flag and null of results.json under a flat key; curves (lists)
    are logged as curves, not here."""
    flat = {}

    def walk(value, key: str) -> None:
        if isinstance(value, Mapping):
            for name, entry in value.items():
                walk(entry, f"{key}/{name}" if key else str(name))
        elif value is None or isinstance(value, (int, float, str, bool)):
            flat[key] = value  # null too: a path without a barrier has no barrier location

    for section, value in results.items():
        if section == "paths":
            walk(value, "path")
        elif section == "views":
            for view, paths in value.items():
                walk(paths, f"view/{view}/path")
        else:
            walk(value, section)
    return flat


def log_results(run, results: Mapping, figures: Sequence[Path], prefix: str = "") -> None:
    """The summary, the curves (per point and as one table) and the figures of one
    evaluation of a run; `prefix` keeps a re-evaluation's apart (`evaluation/NAME/`)."""
    import wandb

    setting = sweep_setting(results.get("overrides", []))
    alpha = f"{prefix}curve/alpha"
    run.define_metric(f"{prefix}curve/*", step_metric=alpha)
    paths = results["paths"]
    for index, value in enumerate(results["alphas"]):
        point = {alpha: value}
        for path, entry in paths.items():
            for metric in CURVE_METRICS:
                if entry[metric][index] is not None:
                    point[f"{prefix}curve/{path}/{metric}"] = entry[metric][index]
        run.log(point)
    rows = [
        [setting, results.get("seed"), path, a, loss, acc]
        for path, entry in paths.items()
        for a, loss, acc in zip(results["alphas"], entry["loss"], entry["acc"])
    ]
    columns = ["setting", "seed", "path", "alpha", "loss", "acc"]
    logged = {f"{prefix}paths/curves": wandb.Table(columns=columns, data=rows)}
    logged.update(images(figures, prefix))
    run.log(logged)
    run.summary.update({f"{prefix}{key}": value for key, value in summary_of(results).items()})


def images(figures: Sequence[Path], prefix: str = "") -> dict:
    """`figures/<stem>` -> the image, for each figure file that exists."""
    import wandb

    return {
        f"{prefix}figures/{Path(f).stem}": wandb.Image(str(f)) for f in figures if Path(f).is_file()
    }


def run_record(run) -> dict:
    """What results.json keeps to find the run again (`wandb` key): a re-evaluation resumes it."""
    return {
        "id": run.id,
        "project": run.project,
        "name": run.name,
        "group": run.group,
        "mode": run.settings.mode,
        "dir": str(Path(run.dir).parents[2]),  # DIR/wandb/<run folder>/files
    }


def log_evaluation(results: Mapping, figures: Sequence[Path], name: str) -> str | None:
    """A re-evaluation into the wandb run its run was logged to (by id, resumed), under
    `evaluation/NAME/`; returns the run id, or None when the run had no wandb run."""
    record = results.get("wandb")
    if not record:
        return None
    import wandb

    run = wandb.init(
        project=record["project"],
        id=record["id"],
        resume="allow",
        dir=record["dir"],
        mode=record["mode"],
        reinit="finish_previous",
    )
    try:
        log_results(run, results, figures, prefix=f"evaluation/{name}/")
    finally:
        run.finish()
    return record["id"]


def log_report(target: str, files: Sequence[Path], out_dir: Path, offline: bool = True) -> str:
    """A report as a run of its own (job type `report`): its figures as images, its CSV
    tables as tables, and every file as one artifact. Returns the run id."""
    import pandas as pd
    import wandb

    run = wandb.init(
        project=PROJECT,
        name=f"report-{target}",
        job_type="report",
        group="reports",
        dir=str(out_dir),
        mode="offline" if offline else "online",
        reinit="finish_previous",
    )
    try:
        logged = images([f for f in files if Path(f).suffix == ".png"])
        for table in (Path(f) for f in files if Path(f).suffix == ".csv"):
            logged[f"tables/{table.stem}"] = wandb.Table(dataframe=pd.read_csv(table))
        run.log(logged)
        artifact = wandb.Artifact(f"report-{target}", type="report")
        for path in files:
            artifact.add_file(str(path))
        run.log_artifact(artifact)
        return run.id
    finally:
        run.finish()
