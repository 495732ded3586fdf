"""A run's paths evaluated and written: the same code at fit end and when re-evaluating.

Nothing here needs Lightning: it takes the network, a factory for fresh draws (theta_i'),
theta_i, theta_f and a data module with `split(name)`, `loader(name, sharded=False)` and
`eval_batch_size`. The InterpolationCallback calls it when the fit ends;
`python -m runs.reevaluate` calls it on a finished run's files.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from landscape import diagnose_paths, discover_units, distance, expand_paths
from landscape.biases import EXTRAS
from landscape.distributed import rank_and_world
from landscape.evaluate import evaluate_state
from landscape.paths import NEW_INIT_PATHS
from landscape.shape import DEFAULT_THRESHOLDS, drawn_alpha, path_metrics
from landscape.sharded import evaluate_paths_sharded, shard_points
from landscape.views import view_name
from runs.artifacts import save_json_atomic
from runs.manifest import manifest_of
from runs.progress import StageProgress, progress_mode

# theta_i' (the new-init paths' and plane's end) is drawn under the run's seed plus this
NEW_INIT_SEED_OFFSET = 1_000_003
# Paths that start trained and end untrained: their shape is read from the untrained end.
READ_FROM_END = ("final_to_new_init",)
RESULTS_SCHEMA = 1
NONFINITE_THETA = "theta_f holds NaN or inf"
# A finite run counts as diverged when its final test loss is this many times its test
# loss at theta_i and its test accuracy is no better than always answering the most
# common class (plus CHANCE_SLACK): training blew up without producing NaN. The paper
# names no such rule (its runs converge); ours, so that no report averages such a seed.
DIVERGED_LOSS_RATIO = 10.0
CHANCE_SLACK = 0.01

State = dict[str, torch.Tensor]
Curves = dict[str, dict[str, list[float]]]


def clone_state(module: torch.nn.Module) -> State:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def new_init_state(fresh_net: Callable[[int], torch.nn.Module], seed: int) -> State:
    """theta_i' of the run with `seed`: the same draw for its new-init paths, its new_init
    plane and `load_run`, so their curves agree."""
    return clone_state(fresh_net(seed + NEW_INIT_SEED_OFFSET))


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN or inf: a diverged point is written as null."""
    return value if value == value and abs(value) != float("inf") else None


def finite_tree(value):
    """`value` (dicts, lists, numbers, strings) with every NaN or inf as null."""
    if isinstance(value, dict):
        return {k: finite_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_tree(v) for v in value]
    return finite_or_none(value) if isinstance(value, float) else value


