"""A run on a wandb dashboard: grouped by experiment, typed by sweep setting, curves as charts.

Two pieces: `wandb_logger` (the `logger=wandb` target) names the run from Hydra's view of
the job, and `report_paths` (called by InterpolationCallback) logs what a sweep's
dashboard compares: a table of every (path, alpha), a line chart per metric, the figure,
and shapes and metrics in the run summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lightning.pytorch.loggers import WandbLogger

JOB_TYPE_LIMIT = 64  # wandb's longest job_type


def sweep_setting(overrides: Sequence[str], excludes: Sequence[str]) -> str:
    """The job's command-line overrides that define its setting, e.g. `optimizer.lr=0.1`;
    keys in `excludes` (and their sub-keys) are left out, so seeds of one setting share it."""

    def excluded(override: str) -> bool:
        key = override.split("=", 1)[0].lstrip("+~")
        return any(key == e or key.startswith(f"{e}.") or key.startswith(f"{e}/") for e in excludes)

    setting = ",".join(o for o in overrides if not excluded(o))
    return setting[:JOB_TYPE_LIMIT] or "default"


def wandb_logger(setting_excludes: Sequence[str] = ("seed",), **kwargs) -> WandbLogger:
    """Lightning's WandbLogger with job_type = this job's sweep setting (Hydra overrides)."""
    from hydra.core.hydra_config import HydraConfig

    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    kwargs.setdefault("job_type", sweep_setting(overrides, setting_excludes))
    return WandbLogger(**kwargs)


def report_paths(run, results: dict, summary: dict, figure: Path | None) -> None:
    """Table, line-series charts and figure of one run's paths; shapes and metrics in summary."""
    import wandb

    alphas, paths = results["alphas"], results["paths"]
    rows = [
        [path, alpha, loss, acc]
        for path, entry in paths.items()
        for alpha, loss, acc in zip(alphas, entry["loss"], entry["acc"])
    ]
    logged = {"paths/curves": wandb.Table(columns=["path", "alpha", "loss", "acc"], data=rows)}
    for metric in ("loss", "acc"):
        logged[f"paths/{metric}"] = wandb.plot.line_series(
            xs=alphas,
            ys=[entry[metric] for entry in paths.values()],
            keys=list(paths),
            title=f"{metric} along each path",
            xname="alpha",
        )
    if figure is not None and Path(figure).is_file():
        logged["paths/figure"] = wandb.Image(str(figure))
    run.log(logged)
    run.summary.update(summary)
    run.summary.update({f"path/{path}/shape": entry["shape"] for path, entry in paths.items()})
    run.summary.update(
        {f"path/{path}/nonfinite": entry["nonfinite"] for path, entry in paths.items()}
    )
