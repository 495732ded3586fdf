"""Networks; each takes `input_shape` and `num_outputs` from the data."""

from lightning_modules.models.mlp import MLP
from lightning_modules.models.resnet import resnet
from lightning_modules.models.vgg import VGG

__all__ = ["MLP", "VGG", "resnet"]
