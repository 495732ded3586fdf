"""BatchNorm running statistics as inputs of the loss, with their gradients.

Under `bn=interpolate` a path moves BN running statistics like any weight, so they must get
their share of the loss change; PyTorch's fused batch-norm kernel gives them no gradient.
Two ways around it:

- `statistics_as_inputs`: BN layers in eval mode compute x * scale + shift from their
  statistics, differentiable to any order (the curvature's forward-over-reverse needs it);
- `StatisticsChain`: keep the fused kernel and get the statistics' gradients from the layer's
  weight and bias gradients by the chain rule (y = w (x - mean) / sigma + b, so dL/dmean =
  -w / sigma dL/db and dL/dvar = -w / (2 sigma^2) dL/dw): first order only, and cheaper.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence

import torch
from torch import nn

STATISTICS = ("running_mean", "running_var")
_BatchNorm = nn.modules.batchnorm._BatchNorm


def tracked_norms(model: nn.Module) -> dict[str, _BatchNorm]:
    """BN layers that keep running statistics (the ones eval mode normalises with)."""
    return {n: m for n, m in model.named_modules() if isinstance(m, _BatchNorm)
            and m.running_mean is not None}  # fmt: skip


def _normalise_with_inputs(self: _BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """Eval-mode batch norm, differentiable in its running statistics."""
    shape = (1, -1) + (1,) * (x.dim() - 2)
    scale = torch.rsqrt(self.running_var + self.eps)
    if self.weight is not None:
        scale = scale * self.weight
    shift = -self.running_mean * scale
    if self.bias is not None:
        shift = shift + self.bias
    return torch.addcmul(shift.view(shape), x, scale.view(shape))


def statistics_as_inputs(model: nn.Module) -> None:
    """Every tracked BN layer of `model` (a working copy: changed in place) normalises by
    a formula whose statistics are inputs."""
    for module in tracked_norms(model).values():
        module.forward = types.MethodType(_normalise_with_inputs, module)


class StatisticsChain:
    """The gradient of the moving `keys` through fused BN layers: the statistics' gradients
    from their layers' weight and bias gradients. Needs those layers to be affine."""

    def __init__(self, model: nn.Module, keys: Sequence[str]):
        norms = tracked_norms(model)
        self.keys = list(keys)
        self.statistics = [k for k in keys if k.rpartition(".")[2] in STATISTICS
                           and k.rpartition(".")[0] in norms]  # fmt: skip
        self.layers = {k.rpartition(".")[0]: norms[k.rpartition(".")[0]] for k in self.statistics}
        held = model.state_dict()
        self.affine = {f"{n}.{leaf}": held[f"{n}.{leaf}"] for n in self.layers
                       for leaf in ("weight", "bias")}  # fmt: skip

    @staticmethod
    def usable(model: nn.Module) -> bool:
        return all(m.affine for m in tracked_norms(model).values())

    def split(self, point: Mapping[str, torch.Tensor]):
        """(leaves to differentiate, statistics held as constants) at `point`: the moving
        entries but the statistics, and every affine entry of a layer whose statistics move."""
        values = {**self.affine, **point}
        leaves = {k: v.detach().requires_grad_() for k, v in values.items()
                  if k not in self.statistics}  # fmt: skip
        return leaves, {k: point[k] for k in self.statistics}

    def gradient(self, found: Mapping[str, torch.Tensor], point) -> dict[str, torch.Tensor]:
        """The gradient of the moving keys from `found`, the leaves' gradients."""
        values = {**self.affine, **point}
        out = {k: found[k] for k in self.keys if k not in self.statistics}
        for name, layer in self.layers.items():
            weight = values[f"{name}.weight"]
            variance = values[f"{name}.running_var"] + layer.eps
            if f"{name}.running_mean" in point:
                out[f"{name}.running_mean"] = -weight * variance.rsqrt() * found[f"{name}.bias"]
            if f"{name}.running_var" in point:
                out[f"{name}.running_var"] = -weight / (2 * variance) * found[f"{name}.weight"]
        return out
