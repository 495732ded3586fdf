"""The one LightningModule: any architecture, trained as a classifier."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import lightning.pytorch as pl
import torch
from torch import nn

from landscape.evaluate import LOSSES, batch_loss_and_correct

NetFactory = Callable[[], nn.Module]
OptimizerFactory = Callable[[Iterable], torch.optim.Optimizer]
ParamGroups = Callable[[nn.Module], list[dict]]


class Classifier(pl.LightningModule):
    """Wraps a network built by `net_factory` (so a fresh draw from the same initialiser is
    one call away: theta_i' and unit resets use it). Binary cross entropy on one logit when
    `loss="bce"`, cross entropy otherwise. Loss and accuracy are logged per epoch only, so
    no step waits on a device-to-host copy.
    """

    def __init__(
        self,
        net_factory: NetFactory,
        optimizer: OptimizerFactory,
        scheduler: Callable | None = None,
        loss: str = "cross_entropy",
        param_groups: ParamGroups | None = None,
    ):
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; expected one of {list(LOSSES)}")
        self.net_factory = net_factory
        self.net = net_factory()
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.param_groups = param_groups
        self.loss_name = loss

    def fresh_net(self, seed: int) -> nn.Module:
        """A new draw from the network's own initialiser under `seed`; global RNG untouched."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.net_factory()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(inputs)

    def _step(self, batch, split: str) -> torch.Tensor:
        inputs, targets = batch
        summed, correct = batch_loss_and_correct(self.net(inputs), targets, self.loss_name)
        count = targets.shape[0]
        loss = summed / count
        self.log(f"{split}/loss", loss, on_step=False, on_epoch=True, batch_size=count)
        self.log(f"{split}/acc", correct / count, on_step=False, on_epoch=True, batch_size=count)
        return loss

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "test")

    def make_optimizer(self) -> torch.optim.Optimizer:
        """The configured optimizer over the net, by parameter group when groups are set."""
        params = self.param_groups(self.net) if self.param_groups else self.net.parameters()
        return self.optimizer_factory(params)

    def configure_optimizers(self):
        optimizer = self.make_optimizer()
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"},
        }
