"""Image data sets held as one uint8 tensor, augmented per batch on the training device.

The augmentations are the torchvision ones the paper uses, written for a whole batch at
once: random crop with zero padding, horizontal flip, brightness jitter. Their random
draws come from the loader's CPU generator (a few numbers per image), so a run is
reproducible from (seed, epoch) on any device.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from landscape.errors import LinpathError
from lightning_modules.data.tensor_data import TensorDataModule, Transform, fingerprint

AUGMENTATIONS = ("none", "standard", "extra")
CROP_PADDING = 4
EXTRA_BRIGHTNESS = 0.05
SUBSET_STREAM, LABEL_STREAM = 1, 2  # separate random streams off the data seed


class DataOptionError(LinpathError, ValueError):
    """A data option outside what the data module accepts."""


def random_crop_flip(
    images: torch.Tensor, generator: torch.Generator, padding: int = CROP_PADDING
) -> torch.Tensor:
    """RandomCrop(size, padding) then RandomHorizontalFlip, per image: one strided copy of
    each image's window out of the padded batch (a view of every window), then the flip."""
    count, _, height, width = images.shape
    device = images.device
    shifts = torch.randint(0, 2 * padding + 1, (2, count), generator=generator).to(device)
    flips = (torch.rand(count, generator=generator) < 0.5).to(device)
    padded = F.pad(images, (padding, padding, padding, padding))
    windows = padded.unfold(2, height, 1).unfold(3, width, 1)  # (N, C, dy, dx, H, W)
    crops = windows[torch.arange(count, device=device), :, shifts[0], shifts[1]]
    return torch.where(flips[:, None, None, None], crops.flip(3), crops)


def random_brightness(
    images: torch.Tensor, generator: torch.Generator, amount: float = EXTRA_BRIGHTNESS
) -> torch.Tensor:
    """ColorJitter(brightness=amount) on uint8 images: scale by U(1 - a, 1 + a), clamp."""
    factor = 1 - amount + 2 * amount * torch.rand(len(images), generator=generator)
    scaled = images.float() * factor.to(images.device)[:, None, None, None]
    return scaled.clamp_(0, 255).round_().to(torch.uint8)


def balanced_subset(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded subset with `fraction` of every class."""
    generator = torch.Generator().manual_seed(seed * 10 + SUBSET_STREAM)
    order = torch.randperm(len(labels), generator=generator)
    keep = []
    for label in labels.unique():
        members = order[labels[order] == label]
        keep.append(members[: max(1, round(fraction * len(members)))])
    return torch.cat(keep).sort().values


def randomize_labels(labels: torch.Tensor, fraction: float, classes: int, seed: int):
    """A copy of `labels` with a seeded `fraction` of them replaced by uniform draws."""
    generator = torch.Generator().manual_seed(seed * 10 + LABEL_STREAM)
    chosen = torch.randperm(len(labels), generator=generator)[: round(fraction * len(labels))]
    labels = labels.clone()
    labels[chosen] = torch.randint(0, classes, (len(chosen),), generator=generator)
    return labels


class ImageDataModule(TensorDataModule):
    """uint8 images (N, C, H, W) with the options the paper varies.

    `augment`: none | standard (flip + crop with padding 4) | extra (standard + brightness
    0.05). `normalize` maps to zero mean, unit variance per channel. `train_fraction`
    keeps a seeded, class-balanced part of the training set; `random_labels` replaces a
    seeded fraction of its labels. Subclasses read the files in `read_splits`.
    """

    mean: Sequence[float]
    std: Sequence[float]

    def __init__(
        self,
        batch_size: int = 128,
        eval_batch_size: int = 1000,
        train_size: int | None = None,
        test_size: int | None = None,
        seed: int = 0,
        augment: str = "none",
        normalize: bool = True,
        train_fraction: float = 1.0,
        random_labels: float = 0.0,
    ):
        super().__init__(batch_size, eval_batch_size, train_size, test_size, seed)
        if augment not in AUGMENTATIONS:
            raise DataOptionError(
                f"unknown data.augment {augment!r}; expected one of {list(AUGMENTATIONS)}"
            )
        if not 0 < train_fraction <= 1:
            raise DataOptionError(f"data.train_fraction must be in (0, 1], got {train_fraction}")
        if not 0 <= random_labels <= 1:
            raise DataOptionError(f"data.random_labels must be in [0, 1], got {random_labels}")
        self.augment, self.normalize = augment, normalize
        self.train_fraction, self.random_labels = train_fraction, random_labels

    def read_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        raise NotImplementedError

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        splits = self.read_splits()
        self.fingerprint = fingerprint(splits)  # the files' content, before seeded choices
        images, labels = splits["train"]
        if self.train_fraction < 1:
            keep = balanced_subset(labels, self.train_fraction, self.seed)
            images, labels = images[keep], labels[keep]
        if self.random_labels > 0:
            labels = randomize_labels(labels, self.random_labels, self.num_outputs, self.seed)
        splits["train"] = (images, labels)
        return splits

    def model_ready(self, inputs: torch.Tensor) -> torch.Tensor:
        images = inputs.float().div_(255)
        if not self.normalize:
            return images
        mean = torch.tensor(self.mean, device=images.device)[:, None, None]
        std = torch.tensor(self.std, device=images.device)[:, None, None]
        return images.sub_(mean).div_(std)

    def train_transform(self) -> Transform | None:
        if self.augment == "none":
            return None
        if self.augment == "standard":
            return random_crop_flip
        return lambda images, generator: random_brightness(
            random_crop_flip(images, generator), generator
        )
