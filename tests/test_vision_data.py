"""CIFAR and MNIST read from tiny files in their real formats; the on-device augmentation."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lightning_modules.data import (
    Cifar10DataModule,
    Cifar100DataModule,
    MissingDataError,
    MnistDataModule,
)
from lightning_modules.data.images import (
    DataOptionError,
    balanced_subset,
    random_brightness,
    random_crop_flip,
    randomize_labels,
)
from lightning_modules.data.stand_ins import write_cifar10, write_cifar100, write_mnist


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_cifar10(root, n_train=100, n_test=50)
    write_cifar100(root, n_train=200, n_test=100)
    write_mnist(root, n_train=100, n_test=50)
    return root


def cifar10(root, **options):
    data = Cifar10DataModule(root=str(root), check_integrity=False, **options)
    data.setup()
    return data


def test_cifar10_reads_the_pickled_batches_as_written(data_root):
    data = cifar10(data_root, augment="none")
    images, labels = data.splits["train"]
    assert images.dtype == torch.uint8 and images.shape == (100, 3, 32, 32)
    # independent read: the five pickled batches in order, rows are R, G, B planes
    rows, written = [], []
    for i in range(1, 6):
        with open(data_root / "cifar-10-batches-py" / f"data_batch_{i}", "rb") as f:
            entry = pickle.load(f, encoding="latin1")
        rows.append(entry["data"])
        written += entry["labels"]
    expected = torch.from_numpy(np.concatenate(rows).reshape(-1, 3, 32, 32))
    assert torch.equal(images, expected)
    assert labels.tolist() == written
    assert data.num_outputs == 10 and data.input_shape == (3, 32, 32)
    assert len(data.split("test")[1]) == 50 and torch.equal(
        data.split("val")[0], data.split("test")[0]
    )


def test_model_ready_inputs_are_normalised_per_channel(data_root):
    data = cifar10(data_root, augment="none")
    stored, _ = data.splits["test"]
    ready, _ = data.split("test")
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)
    assert torch.allclose(ready, (stored.float() / 255 - mean) / std, atol=1e-5)
    # without augmentation a training batch is the model-ready split, reordered
    train_batch, train_labels = next(iter(data.loader("train")))
    train_ready = data.model_ready(data.splits["train"][0])
    for image in train_batch[:5]:
        assert (train_ready == image).flatten(1).all(1).any()
    raw = cifar10(data_root, augment="none", normalize=False)
    assert torch.allclose(raw.split("test")[0], stored.float() / 255)


def test_cifar100_uses_fine_labels(data_root):
    data = Cifar100DataModule(root=str(data_root), check_integrity=False)
    data.setup()
    with open(data_root / "cifar-100-python" / "train", "rb") as f:
        fine = pickle.load(f, encoding="latin1")["fine_labels"]
    assert data.num_outputs == 100
    assert data.splits["train"][1].tolist() == fine


def test_integrity_check_refuses_files_without_the_real_checksums(data_root):
    with pytest.raises(MissingDataError, match="check_integrity=false"):
        Cifar10DataModule(root=str(data_root)).setup()
    with pytest.raises(MissingDataError, match="check_integrity=false"):
        MnistDataModule(root=str(data_root)).setup()


def test_missing_data_names_the_folder_and_the_fix(tmp_path):
    with pytest.raises(MissingDataError) as error:
        Cifar100DataModule(root=str(tmp_path / "nowhere")).setup()
    message = str(error.value)
    assert str(tmp_path / "nowhere" / "cifar-100-python") in message
    assert "data.root" in message and "data.download=true" in message
    assert "\n" not in message


def test_mnist_reads_idx_files(data_root):
    data = MnistDataModule(root=str(data_root), check_integrity=False)
    data.setup()
    raw = (data_root / "MNIST" / "raw" / "train-images-idx3-ubyte").read_bytes()
    pixels = torch.frombuffer(bytearray(raw[16:]), dtype=torch.uint8).view(100, 1, 28, 28)
    train, val = data.splits["train"][0], data.splits["val"][0]
    assert torch.equal(torch.cat([train, val]), pixels)
    assert len(val) == 10  # at most a tenth of a small file is held out
    assert data.split("test")[0].shape == (50, 1, 28, 28)
    assert data.split("test")[0].mean().abs() < 3  # normalised, not raw bytes


def test_crop_flip_is_a_shifted_window_of_the_padded_image():
    images = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    out = random_crop_flip(images, torch.Generator().manual_seed(0), padding=2)
    padded = F.pad(images, (2, 2, 2, 2))
    flips = 0
    for image, source in zip(out, padded):
        windows = [
            (dy, dx, flip)
            for dy in range(5)
            for dx in range(5)
            for flip in (False, True)
            if torch.equal(
                image, (lambda w: w.flip(2) if flip else w)(source[:, dy : dy + 8, dx : dx + 8])
            )
        ]
        assert windows, "every output is one crop of the padded image, maybe flipped"
        flips += windows[0][2]
    again = random_crop_flip(images, torch.Generator().manual_seed(0), padding=2)
    assert torch.equal(out, again)
    assert 0 < flips < 6


def test_brightness_scales_each_image_by_at_most_five_percent():
    images = torch.full((50, 3, 4, 4), 200, dtype=torch.uint8)
    out = random_brightness(images, torch.Generator().manual_seed(0)).float()
    ratio = out[:, 0, 0, 0] / 200
    assert ratio.min() >= 0.95 - 1e-2 and ratio.max() <= 1.05 + 1e-2
    assert ratio.std() > 0.01
    assert (out == out[:, :1, :1, :1]).all()  # one factor per image


def test_training_batches_are_augmented_and_seeded(data_root):
    data = cifar10(data_root, augment="extra")
    first = [x for x, _ in data.loader("train")]
    assert torch.equal(torch.cat(first), torch.cat([x for x, _ in data.loader("train")]))
    loader = data.loader("train")
    loader.set_epoch(1)
    assert not torch.equal(torch.cat(first), torch.cat([x for x, _ in loader]))
    assert first[0].dtype == torch.float32 and first[0].shape[1:] == (3, 32, 32)


def test_train_fraction_keeps_a_balanced_seeded_subset(data_root):
    labels = torch.arange(1000) % 10
    subset = balanced_subset(labels, 0.25, seed=0)
    assert torch.bincount(labels[subset]).tolist() == [25] * 10
    assert torch.equal(subset, balanced_subset(labels, 0.25, seed=0))
    assert not torch.equal(subset, balanced_subset(labels, 0.25, seed=1))
    data = cifar10(data_root, train_fraction=0.5)
    assert torch.bincount(data.splits["train"][1]).tolist() == [5] * 10


def test_random_labels_replace_a_seeded_fraction():
    labels = torch.zeros(2000, dtype=torch.long)
    noisy = randomize_labels(labels, 0.3, classes=10, seed=0)
    changed = int((noisy != labels).sum())
    assert changed <= 600 and changed == pytest.approx(600 * 0.9, rel=0.15)
    assert torch.equal(noisy, randomize_labels(labels, 0.3, classes=10, seed=0))
    assert torch.equal(randomize_labels(labels, 0.0, classes=10, seed=0), labels)


@pytest.mark.parametrize(
    "option", [{"augment": "heavy"}, {"train_fraction": 0.0}, {"random_labels": 1.5}]
)
def test_bad_options_are_refused(data_root, option):
    with pytest.raises(DataOptionError, match=next(iter(option))):
        Cifar10DataModule(root=str(data_root), **option)


@pytest.mark.gpu
def test_training_batches_are_built_on_the_training_device(data_root):
    data = cifar10(data_root, augment="extra")
    x, y = next(iter(data.loader("train", device="cuda")))
    assert x.is_cuda and y.is_cuda and x.dtype == torch.float32
    cpu = cifar10(data_root, augment="extra")
    x_cpu, _ = next(iter(cpu.loader("train")))
    assert torch.allclose(x.cpu(), x_cpu, atol=1e-5)  # same draws on either device
