"""TrajectoryCallback: states kept along training, and what lies off the straight line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_warn

from landscape import discover_units, shape_metrics
from landscape.errors import LinpathError
from landscape.evaluate import evaluate_paths
from landscape.inputs import alpha_grid
from landscape.paths import UNIT_GRANULARITIES, moving_keys
from landscape.planes import (
    evaluate_plane,
    grid_points,
    plane_coordinates,
    weights_biases_ends,
)
from landscape.trajectory import crossing, largest_direction_off_line, trajectory_curves
from runs.artifacts import save_json_atomic, save_torch_atomic
from runs.evaluation import clone_state, eval_batches, finite_or_none, new_init_state

# plane name -> the names of its three states (origin, x = 1, y = 1)
PLANES = {
    "new_init": ("theta_i", "theta_f", "theta_i'"),
    "trajectory": ("theta_i", "theta_f", "theta_i + largest direction off the line"),
    "weights_biases": ("theta_i", "weights at theta_f", "biases at theta_f"),
}
# states on a plane besides its three, drawn on its figure: plane name -> {label: (x, y)}
OTHER_MARKS = {"weights_biases": {"theta_f": (1.0, 1.0)}}
PLANE_AXES = {"weights_biases": ("alpha_w", "alpha_b")}


class TrajectoryError(LinpathError, ValueError):
    """A trajectory or plane option that cannot work."""


class TrajectoryCallback(pl.Callback):
    """Keeps the network's state every `every_n_epochs` epochs and at `epochs` (theta_i and
    theta_f always), in this callback's checkpoint state so a resumed run keeps them. At fit
    end it writes the kept states (trajectory.pt), the trajectory against the straight path
    for the model and each unit (trajectory.json, trajectory.png), and each plane of `planes`
    (name -> {range: [lo, hi], points: n}) on an n x n grid (planes.json, plane_<name>.png).

    Planes live here, beside the trajectory, because they are drawn with it and one of them
    is spanned by it. Only global rank zero evaluates and writes.
    """

    def __init__(
        self,
        output_dir: str,
        every_n_epochs: int | None = None,
        epochs: Sequence[int] = (),
        planes: Mapping[str, Mapping] | None = None,
        units: str = "stages",
        alphas: int | Sequence[float] = 51,
        eval_split: str = "test",
        max_eval_examples: int | None = None,
        seed: int = 0,
        figure: bool = True,
    ):
        super().__init__()
        if every_n_epochs is not None and every_n_epochs < 1:
            raise TrajectoryError(f"trajectory every_n_epochs must be >= 1, got {every_n_epochs}")
        if any(e < 1 for e in epochs):
            raise TrajectoryError(
                f"trajectory epochs must be >= 1 (epoch 0 is theta_i), got {list(epochs)}"
            )
        if units not in UNIT_GRANULARITIES:
            raise TrajectoryError(
                f"unknown trajectory units {units!r}; expected one of {list(UNIT_GRANULARITIES)}"
            )
        self.planes = {name: check_plane(name, spec) for name, spec in (planes or {}).items()}
        if "trajectory" in self.planes and every_n_epochs is None and not epochs:
            raise TrajectoryError(
                "the trajectory plane needs states kept during training: "
                "set every_n_epochs or epochs"
            )
        self.output_dir = Path(output_dir)
        self.every_n_epochs, self.epochs = every_n_epochs, {int(e) for e in epochs}
        # the interpolation's alphas (the config passes them on): one grid, the same points
        self.units_spec, self.alphas = units, alpha_grid(alphas)
        self.eval_split, self.max_eval_examples = eval_split, max_eval_examples
        self.seed, self.figure = seed, figure
        self.kept: dict[int, dict[str, torch.Tensor]] = {}  # epoch -> state (0: theta_i)

    # ---- state that survives a resume -------------------------------------------------
    def state_dict(self) -> dict:
        return {"kept": self.kept}

    def load_state_dict(self, state_dict: dict) -> None:
        self.kept = dict(state_dict["kept"])

    # ---- hooks ------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Check each plane's path against the model now, not after training."""
        net = pl_module.net
        units = discover_units(net, self.units_spec)
        for spec in self.planes.values():
            moving_keys(net, net.state_dict(), spec["path"], units)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.kept.setdefault(0, clone_state(pl_module.net))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        epoch = trainer.current_epoch + 1  # epochs completed
        every = self.every_n_epochs
        if epoch in self.epochs or (every is not None and epoch % every == 0):
            self.kept[epoch] = clone_state(pl_module.net)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.fast_dev_run or trainer.interrupted:
            return
        if not trainer.is_global_zero:
            return
        self.kept[trainer.current_epoch] = clone_state(pl_module.net)
        epochs = sorted(self.kept)
        states = [self.kept[e] for e in epochs]
        net, loss = pl_module.net, pl_module.loss_name
        data = eval_batches(trainer.datamodule, self.eval_split, self.max_eval_examples)
        units = discover_units(net, self.units_spec)
        if len(states) > 2:
            save_torch_atomic(
                {"epochs": epochs, "states": states}, self.output_dir / "trajectory.pt"
            )
            trajectory = self.trajectory(net, epochs, states, data, units, loss)
            save_json_atomic(trajectory, self.output_dir / "trajectory.json")
            if self.figure:
                from runs.beyond_figures import plot_trajectory

                plot_trajectory(trajectory, self.output_dir / "trajectory.png", f"seed {self.seed}")
        names = [n for n in self.planes if n != "trajectory" or len(states) > 2]
        if len(names) < len(self.planes):
            rank_zero_warn("no state was kept between theta_i and theta_f: no trajectory plane")
        if names:
            theta_new = new_init_state(pl_module.fresh_net, self.seed)
            planes = {
                name: self.plane(name, net, epochs, states, theta_new, data, loss) for name in names
            }
            save_json_atomic(planes, self.output_dir / "planes.json")
            if self.figure:
                from runs.beyond_figures import plot_plane

                for name, plane in planes.items():
                    plot_plane(plane, self.output_dir / f"plane_{name}.png", f"seed {self.seed}")
        figures = [self.output_dir / "trajectory.png", *self.output_dir.glob("plane_*.png")]
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger) and self.figure:
                from runs.wandb_log import images

                logger.experiment.log(images(figures))

    # ---- the work ---------------------------------------------------------------------
    def trajectory(self, net, epochs, states, data, units, loss) -> dict:
        """Per path (full, each unit): the straight path's curve and shape, the trajectory's
        alpha_t, distance off the line, loss and accuracy, and whether it crossed the peak."""
        theta_i, theta_f = states[0], states[-1]
        paths = ["full", *(f"unit/{u}" for u in units)]
        straight = evaluate_paths(
            net, theta_i, theta_f, data, self.alphas, paths, loss=loss, units=units
        )
        along = trajectory_curves(net, states, theta_i, theta_f, data, paths, units, loss=loss)
        entries = {}
        for path in paths:
            shape = shape_metrics(self.alphas, straight[path]["loss"])
            entries[path] = {
                "loss": [finite_or_none(v) for v in straight[path]["loss"]],
                "acc": straight[path]["acc"],
                **shape,
                "trajectory": {
                    k: [finite_or_none(v) for v in values] if isinstance(values, list) else values
                    for k, values in along[path].items()
                },
                "crossing": crossing(
                    along[path], self.alphas, straight[path]["loss"], shape["alpha_max"]
                ),
            }
        return {
            "split": self.eval_split,
            "epochs": epochs,
            "alphas": self.alphas,
            "paths": entries,
        }

    def plane(self, name, net, epochs, states, theta_new, data, loss) -> dict:
        """One plane's grid of loss and accuracy, its three states' coordinates and the
        kept states projected on it."""
        theta_i, theta_f = states[0], states[-1]
        parameters = [n for n, _ in net.named_parameters()]
        if name == "new_init":
            first, second = theta_f, theta_new
        elif name == "weights_biases":
            first, second = weights_biases_ends(net, theta_i, theta_f)
        else:
            first, second = (
                theta_f,
                largest_direction_off_line(states, theta_i, theta_f, parameters),
            )
        low, high = self.planes[name]["range"]
        grid = grid_points(low, high, self.planes[name]["points"])
        path = self.planes[name]["path"]
        units = discover_units(net, self.units_spec)
        values = evaluate_plane(
            net, theta_i, first, second, data, grid, grid, path=path, loss=loss, units=units
        )
        moving = moving_keys(net, theta_f, path, units)  # the plane's own coordinates
        projected = plane_coordinates(states, theta_i, first, second, moving)
        return {
            "name": name,
            "split": self.eval_split,
            "through": PLANES[name],
            "path": path,
            "marks": {
                **dict(zip(PLANES[name], ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0)))),
                **OTHER_MARKS.get(name, {}),
            },
            "axes": PLANE_AXES.get(name, ("x", "y")),
            "xs": grid,
            "ys": grid,
            "loss": [[finite_or_none(v) for v in row] for row in values["loss"]],
            "acc": values["acc"],
            "trajectory": [{"epoch": e, **point} for e, point in zip(epochs, projected)],
        }


def check_plane(name: str, spec: Mapping) -> dict:
    """A plane's options: a known name, range [lo, hi] with lo < hi, at least 2 points, and
    the path key whose entries move on it (default `full`; `unit/<name>`: one unit)."""
    if name not in PLANES:
        raise TrajectoryError(f"unknown plane {name!r}; expected one of {list(PLANES)}")
    spec = dict(spec or {})
    low, high = spec.get("range", (-0.5, 1.5))
    points = int(spec.get("points", 21))
    if not low < high:
        raise TrajectoryError(
            f"plane {name!r}: range must be [low, high] with low < high, got {[low, high]}"
        )
    if points < 2:
        raise TrajectoryError(f"plane {name!r}: points must be >= 2, got {points}")
    return {"range": (float(low), float(high)), "points": points, "path": spec.get("path", "full")}
