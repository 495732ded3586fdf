"""Progress: Lightning's bar on a terminal, one line per epoch in a file."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
import torch

from callbacks.progress import EpochLines, epoch_line, progress_mode
from landscape.errors import LinpathError
from tests.conftest import compose_config


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_a_bar_on_a_terminal_and_lines_in_a_file():
    assert progress_mode("auto", Terminal()) == "bar"
    assert progress_mode("auto", io.StringIO()) == "lines"
    assert progress_mode("none", Terminal()) == "none"
    with pytest.raises(LinpathError, match=r"unknown progress 'fancy'; expected one of \['auto'"):
        progress_mode("fancy")


def test_epoch_line_names_the_epoch_and_its_metrics():
    trainer = SimpleNamespace(
        max_epochs=100,
        current_epoch=2,
        callback_metrics={"val/acc": torch.tensor(0.75), "train/loss": torch.tensor(0.5), "x": 1},
    )
    assert epoch_line(trainer, 1.54) == "epoch 3/100  train/loss 0.5000  val/acc 0.7500  1.5s"


@pytest.mark.parametrize("progress, bar, lines", [("bar", True, False), ("lines", False, True)])
def test_run_builds_the_chosen_progress(tmp_path, progress, bar, lines):
    from run import build

    cfg = compose_config("scale=smoke", f"progress={progress}", output_dir=tmp_path)
    _, _, trainer = build(cfg)
    assert (trainer.progress_bar_callback is not None) == bar
    assert any(isinstance(c, EpochLines) for c in trainer.callbacks) == lines
