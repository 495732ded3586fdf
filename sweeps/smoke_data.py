"""`python -m sweeps.smoke_data DIR`: everything `make SCALE=smoke` reads instead of real data.

CIFAR-10/100 in their real on-disk formats (lightning_modules.data.stand_ins) under DIR, and
stand-ins for torchvision's ImageNet ResNet checkpoints under DIR/torch (TORCH_HOME there)
and timm's ImageNet ViT-Tiny under DIR/huggingface (HF_HUB_CACHE there): random weights of
the smoke-width model, in the cache file torchvision or timm would look for, so
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
from lightning_modules.init import IMAGENET_WEIGHTS, VIT_IMAGENET, VIT_WEIGHTS_FILE
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


def write_vit_stand_in(hub_cache: Path, width: float) -> Path:
    """timm's ImageNet ViT-Tiny layout (patches of 16 at 224, 1000 classes) at `width`, with
    random weights, where the Hugging Face cache keeps it (one revision, `refs/main`)."""
    from safetensors.torch import save_file
    from timm.models import get_pretrained_cfg

    from lightning_modules.models.vit import ViT

    net = ViT((3, 224, 224), 1000, patch_size=16, embed_dim=192, depth=12, num_heads=3,
              width=width)  # fmt: skip
    repo = hub_cache / f"models--{get_pretrained_cfg(VIT_IMAGENET).hf_hub_id.replace('/', '--')}"
    revision = "stand-in"
    path = repo / "snapshots" / revision / VIT_WEIGHTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


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
    write_vit_stand_in(root / "huggingface", width)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