@dataclass
class PathEvaluation:
    """What to evaluate along a run's paths: the `interpolation` config, checked by its caller.

    `views` adds (split, BN policy) pairs beside the main one (`eval_split`, `bn`), each
    evaluated in its own pass and written under `views` in results.json, e.g.
    `["train/interpolate", "test/recompute"]`. `diagnostics` (`landscape.diagnose_paths`:
    attribution by `partition`, curvature with `hessian`, agreement) go beside each path of
    the main view, or of `diagnosed_paths` when given.
    """

    alphas: list[float]
    paths: list[str]
    units: str | Mapping[str, Sequence[str]] | Sequence[str] = "stages"
    eval_split: str = "test"
    max_eval_examples: int | None = None
    bn: str = "interpolate"
    bn_batches: int = 20
    thresholds: dict[str, float] = field(default_factory=dict)
    end_rise_as_barrier: bool = False
    cache_bytes: int = 1 << 30
    extras: list[str] = field(default_factory=list)
    seed: int = 0
    views: list[str] = field(default_factory=list)
    progress: bool | str = True  # a mode of runs.progress: auto, bar, lines, none
    diagnostics: list[str] = field(default_factory=list)
    diagnosed_paths: list[str] | None = None  # None: every path
    partition: str = "units"
    hessian: dict = field(default_factory=dict)
    diverged_loss_ratio: float = DIVERGED_LOSS_RATIO

    def units_of(self, net: torch.nn.Module) -> dict[str, list[str]]:
        if isinstance(self.units, str):
            return discover_units(net, self.units)
        if isinstance(self.units, Mapping):
            return {name: list(modules) for name, modules in self.units.items()}
        return {name: [name] for name in self.units}

    def view_pairs(self) -> list[tuple[str, str]]:
        return [tuple(view.split("/", 1)) for view in self.views]

    def curves(
        self,
        net: torch.nn.Module,
        fresh_net: Callable[[int], torch.nn.Module],
        loss: str,
        datamodule,
        theta_i: State,
        theta_f: State,
        split: str,
        bn: str,
        diagnose: bool = False,
    ) -> Curves | None:
        """Loss and accuracy along every requested path on `split` under BN policy `bn`, the
        points spread over the ranks (`landscape.sharded`); rank 0 gets the curves, the
        others None. Rank 0 shows how many of its (path, alpha) points are done. With
        `diagnose`, each path's `diagnostics` too (the examples spread over the ranks)."""
        units = self.units_of(net)
        data = eval_batches(datamodule, split, self.max_eval_examples)
        bn_data = None
        if bn == "recompute":
            train = datamodule.loader("train", sharded=False)  # the same BN batches on every rank
            bn_data = [batch for _, batch in zip(range(self.bn_batches), train)]
        requested = expand_paths(self.paths, units)
        rank, world = rank_and_world()
        mode = progress_mode(self.progress) if rank == 0 else "none"
        total = len(shard_points(requested, len(self.alphas), rank, world))
        bar = StageProgress(f"paths {view_name(split, bn)}", total, "point", mode)
        theta_new = None
        if any(path in NEW_INIT_PATHS for path in requested):
            theta_new = new_init_state(fresh_net, self.seed)
        try:
            curves = evaluate_paths_sharded(
                net,
                theta_i,
                theta_f,
                data,
                alphas=self.alphas,
                paths=requested,
                loss=loss,
                theta_new=theta_new,
                units=units,
                bn_data=bn_data,
                cache_bytes=self.cache_bytes,
                progress=bar.update,
            )
        finally:
            bar.close()
        if diagnose and self.diagnostics:
            diagnosed = requested if self.diagnosed_paths is None else self.diagnosed_paths
            found = diagnose_paths(
                net, theta_i, theta_f, data, self.alphas, diagnosed, self.diagnostics,
                self.partition, loss, theta_new, units, {**self.hessian, "seed": self.seed},
                {**self.thresholds, "end_rise_as_barrier": self.end_rise_as_barrier},
                READ_FROM_END, cache_bytes=self.cache_bytes, sharded=True,
            )  # fmt: skip
            for path, entry in found.items() if curves is not None else ():
                entry.pop("loss")  # the path's own curve is beside it
                curves[path]["diagnostics"] = entry
        return curves

    def all_curves(self, net, fresh_net, loss, datamodule, theta_i, theta_f) -> dict | None:
        """The main view's curves and each extra view's, keyed by `view_name`."""
        pairs = [(self.eval_split, self.bn), *self.view_pairs()]
        views = {
            view_name(split, bn): self.curves(
                net, fresh_net, loss, datamodule, theta_i, theta_f, split, bn, diagnose=index == 0
            )
            for index, (split, bn) in enumerate(pairs)
        }
        return None if any(curves is None for curves in views.values()) else views

    def path_entries(self, curves: Curves, split: str, bn: str, nonfinite: bool) -> dict:
        """results.json's `paths`: curves (NaN and inf as null) and every barrier definition;
        a path without one finite point, or too few points to judge, says why (`note`)."""
        entries = {}
        for path, curve in curves.items():
            loss = [finite_or_none(v) for v in curve["loss"]]
            acc = [finite_or_none(v) for v in curve["acc"]]
            metrics = path_metrics(
                self.alphas,
                loss,
                acc,
                self.thresholds,
                read_from_end=path in READ_FROM_END,
                end_rise_as_barrier=self.end_rise_as_barrier,
            )
            notes = [no_finite_point_note(loss, nonfinite), metrics.pop("note", None)]
            notes = [n for n in notes if n]
            entries[path] = {
                "label": path,
                "split": split,
                "bn": bn,
                "loss": loss,
                "acc": acc,
                "read_from_end": path in READ_FROM_END,
                **({"note": "; ".join(notes)} if notes else {}),
                **metrics,
                **(
                    {"diagnostics": finite_tree(curve["diagnostics"])}
                    if "diagnostics" in curve
                    else {}
                ),
            }
        return entries

    def results(
        self,
        net: torch.nn.Module,
        loss: str,
        datamodule,
        theta_i: State,
        theta_f: State,
        views: Mapping[str, Curves],
        header: Mapping,
    ) -> dict:
        """results.json: `header` (who trained what), then this evaluation of `views`."""
        parameter_names = [name for name, _ in net.named_parameters()]
        final = final_metrics(net, datamodule, loss)
        main, *extra = views
        divergence = self.divergence(net, loss, datamodule, theta_i, theta_f, final)
        diverged, nonfinite = divergence is not None, divergence == NONFINITE_THETA
        return {
            "schema": RESULTS_SCHEMA,
            **header,
            "data_name": getattr(datamodule, "display_name", ""),  # "digits stand-in", "MNIST"
            "final": {k: finite_or_none(v) for k, v in final.items()},
            # NaN or inf in theta_f, or a blow-up at chance accuracy: reports leave it out
            "diverged": diverged,
            "divergence": divergence,
            "distance": finite_or_none(distance(theta_i, theta_f, parameter_names)),
            "alphas": self.alphas,
            "units": self.units_of(net),
            "thresholds": {**DEFAULT_THRESHOLDS, **self.thresholds},
            "end_rise_as_barrier": self.end_rise_as_barrier,
            "paths": self.path_entries(views[main], self.eval_split, self.bn, nonfinite),
            "views": {
                name: self.path_entries(views[name], *name.split("/", 1), nonfinite)
                for name in extra
            },
            "extras": {name: EXTRAS[name](net, theta_i, theta_f) for name in self.extras},
        }

    def divergence(self, net, loss: str, datamodule, theta_i, theta_f, final) -> str | None:
        """Why the run counts as diverged (results.json's `divergence`), or None."""
        floats = [v for v in theta_f.values() if v.is_floating_point()]
        if not all(v.isfinite().all() for v in floats):
            return NONFINITE_THETA
        test_loss, test_acc = final["test_loss"], final["test_acc"]
        if finite_or_none(test_loss) is None:
            return "the final test loss is not finite"
        _, targets = datamodule.split("test")
        chance = majority_rate(targets)
        if test_acc > chance + CHANCE_SLACK:
            return None
        device = next(net.parameters()).device
        batches = [(x.to(device), y.to(device)) for x, y in eval_batches(datamodule, "test", None)]
        with swapped_state(net, theta_i):
            initial, _ = evaluate_state(net, batches, loss)
        if test_loss <= self.diverged_loss_ratio * initial:
            return None
        return (
            f"test loss {test_loss:.4g} is {test_loss / initial:.3g} times the loss at theta_i "
            f"({initial:.4g}; over {self.diverged_loss_ratio:g}) at chance accuracy "
            f"({test_acc:.4f}, the most common class is {chance:.4f})"
        )


