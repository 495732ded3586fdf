"""How a run shows its progress: Lightning's bar where a person watches, a line per epoch
where the output goes to a file (a redrawn bar there is thousands of carriage returns)."""

from __future__ import annotations

import sys
import time

import lightning.pytorch as pl
from lightning.pytorch.utilities import rank_zero_info

from landscape.errors import LinpathError

PROGRESS_MODES = ("auto", "bar", "lines", "none")


def progress_mode(setting: str, stream=None) -> str:
    """`auto` is `bar` on an interactive terminal and `lines` otherwise (a file, a pipe, a
    sweep job's output.log); the other settings are taken as they are."""
    if setting not in PROGRESS_MODES:
        raise LinpathError(f"unknown progress {setting!r}; expected one of {list(PROGRESS_MODES)}")
    if setting != "auto":
        return setting
    stream = sys.stdout if stream is None else stream  # where Lightning's bar draws
    return "bar" if stream.isatty() else "lines"


class EpochLines(pl.Callback):
    """One line per training epoch on global rank zero: the epoch, the epoch's logged
    train/val metrics and its seconds."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # a run resumed from a checkpoint written at an epoch's end restarts there: Lightning
        # then ends that epoch without starting it (no on_train_epoch_start)
        self._started = time.perf_counter()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        rank_zero_info(epoch_line(trainer, time.perf_counter() - self._started))


def epoch_line(trainer: pl.Trainer, seconds: float) -> str:
    total = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
    parts = [f"epoch {trainer.current_epoch + 1}{total}"]
    parts += [
        f"{name} {float(value):.4f}"
        for name, value in sorted(trainer.callback_metrics.items())
        if name.startswith(("train/", "val/"))
    ]
    return "  ".join([*parts, f"{seconds:.1f}s"])
