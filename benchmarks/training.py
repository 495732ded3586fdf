"""Row d: `run.py experiment=spiral_mlp`'s fit against the minimal plain PyTorch loop doing
the same updates (same initial weights, batches and optimizer, no validation). Beside it,
the comparison this row made before: the fit validating every epoch against a plain loop
that also validates and reads epoch means every epoch."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.timing import AGREEMENT
from landscape.evaluate import batch_loss_and_correct
from run import compose_config

Seconds = dict[str, float]  # {"wall": ..., "cpu": ...}
State = dict[str, torch.Tensor]
VALIDATE_EVERY_EPOCH = ("trainer.check_val_every_n_epoch=1",)


def clocks() -> Callable[[], Seconds]:
    """Starts a wall clock and this process's CPU clock; the call returns both, in seconds.
    Under load the CPU clock (one thread) still measures the work, the wall clock does not."""
    wall, cpu = time.perf_counter(), time.process_time()
    return lambda: {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


def lightning_fit(epochs: int, extra: tuple[str, ...] = ()) -> tuple[Seconds, State]:
    """Seconds of `trainer.fit` as run.py runs it (no paths evaluated), and theta_f."""
    import lightning.pytorch as pl

    from run import build

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # one table, no chatter

    with tempfile.TemporaryDirectory() as directory:
        overrides = [
            "experiment=spiral_mlp",
            f"trainer.max_epochs={epochs}",
            "logger=none",
            "progress=none",  # the fit alone: no bar, no per-epoch lines
            "interpolation.paths=[]",
            "interpolation.figure=false",
            *extra,
        ]
        cfg = compose_config(*overrides, output_dir=Path(directory))
        pl.seed_everything(cfg.seed, verbose=False)
        datamodule, module, trainer = build(cfg)
        elapsed = clocks()
        trainer.fit(module, datamodule=datamodule)
        seconds = elapsed()
        json.loads((Path(directory) / "results.json").read_text())  # the run completed
    return seconds, {k: v.detach().clone() for k, v in module.net.state_dict().items()}


def plain_fit(epochs: int, validate: bool) -> tuple[Seconds, State]:
    """The same updates as a plain loop: Adam (fused), the data module's batches in its order,
    the loss alone per step (the minimal loop: no accuracy). `validate`: also the epoch means
    of training loss and accuracy and the validation split, read once per epoch as Lightning
    logs them. It runs with torch's own CUDA check, as a process that never imported
    Lightning would."""
    import lightning.pytorch as pl

    from lightning_modules.classifier import torch_cuda_check
    from lightning_modules.data import SpiralDataModule
    from lightning_modules.models import MLP

    pl.seed_everything(0, verbose=False)
    data = SpiralDataModule(seed=0)
    data.setup("fit")
    with torch_cuda_check():
        elapsed = clocks()
        net = MLP(data.input_shape, data.num_outputs, hidden=[50, 50])
        optimizer = torch.optim.Adam(net.parameters(), lr=5e-4, fused=True)
        train, val = data.train_dataloader(), data.val_dataloader()
        for epoch in range(epochs):
            train.set_epoch(epoch)
            net.train()
            totals = torch.zeros(3)
            for inputs, targets in train:
                logits = net(inputs).reshape(-1)
                # the summed loss over the count, as the Classifier: the same updates, bit for bit
                summed = F.binary_cross_entropy_with_logits(
                    logits, targets.reshape(-1).to(logits.dtype), reduction="sum"
                )
                optimizer.zero_grad()
                (summed / targets.shape[0]).backward()
                optimizer.step()
                if validate:
                    correct = ((logits > 0) == (targets.reshape(-1) > 0.5)).sum()
                    count = torch.tensor(len(targets))
                    totals += torch.stack([summed.detach(), correct.float(), count])
            if validate:
                validate_epoch(net, val, totals)
        seconds = elapsed()
    return seconds, {k: v.detach().clone() for k, v in net.state_dict().items()}


def validate_epoch(net: torch.nn.Module, val, train_totals: torch.Tensor) -> list[float]:
    """Epoch means of training and validation loss and accuracy, read to the host."""
    net.eval()
    with torch.no_grad():
        totals = torch.zeros(3)
        for inputs, targets in val:
            summed, correct = batch_loss_and_correct(net(inputs), targets, "bce")
            totals += torch.stack([summed, correct.float(), torch.tensor(len(targets))])
    return torch.cat([train_totals[:2] / train_totals[2], totals[:2] / totals[2]]).tolist()


def max_difference(one: State, other: State) -> float:
    return max((one[k] - other[k]).abs().max().item() for k in one)


def row_d(epochs: int, repeats: int) -> dict:
    """spiral_mlp fit time / minimal loop time (and the old comparison beside it), the four
    ways taking turns in each round after a short warm-up, each way's best round (other
    work on the machine only ever adds time); "met" needs the fits to end at the loops'
    weights too."""
    ways = {
        "spiral_mlp": lambda: lightning_fit(epochs),
        "minimal_loop": lambda: plain_fit(epochs, validate=False),
        "spiral_mlp_validating_every_epoch": lambda: lightning_fit(epochs, VALIDATE_EVERY_EPOCH),
        "loop_validating_every_epoch": lambda: plain_fit(epochs, validate=True),
    }
    lightning_fit(2)  # warm-up: imports, Hydra, first kernels
    plain_fit(2, validate=True)
    times: dict[str, list[Seconds]] = {name: [] for name in ways}
    states: dict[str, State] = {}
    for _ in range(repeats):
        for name, way in ways.items():
            seconds, states[name] = way()
            times[name].append(seconds)
    best = {
        clock: {name: min(s[clock] for s in runs) for name, runs in times.items()}
        for clock in ("wall", "cpu")
    }

    def ratio(clock: str, fit: str, loop: str) -> float:
        return best[clock][fit] / best[clock][loop]

    wall_ratio = ratio("wall", "spiral_mlp", "minimal_loop")
    weights_difference = max(
        max_difference(states["spiral_mlp"], states["minimal_loop"]),
        max_difference(
            states["spiral_mlp_validating_every_epoch"], states["loop_validating_every_epoch"]
        ),
    )
    return {
        "row": "d",
        "what": f"spiral_mlp fit time / minimal plain loop time ({epochs} epochs, same updates)",
        "baseline": "plain PyTorch: the same net, fused Adam and batches, loss and step only",
        "ratio": wall_ratio,
        "target": "<= 1.2",
        "met": wall_ratio <= 1.2 and weights_difference <= AGREEMENT,
        "cpu_ratio": ratio("cpu", "spiral_mlp", "minimal_loop"),
        "validating_every_epoch_ratio": {
            clock: ratio(clock, "spiral_mlp_validating_every_epoch", "loop_validating_every_epoch")
            for clock in ("wall", "cpu")
        },
        "final_weights_max_difference": weights_difference,
        "best_seconds": best,
        "setup": {"epochs": epochs, "repeats": repeats},
    }
