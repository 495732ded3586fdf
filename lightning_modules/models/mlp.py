"""Fully connected ReLU network with named layers fc1..fcN, so paths read `unit/fc2`."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn


class MLP(nn.Module):
    """`hidden` lists the widths of the hidden layers: [50, 50] is the paper's Fig. 1A net."""

    def __init__(
        self, input_shape: Sequence[int], num_outputs: int, hidden: Sequence[int] = (50, 50)
    ):
        super().__init__()
        widths = [math.prod(input_shape), *hidden, num_outputs]
        if any(int(w) < 1 for w in widths):
            raise ValueError(f"every MLP width must be >= 1, got {list(widths)}")
        self.depth = len(widths) - 1
        for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
            self.add_module(f"fc{i}", nn.Linear(int(fan_in), int(fan_out)))

    def layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Layer i of the forward pass: fc_i, after flattening (first) or before ReLU (hidden)."""
        if i == 1:
            x = x.flatten(1)
        x = getattr(self, f"fc{i}")(x)
        return torch.relu(x) if i < self.depth else x

    def forward_stages(self) -> list[tuple[tuple[str, ...], Callable]]:
        """The forward pass layer by layer, so path evaluation can start at a varied layer."""
        return [((f"fc{i}",), functools.partial(self.layer, i)) for i in range(1, self.depth + 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, self.depth + 1):
            x = self.layer(i, x)
        return x
