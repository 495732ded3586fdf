"""The data and network of a composed config: one place for training and re-evaluation."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from omegaconf import DictConfig
from torch import nn


def data_and_net_factory(cfg: DictConfig) -> tuple[object, Callable[[], nn.Module]]:
    """The set-up data module and a factory for the network sized to it; missing data fails
    here, before anything is built or written."""
    from hydra.utils import instantiate

    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    net_factory = functools.partial(
        instantiate(cfg.model),
        input_shape=datamodule.input_shape,
        num_outputs=datamodule.num_outputs,
    )
    return datamodule, net_factory


def device_of(cfg: DictConfig) -> str:
    """Where work outside the Trainer runs (an init pre-stage, a re-evaluation): the trainer's
    accelerator."""
    wants_gpu = cfg.trainer.get("accelerator", "auto") in ("auto", "gpu", "cuda")
    return "cuda" if wants_gpu and torch.cuda.is_available() else "cpu"
