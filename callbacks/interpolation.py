"""InterpolationCallback: theta_i at fit start, theta_f and every linear path at fit end."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_info

from callbacks.artifacts import save_json_atomic, save_torch_atomic
from landscape import discover_units, distance, evaluate_paths, expand_paths, shape_metrics
from landscape.biases import last_layer_bias_spread
from landscape.evaluate import evaluate_state
from landscape.paths import UNIT_GRANULARITIES, PathError, moving_keys

NEW_INIT_PATHS = ("final_to_new_init", "init_to_new_init")
NEW_INIT_SEED_OFFSET = 1_000_003
RESULTS_SCHEMA = 1
# Measurements of the two end states beside the paths: name -> f(net, theta_i, theta_f)
EXTRAS = {"last_layer_bias_spread": last_layer_bias_spread}


def clone_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


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
        seed: int = 0,
        experiment: str = "",
        overrides: Sequence[str] = (),
        figure: bool = True,
        extras: Sequence[str] = (),
        init: Mapping | None = None,
    ):
        super().__init__()
        if isinstance(alphas, int):
            if alphas < 2:
                raise ValueError(f"interpolation.alphas must be >= 2 points, got {alphas}")
            alphas = torch.linspace(0, 1, alphas).tolist()
        if bn not in ("interpolate", "recompute"):
            raise ValueError(f"interpolation.bn must be 'interpolate' or 'recompute', got {bn!r}")
        if isinstance(units, str) and units not in UNIT_GRANULARITIES:
            raise PathError(
                f"unknown interpolation.units {units!r}; expected one of "
                f"{list(UNIT_GRANULARITIES)}, a list of module names or a mapping"
            )
        unknown = [name for name in extras if name not in EXTRAS]
        if unknown:
            raise ValueError(
                f"unknown interpolation.extras {unknown}; expected names from {list(EXTRAS)}"
            )
        self.output_dir = Path(output_dir)
        self.alphas = [float(a) for a in alphas]
        self.paths = list(paths)
        self.units_spec = units
        self.eval_split, self.max_eval_examples = eval_split, max_eval_examples
        self.bn, self.bn_batches = bn, bn_batches
        self.thresholds = dict(thresholds or {})
        self.seed, self.experiment, self.overrides = seed, experiment, list(overrides)
        self.figure = figure
        self.extras = list(extras)
        self.init = dict(init or {"name": "random"})  # what the init intervention did
        self.theta_init: dict[str, torch.Tensor] | None = None
        self._fit_started = 0.0

    # ---- state that survives a resume -------------------------------------------------
    def state_dict(self) -> dict:
        return {"theta_init": self.theta_init}

    def load_state_dict(self, state_dict: dict) -> None:
        self.theta_init = state_dict["theta_init"]

    # ---- hooks ------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Check every path key against the model now, not after hours of training."""
        net = pl_module.net
        units = self.units_of(net)
        for path in expand_paths(self.paths, units):
            if path not in NEW_INIT_PATHS:
                moving_keys(net, net.state_dict(), path, units)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._fit_started = time.perf_counter()
        if self.theta_init is None:
            self.theta_init = clone_state(pl_module.net)
        if trainer.is_global_zero:
            save_torch_atomic(self.theta_init, self.output_dir / "theta_i.pt")

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.fast_dev_run or not trainer.is_global_zero:
            return
        if trainer.interrupted:
            return  # an interrupted fit has no theta_f; leave no results that look complete
        fit_s = time.perf_counter() - self._fit_started
        started = time.perf_counter()
        results = self.evaluate(pl_module, trainer.datamodule)
        results["timing"] = {"fit_s": fit_s, "interpolation_s": time.perf_counter() - started}
        save_json_atomic(results, self.output_dir / "results.json")
        if self.figure:
            from sweeps.plots import plot_run

            plot_run(results, self.output_dir / "interpolation.png")
        self.log_results(trainer, results)
        rank_zero_info(summary_table(results))

    # ---- the work ---------------------------------------------------------------------
    def units_of(self, net: torch.nn.Module) -> dict[str, list[str]]:
        if isinstance(self.units_spec, str):
            return discover_units(net, self.units_spec)
        if isinstance(self.units_spec, Mapping):
            return {name: list(modules) for name, modules in self.units_spec.items()}
        return {name: [name] for name in self.units_spec}

    def eval_data(self, datamodule, split: str, limit: int | None):
        inputs, targets = datamodule.split(split)
        if limit is not None:
            inputs, targets = inputs[:limit], targets[:limit]
        size = datamodule.eval_batch_size
        return [(inputs[i : i + size], targets[i : i + size]) for i in range(0, len(targets), size)]

    def evaluate(self, pl_module: pl.LightningModule, datamodule) -> dict:
        net = pl_module.net
        theta_f = clone_state(net)
        save_torch_atomic(theta_f, self.output_dir / "theta_f.pt")
        theta_i = self.theta_init
        units = self.units_of(net)
        data = self.eval_data(datamodule, self.eval_split, self.max_eval_examples)
        bn_data = None
        if self.bn == "recompute":
            train = datamodule.loader("train")
            bn_data = [batch for _, batch in zip(range(self.bn_batches), train)]
        loss = pl_module.loss_name

        requested = expand_paths(self.paths, units)
        main_paths = [p for p in requested if p not in NEW_INIT_PATHS]
        common = dict(alphas=self.alphas, loss=loss, units=units, bn_data=bn_data)
        curves = evaluate_paths(net, theta_i, theta_f, data, paths=main_paths, **common)
        if any(p in NEW_INIT_PATHS for p in requested):
            theta_new = clone_state(pl_module.fresh_net(self.seed + NEW_INIT_SEED_OFFSET))
            ends = {
                "final_to_new_init": (theta_f, theta_new),
                "init_to_new_init": (theta_i, theta_new),
            }
            for path in (p for p in requested if p in NEW_INIT_PATHS):
                start, end = ends[path]
                curves[path] = evaluate_paths(net, start, end, data, paths=["full"], **common)[
                    "full"
                ]

        parameter_names = [name for name, _ in net.named_parameters()]
        return {
            "schema": RESULTS_SCHEMA,
            "experiment": self.experiment,
            "seed": self.seed,
            "overrides": self.overrides,
            "init": self.init,
            "final": self.final_metrics(net, datamodule, loss),
            "distance": distance(theta_i, theta_f, parameter_names),
            "alphas": self.alphas,
            "units": units,
            "paths": {
                path: {
                    "label": path,
                    "split": self.eval_split,
                    "loss": [finite_or_none(v) for v in curve["loss"]],
                    "acc": [finite_or_none(v) for v in curve["acc"]],
                    **shape_metrics(self.alphas, curve["loss"], **self.thresholds),
                }
                for path, curve in ((p, curves[p]) for p in requested)
            },
            "extras": {name: EXTRAS[name](net, theta_i, theta_f) for name in self.extras},
        }

    def final_metrics(self, net: torch.nn.Module, datamodule, loss: str) -> dict[str, float]:
        was_training = net.training
        net.eval()
        device = next(net.parameters()).device
        final = {}
        for split in ("test", "train"):
            batches = [
                (x.to(device), y.to(device)) for x, y in self.eval_data(datamodule, split, None)
            ]
            final[f"{split}_loss"], final[f"{split}_acc"] = evaluate_state(net, batches, loss)
        net.train(was_training)
        return final

    def log_results(self, trainer: pl.Trainer, results: dict) -> None:
        summary = {f"final/{k}": v for k, v in results["final"].items()}
        summary["final/distance"] = results["distance"]
        for path, entry in results["paths"].items():
            for metric in ("max_rise", "barrier_height", "alpha_max", "plateau_fraction"):
                if entry[metric] is not None:
                    summary[f"path/{path}/{metric}"] = entry[metric]
        for logger in trainer.loggers:
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


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN or inf: a diverged point is written as null."""
    return value if value == value and abs(value) != float("inf") else None


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def summary_table(results: dict) -> str:
    """The run's paths as a plain-text table, with test accuracy and distance below."""
    lines = [f"{'path':<32} {'shape':>5} {'max_rise':>10} {'barrier':>10} {'alpha_max':>9}"]
    for path, entry in results["paths"].items():
        lines.append(
            f"{path:<32} {_fmt(entry['shape'], '>5')} {_fmt(entry['max_rise'], '>10.4f')}"
            f" {_fmt(entry['barrier_height'], '>10.4f')} {_fmt(entry['alpha_max'], '>9.2f')}"
        )
    final = results["final"]
    lines.append(
        f"test acc {final['test_acc']:.4f}  test loss {final['test_loss']:.4f}  "
        f"train acc {final['train_acc']:.4f}  distance {results['distance']:.3f}"
    )
    return "\n".join(lines)
