"""Networks; each takes `input_shape` and `num_outputs` from the data."""

from lightning_modules.models.mlp import MLP
from lightning_modules.models.resnet import resnet

__all__ = ["MLP", "resnet"]
