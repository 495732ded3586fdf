"""MilestoneCallback: the state where a training metric first reaches a value, and the
straight path from theta_i to it.

Modular addition memorises its training set long before it generalises (Power et al.
2022): the line from theta_i to the state at memorisation and the line to the state after
generalisation can say different things, and theta_f alone shows only the last.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import lightning.pytorch as pl
import torch

from landscape import discover_units, evaluate_paths, expand_paths
from landscape.errors import LinpathError
from landscape.inputs import alpha_grid
from landscape.paths import UNIT_GRANULARITIES
from landscape.shape import path_metrics
from runs.artifacts import save_json_atomic
from runs.evaluation import clone_state, eval_batches, finite_or_none

SPLITS = ("train", "test")


class MilestoneError(LinpathError, ValueError):
    """A milestone that cannot be watched."""


class MilestoneCallback(pl.Callback):
    """Watches epoch metrics; the first epoch where `milestones[name].metric` (a logged
    epoch metric: `train/acc` is the running mean over the epoch's batches, `val/acc` the
    validation split) is at least `at_least`, keeps the state. At fit end it evaluates the
    straight path from theta_i to each kept state (`full` and every unit at `units`) and
    writes milestones.json: the epoch, each state's accuracy (eval mode, whole splits) and
    the paths with their shapes; milestones never reached are listed with epoch null. It
    never changes training (no early stop: a run's training identity leaves callbacks out).
    The kept states ride in checkpoints (resume). Only global rank zero evaluates and
    writes.
    """

    def __init__(
        self,
        output_dir: str,
        milestones: Mapping[str, Mapping],
        units: str = "stages",
        alphas: int | list[float] = 51,
        eval_split: str = "test",
        max_eval_examples: int | None = None,
        thresholds: Mapping[str, float] | None = None,
        end_rise_as_barrier: bool = False,
        figure: bool = True,
    ):
        super().__init__()
        if units not in UNIT_GRANULARITIES:
            raise MilestoneError(
                f"unknown milestone units {units!r}; expected one of {list(UNIT_GRANULARITIES)}"
            )
        self.milestones = {name: check_milestone(name, spec) for name, spec in milestones.items()}
        self.output_dir = Path(output_dir)
        self.units, self.alphas = units, alpha_grid(alphas)
        self.eval_split, self.max_eval_examples = eval_split, max_eval_examples
        self.thresholds = dict(thresholds or {})
        self.end_rise_as_barrier = end_rise_as_barrier
        self.figure = figure
        self.theta_i: dict[str, torch.Tensor] | None = None
        self.reached: dict[str, dict] = {}  # name -> {"epoch", "value", "state"}

    def state_dict(self) -> dict:
        return {"theta_i": self.theta_i, "reached": self.reached}

    def load_state_dict(self, state_dict: dict) -> None:
        self.theta_i, self.reached = state_dict["theta_i"], dict(state_dict["reached"])

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.theta_i is None:
            self.theta_i = clone_state(pl_module.net)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Runs after the epoch's validation, so `val/...` is this epoch's when validated."""
        if trainer.sanity_checking:
            return
        for name, spec in self.milestones.items():
            value = trainer.callback_metrics.get(spec["metric"])
            if name in self.reached or value is None or float(value) < spec["at_least"]:
                continue
            epoch = trainer.current_epoch + 1  # epochs completed
            state = clone_state(pl_module.net)
            self.reached[name] = {"epoch": epoch, "value": float(value), "state": state}

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.fast_dev_run or trainer.interrupted:
            return
        if not trainer.is_global_zero:
            return
        net, loss, datamodule = pl_module.net, pl_module.loss_name, trainer.datamodule
        units = discover_units(net, self.units)
        paths = expand_paths(["full", "unit/*"], units)
        data = eval_batches(datamodule, self.eval_split, self.max_eval_examples)
        device = next(net.parameters()).device
        entries = {}
        for name, spec in self.milestones.items():
            entry = {**spec, "epoch": None}
            if name in self.reached:
                kept = self.reached[name]
                curves = evaluate_paths(net, self.theta_i, kept["state"], data, self.alphas,
                                        paths, loss=loss, units=units)  # fmt: skip
                entry.update(
                    epoch=kept["epoch"],
                    value=kept["value"],
                    **state_accuracy(net, kept["state"], datamodule, loss, device),
                    paths={p: self.path_entry(curves[p]) for p in paths},
                )
            entries[name] = entry
        report = {
            "split": self.eval_split,
            "alphas": self.alphas,
            "epochs_trained": trainer.current_epoch,
            "max_epochs": trainer.max_epochs,
            "milestones": entries,
        }
        save_json_atomic(report, self.output_dir / "milestones.json")
        if self.figure and self.reached:
            from runs.beyond_figures import plot_milestones

            plot_milestones(report, self.output_dir / "milestones.png")

    def path_entry(self, curve: Mapping[str, list[float]]) -> dict:
        losses = [finite_or_none(v) for v in curve["loss"]]
        accs = [finite_or_none(v) for v in curve["acc"]]
        return {
            "loss": losses,
            "acc": accs,
            **path_metrics(
                self.alphas,
                losses,
                accs,
                self.thresholds,
                end_rise_as_barrier=self.end_rise_as_barrier,
            ),  # fmt: skip
        }


def state_accuracy(net, state, datamodule, loss: str, device) -> dict[str, float | None]:
    """Loss and accuracy of `state` on the whole train and test splits, in eval mode (the
    engine's alpha = 1 point: fp32, `net` left as it was)."""
    values = {}
    for split in SPLITS:
        batches = [(x.to(device), y.to(device)) for x, y in eval_batches(datamodule, split, None)]
        curve = evaluate_paths(net, state, state, batches, [1.0], loss=loss)["full"]
        values[f"{split}_loss"] = finite_or_none(curve["loss"][0])
        values[f"{split}_acc"] = finite_or_none(curve["acc"][0])
    return values


def check_milestone(name: str, spec: Mapping) -> dict:
    """A milestone is a logged epoch metric (`train/acc`, `val/acc`, ...) and the value it
    must reach: {metric: NAME, at_least: NUMBER}."""
    spec = dict(spec or {})
    metric, at_least = spec.get("metric"), spec.get("at_least")
    if not isinstance(metric, str) or "/" not in metric:
        raise MilestoneError(
            f"milestone {name!r}: metric={metric!r}; expected a logged epoch metric such as "
            "'train/acc' or 'val/acc'"
        )
    if isinstance(at_least, bool) or not isinstance(at_least, (int, float)):
        raise MilestoneError(f"milestone {name!r}: at_least={at_least!r}; expected a number")
    return {"metric": metric, "at_least": float(at_least)}
