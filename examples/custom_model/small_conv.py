"""A network of your own: any `nn.Module` whose constructor takes `input_shape` (one
example's shape, e.g. (1, 8, 8)) and `num_outputs` (classes, or 1 for a binary task) from
the data, plus its own options from its config file."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class SmallConvNet(nn.Module):
    """Two 3x3 conv layers with BN and ReLU, a global average pool and a linear head.

    Its weight layers are found as units (`unit/conv1`, `unit/conv2`, `unit/fc`; each BN
    joins the conv before it), so every path kind works on it without further code.
    """

    def __init__(self, input_shape: Sequence[int], num_outputs: int, width: int = 8):
        super().__init__()
        if width < 1:
            raise ValueError(f"model.width must be >= 1, got {width}")
        self.conv1 = nn.Conv2d(input_shape[0], width, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.fc = nn.Linear(2 * width, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean(dim=(2, 3)))
