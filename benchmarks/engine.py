"""Rows a-c and i: the engine against the fair per-alpha loop (ResNet-18; i: the digits ViT),
`loss-landscapes`, a bare forward."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.reference import reference_curve, trained_copy
from benchmarks.timing import agreement, side_by_side
from landscape import evaluate_paths, moving_keys
from landscape.evaluate import interpolate_state
from lightning_modules.models import VGG, resnet

RESNET_PATHS = ["full", "unit/layer1", "unit/layer2", "unit/layer3", "unit/layer4", "unit/fc"]
VGG_CONVS = [0, 3, 6, 8, 11, 13, 16, 18]  # features.N of VGG-11 without BN
VGG_PATHS = ["full"] + [f"unit/features.{i}" for i in VGG_CONVS] + ["unit/classifier.0"]


def cifar_like(count: int, classes: int = 10, seed: int = 0):
    """Random CIFAR-shaped images: timing and agreement do not depend on the pixels."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(count, 3, 32, 32, generator=generator), torch.randint(
        0, classes, (count,), generator=generator
    )


def end_states(model: nn.Module, inputs: torch.Tensor) -> tuple[dict, dict]:
    """theta_i = the model's draw; theta_f = a stand-in for training (weights moved by
    0.05 N(0, 1), BN statistics of `inputs`), with losses that change along every path."""
    theta_i = {k: v.clone() for k, v in model.state_dict().items()}
    return theta_i, trained_copy(model, inputs, scale=0.05)


def resnet_setup(examples: int, batch_size: int):
    """ResNet-18 with the CIFAR stem and BN, its two end states, and batches of data."""
    torch.manual_seed(0)
    model = resnet((3, 32, 32), 10, depth=18)
    inputs, targets = cifar_like(examples)
    theta_i, theta_f = end_states(model, inputs)
    batches = [
        (inputs[i : i + batch_size], targets[i : i + batch_size])
        for i in range(0, examples, batch_size)
    ]
    return model, theta_i, theta_f, inputs, targets, batches


FAIR_LOOP = (
    "the loop a user writes: one working copy of the model, load_state_dict per point, the "
    "engine's in-memory batches; same dtype (fp32), threads and device"
)


def fair_loop(model, theta_a, theta_b, paths, batches, alphas) -> dict[str, list[float]]:
    """Per path one working copy, per alpha `load_state_dict` of the interpolated state and
    a pass over the batches (`benchmarks.reference`, the tests' reference too)."""
    return {
        path: reference_curve(
            model, theta_a, theta_b, moving_keys(model, theta_b, path), batches, alphas
        )[0]
        for path in paths
    }


def curve_agreement(curves, reference: dict[str, list[float]]) -> dict:
    """`agreement` of every path's losses: the engine's `curves` against `reference`."""
    return agreement(
        [v for path in reference for v in curves[path]["loss"]],
        [v for path in reference for v in reference[path]],
    )


def row_a(examples: int, alphas: int, repeats: int, batch_size: int = 128) -> dict:
    """Engine vs the fair per-alpha loop, ResNet-18 (CIFAR stem, BN), full and unit paths."""
    model, theta_i, theta_f, _, _, batches = resnet_setup(examples, batch_size)
    grid = torch.linspace(0, 1, alphas).tolist()
    results = {}

    def engine():
        results["engine"] = evaluate_paths(
            model, theta_i, theta_f, batches, alphas=grid, paths=RESNET_PATHS
        )

    def plain():
        results["plain"] = fair_loop(model, theta_i, theta_f, RESNET_PATHS, batches, grid)

    seconds = side_by_side({"plain": plain, "engine": engine}, repeats)
    ratio = seconds["plain"] / seconds["engine"]
    check = curve_agreement(results["engine"], results["plain"])
    return {
        "row": "a",
        "what": "engine vs fair per-alpha loop, ResNet-18 BN, full + unit/layer1..4 + unit/fc",
        "baseline": FAIR_LOOP,
        "ratio": ratio,
        "target": ">= 1.7",
        "met": ratio >= 1.7 and check["agrees"],
        "seconds": seconds,
        **check,
        "setup": {"examples": examples, "alphas": alphas, "paths": RESNET_PATHS},
    }


def loss_landscapes_curves(model, theta_a, theta_b, paths, inputs, targets, steps):
    """The same curves through `loss-landscapes`: `linear_interpolation` of the whole model
    for `full`, of a `ModelWrapper` over the unit's modules for a unit path."""
    from loss_landscapes import linear_interpolation
    from loss_landscapes.metrics import Loss
    from loss_landscapes.model_interface.model_wrapper import GeneralModelWrapper

    metric = Loss(F.cross_entropy, inputs, targets)
    curves = {}
    for path in paths:  # no_grad and frozen weights: the package at its fastest
        start, end = copy.deepcopy(model), copy.deepcopy(model)
        end.load_state_dict(theta_b)
        keys = moving_keys(model, theta_b, path)
        start.load_state_dict(interpolate_state(theta_a, theta_b, 0.0, keys))
        start.eval().requires_grad_(False), end.eval().requires_grad_(False)
        if path != "full":
            unit = path.partition("/")[2]
            start, end = (
                GeneralModelWrapper(m, [m.get_submodule(unit)], lambda net, x: net(x))
                for m in (start, end)
            )
        with torch.no_grad():
            curves[path] = linear_interpolation(start, end, metric, steps=steps).tolist()
    return curves


