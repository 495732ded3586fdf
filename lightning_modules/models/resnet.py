"""torchvision ResNets with the paper's CIFAR stem (App. A): 3x3 conv, 64 channels, stride 1.

The max-pool after the stem is kept, as torchvision has it and the paper does not say it
was removed: 32x32 inputs reach layer1 at 16x16. Module and state names are torchvision's,
so ImageNet weights load as they are (except the replaced stem conv and fc).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

LAYOUTS = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3])}
LAYOUTS[50] = (Bottleneck, [3, 4, 6, 3])
NORMS = ("batch", "none")


def scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


class CifarResNet(ResNet):
    """torchvision's ResNet with every stage `width` times as wide (1: the standard net)."""

    def __init__(self, block, layers, num_classes, norm_layer, in_channels=3, width=1.0):
        self.width = width
        super().__init__(block, layers, num_classes=num_classes, norm_layer=norm_layer)
        stem = scaled(64, width)
        self.conv1 = nn.Conv2d(in_channels, stem, kernel_size=3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        if width != 1:
            self.bn1 = norm_layer(stem)
            self.fc = nn.Linear(scaled(512, width) * block.expansion, num_classes)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        if planes == 64:  # layer1: its input is the (scaled) stem
            self.inplanes = scaled(64, self.width)
        return super()._make_layer(block, scaled(planes, self.width), blocks, stride, dilate)


def resnet(
    input_shape: Sequence[int],
    num_outputs: int,
    depth: int = 18,
    norm: str = "batch",
    width: float = 1.0,
) -> nn.Module:
    """ResNet-`depth` with torchvision's module names (conv1, bn1, layer1..4, fc).

    `norm="none"` replaces every BatchNorm by an identity (the paper's App. F); `width`
    scales every stage's channels (smoke runs use a narrow net).
    """
    if depth not in LAYOUTS:
        raise ValueError(f"unknown ResNet depth {depth}; expected one of {sorted(LAYOUTS)}")
    if norm not in NORMS:
        raise ValueError(f"unknown model.norm {norm!r}; expected one of {list(NORMS)}")
    if width <= 0:
        raise ValueError(f"model.width must be > 0, got {width}")
    norm_layer = nn.BatchNorm2d if norm == "batch" else lambda channels: nn.Identity()
    block, layers = LAYOUTS[depth]
    return CifarResNet(block, layers, num_outputs, norm_layer, input_shape[0], width)
