"""channels_last: convolution weights in NHWC layout for the GPU's tensor-core kernels."""

from __future__ import annotations

import lightning.pytorch as pl
import torch


class ChannelsLast(pl.Callback):
    """Puts the model's 4-d weights in channels_last layout before training starts (and so
    before theta_i is taken). A convolution with channels_last weights runs NHWC kernels
    and hands channels_last activations on, so the inputs need no change. The same numbers
    up to the order of floating-point sums; worth it on GPUs, mostly with bf16."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        pl_module.to(memory_format=torch.channels_last)
