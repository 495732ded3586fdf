"""Tensor data served by index: order from (seed, epoch), fixed data sets across seeds."""

from __future__ import annotations

import math
from unittest import mock

import torch

from lightning_modules.data import DigitsDataModule, SpiralDataModule, TensorBatchLoader
from lightning_modules.data.spiral import make_spiral


def order_of(loader: TensorBatchLoader) -> list[int]:
    return torch.cat([x for x, _ in loader]).tolist()


def test_batches_cover_the_data_once_in_a_seeded_order():
    data = torch.arange(23)
    loader = TensorBatchLoader(data, data, batch_size=5, shuffle=True, seed=1)
    assert len(loader) == 5
    first = order_of(loader)
    assert sorted(first) == list(range(23))
    assert order_of(loader) == first  # same (seed, epoch): same order
    loader.set_epoch(1)
    assert order_of(loader) != first
    other = TensorBatchLoader(data, data, batch_size=5, shuffle=True, seed=2)
    assert order_of(other) != first
    assert order_of(TensorBatchLoader(data, data, batch_size=5)) == list(range(23))


def test_ranks_split_one_permutation_like_distributed_sampler():
    data = torch.arange(10)
    shards = []
    for rank in (0, 1, 2):
        world = mock.patch(f"{TensorBatchLoader.__module__}.rank_and_world", return_value=(rank, 3))
        with world:
            loader = TensorBatchLoader(data, data, batch_size=2, shuffle=True, seed=0)
            assert len(loader) == 2  # ceil(ceil(10 / 3) / 2)
            shards.append(order_of(loader))
    assert all(len(s) == 4 for s in shards)  # padded to 12 = 3 x 4
    assert set(sum(shards, [])) == set(range(10))


def test_transform_sees_every_training_batch():
    data = torch.zeros(6, 2)
    loader = TensorBatchLoader(data, data, batch_size=4, transform=lambda x, g: x + 1)
    assert all(bool((x == 1).all()) for x, _ in loader)


def test_spiral_follows_eq3_and_is_fixed_across_run_seeds():
    points, labels = make_spiral(4000, noise=0.0, generator=torch.Generator().manual_seed(0))
    # noise-free, each point is 2 sqrt(t) (cos, sin)(8 sqrt(t) pi [+ pi for class 1])
    t = (points.norm(dim=1) / 2) ** 2
    angle = 8 * t.sqrt() * math.pi + math.pi * labels.squeeze(1)
    rebuilt = 2 * t.sqrt().unsqueeze(1) * torch.stack([angle.cos(), angle.sin()], dim=1)
    assert torch.allclose(rebuilt, points, atol=1e-4)
    assert labels.mean().item() == 0.5
    a, b = SpiralDataModule(seed=0), SpiralDataModule(seed=5)
    a.setup(), b.setup()
    for split in ("train", "val", "test"):
        assert torch.equal(a.split(split)[0], b.split(split)[0])
    assert a.split("train")[0].shape == (10000, 2) and a.split("test")[0].shape == (5000, 2)


def test_digits_split_is_fixed_and_disjoint():
    a, b = DigitsDataModule(seed=0), DigitsDataModule(seed=9)
    a.setup(), b.setup()
    assert torch.equal(a.split("test")[0], b.split("test")[0])
    sizes = {name: len(a.split(name)[1]) for name in ("train", "val", "test")}
    assert sizes == {"train": 1797 - 180 - 360, "val": 180, "test": 360}
    train = {tuple(x.flatten().tolist()) for x in a.split("train")[0]}
    test = {tuple(x.flatten().tolist()) for x in a.split("test")[0]}
    assert len(train & test) < 5  # the bundled set has a few duplicate images, no shared split
