"""`python -m sweeps.smoke_data DIR`: everything `make SCALE=smoke` reads instead of real data.

CIFAR-10/100 in their real on-disk formats (lightning_modules.data.stand_ins) under DIR, and
stand-ins for torchvision's ImageNet ResNet checkpoints under DIR/torch (TORCH_HOME there):
random weights of the smoke-width model, in the cache file torchvision would look for, so
`init=pretrained` runs its real loading code without any download.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torchvision.models import get_weight

from lightning_modules.data.stand_ins import write_cifar10, write_cifar100
from lightning_modules.init import IMAGENET_WEIGHTS
from lightning_modules.models import resnet

REPO = Path(__file__).resolve().parents[1]
DEPTHS = {"ResNet18_Weights": 18, "ResNet34_Weights": 34, "ResNet50_Weights": 50}


def write_imagenet_stand_ins(torch_home: Path, width: float) -> list[Path]:
    """One checkpoint per ResNet depth: 1000-class random weights at `width`."""
    written = []
    for name in IMAGENET_WEIGHTS.values():
        net = resnet((3, 32, 32), 1000, depth=DEPTHS[name.split(".")[0]], width=width)
        path = torch_home / "hub" / "checkpoints" / Path(get_weight(name).url).name
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), path)
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sweeps.smoke_data", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("dir", type=Path, help="where to write them (make uses data/smoke)")
    root = parser.parse_args(argv).dir
    width = OmegaConf.load(REPO / "conf" / "scale" / "smoke.yaml").width_factor
    write_cifar10(root)
    write_cifar100(root)
    write_imagenet_stand_ins(root / "torch", width)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
