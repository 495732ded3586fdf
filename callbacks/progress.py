"""The fit as one stage: epoch k of N with its ETA, a bar on a terminal and a line every
~10 s elsewhere (`runs.progress`); Lightning's own bar (batches of one epoch) stays off."""

from __future__ import annotations

import lightning.pytorch as pl

from runs.progress import LINE_EVERY_S, StageProgress


class FitProgress(pl.Callback):
    """Training epochs done out of `trainer.max_epochs`, with the epoch's train metrics and
    the validation metrics only when a validation has run since the last shown (every
    `check_val_every_n_epoch` epochs), tagged with their epoch. Global rank zero only.

    Everything is set up when training starts (after a resume has restored the epoch), so
    a resumed run counts on from its checkpoint's epoch.
    """

    def __init__(self, mode: str, every_s: float = LINE_EVERY_S):
        super().__init__()
        self.mode, self.every_s = mode, every_s
        self.stage: StageProgress | None = None
        self.fresh: dict[str, str] = {}  # validation metrics not shown yet
        self.validated_at = 0  # the epoch they are of

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        total = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
        self.stage = StageProgress(
            "fit", total, "epoch", self.mode, done=trainer.current_epoch, every_s=self.every_s
        )

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.stage is None:
            return
        self.fresh = {"val": shown_metrics(trainer.callback_metrics, "val/")}
        self.validated_at = trainer.current_epoch + 1

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.stage is None:
            return
        epoch = trainer.current_epoch + 1
        fresh = {
            name if self.validated_at == epoch else f"{name} (epoch {self.validated_at})": value
            for name, value in self.fresh.items()
        }
        if self.stage.update(
            1, {"train": shown_metrics(trainer.callback_metrics, "train/"), **fresh}
        ):
            self.fresh = {}

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.stage is not None:
            self.stage.close()


def shown_metrics(metrics, prefix: str) -> str:
    """`acc 0.9950 loss 0.0123` from the metrics under `prefix`."""
    return " ".join(
        f"{name.removeprefix(prefix)} {float(value):.4f}"
        for name, value in sorted(metrics.items())
        if name.startswith(prefix)
    )
