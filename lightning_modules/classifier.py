"""The one LightningModule: any architecture, trained as a classifier."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager

import lightning.pytorch as pl
import torch
from lightning.pytorch.plugins.precision import Precision
from lightning.pytorch.strategies import SingleDeviceStrategy
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch import nn

from landscape.evaluate import batch_loss_and_correct
from landscape.inputs import check_loss

NetFactory = Callable[[], nn.Module]
OptimizerFactory = Callable[[Iterable], torch.optim.Optimizer]
ParamGroups = Callable[[nn.Module], list[dict]]

# Lightning sets this on import so that asking whether CUDA is there never initialises CUDA
# before a fork. With it set, torch.cuda.is_available() loads NVML afresh on every call until
# CUDA is initialised, and Adam asks once per step (its graph-capture check): on a CPU run
# that costs more than a small MLP's whole step. A CPU fit forks nothing that uses CUDA.
NVML_CUDA_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"

# What Lightning's manual_backward and optimizer step call besides the backward and the step.
UPDATE_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")


@contextmanager
def torch_cuda_check() -> Iterator[None]:
    """The block runs with torch's own CUDA check: Lightning's `NVML_CUDA_CHECK` lifted, then
    put back. For CPU training, where nothing forked afterwards uses CUDA."""
    lifted = os.environ.pop(NVML_CUDA_CHECK, None)
    try:
        yield
    finally:
        if lifted is not None:
            os.environ[NVML_CUDA_CHECK] = lifted


def plain_updates_suffice(trainer: pl.Trainer, module: pl.LightningModule) -> bool:
    """Whether `loss.backward()` and the torch optimizer's `step()` make exactly the update
    that Lightning's `manual_backward` and optimizer step would: one process (no gradient
    sync), full precision (no loss scaling or autocast), no custom `backward`, and no
    callback or module hook listening between backward and step. Lightning's way then only
    adds hook calls, about 0.1 ms an update: more than a 2x50 MLP's whole update."""
    if type(trainer.strategy) is not SingleDeviceStrategy:
        return False
    if type(trainer.precision_plugin) is not Precision:
        return False
    if is_overridden("backward", module, pl.LightningModule):
        return False
    listeners = [(module, pl.LightningModule)] + [(c, pl.Callback) for c in trainer.callbacks]
    return not any(
        is_overridden(hook, listener, base) for listener, base in listeners for hook in UPDATE_HOOKS
    )


def fresh_draw(net_factory: NetFactory, seed: int) -> nn.Module:
    """A new draw from the network's own initialiser under `seed`; global RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return net_factory()


class Classifier(pl.LightningModule):
    """Wraps a network built by `net_factory` (so a fresh draw from the same initialiser is
    one call away: theta_i' and unit resets use it). Binary cross entropy on one logit when
    `loss="bce"`, cross entropy otherwise. Loss and accuracy are logged per epoch only, so
    no step waits on a device-to-host copy.

    `steps_per_call > 1` takes a list of that many batches per Lightning step (the data
    module's `BatchGroups`) and makes one optimizer step per batch, as Keras's
    steps_per_execution: the same updates, epoch-interval schedules and epoch metrics, with
    Lightning's per-step cost paid once per list. It optimizes manually, so Trainer-level
    gradient clipping and accumulation are not available with it. `compile=True` runs the
    network's forward through `torch.compile` (`trainer.compile=true` in the config).

    On a CPU the fit runs under `torch_cuda_check()`, so an optimizer step costs what it
    costs in a plain PyTorch loop; and with `steps_per_call > 1`, where
    `plain_updates_suffice`, each update is the plain backward and step (Lightning still
    counts the steps and profiles them).
    """

    def __init__(
        self,
        net_factory: NetFactory,
        optimizer: OptimizerFactory,
        scheduler: Callable | None = None,
        loss: str = "cross_entropy",
        steps_per_call: int = 1,
        compile: bool = False,
        param_groups: ParamGroups | None = None,
    ):
        super().__init__()
        check_loss(loss)
        if steps_per_call < 1:
            raise ValueError(f"steps_per_call must be >= 1, got {steps_per_call}")
        self.steps_per_call = steps_per_call
        self.automatic_optimization = steps_per_call == 1
        self.net_factory = net_factory
        self.net = net_factory()
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.param_groups = param_groups
        self.loss_name = loss
        # a compiled function, not a submodule: state_dict keys (theta_i, theta_f) stay the same
        self.compiled_forward = torch.compile(self.net.forward) if compile else None
        self.fit_context = ExitStack()  # closed at fit end
        self.plain_updates = False  # decided at fit start, from the trainer

    def on_fit_start(self) -> None:
        if self.trainer.strategy.root_device.type == "cpu":
            self.fit_context.enter_context(torch_cuda_check())
        self.plain_updates = plain_updates_suffice(self.trainer, self)

    def on_fit_end(self) -> None:
        self.fit_context.close()

    def fresh_net(self, seed: int) -> nn.Module:
        return fresh_draw(self.net_factory, seed)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.compiled_forward is not None:
            return self.compiled_forward(inputs)
        return self.net(inputs)

    def _log_epoch_means(self, split: str, summed, correct, count: int) -> None:
        # sync_dist: under DDP the epoch metric averages every rank's shard (one reduce per epoch)
        log = dict(on_step=False, on_epoch=True, batch_size=count, sync_dist=True)
        self.log(f"{split}/loss", summed / count, **log)
        self.log(f"{split}/acc", correct / count, **log)

    def _step(self, batch, split: str) -> torch.Tensor:
        inputs, targets = batch
        summed, correct = batch_loss_and_correct(self(inputs), targets, self.loss_name)
        self._log_epoch_means(split, summed, correct, targets.shape[0])
        return summed / targets.shape[0]

    def training_step(self, batch, batch_idx: int) -> torch.Tensor | None:
        if self.automatic_optimization:
            return self._step(batch, "train")
        optimizer = self.optimizers()
        summed_total, correct_total, count = 0.0, 0, 0
        for inputs, targets in batch:
            summed, correct = batch_loss_and_correct(self(inputs), targets, self.loss_name)
            loss = summed / targets.shape[0]
            optimizer.zero_grad()
            if self.plain_updates:
                loss.backward()
                optimizer._on_before_step()  # Lightning's step count (global_step), profiler
                optimizer.optimizer.step()
                optimizer._on_after_step()
            else:
                self.manual_backward(loss)
                optimizer.step()
            summed_total = summed_total + summed.detach()
            correct_total = correct_total + correct
            count += targets.shape[0]
        self._log_epoch_means("train", summed_total, correct_total, count)
        # Lightning counts this call as one batch; count every batch, so logged steps (the
        # loggers' x axis) are those of one batch per step. Tested in test_fast_training.
        self.trainer.fit_loop.epoch_loop._batches_that_stepped += len(batch) - 1
        return None

    def on_train_epoch_end(self) -> None:
        scheduler = self.lr_schedulers() if not self.automatic_optimization else None
        if scheduler is not None:
            scheduler.step()  # Lightning steps epoch-interval schedulers itself otherwise

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
