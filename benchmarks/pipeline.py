"""CIFAR training input pipelines side by side: ours (one uint8 tensor on the training
device, augmented per batch there) against torchvision transforms + DataLoader.

Both read the same files (CIFAR-10 under `root`, or a synthetic set in the real format)
and apply the same augmentation (crop with padding 4, flip, normalisation). `measure`
times the pipeline alone and a full ResNet-18 SGD step fed by each.
`python benchmarks/pipeline.py --device cuda` prints the numbers as JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time

import torch
import torch.nn.functional as F

from lightning_modules.data import Cifar10DataModule
from lightning_modules.data.cifar import _without_md5
from lightning_modules.models import resnet


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _ours(root: str, batch_size: int, device: torch.device):
    data = Cifar10DataModule(
        root=root, check_integrity=False, augment="standard", batch_size=batch_size
    )
    data.setup()
    loader = data.loader("train", device=device)

    def batches():
        for epoch in itertools.count():
            loader.set_epoch(epoch)
            yield from loader

    return batches()


def torchvision_transform(augment: bool):
    """The baseline's transforms, the usual CIFAR-10 recipe: crop with 4 pixels of padding and
    flip (when `augment`), then ToTensor and Normalize. The value check uses it unaugmented,
    so what is timed is what is checked."""
    from torchvision import transforms

    crop_and_flip = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()]
    return transforms.Compose(
        [
            *(crop_and_flip if augment else []),
            transforms.ToTensor(),
            transforms.Normalize(Cifar10DataModule.mean, Cifar10DataModule.std),
        ]
    )


def _torchvision(root: str, batch_size: int, device: torch.device, workers: int):
    from torchvision.datasets import CIFAR10

    dataset = _without_md5(CIFAR10)(root, train=True, transform=torchvision_transform(True))
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        drop_last=True,
        persistent_workers=workers > 0,
    )

    def batches():
        while True:
            for x, y in loader:
                yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)

    return batches()


def model_input_difference(root: str) -> float:
    """Largest difference between our model-ready test split and the baseline's transforms
    (unaugmented) of the same files: without augmentation the two pipelines feed the same
    numbers."""
    from torchvision.datasets import CIFAR10

    reference = _without_md5(CIFAR10)(root, train=False, transform=torchvision_transform(False))
    data = Cifar10DataModule(root=root, check_integrity=False)
    data.setup()
    expected = torch.stack([reference[i][0] for i in range(len(reference))])
    return float((data.split("test")[0] - expected).abs().max())


def _images_per_s(batches, steps: int, device, step=None, warmup: int = 2) -> float:
    count = 0
    for i, (x, y) in enumerate(batches):
        if i == warmup:
            _sync(device)
            started, count = time.perf_counter(), 0
        if step is not None:
            step(x, y)
        count += len(y)
        if i == warmup + steps - 1:
            break
    _sync(device)
    return count / (time.perf_counter() - started)


def _training_step(device: torch.device, width: float):
    net = resnet((3, 32, 32), 10, width=width).to(device).train()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)

    def step(x, y):
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        optimizer.step()

    return step


def measure(
    device: str = "cpu",
    root: str | None = None,
    synthetic_images: int = 10_000,
    batch_size: int = 128,
    pipeline_steps: int = 30,
    train_steps: int = 5,
    workers: int = 0,
    width: float = 1.0,
    repeats: int = 2,
) -> dict:
    """Images/s of each pipeline alone and feeding a ResNet-18 SGD step (same model step).

    Without `root`, a synthetic CIFAR-10 of `synthetic_images` training images is written
    in the real format to a temporary folder. `workers` is the DataLoader's.
    `model_inputs_max_difference` checks that both feed the model the same numbers.
    """
    target = torch.device(device)
    with tempfile.TemporaryDirectory() as scratch:
        if root is None:
            from lightning_modules.data.stand_ins import write_cifar10

            write_cifar10(scratch, n_train=synthetic_images, n_test=100)
            root = scratch
        results = {
            "device": str(target),
            "batch_size": batch_size,
            "dataloader_workers": workers,
            "threads": torch.get_num_threads(),
            "model": f"resnet18 width {width}",
            "model_inputs_max_difference": model_input_difference(root),
        }
        pipelines = {
            "ondevice": lambda: _ours(root, batch_size, target),
            "torchvision": lambda: _torchvision(root, batch_size, target, workers),
        }
        step = _training_step(target, width)  # one model for both: the same step
        # alternate the two and keep each one's best, so load from elsewhere hits both alike
        for _ in range(repeats):
            for name, make in pipelines.items():
                for key, steps, train in (
                    (f"pipeline_images_per_s_{name}", pipeline_steps, None),
                    (f"train_images_per_s_{name}", train_steps, step),
                ):
                    rate = _images_per_s(make(), steps, target, step=train)
                    results[key] = max(results.get(key, 0.0), rate)
        for kind in ("pipeline", "train"):
            results[f"{kind}_speedup"] = (
                results[f"{kind}_images_per_s_ondevice"]
                / results[f"{kind}_images_per_s_torchvision"]
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--root", default=None, help="a folder holding cifar-10-batches-py")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--width", type=float, default=1.0)
    args = parser.parse_args()
    print(
        json.dumps(
            measure(
                args.device,
                args.root,
                workers=args.workers,
                train_steps=args.train_steps,
                width=args.width,
            ),
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
