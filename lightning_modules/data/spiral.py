"""The two-spiral data set of the paper's Eq. 3 (App. A): a binary task an MLP finds hard."""

from __future__ import annotations

import math

import torch

from lightning_modules.data.tensor_data import TensorDataModule

DATA_SEED = 20_220_717  # fixed: every run seed sees the same data set


def make_spiral(
    count: int, noise: float = 0.02, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` points, half per class: 2 sqrt(t) (cos, sin)(8 sqrt(t) pi [+ pi]) + noise.

    Returns points (count, 2) and float labels (count, 1) for binary cross entropy.
    """
    labels = (torch.arange(count) % 2).float()
    root_t = torch.rand(count, generator=generator).sqrt()
    angle = 8 * root_t * math.pi + math.pi * labels
    points = 2 * root_t.unsqueeze(1) * torch.stack([angle.cos(), angle.sin()], dim=1)
    points = points + noise * torch.randn(count, 2, generator=generator)
    return points, labels.unsqueeze(1)


class SpiralDataModule(TensorDataModule):
    """10000 training and 5000 test points (the paper), plus 2000 for validation."""

    display_name = "spiral"
    input_shape = (2,)
    num_outputs = 1
    loss = "bce"

    def __init__(
        self,
        train_size: int = 10_000,
        test_size: int = 5_000,
        val_size: int = 2_000,
        noise: float = 0.02,
        batch_size: int = 500,
        eval_batch_size: int = 5_000,
        seed: int = 0,
    ):
        super().__init__(batch_size, eval_batch_size, seed=seed)
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.noise = noise

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(DATA_SEED)
        return {name: make_spiral(n, self.noise, generator) for name, n in self.sizes.items()}
