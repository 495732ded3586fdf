"""Data sets held as tensors and served by index: no worker processes, no per-item Python.

Every data set here fits in memory (spiral, digits, MNIST, CIFAR), so a batch is one
indexing operation. Images are stored compactly (uint8) and made model-ready per batch on
the training device (`model_ready`, `train_transform`), so a GPU never waits on Python
image code; the same code runs on a CPU. The training order depends on (seed, epoch)
only, so a resumed run sees the batches a straight run would; under DDP each rank takes
its share of one permutation, as `DistributedSampler` does.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

import lightning.pytorch as pl
import torch

from landscape.distributed import rank_and_world

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
SPLITS = ("train", "val", "test")


def fingerprint(splits: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> str:
    """sha256 over every split's inputs and targets (dtype, shape and bytes)."""
    digest = hashlib.sha256()
    for name in sorted(splits):
        for tensor in splits[name]:
            tensor = tensor.detach().to("cpu").contiguous()
            digest.update(f"{name} {tensor.dtype} {tuple(tensor.shape)};".encode())
            digest.update(tensor.numpy())
    return digest.hexdigest()


class TensorBatchLoader:
    """Batches of (inputs[idx], targets[idx]); `transform(inputs, generator)` augments them.

    Lightning calls `sampler.set_epoch(epoch)` before each epoch; the loader is its own
    sampler, so the shuffle is reproducible from (seed, epoch) alone. Under DDP each rank
    gets its share, unless `sharded=False` (every rank the same batches).
    """

    def __init__(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        transform: Transform | None = None,
        sharded: bool = True,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.inputs, self.targets = inputs, targets
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.transform = transform
        self.epoch = 0
        self.rank, self.world = rank_and_world() if sharded else (0, 1)

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
        order = self._indices(generator).to(self.targets.device)
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            inputs = self.inputs[index]
            if self.transform is not None:
                inputs = self.transform(inputs, generator)
            yield inputs, self.targets[index]


class BatchGroups:
    """Runs of `size` consecutive batches of `loader`, one list per Lightning step: with
    `Classifier(steps_per_call=size)` each batch in a run is still one optimizer step, and
    Lightning's per-step cost is paid once per run (small data sets, tiny models)."""

    batch_sampler = None

    def __init__(self, loader: TensorBatchLoader, size: int):
        if size < 1:
            raise ValueError(f"steps_per_call must be >= 1, got {size}")
        self.loader, self.size = loader, size

    @property
    def sampler(self) -> TensorBatchLoader:
        return self.loader  # Lightning calls its set_epoch

    def __len__(self) -> int:
        return math.ceil(len(self.loader) / self.size)

    def __iter__(self):
        group = []
        for batch in self.loader:
            group.append(batch)
            if len(group) == self.size:
                yield group
                group = []
        if group:
            yield group


class TensorDataModule(pl.LightningDataModule):
    """A DataModule over in-memory splits; subclasses fill `self.splits` in `load_splits`.

    `train_size`/`test_size` keep the first examples of a split (smoke runs); the split
    itself never depends on the run seed, only the training order does (and the seeded
    options a subclass asks for, such as a training subset or random labels).
    """

    input_shape: tuple[int, ...]
    num_outputs: int
    display_name: str = ""  # what reports call the data (digits: "digits stand-in", not MNIST)
    loss: str = "cross_entropy"
    steps_per_call: int = 1  # training batches per Lightning step (set with the Classifier's)

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
        # sha256 of the data as read, before any seeded choice (runs.identity: reuse and the
        # manifest tell a stand-in from the real set by it); set by a subclass that
        # processes what it reads, else taken from load_splits
        self.fingerprint: str | None = None
        # splits moved to a device (stored form) and made model-ready, built on first use
        self._ready: dict[tuple[str, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Every split in its stored form (e.g. uint8 images), keyed train/val/test."""
        raise NotImplementedError

    def model_ready(self, inputs: torch.Tensor) -> torch.Tensor:
        """Stored inputs -> what the network takes (e.g. uint8 -> normalised float)."""
        return inputs

    def train_transform(self) -> Transform | None:
        """Augmentation of stored training batches; its output goes through `model_ready`."""
        return None

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        splits = self.load_splits()
        if self.fingerprint is None:
            self.fingerprint = fingerprint(splits)
        limits = {"train": self.train_size, "val": self.test_size, "test": self.test_size}
        self.splits = {
            name: (x[:limit], y[:limit]) if limit is not None else (x, y)
            for name, (x, y) in splits.items()
            for limit in [limits[name]]
        }

    def device(self) -> torch.device:
        """The training device once a Trainer holds this module; the CPU before."""
        trainer = getattr(self, "trainer", None)
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def _stored(self, name: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if name not in self.splits:
            raise KeyError(f"unknown split {name!r}; this data has {sorted(self.splits)}")
        key = (f"stored/{name}", device)
        if key not in self._ready:
            inputs, targets = self.splits[name]
            self._ready[key] = (inputs.to(device), targets.to(device))
        return self._ready[key]

    def split(
        self, name: str, device: torch.device | str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A whole split, model-ready, on `device` (default: the training device)."""
        device = torch.device(device) if device is not None else self.device()
        key = (name, device)
        if key not in self._ready:
            inputs, targets = self._stored(name, device)
            self._ready[key] = (self.model_ready(inputs), targets)
        return self._ready[key]

    def _batch_transform(self) -> Transform:
        augment = self.train_transform()
        if augment is None:
            return lambda inputs, generator: self.model_ready(inputs)
        return lambda inputs, generator: self.model_ready(augment(inputs, generator))

    def loader(
        self, name: str, device: torch.device | str | None = None, sharded: bool = True
    ) -> TensorBatchLoader:
        """Batches on `device` (default: the training device). Training batches are
        augmented and made model-ready per batch; the rest come from the model-ready split.
        `sharded=False` gives every DDP rank the same batches."""
        device = torch.device(device) if device is not None else self.device()
        if name == "train":
            inputs, targets = self._stored(name, device)
            transform = self._batch_transform()
            return TensorBatchLoader(
                inputs, targets, self.batch_size, True, self.seed, transform, sharded
            )
        inputs, targets = self.split(name, device)
        return TensorBatchLoader(inputs, targets, self.eval_batch_size, sharded=sharded)

    def train_dataloader(self) -> TensorBatchLoader | BatchGroups:
        loader = self.loader("train")
        return loader if self.steps_per_call == 1 else BatchGroups(loader, self.steps_per_call)

    def val_dataloader(self) -> TensorBatchLoader:
        return self.loader("val")

    def test_dataloader(self) -> TensorBatchLoader:
        return self.loader("test")
