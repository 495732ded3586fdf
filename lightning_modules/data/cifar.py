"""CIFAR-10 and CIFAR-100 read by torchvision from their standard folders under `root`."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch
from torchvision.datasets import CIFAR10, CIFAR100

from lightning_modules.data.errors import MissingDataError, unreadable_file
from lightning_modules.data.images import ImageDataModule


def _without_md5(dataset_class: type[CIFAR10]) -> type[CIFAR10]:
    """The torchvision class, reading the same files but only checking that they exist:
    for copies made elsewhere and for test fixtures (`check_integrity=false`)."""

    class Unchecked(dataset_class):
        def _check_integrity(self) -> bool:
            folder = Path(self.root) / self.base_folder
            return all((folder / name).is_file() for name, _ in self.train_list + self.test_list)

        def _load_meta(self) -> None:
            path = os.path.join(self.root, self.base_folder, self.meta["filename"])
            if not os.path.isfile(path):
                raise RuntimeError(f"Dataset metadata file {path} not found")
            with open(path, "rb") as f:
                self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]
            self.class_to_idx = {name: i for i, name in enumerate(self.classes)}

    Unchecked.__name__ = dataset_class.__name__
    return Unchecked


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


class CifarDataModule(ImageDataModule):
    """50000 training and 10000 test images; `val` is the test split (CIFAR has no other
    held-out set, and the paper trains on all 50000): it is only logged, never selected on.
    """

    input_shape = (3, 32, 32)
    dataset_class: type[CIFAR10] = CIFAR10
    folder: str = "cifar-10-batches-py"
    archive: str = "cifar-10-python.tar.gz"

    def __init__(
        self,
        root: str = "data",
        download: bool = False,
        check_integrity: bool = True,
        eval_batch_size: int = 1000,
        **options,
    ):
        super().__init__(eval_batch_size=eval_batch_size, **options)
        self.root, self.download, self.check_integrity = str(root), download, check_integrity

    def _read(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        dataset_class = (
            self.dataset_class if self.check_integrity else _without_md5(self.dataset_class)
        )
        try:
            data = dataset_class(self.root, train=train, download=self.download)
        except RuntimeError:
            folder = Path(self.root) / self.folder
            check = (
                "; copies whose checksums differ load with data.check_integrity=false"
                if self.check_integrity
                else ""
            )
            raise MissingDataError(
                f"{self.dataset_class.__name__} not found or incomplete in {folder}; "
                f"unpack {self.archive} into {self.root} (data.root=DIR) or run with "
                f"data.download=true where a network exists{check}"
            ) from None
        except Exception as error:  # a file that is there but corrupt: name it
            folder = Path(self.root) / self.folder
            listed = dataset_class.train_list + dataset_class.test_list
            names = [name for name, _ in listed] + [dataset_class.meta["filename"]]
            raise unreadable_file(
                [folder / name for name in names], _unpickle, error, "a CIFAR batch"
            ) from None
        images = torch.from_numpy(data.data).permute(0, 3, 1, 2).contiguous()
        return images, torch.tensor(data.targets, dtype=torch.long)

    def read_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        test = self._read(train=False)
        return {"train": self._read(train=True), "val": test, "test": test}


class Cifar10DataModule(CifarDataModule):
    display_name = "CIFAR-10"
    num_outputs = 10
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2470, 0.2435, 0.2616)


class Cifar100DataModule(CifarDataModule):
    display_name = "CIFAR-100"
    num_outputs = 100
    mean = (0.5071, 0.4865, 0.4409)
    std = (0.2673, 0.2564, 0.2762)
    dataset_class = CIFAR100
    folder = "cifar-100-python"
    archive = "cifar-100-python.tar.gz"