def evaluate_trained(
    evaluation: PathEvaluation,
    net: torch.nn.Module,
    fresh_net: Callable[[int], torch.nn.Module],
    loss: str,
    datamodule,
    theta_i: State,
    theta_f: State,
    trained: Mapping,
) -> dict | None:
    """results.json of a trained run (`net` holding theta_f) from its two states and its
    trained.json (`header`, `fit_s`, `device`): at fit end, or finishing a stopped
    evaluation. Ranks other than zero evaluate their share and get None."""
    started = time.perf_counter()
    views = evaluation.all_curves(net, fresh_net, loss, datamodule, theta_i, theta_f)
    if views is None:
        return None
    results = evaluation.results(net, loss, datamodule, theta_i, theta_f, views, trained["header"])
    results["timing"] = {
        "fit_s": trained.get("fit_s"),
        "interpolation_s": time.perf_counter() - started,
    }
    results["device"] = trained.get("device")
    return results


def majority_rate(targets: torch.Tensor) -> float:
    """The accuracy of always answering the most common class (one logit: 0 or 1)."""
    labels = targets.reshape(-1).round().long()
    return float(labels.bincount().max()) / max(len(labels), 1)


@contextmanager
def swapped_state(net: torch.nn.Module, state: State):
    """The block sees `net` holding `state`; its own state is put back after."""
    own = clone_state(net)
    net.load_state_dict(state)
    try:
        yield net
    finally:
        net.load_state_dict(own)


def eval_batches(datamodule, split: str, limit: int | None) -> list:
    inputs, targets = datamodule.split(split)
    if limit is not None:
        inputs, targets = inputs[:limit], targets[:limit]
    size = datamodule.eval_batch_size
    return [(inputs[i : i + size], targets[i : i + size]) for i in range(0, len(targets), size)]


def final_metrics(net: torch.nn.Module, datamodule, loss: str) -> dict[str, float]:
    """Loss and accuracy of the net as it stands on the whole test and train splits."""
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    final = {}
    for split in ("test", "train"):
        batches = [(x.to(device), y.to(device)) for x, y in eval_batches(datamodule, split, None)]
        final[f"{split}_loss"], final[f"{split}_acc"] = evaluate_state(net, batches, loss)
    net.train(was_training)
    return final


