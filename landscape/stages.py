"""A model's forward pass as an ordered list of stages, so a path can start mid-network.

On a `unit/` or `group/` path everything before the varied unit stays at theta_b, so the
evaluator computes those activations once and runs only the stages from the varied one on.
A model describes its stages by defining `forward_stages()` (a list of (module names,
function) pairs, see `MLP`); torchvision ResNets (and subclasses keeping its forward), the
VGG layout (`features`, `avgpool`, `classifier`) and plain `nn.Sequential` models are
recognised here by structure. Anything else is one stage: the plain forward. The evaluator
checks on a few examples that the stages reproduce the forward before trusting them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from landscape.paths import NORM_LAYERS

WHOLE_MODEL = ""  # a stage reading this name reads every entry of the state


@dataclass(frozen=True)
class Stage:
    """One step of the forward pass and the modules (by name) whose state it reads."""

    modules: tuple[str, ...]
    run: Callable[[torch.Tensor], torch.Tensor]

    def reads(self, key: str) -> bool:
        return any(m == WHOLE_MODEL or key == m or key.startswith(m + ".") for m in self.modules)


def forward_stages(model: nn.Module) -> list[Stage]:
    """The stages of `model`'s forward pass, in order; [the whole forward] when unknown."""
    own = getattr(model, "forward_stages", None)
    if callable(own):
        return [Stage(tuple(names), run) for names, run in own()]
    from torchvision.models import ResNet

    if type(model).forward is ResNet.forward:
        return _resnet_stages(model)
    if _has_vgg_layout(model):
        return _vgg_stages(model)
    if type(model) is nn.Sequential:
        return _sequential_stages(model, "")
    return [Stage((WHOLE_MODEL,), model)]


def first_stage_reading(stages: Sequence[Stage], keys: Sequence[str]) -> int:
    """Index of the first stage that reads any of `keys` (0 when no stage claims one)."""
    for index, stage in enumerate(stages):
        if any(stage.reads(k) for k in keys):
            return index
    return 0


def run_stages(stages: Sequence[Stage], inputs: torch.Tensor) -> torch.Tensor:
    for stage in stages:
        inputs = stage.run(inputs)
    return inputs


def _chain(*steps: Callable[[torch.Tensor], torch.Tensor]) -> Callable:
    def run(x: torch.Tensor) -> torch.Tensor:
        for step in steps:
            x = step(x)
        return x

    return run


def _flatten(x: torch.Tensor) -> torch.Tensor:
    return torch.flatten(x, 1)


def _resnet_stages(net: nn.Module) -> list[Stage]:
    """Stem (conv1, bn1, relu, maxpool), every residual block, then pooling and fc."""
    stages = [Stage(("conv1", "bn1"), _chain(net.conv1, net.bn1, net.relu, net.maxpool))]
    for layer in ("layer1", "layer2", "layer3", "layer4"):
        for index, block in enumerate(getattr(net, layer)):
            stages.append(Stage((f"{layer}.{index}",), block))
    stages.append(Stage(("fc",), _chain(net.avgpool, _flatten, net.fc)))
    return stages


def _has_vgg_layout(model: nn.Module) -> bool:
    parts = (getattr(model, name, None) for name in ("features", "avgpool", "classifier"))
    features, avgpool, classifier = parts
    return (
        isinstance(features, nn.Sequential)
        and isinstance(avgpool, nn.Module)
        and isinstance(classifier, nn.Sequential)
    )


def _vgg_stages(net: nn.Module) -> list[Stage]:
    """One stage per conv (with its BN, ReLU, pooling) and per classifier Linear."""
    features = _sequential_stages(net.features, "features.")
    head = _sequential_stages(net.classifier, "classifier.")
    first = head[0]
    head[0] = Stage(first.modules, _chain(net.avgpool, _flatten, first.run))
    return features + head


def _has_state(module: nn.Module) -> bool:
    return any(True for _ in module.parameters()) or any(True for _ in module.buffers())


def _sequential_stages(seq: nn.Sequential, prefix: str) -> list[Stage]:
    """A new stage at every child with state, except a norm layer, which joins the one before;
    children without state (activations, pooling, dropout) join the current stage."""
    groups: list[tuple[list[str], list[nn.Module]]] = []
    for name, child in seq.named_children():
        starts_stage = _has_state(child) and not isinstance(child, NORM_LAYERS)
        if starts_stage or not groups:
            groups.append(([], []))
        names, modules = groups[-1]
        if _has_state(child):
            names.append(prefix + name)
        modules.append(child)
    return [Stage(tuple(names), _chain(*modules)) for names, modules in groups]
