"""InterpolationCallback: theta_i at fit start, theta_f and every linear path at fit end."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import WandbLogger

from landscape import expand_paths
from landscape.inputs import alpha_grid
from landscape.paths import NEW_INIT_PATHS, PathError, check_units, moving_keys
from landscape.shape import LOCATION, NUMBERS
from lightning_modules.config_checks import check_relations, check_section
from runs.artifacts import save_json_atomic, save_torch_atomic
from runs.evaluation import (
    DIVERGED_LOSS_RATIO,
    PathEvaluation,
    clone_state,
    describe_device,
    evaluate_trained,
    finite_or_none,
    write_results,
)
from runs.resume import TRAINED_FILE

HISTORY_METRICS = ("train/loss", "train/acc", "val/loss", "val/acc")


class InterpolationCallback(pl.Callback):
    """Saves theta_i before the first step and, at fit end, evaluates the configured paths.

    Needs a `Classifier` (for `.net` and `.fresh_net`) and a datamodule with `split(name)`.
    theta_i lives in this callback's checkpoint state, so a resumed run keeps the original.
    Only global rank zero writes files.
    """

    def __init__(
        self,
        output_dir: str,
        alphas: int | Sequence[float] = 51,
        paths: Sequence[str] = ("full", "final_to_new_init", "init_to_new_init"),
        units: str | Mapping[str, Sequence[str]] | Sequence[str] = "stages",
        eval_split: str = "test",
        max_eval_examples: int | None = None,
        bn: str = "interpolate",
        bn_batches: int = 20,
        thresholds: Mapping[str, float] | None = None,
        end_rise_as_barrier: bool = False,
        seed: int = 0,
        experiment: str = "",
        overrides: Sequence[str] = (),
        figure: bool = True,
        cache_mb: float = 1024,
        extras: Sequence[str] = (),
        init: Mapping | None = None,
        identity: Mapping | None = None,
        views: Sequence[str] = (),
        progress: bool = True,
        diagnostics: Sequence[str] = (),
        diagnosed_paths: Sequence[str] | None = None,
        partition: str = "units",
        hessian: Mapping | None = None,
        diverged_loss_ratio: float = DIVERGED_LOSS_RATIO,
    ):
        super().__init__()
        options = dict(  # what PathEvaluation takes as the config gives it
            paths=list(paths),
            units=units,
            eval_split=eval_split,
            max_eval_examples=max_eval_examples,
            bn=bn,
            bn_batches=bn_batches,
            thresholds=dict(thresholds or {}),
            end_rise_as_barrier=end_rise_as_barrier,
            extras=list(extras),
            views=list(views),
            progress=progress,
            diagnostics=list(diagnostics),
            diagnosed_paths=None if diagnosed_paths is None else list(diagnosed_paths),
            partition=partition,
            hessian=dict(hessian or {}),
            diverged_loss_ratio=diverged_loss_ratio,
        )
        # the same rules as run.py's check of the composed config
        check_section("interpolation", {**options, "alphas": alphas, "cache_mb": cache_mb})
        check_relations({f"interpolation.{key}": value for key, value in options.items()})
        self.output_dir = Path(output_dir)
        self.seed, self.experiment, self.overrides = seed, experiment, list(overrides)
        self.figure = figure
        self.init = dict(init or {"name": "random"})  # what the init intervention did
        # training_id, setting_id, data_fingerprint, resumed_from (runs.identity, run.py)
        self.identity = dict(identity or {})
        # which training this is ({training_id, setting_id, config}, set by run.py): kept
        # in checkpoints, so a resume can tell whether it continues this training (runs.resume)
        self.training: dict = {}
        self.theta_init: dict[str, torch.Tensor] | None = None
        self.theta_final: dict[str, torch.Tensor] | None = None
        self.trained_record: dict | None = None  # trained.json
        # per epoch: train/acc is the running mean over the epoch's (augmented) batches,
        # val/acc the validation split (CIFAR's is the test set: Fig. 3's middle panel)
        self.history: dict[str, list[float | None]] = {k: [] for k in HISTORY_METRICS}
        self._fit_started = 0.0
        self.evaluation = PathEvaluation(
            alphas=alpha_grid(alphas), cache_bytes=int(cache_mb * 2**20), seed=seed, **options
        )

    # ---- state that survives a resume -------------------------------------------------
    def state_dict(self) -> dict:
        """What a resumed run keeps: theta_i, the history, and which training this is."""
        return {"theta_init": self.theta_init, "history": self.history, "training": self.training}

    def load_state_dict(self, state_dict: dict) -> None:
        self.theta_init = state_dict["theta_init"]
        self.history = state_dict.get("history", self.history)  # `training` stays this run's

    # ---- hooks ------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Check paths and units against the model now, not after hours of training."""
        net = pl_module.net
        units = self.evaluation.units_of(net)
        check_units(net, units)
        for path in expand_paths(self.evaluation.paths, units):
            if path not in NEW_INIT_PATHS and not moving_keys(net, net.state_dict(), path, units):
                raise PathError(f"path {path!r} moves nothing: its modules hold no weights")

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._fit_started = time.perf_counter()
        if self.theta_init is None:
            self.theta_init = clone_state(pl_module.net)
        if trainer.is_global_zero:
            save_torch_atomic(self.theta_init, self.output_dir / "theta_i.pt")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = trainer.callback_metrics
        for name in HISTORY_METRICS:
            value = metrics.get(name)
            self.history[name].append(None if value is None else finite_or_none(float(value)))

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """theta_f and what the run's results say of its training (trained.json), before
        the evaluation: a stopped evaluation is finished from them without training again
        (`ckpt_path=auto`)."""
        if not (trainer.sanity_checking or trainer.fast_dev_run):
            self.keep_trained(trainer, pl_module)

    def keep_trained(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.theta_final = clone_state(pl_module.net)
        self.trained_record = {
            "header": self.header(),
            "fit_s": time.perf_counter() - self._fit_started,
            "device": describe_device(pl_module.device, trainer.world_size),
        }
        if trainer.is_global_zero:
            save_torch_atomic(self.theta_final, self.output_dir / "theta_f.pt")
            save_json_atomic(self.trained_record, self.output_dir / TRAINED_FILE)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Every rank evaluates its share of the paths; global rank zero writes the run."""
        if trainer.sanity_checking or trainer.fast_dev_run or trainer.interrupted:
            return  # an interrupted fit has no theta_f; leave no results that look complete
        if self.theta_final is None:  # resumed from a checkpoint whose training was done:
            self.keep_trained(trainer, pl_module)  # Lightning skips the loop and its hooks
        net, datamodule = pl_module.net, trainer.datamodule
        results = evaluate_trained(
            self.evaluation,
            net,
            pl_module.fresh_net,
            pl_module.loss_name,
            datamodule,
            self.theta_init,
            self.theta_final,
            self.trained_record,
        )
        if results is None:  # not global rank zero: its share is evaluated
            return
        for logger in trainer.loggers:  # where a re-evaluation finds the run again
            if isinstance(logger, WandbLogger):
                from runs.wandb_log import run_record

                results["wandb"] = run_record(logger.experiment)
        figure = write_results(results, self.output_dir, self.figure)
        (self.output_dir / TRAINED_FILE).unlink(missing_ok=True)  # results.json says it all
        self.log_results(trainer, results, figure)

    # ---- the work (runs.evaluation) -------------------------------------------------
    def header(self) -> dict:
        """Who trained what: the results.json keys that are the run's, not an evaluation's."""
        return {
            "experiment": self.experiment,
            "seed": self.seed,
            "overrides": self.overrides,
            **self.identity,
            "init": self.init,
            "history": self.history,
        }

    def log_results(self, trainer: pl.Trainer, results: dict, figure: Path | None) -> None:
        """Curves as metrics against alpha (step = alpha index), then the summary; a wandb
        logger gets every results.json number, the curves per point and as a table, and the
        figure (`runs.wandb_log`)."""
        summary = {f"final/{k}": v for k, v in results["final"].items()}
        summary["final/distance"] = results["distance"]
        for path, entry in results["paths"].items():
            for metric in (*NUMBERS, *LOCATION):
                summary[f"path/{path}/{metric}"] = entry[metric]
        summary = {k: v for k, v in summary.items() if v is not None}
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                from runs.wandb_log import log_results

                log_results(logger.experiment, results, [figure] if figure else [])
                continue
            for step, alpha in enumerate(results["alphas"]):
                logger.log_metrics(
                    {
                        "alpha": alpha,
                        **{
                            f"path/{p}/{m}": e[m][step]
                            for p, e in results["paths"].items()
                            for m in ("loss", "acc")
                            if e[m][step] is not None
                        },
                    },
                    step=step,
                )
            logger.log_metrics(summary, step=len(results["alphas"]))
            logger.save()
