"""The "biased view" (ICLR 2023): how far apart the output layer's class biases are.

Different last-layer biases per class give a long plateau when weights and biases are
interpolated together; their spread at theta_i and theta_f says how much of it to expect.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from landscape.errors import LinpathError


def output_layer(net: nn.Module) -> str:
    """Name of the last Linear layer registered in `net`: the one that outputs the logits."""
    names = [name for name, module in net.named_modules() if isinstance(module, nn.Linear)]
    if not names:
        raise LinpathError(f"{type(net).__name__} has no Linear output layer to read biases from")
    return names[-1]


def class_biases(bias: torch.Tensor) -> torch.Tensor:
    """One bias per class; a single logit (binary cross entropy) is classes (0, b)."""
    bias = bias.detach().double().flatten()
    return torch.cat([bias.new_zeros(1), bias]) if bias.numel() == 1 else bias


def bias_spread(bias: torch.Tensor) -> dict:
    """Population standard deviation and range (max - min) of the class biases."""
    classes = class_biases(bias)
    return {
        "std": float(classes.std(unbiased=False)),
        "range": float(classes.max() - classes.min()),
        "values": classes.tolist(),
    }


def last_layer_bias_spread(
    net: nn.Module, theta_i: Mapping[str, torch.Tensor], theta_f: Mapping[str, torch.Tensor]
) -> dict:
    """Spread of the output layer's class biases at both ends of the path."""
    layer = output_layer(net)
    key = f"{layer}.bias"
    if key not in theta_f:
        raise LinpathError(f"output layer {layer!r} has no bias")
    return {
        "layer": layer,
        "theta_i": bias_spread(theta_i[key]),
        "theta_f": bias_spread(theta_f[key]),
    }


# Measurements of the two end states beside the paths (`interpolation.extras`):
# name -> f(net, theta_i, theta_f)
EXTRAS = {"last_layer_bias_spread": last_layer_bias_spread}
