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
from tests.conftest import REPO, read_results, run_linpath

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


def test_a_killed_run_resumes_to_the_uninterrupted_run_bit_for_bit(tmp_path):
    """Preemption as it happens: fit with checkpoint=last, SIGTERM mid-training (Lightning
    stops, no results.json), resume from last.ckpt; theta_i and theta_f are bitwise those of
    one uninterrupted run to the same epoch (trained beside the resumed one)."""
    killed, resumed, straight = tmp_path / "killed", tmp_path / "resumed", tmp_path / "straight"
    command = [sys.executable, "run.py", *DETERMINISTIC, *QUIET, "checkpoint=last"]
    command += ["trainer.max_epochs=100000", f"hydra.run.dir={killed}"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    last = killed / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not last.is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    time.sleep(0.5)  # a few more epochs: the signal lands mid-training
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 128 + signal.SIGTERM
    assert f"resume: ckpt_path={last}" in process.stderr.read()
    assert not (killed / "results.json").exists()
    epochs = torch.load(last, weights_only=False)["epoch"] + 2
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "run.py",
                *DETERMINISTIC,
                *QUIET,
                f"trainer.max_epochs={epochs}",
                *extra,
                f"hydra.run.dir={run_dir}",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for run_dir, extra in ((resumed, [f"ckpt_path={last}"]), (straight, []))
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    # a run trained from scratch to the same epoch would give the same bytes: it must resume
    assert f"Restored all states from the checkpoint at {last}" in outputs[0]
    for end in ("theta_i.pt", "theta_f.pt"):
        assert (resumed / end).read_bytes() == (straight / end).read_bytes(), end
    assert (resumed / "theta_i.pt").read_bytes() == (killed / "theta_i.pt").read_bytes()
    assert read_results(resumed)["paths"] == read_results(straight)["paths"]
