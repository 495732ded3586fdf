"""Progress: a bar per stage on a terminal; off a terminal a line every ~10 s with the total
and the ETA, validation values only when fresh; a resumed run counts on from its epoch."""

from __future__ import annotations

import io
import re

import pytest

from callbacks.progress import FitProgress
from landscape.errors import LinpathError
from run import build, compose_config
from runs.progress import StageProgress, progress_mode


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_auto_is_a_bar_on_a_terminal_and_lines_in_a_file():
    assert progress_mode("auto", Terminal()) == "bar"
    assert progress_mode("auto", io.StringIO()) == "lines"
    assert progress_mode(True, io.StringIO()) == "lines"  # interpolation.progress=true
    assert progress_mode(False, Terminal()) == "none"
    assert progress_mode("none", Terminal()) == "none"
    with pytest.raises(LinpathError, match=r"unknown progress 'fancy'; expected one of \['auto'"):
        progress_mode("fancy")


def test_lines_come_first_then_every_ten_seconds_and_last_with_total_and_eta():
    out, clock = io.StringIO(), Clock()
    stage = StageProgress("fit", 100, "epoch", "lines", stream=out, clock=clock)
    shown = []
    for epoch in range(1, 101):
        clock.now = epoch * 0.5  # an epoch every half second: 50 s in all
        shown.append(stage.update(1, {"train": f"loss {1 / epoch:.4f}"}))
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["1/100", "21/100", "41/100", "61/100",
                                                   "81/100", "100/100"]  # fmt: skip
    assert shown.count(True) == len(lines)
    assert lines[0] == "fit 1/100 epochs  train loss 1.0000  elapsed 0:00:00  ETA 0:00:50"
    assert lines[2] == "fit 41/100 epochs  train loss 0.0244  elapsed 0:00:20  ETA 0:00:30"
    assert lines[-1] == "fit 100/100 epochs  train loss 0.0100  elapsed 0:00:50"


def test_fractional_shares_end_on_the_total_and_none_prints_nothing():
    out = io.StringIO()
    stage = StageProgress("paths test/interpolate", 3, "point", "lines", stream=out, clock=Clock())
    for _ in range(9):
        stage.update(1 / 3)
    assert out.getvalue().splitlines()[-1].startswith("paths test/interpolate 3/3 points")
    quiet = io.StringIO()
    StageProgress("fit", 3, "epoch", "none", stream=quiet).update(3)
    assert quiet.getvalue() == ""


def fit(tmp_path, capsys, *overrides: str, ckpt_path=None, every_s: float = 0.0) -> list[str]:
    """A real smoke fit in this process (output captured: not a terminal); its fit lines."""
    cfg = compose_config("scale=smoke", "logger=none", "progress=lines", *overrides,
                         output_dir=tmp_path)  # fmt: skip
    datamodule, module, trainer = build(cfg)
    (progress,) = [c for c in trainer.callbacks if isinstance(c, FitProgress)]
    progress.every_s = every_s  # a line per epoch, to see each epoch's values
    capsys.readouterr()
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("fit ")]


def test_validation_values_appear_only_on_the_epochs_that_validated(tmp_path, capsys):
    lines = fit(tmp_path, capsys, "trainer.max_epochs=4", "trainer.check_val_every_n_epoch=2")
    assert [line.split()[1] for line in lines] == ["1/4", "2/4", "3/4", "4/4"]
    validated = ["val acc" in line for line in lines]
    assert validated == [False, True, False, True]
    assert re.search(r"train acc \d\.\d{4} loss \d\.\d{4}", lines[0])
    assert "ETA" in lines[0] and "ETA" not in lines[-1]


def test_a_late_line_tags_validation_values_with_their_epoch(tmp_path, capsys):
    lines = fit(tmp_path, capsys, "trainer.max_epochs=3", "trainer.check_val_every_n_epoch=2",
                every_s=1e9)  # fmt: skip
    assert [line.split()[1] for line in lines] == ["1/3", "3/3"]  # first and last only
    assert "val (epoch 2) acc" in lines[1]


def test_a_resumed_run_counts_on_from_its_checkpoint(tmp_path, capsys):
    """A real resume, output to a file-like stream: epochs 3 and 4 of 4, no crash."""
    fit(tmp_path / "half", capsys, "trainer.max_epochs=2", "checkpoint=last")
    last = tmp_path / "half" / "checkpoints" / "last.ckpt"
    assert last.is_file()
    lines = fit(tmp_path / "resumed", capsys, "trainer.max_epochs=4", ckpt_path=str(last))
    assert [line.split()[1] for line in lines] == ["3/4", "4/4"]


@pytest.mark.parametrize("setting, counted", [("bar", True), ("lines", True), ("none", False)])
def test_run_builds_one_epoch_counter_and_no_lightning_bar(tmp_path, setting, counted):
    cfg = compose_config("scale=smoke", f"progress={setting}", output_dir=tmp_path)
    _, _, trainer = build(cfg)
    assert trainer.progress_bar_callback is None  # its bar counts batches of one epoch
    progress = [c for c in trainer.callbacks if isinstance(c, FitProgress)]
    assert [p.mode for p in progress] == ([setting] if counted else [])
