"""Data sets held as tensors and served by index: no worker processes, no per-item Python.

Every data set here fits in memory (spiral, digits, MNIST, CIFAR), so a batch is one
indexing operation. The training order depends on (seed, epoch) only, so a resumed run
sees the batches a straight run would; under DDP each rank takes its share of one
permutation, as `DistributedSampler` does.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import lightning.pytorch as pl
import torch

from landscape.distributed import rank_and_world

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
SPLITS = ("train", "val", "test")


class TensorBatchLoader:
    """Batches of (inputs[idx], targets[idx]); `transform(inputs, generator)` augments them.

    Lightning calls `sampler.set_epoch(epoch)` before each epoch; the loader is its own
    sampler, so the shuffle is reproducible from (seed, epoch) alone.
    """

    def __init__(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        transform: Transform | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.inputs, self.targets = inputs, targets
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.transform = transform
        self.epoch = 0
        self.rank, self.world = rank_and_world()

    batch_sampler = None  # Lightning inspects it; batching is done here

    @property
    def sampler(self) -> TensorBatchLoader:
        return self

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)

    def _indices(self, generator: torch.Generator) -> torch.Tensor:
        count = len(self.targets)
        order = torch.randperm(count, generator=generator) if self.shuffle else torch.arange(count)
        if self.world > 1:
            per_rank = math.ceil(count / self.world)
            padded = torch.cat([order, order[: per_rank * self.world - count]])
            order = padded[self.rank :: self.world]
        return order

    def __len__(self) -> int:
        return math.ceil(math.ceil(len(self.targets) / self.world) / self.batch_size)

    def __iter__(self):
        generator = self._generator()
        order = self._indices(generator)
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            inputs = self.inputs[index]
            if self.transform is not None:
                inputs = self.transform(inputs, generator)
            yield inputs, self.targets[index]


class TensorDataModule(pl.LightningDataModule):
    """A DataModule over in-memory splits; subclasses fill `self.splits` in `load_splits`.

    `train_size`/`test_size` keep the first examples of a split (smoke runs); the split
    itself never depends on the run seed, only the training order does.
    """

    input_shape: tuple[int, ...]
    num_outputs: int
    loss: str = "cross_entropy"

    def __init__(
        self,
        batch_size: int,
        eval_batch_size: int = 1000,
        train_size: int | None = None,
        test_size: int | None = None,
        seed: int = 0,
    ):
        super().__init__()
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.train_size, self.test_size = train_size, test_size
        self.seed = seed
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        raise NotImplementedError

    def train_transform(self) -> Transform | None:
        """Augmentation applied to every training batch; none by default."""
        return None

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        splits = self.load_splits()
        limits = {"train": self.train_size, "val": self.test_size, "test": self.test_size}
        self.splits = {
            name: (x[:limit], y[:limit]) if limit is not None else (x, y)
            for name, (x, y) in splits.items()
            for limit in [limits[name]]
        }

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name not in self.splits:
            raise KeyError(f"unknown split {name!r}; this data has {sorted(self.splits)}")
        return self.splits[name]

    def loader(self, name: str) -> TensorBatchLoader:
        inputs, targets = self.split(name)
        if name == "train":
            return TensorBatchLoader(
                inputs, targets, self.batch_size, True, self.seed, self.train_transform()
            )
        return TensorBatchLoader(inputs, targets, self.eval_batch_size)

    def train_dataloader(self) -> TensorBatchLoader:
        return self.loader("train")

    def val_dataloader(self) -> TensorBatchLoader:
        return self.loader("val")

    def test_dataloader(self) -> TensorBatchLoader:
        return self.loader("test")
