"""DataModules: every split held as tensors, served by `TensorBatchLoader`."""

from lightning_modules.data.cifar import Cifar10DataModule, Cifar100DataModule
from lightning_modules.data.digits import DigitsDataModule
from lightning_modules.data.errors import MissingDataError
from lightning_modules.data.images import ImageDataModule
from lightning_modules.data.mnist import MnistDataModule
from lightning_modules.data.modular import ModularAdditionDataModule
from lightning_modules.data.spiral import SpiralDataModule
from lightning_modules.data.tensor_data import TensorBatchLoader, TensorDataModule

__all__ = [
    "Cifar10DataModule",
    "Cifar100DataModule",
    "DigitsDataModule",
    "ImageDataModule",
    "MissingDataError",
    "MnistDataModule",
    "ModularAdditionDataModule",
    "SpiralDataModule",
    "TensorBatchLoader",
    "TensorDataModule",
]
