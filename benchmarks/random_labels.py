"""`python -m benchmarks.random_labels`: epochs the random-label pre-stage needs to reach
100% eval-mode accuracy, for MLPs of growing width on the digits stand-in.

The pre-stage (`lightning_modules.init.train_on_random_labels`) stops at 100% or at its
epoch cap (`random_label_max_epochs`). This measures what the cap must allow: the same
code, the CIFAR recipe's optimizer (SGD, momentum 0.9, constant lr 0.01, batch 128, no
weight decay, no augmentation), on the 1,257 digits training images, for widths that move
the parameters per training example from a few to a few hundred (ResNet-18 on CIFAR-10:
11.2M parameters for 50,000 images, about 220 per example).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys

import torch

WIDTHS = (50, 100, 200, 400, 800)


def epochs_to_memorise(hidden: int, seed: int, cap: int) -> tuple[int, float, int]:
    """(epochs taken, eval-mode accuracy reached, parameters) of one pre-stage."""
    from lightning_modules import Classifier
    from lightning_modules.data import DigitsDataModule
    from lightning_modules.init import train_on_random_labels
    from lightning_modules.models import MLP

    torch.manual_seed(seed)
    data = DigitsDataModule(batch_size=128, seed=seed)
    data.setup()
    optimizer = functools.partial(torch.optim.SGD, lr=0.01, momentum=0.9)
    module = Classifier(functools.partial(MLP, (1, 8, 8), 10, hidden=[hidden, hidden]), optimizer)
    record = train_on_random_labels(module, data, seed=seed, max_epochs=cap)
    parameters = sum(p.numel() for p in module.net.parameters())
    return record["epochs"], record["train_acc"], parameters


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.random_labels", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--cap", type=int, default=2000, help="epochs before giving up")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"load average {os.getloadavg()[0]:.1f}; cap {args.cap} epochs")
    print(f"{'hidden':>7} {'params':>8} {'per example':>12} {'epochs to 100% (per seed)':>28}")
    for hidden in WIDTHS:
        found = [epochs_to_memorise(hidden, seed, args.cap) for seed in range(args.seeds)]
        parameters = found[0][2]
        epochs = ", ".join(
            f"{e}" if acc == 1.0 else f">{e} ({100 * acc:.1f}%)" for e, acc, _ in found
        )
        print(f"{hidden:>7} {parameters:>8} {parameters / 1257:>12.1f} {epochs:>28}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
