"""MNIST read by torchvision from `root`/MNIST/raw (the IDX files), held as uint8."""

from __future__ import annotations

from pathlib import Path

import torch

from lightning_modules.data.errors import MissingDataError, unreadable_file
from lightning_modules.data.images import ImageDataModule

FULL_SIZES = {True: 60_000, False: 10_000}  # what the real files hold
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def missing_idx_files(root: str | Path) -> list[Path]:
    """The IDX files torchvision reads that are not in `root`/MNIST/raw."""
    raw = Path(root) / "MNIST" / "raw"
    return [raw / name for name in IDX_FILES if not (raw / name).is_file()]


class MnistDataModule(ImageDataModule):
    """60000 training images (the last `val_count` held out for validation), 10000 for test.

    torchvision checks MNIST's checksums only when downloading; `check_integrity` here
    checks that the files hold the full set (60000 + 10000 images), which a truncated or
    stand-in copy does not.
    """

    display_name = "MNIST"
    input_shape = (1, 28, 28)
    num_outputs = 10
    mean, std = (0.1307,), (0.3081,)

    def __init__(
        self,
        root: str = "data",
        download: bool = False,
        check_integrity: bool = True,
        eval_batch_size: int = 2000,
        val_count: int = 5000,
        **options,
    ):
        super().__init__(eval_batch_size=eval_batch_size, **options)
        self.root, self.download, self.check_integrity = str(root), download, check_integrity
        self.val_count = val_count

    def _read(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision.datasets import MNIST
        from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor

        raw = Path(self.root) / "MNIST" / "raw"
        prefix = "train" if train else "t10k"
        files = [raw / f"{prefix}-{kind}-ubyte" for kind in ("images-idx3", "labels-idx1")]
        try:
            data = MNIST(self.root, train=train, download=self.download)
        except Exception as error:
            if all(path.is_file() for path in files):  # there, but corrupt: name the file
                raise unreadable_file(
                    files, read_sn3_pascalvincent_tensor, error, "an IDX file"
                ) from None
            raise MissingDataError(
                f"MNIST not found in {raw} ({error}); put the IDX files "
                "(train-images-idx3-ubyte, ...) there, run with data.download=true where a "
                "network exists, or use data=digits"
            ) from None
        if self.check_integrity and len(data.targets) != FULL_SIZES[train]:
            raise MissingDataError(
                f"MNIST in {raw} holds {len(data.targets)} {'training' if train else 'test'} "
                f"images, not {FULL_SIZES[train]}: an incomplete copy; replace it, or read it "
                "as it is with data.check_integrity=false"
            )
        return data.data.unsqueeze(1).contiguous(), data.targets.long()

    def read_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        images, labels = self._read(train=True)
        keep = len(labels) - min(self.val_count, len(labels) // 10)
        return {
            "train": (images[:keep], labels[:keep]),
            "val": (images[keep:], labels[keep:]),
            "test": self._read(train=False),
        }
