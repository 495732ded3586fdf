"""Resume: a checkpoint carries theta_i; 4 + 4 epochs give the 8-epoch theta_f exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import torch

from callbacks import InterpolationCallback
from lightning_modules.models import MLP
from run import compose_config
from tests.conftest import REPO, run_linpath

DETERMINISTIC = ["experiment=spiral_mlp", "scale=smoke", "seed=1", "trainer.deterministic=true"]
QUIET = ["logger=none", "interpolation.figure=false"]


def test_theta_i_from_checkpoint_state_survives_fit_start(tmp_path):
    """A resumed callback keeps the theta_i it was given, not the model's current weights."""
    torch.manual_seed(0)
    original = {k: v.clone() for k, v in MLP((2,), 1, hidden=[4]).state_dict().items()}
    callback = InterpolationCallback(output_dir=str(tmp_path))
    callback.load_state_dict({"theta_init": original})
    trained = SimpleNamespace(net=MLP((2,), 1, hidden=[4]))  # other weights: "after 4 epochs"
    callback.on_fit_start(SimpleNamespace(is_global_zero=True), trained)
    saved = torch.load(tmp_path / "theta_i.pt")
    assert all(torch.equal(saved[k], original[k]) for k in original)
    assert not torch.equal(saved["fc1.weight"], trained.net.fc1.weight)
    assert callback.state_dict()["theta_init"] is original


def test_checkpoint_last_writes_last_ckpt_under_the_run_dir(tmp_path):
    cfg = compose_config("checkpoint=last", output_dir=tmp_path)
    assert cfg.trainer.enable_checkpointing is True
    assert cfg.callbacks.checkpoint.save_last is True
    assert cfg.callbacks.checkpoint.dirpath == f"{tmp_path}/checkpoints"
    assert "checkpoint" not in compose_config("checkpoint=none").callbacks


@pytest.mark.slow
def test_four_plus_four_epochs_equal_eight(tmp_path):
    straight, half, resumed = tmp_path / "straight", tmp_path / "half", tmp_path / "resumed"
    run_linpath(*DETERMINISTIC, *QUIET, "trainer.max_epochs=8", run_dir=straight)
    run_linpath(*DETERMINISTIC, *QUIET, "trainer.max_epochs=4", "checkpoint=last", run_dir=half)
    last = half / "checkpoints" / "last.ckpt"
    assert last.is_file()
    run_linpath(
        *DETERMINISTIC, *QUIET, "trainer.max_epochs=8", f"ckpt_path={last}", run_dir=resumed
    )
    assert (resumed / "theta_i.pt").read_bytes() == (half / "theta_i.pt").read_bytes()
    assert (resumed / "theta_f.pt").read_bytes() == (straight / "theta_f.pt").read_bytes()
    assert (half / "theta_f.pt").read_bytes() != (straight / "theta_f.pt").read_bytes()


@pytest.mark.slow
def test_sigterm_leaves_no_results_and_the_run_resumes(tmp_path):
    """Preemption: Lightning stops on SIGTERM; last.ckpt resumes it with the same theta_i."""
    killed, resumed = tmp_path / "killed", tmp_path / "resumed"
    command = [sys.executable, "run.py", *DETERMINISTIC, *QUIET, "checkpoint=last"]
    command += ["trainer.max_epochs=100000", f"hydra.run.dir={killed}"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    last = killed / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not last.is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.5)
    time.sleep(1.0)  # a few more epochs: the signal lands mid-training
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 128 + signal.SIGTERM
    assert f"resume: ckpt_path={last}" in process.stderr.read()
    assert not (killed / "results.json").exists()
    epoch = torch.load(last, weights_only=False)["epoch"]
    run_linpath(
        *DETERMINISTIC, *QUIET, f"trainer.max_epochs={epoch + 2}", f"ckpt_path={last}",
        run_dir=resumed,
    )  # fmt: skip
    assert (resumed / "theta_i.pt").read_bytes() == (killed / "theta_i.pt").read_bytes()
    assert (resumed / "results.json").is_file()