def row_b(examples: int, steps: int, repeats: int) -> dict:
    """Engine vs `loss-landscapes` 3.0.6, VGG-11 without BN, full and every conv unit.

    `linear_interpolation` evaluates alpha = 1/steps, 2/steps, ..., 1 (its grid starts one
    step after 0 and adds the step in place); the engine gets the same alphas.
    """
    torch.manual_seed(0)
    model = VGG((3, 32, 32), 10, batch_norm=False)
    inputs, targets = cifar_like(examples)
    theta_i, theta_f = end_states(model, inputs)
    grid = [(i + 1) / steps for i in range(steps)]
    results = {}

    def engine():
        results["engine"] = evaluate_paths(
            model, theta_i, theta_f, (inputs, targets), alphas=grid, paths=VGG_PATHS
        )

    def package():
        results["package"] = loss_landscapes_curves(
            model, theta_i, theta_f, VGG_PATHS, inputs, targets, steps
        )

    seconds = side_by_side({"loss_landscapes": package, "engine": engine}, repeats)
    ratio = seconds["loss_landscapes"] / seconds["engine"]
    check = curve_agreement(results["engine"], results["package"])
    return {
        "row": "b",
        "what": "engine vs loss-landscapes 3.0.6, VGG-11 no BN, full + 8 conv units + fc",
        "baseline": "the package's linear_interpolation, no_grad, frozen weights, fp32",
        "ratio": ratio,
        "target": ">= 1.7",
        "met": ratio >= 1.7 and check["agrees"],
        "seconds": seconds,
        **check,
        "setup": {"examples": examples, "steps": steps, "paths": VGG_PATHS},
    }


def row_c(examples: int, alphas: int, repeats: int, batch_size: int = 128) -> dict:
    """Engine's examples/s on the full path vs a bare eval forward over the same data (the
    compute limit: every alpha of the full path needs its own forward pass)."""
    model, theta_i, theta_f, _, _, batches = resnet_setup(examples, batch_size)
    grid = torch.linspace(0, 1, alphas).tolist()
    plain_model = copy.deepcopy(model)
    plain_model.load_state_dict(theta_f)
    plain_model.eval()
    results = {}

    def forward():
        with torch.no_grad():
            for x, y in batches:
                F.cross_entropy(plain_model(x), y, reduction="sum").item()

    def engine():
        results["engine"] = evaluate_paths(
            model, theta_i, theta_f, batches, alphas=grid, paths=["full"]
        )

    seconds = side_by_side({"forward": forward, "engine": engine}, repeats)
    engine_rate = examples * alphas / seconds["engine"]
    forward_rate = examples / seconds["forward"]
    ratio = engine_rate / forward_rate
    reference = fair_loop(model, theta_i, theta_f, ["full"], batches, grid)  # not timed
    check = curve_agreement(results["engine"], reference)
    return {
        "row": "c",
        "what": "engine examples/s on the full path / bare eval forward examples/s, ResNet-18",
        "baseline": "one model at theta_f in eval mode, a bare forward over the same batches",
        "ratio": ratio,
        "target": ">= 0.9",
        "met": ratio >= 0.9 and check["agrees"],
        "seconds": seconds,
        **check,
        "examples_per_s": {"engine": engine_rate, "forward": forward_rate},
        "setup": {"examples": examples, "alphas": alphas},
    }


def row_i(examples: int, alphas: int, repeats: int, batch_size: int = 1000) -> dict:
    """Engine vs the fair per-alpha loop on the digits ViT (conf/model/vit_digits.yaml:
    patches of 2, width 64, 4 blocks of 4 heads), full path and every unit at `blocks`
    (embeddings, each block's attention, MLP and LayerNorms, the final norm, the head)."""
    from landscape import discover_units
    from lightning_modules.models.vit import ViT

    torch.manual_seed(0)
    model = ViT((1, 8, 8), 10, patch_size=2, embed_dim=64, depth=4, num_heads=4, mlp_ratio=2.0)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(examples, 1, 8, 8, generator=generator)
    targets = torch.randint(0, 10, (examples,), generator=generator)
    theta_i, theta_f = end_states(model, inputs)
    units = discover_units(model, "blocks")
    paths = ["full", *(f"unit/{u}" for u in units)]
    grid = torch.linspace(0, 1, alphas).tolist()
    batches = [(inputs[i : i + batch_size], targets[i : i + batch_size])
               for i in range(0, examples, batch_size)]  # fmt: skip
    results = {}

    def engine():
        results["engine"] = evaluate_paths(
            model, theta_i, theta_f, batches, alphas=grid, paths=paths, units=units
        )

    def plain():
        results["plain"] = fair_loop(model, theta_i, theta_f, paths, batches, grid)

    seconds = side_by_side({"plain": plain, "engine": engine}, repeats)
    ratio = seconds["plain"] / seconds["engine"]
    check = curve_agreement(results["engine"], results["plain"])
    return {
        "row": "i",
        "what": f"engine vs fair per-alpha loop, digits ViT, full + {len(units)} unit paths",
        "baseline": FAIR_LOOP,
        "ratio": ratio,
        "target": ">= 1.7",
        "met": ratio >= 1.7 and check["agrees"],
        "seconds": seconds,
        **check,
        "setup": {"examples": examples, "alphas": alphas, "paths": paths},
    }
