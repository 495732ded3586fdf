"""torchvision ResNets with the paper's CIFAR stem (App. A): 3x3 conv, 64 channels, stride 1.

The max-pool after the stem is kept, as torchvision has it and the paper does not say it
was removed: 32x32 inputs reach layer1 at 16x16.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn
from torchvision.models import resnet18, resnet34, resnet50

BUILDERS = {18: resnet18, 34: resnet34, 50: resnet50}
NORMS = ("batch", "none")


def resnet(
    input_shape: Sequence[int], num_outputs: int, depth: int = 18, norm: str = "batch"
) -> nn.Module:
    """ResNet-`depth` with torchvision's module names (conv1, bn1, layer1..4, fc).

    `norm="none"` replaces every BatchNorm by an identity (the paper's App. F).
    """
    if depth not in BUILDERS:
        raise ValueError(f"unknown ResNet depth {depth}; expected one of {sorted(BUILDERS)}")
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; expected one of {list(NORMS)}")
    norm_layer = nn.BatchNorm2d if norm == "batch" else lambda channels: nn.Identity()
    net = BUILDERS[depth](num_classes=num_outputs, norm_layer=norm_layer)
    net.conv1 = nn.Conv2d(input_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    return net
