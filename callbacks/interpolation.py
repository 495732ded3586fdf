"""InterpolationCallback: theta_i at fit start, theta_f and every linear path at fit end."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_info

from callbacks.artifacts import save_json_atomic, save_torch_atomic
from landscape import discover_units, distance, expand_paths, shape_metrics
from landscape.biases import last_layer_bias_spread
from landscape.evaluate import evaluate_state
from landscape.paths import UNIT_GRANULARITIES, PathError, check_units, moving_keys
from landscape.sharded import evaluate_paths_sharded
from landscape.state_files import StateFileError, check_state_fits, load_state_file
from sweeps.devices import describe_device

NEW_INIT_PATHS = ("final_to_new_init", "init_to_new_init")
NEW_INIT_SEED_OFFSET = 1_000_003
# Paths that start trained and end untrained: their shape is read from the untrained end.
READ_FROM_END = ("final_to_new_init",)
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
        cache_mb: float = 1024,
        extras: Sequence[str] = (),
        init: Mapping | None = None,
        identity: Mapping[str, str] | None = None,
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
        if cache_mb < 0:
            raise ValueError(f"interpolation.cache_mb must be >= 0, got {cache_mb}")
        self.cache_bytes = int(cache_mb * 2**20)
        self.thresholds = dict(thresholds or {})
        self.seed, self.experiment, self.overrides = seed, experiment, list(overrides)
        self.figure = figure
        self.extras = list(extras)
        self.init = dict(init or {"name": "random"})  # what the init intervention did
        self.identity = dict(identity or {})  # training_id and setting_id (sweeps.identity)
        self.theta_init: dict[str, torch.Tensor] | None = None
        self._fit_started = 0.0

    # ---- state that survives a resume -------------------------------------------------
    def state_dict(self) -> dict:
        return {"theta_init": self.theta_init}

    def load_state_dict(self, state_dict: dict) -> None:
        self.theta_init = state_dict["theta_init"]

    # ---- hooks ------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Check paths and units against the model now, not after hours of training."""
        net = pl_module.net
        units = self.units_of(net)
        check_units(net, units)
        for path in expand_paths(self.paths, units):
            if path not in NEW_INIT_PATHS and not moving_keys(net, net.state_dict(), path, units):
                raise PathError(f"path {path!r} moves nothing: its modules hold no weights")

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._fit_started = time.perf_counter()
        if self.theta_init is None:
            self.theta_init = clone_state(pl_module.net)
        if trainer.is_global_zero:
            save_torch_atomic(self.theta_init, self.output_dir / "theta_i.pt")

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Every rank evaluates its share of the paths; global rank zero writes the run."""
        if trainer.sanity_checking or trainer.fast_dev_run:
            return
        if trainer.interrupted:
            return  # an interrupted fit has no theta_f; leave no results that look complete
        fit_s = time.perf_counter() - self._fit_started
        started = time.perf_counter()
        theta_f = clone_state(pl_module.net)
        curves = self.evaluate_curves(pl_module, trainer.datamodule, theta_f)
        if not trainer.is_global_zero:
            return
        save_torch_atomic(theta_f, self.output_dir / "theta_f.pt")
        results = self.results(pl_module, trainer.datamodule, theta_f, curves)
        results["timing"] = {"fit_s": fit_s, "interpolation_s": time.perf_counter() - started}
        results["device"] = describe_device(pl_module.device, trainer.world_size)
        save_json_atomic(results, self.output_dir / "results.json")
        figure = self.output_dir / "interpolation.png" if self.figure else None
        if figure is not None:
            from sweeps.plots import plot_run

            plot_run(results, figure)
        self.log_results(trainer, results, figure)
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

    def evaluate_curves(
        self, pl_module: pl.LightningModule, datamodule, theta_f: dict[str, torch.Tensor]
    ) -> dict[str, dict[str, list[float]]] | None:
        """Loss and accuracy along every requested path, the points spread over the ranks
        (`landscape.sharded`); rank 0 gets the curves, the others None."""
        net = pl_module.net
        theta_i = self.theta_init
        units = self.units_of(net)
        data = self.eval_data(datamodule, self.eval_split, self.max_eval_examples)
        bn_data = None
        if self.bn == "recompute":
            train = datamodule.loader("train", sharded=False)  # the same BN batches on every rank
            bn_data = [batch for _, batch in zip(range(self.bn_batches), train)]

        requested = expand_paths(self.paths, units)
        main_paths = [p for p in requested if p not in NEW_INIT_PATHS]
        common = dict(
            alphas=self.alphas,
            loss=pl_module.loss_name,
            units=units,
            bn_data=bn_data,
            cache_bytes=self.cache_bytes,
        )
        curves = evaluate_paths_sharded(net, theta_i, theta_f, data, paths=main_paths, **common)
        if any(p in NEW_INIT_PATHS for p in requested):
            theta_new = clone_state(pl_module.fresh_net(self.seed + NEW_INIT_SEED_OFFSET))
            ends = {
                "final_to_new_init": (theta_f, theta_new),
                "init_to_new_init": (theta_i, theta_new),
            }
            for path in (p for p in requested if p in NEW_INIT_PATHS):
                start, end = ends[path]
                curve = evaluate_paths_sharded(net, start, end, data, paths=["full"], **common)
                if curves is not None:
                    curves[path] = curve["full"]
        return None if curves is None else {path: curves[path] for path in requested}

    def results(
        self,
        pl_module: pl.LightningModule,
        datamodule,
        theta_f: dict[str, torch.Tensor],
        curves: dict[str, dict[str, list[float]]],
    ) -> dict:
        """results.json of DESIGN.md; NaN and inf become null (JSON has neither)."""
        net = pl_module.net
        parameter_names = [name for name, _ in net.named_parameters()]
        final = self.final_metrics(net, datamodule, pl_module.loss_name)
        return {
            "schema": RESULTS_SCHEMA,
            "experiment": self.experiment,
            "seed": self.seed,
            "overrides": self.overrides,
            **self.identity,
            "init": self.init,
            "final": {k: finite_or_none(v) for k, v in final.items()},
            "distance": finite_or_none(distance(self.theta_init, theta_f, parameter_names)),
            "alphas": self.alphas,
            "units": self.units_of(net),
            "paths": {
                path: {
                    "label": path,
                    "split": self.eval_split,
                    "loss": [finite_or_none(v) for v in curve["loss"]],
                    "acc": [finite_or_none(v) for v in curve["acc"]],
                    "read_from_end": path in READ_FROM_END,
                    **shape_metrics(
                        self.alphas,
                        curve["loss"],
                        read_from_end=path in READ_FROM_END,
                        **self.thresholds,
                    ),
                }
                for path, curve in curves.items()
            },
            "extras": {name: EXTRAS[name](net, self.theta_init, theta_f) for name in self.extras},
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

    def log_results(self, trainer: pl.Trainer, results: dict, figure: Path | None) -> None:
        """Curves as metrics against alpha (step = alpha index), then the summary; a wandb
        logger also gets a table, line charts and the figure (`callbacks.wandb_report`)."""
        summary = {f"final/{k}": v for k, v in results["final"].items()}
        summary["final/distance"] = results["distance"]
        for path, entry in results["paths"].items():
            for metric in ("max_rise", "barrier_height", "alpha_max", "plateau_fraction"):
                summary[f"path/{path}/{metric}"] = entry[metric]
        summary = {k: v for k, v in summary.items() if v is not None}
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                from callbacks.wandb_report import report_paths

                report_paths(logger.experiment, results, summary, figure)
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


def check_checkpoint(path: str, net: torch.nn.Module) -> None:
    """A checkpoint to resume from must be readable and hold this network (and its theta_i)."""
    checkpoint = load_state_file(path, weights_only=False)  # Lightning unpickles it next anyway
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise StateFileError(f"{path} is not a Lightning checkpoint (no 'state_dict')")
    prefix = "net."
    net_state = {
        k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)
    }
    check_state_fits(net_state, net, f"checkpoint {path}")
    for state in checkpoint.get("callbacks", {}).values():
        if isinstance(state, dict) and state.get("theta_init") is not None:
            check_state_fits(state["theta_init"], net, f"theta_i in checkpoint {path}")


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
        f"test acc {_fmt(final['test_acc'], '.4f')}  test loss {_fmt(final['test_loss'], '.4f')}"
        f"  train acc {_fmt(final['train_acc'], '.4f')}"
        f"  distance {_fmt(results['distance'], '.3f')}"
    )
    return "\n".join(lines)
