"""MNIST read by torchvision from `root`/MNIST/raw (the IDX files), held as one tensor."""

from __future__ import annotations

from pathlib import Path

import torch

from lightning_modules.data.errors import MissingDataError
from lightning_modules.data.tensor_data import TensorDataModule

MEAN, STD = 0.1307, 0.3081


class MnistDataModule(TensorDataModule):
    """60000 training images (the last `val_count` held out for validation), 10000 for test."""

    input_shape = (1, 28, 28)
    num_outputs = 10

    def __init__(
        self,
        root: str = "data",
        download: bool = False,
        batch_size: int = 128,
        eval_batch_size: int = 2000,
        train_size: int | None = None,
        test_size: int | None = None,
        val_count: int = 5000,
        seed: int = 0,
    ):
        super().__init__(batch_size, eval_batch_size, train_size, test_size, seed)
        self.root, self.download, self.val_count = str(root), download, val_count

    def _read(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision.datasets import MNIST

        try:
            data = MNIST(self.root, train=train, download=self.download)
        except RuntimeError as error:
            raw = Path(self.root) / "MNIST" / "raw"
            raise MissingDataError(
                f"MNIST not found in {raw} ({error}); put the IDX files "
                "(train-images-idx3-ubyte, ...) there, run with data.download=true where a "
                "network exists, or use data=digits"
            ) from None
        images = (data.data.unsqueeze(1).float() / 255.0 - MEAN) / STD
        return images, data.targets.long()

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        images, labels = self._read(train=True)
        keep = len(labels) - self.val_count
        return {
            "train": (images[:keep], labels[:keep]),
            "val": (images[keep:], labels[keep:]),
            "test": self._read(train=False),
        }
