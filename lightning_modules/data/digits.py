"""scikit-learn's bundled 8x8 handwritten digits: an MNIST stand-in that needs no download."""

from __future__ import annotations

import torch

from lightning_modules.data.images import DataOptionError, balanced_subset
from lightning_modules.data.tensor_data import TensorDataModule

SPLIT_SEED = 0  # fixed: the same test set for every run seed


class DigitsDataModule(TensorDataModule):
    """1797 images scaled to [0, 1]: 360 for test, 180 for validation, the rest to train;
    `train_fraction` keeps a seeded, class-balanced part of the training images (as CIFAR's)."""

    display_name = "digits stand-in"
    input_shape = (1, 8, 8)
    num_outputs = 10

    def __init__(
        self,
        batch_size: int = 128,
        eval_batch_size: int = 1000,
        train_size: int | None = None,
        test_size: int | None = None,
        val_count: int = 180,
        test_count: int = 360,
        seed: int = 0,
        train_fraction: float = 1.0,
    ):
        super().__init__(batch_size, eval_batch_size, train_size, test_size, seed)
        if not 0 < train_fraction <= 1:
            raise DataOptionError(f"data.train_fraction must be in (0, 1], got {train_fraction}")
        self.val_count, self.test_count = val_count, test_count
        self.train_fraction = train_fraction

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        labels = torch.tensor(digits.target, dtype=torch.long)
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(SPLIT_SEED))
        test = order[: self.test_count]
        val = order[self.test_count : self.test_count + self.val_count]
        train = order[self.test_count + self.val_count :]
        if self.train_fraction < 1:
            train = train[balanced_subset(labels[train], self.train_fraction, self.seed)]
        return {
            name: (images[i], labels[i])
            for name, i in (("train", train), ("val", val), ("test", test))
        }
