"""`logger=wandb`: Lightning's WandbLogger with the run named and grouped as a researcher
browses a project: `experiment-setting-seedN`, grouped by setting (its seeds), typed by
experiment. What a run logs there at fit end is `runs.wandb_log`."""

from __future__ import annotations

from collections.abc import Sequence

from lightning.pytorch.loggers import WandbLogger

from runs.wandb_log import SETTING_EXCLUDES, run_names, sweep_setting


def wandb_logger(
    experiment: str, seed: int, setting_excludes: Sequence[str] = SETTING_EXCLUDES, **kwargs
) -> WandbLogger:
    """The job's setting is its Hydra command-line overrides less `setting_excludes`."""
    from hydra.core.hydra_config import HydraConfig

    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    for key, value in run_names(
        experiment, sweep_setting(overrides, setting_excludes), seed
    ).items():
        kwargs.setdefault(key, value)
    logger = WandbLogger(**kwargs)
    # Lightning always passes `anonymous` (None), which wandb warns has no effect: leave it out
    logger._wandb_init.pop("anonymous", None)
    return logger
