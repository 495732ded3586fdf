"""Modular addition (Power et al. 2022, "Grokking"): a + b mod p from a fraction of all pairs.

Every equation `a + b = c` with a, b in [0, p) is one example: the input is the token
sequence (a, +, b, =) and the class is c, the token that follows. Tokens 0 .. p-1 are the
numbers, p is `+` and p + 1 is `=`, so `num_outputs` is the vocabulary, p + 2: the network
predicts a token, and only number tokens are ever right. Power et al. train on a random
`train_fraction` of the p^2 equations and test on the rest; the split is fixed (the same
for every run seed), only the training order follows the seed.
"""

from __future__ import annotations

import torch

from lightning_modules.data.images import DataOptionError
from lightning_modules.data.tensor_data import TensorDataModule

SPLIT_SEED = 0  # fixed: every run seed trains on the same equations
SEQUENCE_LENGTH = 4  # a, +, b, =


def equations(modulus: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (a, +, b, =) sequence, a-major, and its answer (a + b) mod p."""
    a, b = torch.cartesian_prod(torch.arange(modulus), torch.arange(modulus)).T
    plus, equals = torch.full_like(a, modulus), torch.full_like(a, modulus + 1)
    return torch.stack([a, plus, b, equals], dim=1), (a + b) % modulus


class ModularAdditionDataModule(TensorDataModule):
    """All p^2 equations split once into `train_fraction` for training and the rest for
    test; validation reads the test equations (the curve of test accuracy per epoch)."""

    input_shape = (SEQUENCE_LENGTH,)

    def __init__(
        self,
        modulus: int = 97,
        train_fraction: float = 0.5,
        batch_size: int = 512,
        eval_batch_size: int = 10_000,
        train_size: int | None = None,
        test_size: int | None = None,
        seed: int = 0,
    ):
        super().__init__(batch_size, eval_batch_size, train_size, test_size, seed)
        if modulus < 2:
            raise DataOptionError(f"data.modulus must be an integer >= 2, got {modulus}")
        if not 0 < train_fraction < 1:
            raise DataOptionError(
                f"data.train_fraction must be in (0, 1): some equations must be left to test, "
                f"got {train_fraction}"
            )
        self.modulus, self.train_fraction = modulus, train_fraction
        self.num_outputs = modulus + 2

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        inputs, answers = equations(self.modulus)
        order = torch.randperm(len(answers), generator=torch.Generator().manual_seed(SPLIT_SEED))
        count = max(1, min(len(order) - 1, round(self.train_fraction * len(order))))
        train, test = order[:count], order[count:]
        return {
            "train": (inputs[train], answers[train]),
            "val": (inputs[test], answers[test]),
            "test": (inputs[test], answers[test]),
        }
