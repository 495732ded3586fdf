"""VGG-11 for 32x32 inputs, with and without BN, with torchvision's module names.

torchvision's VGG-11 assumes 224x224 (a 7x7 average pool before a 25088 -> 4096 fc). On
32x32 inputs the five max-pools leave 1x1x512, so the classifier here is three Linear
layers 512 -> 512 -> 512 -> classes (the usual CIFAR VGG). Names stay `features.N` and
`classifier.N`, so paths read `unit/features.8`, `unit/classifier.3`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# conv widths of VGG-11 ("A"), then the two hidden classifier widths; "M" is a max-pool
CONV_WIDTHS = (64, 128, 256, 256, 512, 512, 512, 512)
POOL_AFTER = (0, 1, 3, 5, 7)  # conv layers followed by a max-pool
VGG11_WIDTHS = (*CONV_WIDTHS, 512, 512)


class VGG(nn.Module):
    """`widths` lists the 8 conv widths then the 2 hidden classifier widths (Table A4
    narrows some of them); `width` scales all of them (smoke runs)."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        batch_norm: bool = True,
        widths: Sequence[int] = VGG11_WIDTHS,
        width: float = 1.0,
        dropout: float = 0.5,
    ):
        super().__init__()
        if len(widths) != len(VGG11_WIDTHS) or any(int(w) < 1 for w in widths):
            raise ValueError(
                f"model.widths must list {len(VGG11_WIDTHS)} widths >= 1 (8 conv layers, "
                f"2 hidden classifier layers), got {list(widths)}"
            )
        widths = [max(1, round(int(w) * width)) for w in widths]
        layers: list[nn.Module] = []
        channels = input_shape[0]
        for i, out in enumerate(widths[: len(CONV_WIDTHS)]):
            layers.append(nn.Conv2d(channels, out, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU(inplace=True))
            if i in POOL_AFTER:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            channels = out
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        hidden1, hidden2 = widths[len(CONV_WIDTHS) :]
        self.classifier = nn.Sequential(
            nn.Linear(channels, hidden1),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(hidden1, hidden2),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(hidden2, num_outputs),
        )
        self._init_like_torchvision()

    def _init_like_torchvision(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
