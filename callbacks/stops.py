"""A run stopped by SIGTERM or SIGINT in any phase ends with one line that says how to go on.

While the training loop runs, Lightning's own SIGTERM handling stops it at the next step
(checkpoints stay whole) and raises `SIGTERMException`. In every other phase (building,
loading, the path evaluation after training) Python would die silently on SIGTERM, and
Lightning turns SIGINT into `sys.exit(1)`; the handlers here raise `RunStopped` instead,
which run.py reports like Lightning's stop.
"""

from __future__ import annotations

import signal

import lightning.pytorch as pl

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_training = {"now": False}  # whether Lightning's training loop is running (its SIGTERM stop)


class RunStopped(BaseException):
    """SIGTERM or SIGINT outside the training loop (or SIGINT in it)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop(signum: int, frame) -> None:
    if signum == signal.SIGTERM and _training["now"]:
        return  # Lightning's handler, called before this one, stops the loop cleanly
    raise RunStopped(signum)


def install_stop_handlers() -> dict:
    """Every later phase of this process stops with `RunStopped` (Lightning calls these
    handlers after its own while it fits); returns the handlers they replace."""
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop)
    return previous


def restore_handlers(previous: dict) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


class TrainingPhase(pl.Callback):
    """Marks the training loop, where SIGTERM is Lightning's to handle."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _training["now"] = True

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _training["now"] = False

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        _training["now"] = False
