"""Row d: `run.py experiment=spiral_mlp`'s fit against a plain PyTorch loop doing the same
training (same initial weights, batches, optimizer, per-epoch validation and metrics)."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path

import torch

from landscape.evaluate import batch_loss_and_correct
from tests.conftest import compose_config


def lightning_fit(epochs: int, extra: list[str]) -> tuple[float, dict]:
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
        started = time.perf_counter()
        trainer.fit(module, datamodule=datamodule)
        seconds = time.perf_counter() - started
        json.loads((Path(directory) / "results.json").read_text())  # the run completed
    return seconds, {k: v.detach().clone() for k, v in module.net.state_dict().items()}


def plain_fit(epochs: int) -> tuple[float, dict]:
    """The same training as a plain loop: Adam (fused), the data module's batches in its
    order, per-epoch validation, epoch means of loss and accuracy read once per epoch."""
    import lightning.pytorch as pl

    from lightning_modules.data import SpiralDataModule
    from lightning_modules.models import MLP

    pl.seed_everything(0, verbose=False)
    data = SpiralDataModule(seed=0)
    data.setup("fit")
    started = time.perf_counter()
    net = MLP(data.input_shape, data.num_outputs, hidden=[50, 50])
    optimizer = torch.optim.Adam(net.parameters(), lr=5e-4, fused=True)
    train, val = data.train_dataloader(), data.val_dataloader()
    history = []
    for epoch in range(epochs):
        train.set_epoch(epoch)
        net.train()
        totals = torch.zeros(3)
        for inputs, targets in train:
            summed, correct = batch_loss_and_correct(net(inputs), targets, "bce")
            loss = summed / targets.shape[0]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            totals += torch.stack([summed.detach(), correct.float(), torch.tensor(len(targets))])
        net.eval()
        with torch.no_grad():
            val_totals = torch.zeros(3)
            for inputs, targets in val:
                summed, correct = batch_loss_and_correct(net(inputs), targets, "bce")
                val_totals += torch.stack([summed, correct.float(), torch.tensor(len(targets))])
        means = torch.cat([totals[:2] / totals[2], val_totals[:2] / val_totals[2]])
        history.append(means.tolist())  # read once per epoch, as Lightning logs it
    seconds = time.perf_counter() - started
    return seconds, {k: v.detach().clone() for k, v in net.state_dict().items()}


def row_d(epochs: int, repeats: int, extra: tuple[str, ...] = ()) -> dict:
    """spiral_mlp fit time / plain loop time, measured in alternation; and whether both
    trainings end at the same weights."""
    times: dict[str, list[float]] = {"lightning": [], "plain": []}
    states = {}
    lightning_fit(1, list(extra))  # warm-up: imports, Hydra, first kernels
    for _ in range(repeats):
        seconds, states["lightning"] = lightning_fit(epochs, list(extra))
        times["lightning"].append(seconds)
        seconds, states["plain"] = plain_fit(epochs)
        times["plain"].append(seconds)
    median = {name: sorted(v)[len(v) // 2] for name, v in times.items()}
    ratio = median["lightning"] / median["plain"]
    difference = max(
        (states["lightning"][k] - states["plain"][k]).abs().max().item() for k in states["plain"]
    )
    return {
        "row": "d",
        "what": "spiral_mlp fit time / plain PyTorch loop time (same training)",
        "ratio": ratio,
        "target": "<= 1.5",
        "met": ratio <= 1.5,
        "seconds": median,
        "final_weights_max_difference": difference,
        "setup": {"epochs": epochs, "overrides": list(extra)},
    }
