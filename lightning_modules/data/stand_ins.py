"""Tiny CIFAR-10/100 and MNIST in their real on-disk formats, for tests and smoke runs.

The loaders read these through torchvision exactly as they read the real sets, so a test
that passes here exercises the same code. Images are noise around a colour that depends
on the class, so a few steps of training can learn something.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np


def _images(labels: np.ndarray, channels: int, side: int, seed: int) -> np.ndarray:
    """uint8 images (N, channels, side, side): a per-class level plus noise."""
    rng = np.random.default_rng(seed)
    level = (labels.astype(np.int64) * 37) % 200 + 28
    noise = rng.integers(-28, 28, size=(len(labels), channels, side, side))
    return np.clip(level[:, None, None, None] + noise, 0, 255).astype(np.uint8)


def _labels(count: int, classes: int, seed: int) -> np.ndarray:
    """Every class in turn, then shuffled: balanced as the real sets are."""
    labels = np.arange(count) % classes
    np.random.default_rng(seed).shuffle(labels)
    return labels


def _pickle(path: Path, entry: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(entry, f, protocol=2)


def _cifar_batch(labels: np.ndarray, label_key: str, seed: int, name: str) -> dict:
    data = _images(labels, 3, 32, seed).reshape(len(labels), 3 * 32 * 32)
    return {
        "batch_label": name,
        label_key: [int(y) for y in labels],
        "data": data,
        "filenames": [f"{name}_{i}.png" for i in range(len(labels))],
    }


def write_cifar10(root: str | Path, n_train: int = 100, n_test: int = 50, seed: int = 0) -> Path:
    """`root`/cifar-10-batches-py with data_batch_1..5, test_batch and batches.meta."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    labels = _labels(n_train, 10, seed)
    for i, part in enumerate(np.array_split(np.arange(n_train), 5), start=1):
        name = f"data_batch_{i}"
        _pickle(folder / name, _cifar_batch(labels[part], "labels", seed + i, name))
    test = _labels(n_test, 10, seed + 100)
    _pickle(folder / "test_batch", _cifar_batch(test, "labels", seed + 100, "test_batch"))
    names = ["airplane", "automobile", "bird", "cat", "deer"]
    names += ["dog", "frog", "horse", "ship", "truck"]
    meta = {"label_names": names, "num_cases_per_batch": n_train // 5, "num_vis": 3072}
    _pickle(folder / "batches.meta", meta)
    return folder


def write_cifar100(root: str | Path, n_train: int = 200, n_test: int = 100, seed: int = 0) -> Path:
    """`root`/cifar-100-python with train, test and meta (fine and coarse labels)."""
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for name, count, offset in (("train", n_train, 0), ("test", n_test, 100)):
        labels = _labels(count, 100, seed + offset)
        entry = _cifar_batch(labels, "fine_labels", seed + offset, name)
        entry["coarse_labels"] = [int(y) // 5 for y in labels]
        _pickle(folder / name, entry)
    meta = {
        "fine_label_names": [f"class_{i}" for i in range(100)],
        "coarse_label_names": [f"super_{i}" for i in range(20)],
    }
    _pickle(folder / "meta", meta)
    return folder


def _write_idx(path: Path, array: np.ndarray) -> None:
    """IDX: two zero bytes, the type (0x08 = uint8), the rank, big-endian sizes, the data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: str | Path, n_train: int = 100, n_test: int = 50, seed: int = 0) -> Path:
    """`root`/MNIST/raw with the four uncompressed IDX files torchvision reads."""
    folder = Path(root) / "MNIST" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count, offset in (("train", n_train, 0), ("t10k", n_test, 100)):
        labels = _labels(count, 10, seed + offset)
        images = _images(labels, 1, 28, seed + offset)[:, 0]
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)
    return folder