def write_results(
    results: dict, directory: Path, figure: bool, weights_dir: Path | None = None
) -> Path | None:
    """The figure (if asked and there are paths), then results.json with the manifest of
    the weights it was computed from (`weights_dir`, default `directory`): results.json
    last, atomically, so a folder that has one is complete. Returns the figure's path."""
    drawn = None
    directory.mkdir(parents=True, exist_ok=True)
    if figure and results["paths"]:
        from runs.diagnostic_figures import diagnosed_path, draw_diagnostics
        from runs.figures import plot_run

        path = diagnosed_path(results)
        below = (
            None
            if path is None
            else functools.partial(draw_diagnostics, results=results, path=path)
        )
        drawn = directory / "interpolation.png"
        plot_run(results, drawn, below)
    results["manifest"] = manifest_of(weights_dir or directory)
    save_json_atomic(results, directory / "results.json")
    return drawn


def no_finite_point_note(losses: Sequence[float | None], nonfinite: bool) -> str | None:
    """Why a path has no finite loss, instead of leaving a curve of nulls unexplained."""
    if any(finite_or_none(v) is not None for v in losses if v is not None):
        return None
    cause = f"{NONFINITE_THETA} (training diverged)" if nonfinite else "the loss overflows"
    return f"no finite loss on this path: {cause}"


def _fmt(value, spec: str) -> str:
    """`value` in `spec`; a missing one is '-' in the same width, so columns stay aligned."""
    if value is None:
        return format("-", re.match(r"[<>^]?\d*", spec).group())
    return format(value, spec)


def barrier_location(entry: Mapping) -> str | None:
    """'0.20 -> 0.50': where the path's barrier starts and peaks, alpha from its untrained end
    as the run's figure draws it; None without a barrier."""
    start, peak = entry.get("barrier_start_alpha"), entry.get("barrier_peak_alpha")
    if peak is None:
        return None
    return f"{drawn_alpha(entry, start):.2f} -> {drawn_alpha(entry, peak):.2f}"


def summary_table(results: dict) -> str:
    """The run's paths as a plain-text table (tolerant and strict shape, the largest bump,
    the chord barrier, where the barrier starts and peaks), with test accuracy, distance
    and any random-label pre-stage that its epoch cap ended below."""
    lines = [
        f"{'path':<32} {'shape':>9} {'strict':>9} {'max_rise':>10} {'chord':>10} "
        f"{'barrier at alpha':>16}"
    ]
    for path, entry in results["paths"].items():
        lines.append(
            f"{path:<32} {_fmt(entry['shape'], '>9')} {_fmt(entry.get('strict_shape'), '>9')}"
            f" {_fmt(entry['max_rise'], '>10.4f')} {_fmt(entry['barrier_height'], '>10.4f')}"
            f" {_fmt(barrier_location(entry), '>16')}"
        )
    if results.get("diverged"):
        lines.append(f"training diverged: {results.get('divergence') or NONFINITE_THETA}")
    final = results["final"]
    lines.append(
        f"test acc {_fmt(final['test_acc'], '.4f')}  test loss {_fmt(final['test_loss'], '.4f')}"
        f"  train acc {_fmt(final['train_acc'], '.4f')}"
        f"  distance {_fmt(results['distance'], '.3f')}"
    )
    capped = capped_prestage(results.get("init", {}))
    if capped:
        lines.append(f"WARNING: {capped}")
    return "\n".join(lines)


def written_line(directory: Path) -> str:
    """Where a run or evaluation put its files, and which they are."""
    files = sorted(p.name for p in Path(directory).iterdir() if p.is_file())
    return f"linpath: written to {directory}/ ({', '.join(files)})"


def capped_prestage(init: Mapping) -> str | None:
    """What a random-label pre-stage (the run's own, or that of the run it took a unit
    from) left undone when its epoch cap ended it before 100% accuracy; None otherwise."""
    stage = init.get("pre_stage", init)
    if stage.get("name") != "random_labels" or stage.get("reached_100", True):
        return None
    return (
        f"the random-label pre-stage stopped at its cap of {stage['max_epochs']} epochs with "
        f"{100 * stage['train_acc']:.2f}% eval-mode accuracy on the random labels, not 100%"
    )


def describe_device(device: torch.device, world_size: int) -> dict:
    """What results.json records about where a run trained."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {
        "type": device.type,
        "name": name,
        "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "ranks": world_size,
    }
