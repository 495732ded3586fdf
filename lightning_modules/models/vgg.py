"""VGG-11 for 32x32 inputs, with and without BN, with torchvision's module names.

torchvision's VGG-11 assumes 224x224 (a 7x7 average pool before a 25088 -> 4096 fc). On
32x32 inputs the five max-pools leave 1x1x512; the classifier is the one fully connected
layer 512 -> classes that Table A4's caption describes ("the first two layers, final layer
and the fully connected layer": eight conv layers and one FC layer), the network of every
VGG target; `fc_layers=3` gives torchvision's three-layer head instead
(512 -> 512 -> 512 -> classes, dropout before each hidden layer). Names stay `features.N`
and `classifier.N`, so paths read `unit/features.8`, `unit/classifier.0`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# conv widths of VGG-11 ("A"); torchvision's head adds two hidden classifier widths (512)
CONV_WIDTHS = (64, 128, 256, 256, 512, 512, 512, 512)
POOL_AFTER = (0, 1, 3, 5, 7)  # conv layers followed by a max-pool
FC_LAYERS = (1, 3)


class VGG(nn.Module):
    """`widths` lists the 8 conv widths then the hidden classifier widths (two with
    `fc_layers=3`, none with 1; Table A4 narrows some of them); `width` scales all of them
    (smoke runs). The defaults are the paper's VGG-11 (8 conv + 1 FC)."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        batch_norm: bool = True,
        widths: Sequence[int] = CONV_WIDTHS,
        width: float = 1.0,
        dropout: float = 0.5,
        fc_layers: int = 1,
    ):
        super().__init__()
        if fc_layers not in FC_LAYERS:
            raise ValueError(f"model.fc_layers must be one of {list(FC_LAYERS)}, got {fc_layers}")
        count = len(CONV_WIDTHS) + fc_layers - 1
        if len(widths) != count or any(int(w) < 1 for w in widths):
            raise ValueError(
                f"model.widths must list {count} widths >= 1 (8 conv layers, "
                f"{fc_layers - 1} hidden classifier layers with fc_layers={fc_layers}), "
                f"got {list(widths)}"
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
        layers = []
        for hidden in widths[len(CONV_WIDTHS) :]:
            layers += [nn.Linear(channels, hidden), nn.ReLU(True), nn.Dropout(p=dropout)]
            channels = hidden
        self.classifier = nn.Sequential(*layers, nn.Linear(channels, num_outputs))
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
