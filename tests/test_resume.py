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
from tests.conftest import REPO, read_results, run_in_process, run_linpath

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
    command += ["trainer.max_epochs=100000", "progress=none", f"hydra.run.dir={killed}"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    last = killed / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not last.is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    time.sleep(0.5)  # a few more epochs: the signal lands mid-training
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 128 + signal.SIGTERM
    assert f"resume from {last}: python run.py" in process.stderr.read()
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


SMOKE = ["experiment=spiral_mlp", "scale=smoke", "logger=none", "interpolation.figure=false"]


def stop_at_epoch(monkeypatch, epoch: int, seed: int) -> None:
    """SIGTERM (as Lightning raises it) at the first step of `epoch` of the run of `seed`."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from lightning_modules import Classifier

    original = Classifier.training_step

    def step(self, *args, **kwargs):
        if self.current_epoch == epoch and self.trainer.datamodule.seed == seed:
            raise SIGTERMException
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Classifier, "training_step", step)


def printed_command(err: str) -> list[str]:
    """The arguments of the `python run.py ...` command a stopped run printed."""
    import shlex

    line = next(line for line in err.splitlines() if line.startswith("linpath: stopped"))
    words = shlex.split(line[line.index("python run.py") :])
    return words[2:]


def test_a_stopped_sweep_resumed_with_its_hint_equals_an_uninterrupted_one(
    tmp_path, monkeypatch, capsys
):
    """Three seeds, stopped in seed 1's second epoch: the printed command finishes seed 0
    (nothing to do), resumes seed 1 from its own last.ckpt and trains seed 2; each theta_f
    is the uninterrupted run's, bit for bit, and so is its training_id."""
    sweep = [*SMOKE, "checkpoint=last", "seed=0,1,2"]
    stopped_dir, straight_dir = tmp_path / "stopped", tmp_path / "straight"
    stop_at_epoch(monkeypatch, epoch=1, seed=1)
    code, err = run_in_process(["-m", *sweep, f"hydra.sweep.dir={stopped_dir}"], capsys)
    assert code == 143, err
    assert (stopped_dir / "1" / "checkpoints" / "last.ckpt").is_file()
    assert not (stopped_dir / "2").exists()
    monkeypatch.undo()
    command = printed_command(err)
    assert "ckpt_path=auto" in command and f"hydra.sweep.dir={stopped_dir}" in command
    code, err = run_in_process(command, capsys)
    assert code == 0, err
    code, err = run_in_process(["-m", *sweep, f"hydra.sweep.dir={straight_dir}"], capsys)
    assert code == 0, err
    theta_f = [(stopped_dir / str(s) / "theta_f.pt").read_bytes() for s in range(3)]
    assert len(set(theta_f)) == 3
    for seed in range(3):
        assert theta_f[seed] == (straight_dir / str(seed) / "theta_f.pt").read_bytes(), seed
        resumed, straight = (read_results(d / str(seed)) for d in (stopped_dir, straight_dir))
        assert resumed["training_id"] == straight["training_id"], seed
    assert read_results(stopped_dir / "1")["resumed_from"]["changed"] == []


def test_a_checkpoint_continues_only_its_own_training(tmp_path, monkeypatch, capsys):
    first = tmp_path / "first"
    code, err = run_in_process(
        [*SMOKE, "checkpoint=last", "trainer.max_epochs=1", f"hydra.run.dir={first}"], capsys
    )
    assert code == 0, err
    last = first / "checkpoints" / "last.ckpt"
    # another learning rate: the checkpoint's optimizer state would win, silently
    refused = tmp_path / "refused"
    code, err = run_in_process(
        [*SMOKE, "optimizer.lr=0.5", f"ckpt_path={last}", f"hydra.run.dir={refused}"], capsys
    )
    assert code == 2 and not refused.exists(), err
    (line,) = [line for line in err.splitlines() if line.startswith("linpath: error:")]
    assert "optimizer.lr=0.5, but ckpt_path=" in line and "optimizer.lr=0.0005" in line
    # another seed (the same ckpt_path= for every job of a sweep): refused as well
    code, err = run_in_process(
        [*SMOKE, "seed=1", f"ckpt_path={last}", f"hydra.run.dir={refused}"], capsys
    )
    assert code == 2 and "seed=1, but ckpt_path=" in err, err
    # a longer schedule: a new training, which names the run it continues
    longer = tmp_path / "longer"
    code, err = run_in_process(
        [*SMOKE, "trainer.max_epochs=2", f"ckpt_path={last}", f"hydra.run.dir={longer}"], capsys
    )
    assert code == 0, err
    results = read_results(longer)
    assert results["resumed_from"]["changed"] == ["trainer.max_epochs"]
    assert results["resumed_from"]["training_id"] == read_results(first)["training_id"]
    genuine = compose_config(*SMOKE, "trainer.max_epochs=2")
    from runs.identity import training_id

    assert results["training_id"] != training_id(genuine)
    assert results["training_id"] == training_id(genuine, resumed_from=results["resumed_from"])


def test_fit_progress_survives_a_restart_at_an_epoch_end(capsys):
    """Lightning resuming a checkpoint written at an epoch's end ends that epoch without
    starting it (fit_loop: restarted_on_epoch_end): no on_train_epoch_start. The progress
    counts on from the checkpoint's epoch (an earlier EpochLines raised AttributeError)."""
    from callbacks.progress import FitProgress

    progress = FitProgress("lines", every_s=0)
    trainer = SimpleNamespace(
        is_global_zero=True, max_epochs=3, current_epoch=1, callback_metrics={}
    )
    progress.on_train_start(trainer, None)
    progress.on_train_epoch_end(trainer, None)
    progress.on_train_end(trainer, None)
    assert "fit 2/3 epochs" in capsys.readouterr().out


@pytest.mark.slow
def test_a_killed_sweep_resumes_from_each_jobs_own_checkpoint(tmp_path):
    """Real processes: a 3-seed sweep killed by SIGTERM in job 1, then the printed command
    with its output to a file (FitProgress), then three straight runs to compare with."""
    killed = tmp_path / "killed"
    sweep = [*SMOKE, "checkpoint=last", "trainer.max_epochs=1500", "seed=0,1,2"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "run.py", "-m", *sweep, f"hydra.sweep.dir={killed}"]
    with open(tmp_path / "killed.log", "w") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
        last = killed / "1" / "checkpoints" / "last.ckpt"
        deadline = time.monotonic() + 600
        while not last.is_file() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=300) == 128 + signal.SIGTERM
    err = (tmp_path / "killed.log").read_text()
    assert not (killed / "1" / "results.json").exists(), err
    with open(tmp_path / "resumed.log", "w") as log:
        resumed = subprocess.run(
            [sys.executable, "run.py", *printed_command(err)], cwd=REPO, env=env, stdout=log,
            stderr=subprocess.STDOUT, timeout=1200,
        )  # fmt: skip
    output = (tmp_path / "resumed.log").read_text()
    assert resumed.returncode == 0, output
    assert "Restored all states" in output and "Traceback" not in output
    theta_f = [(killed / str(s) / "theta_f.pt").read_bytes() for s in range(3)]
    assert len(set(theta_f)) == 3
    for seed in range(3):
        straight = tmp_path / f"straight{seed}"
        run_linpath(*sweep[:-1], f"seed={seed}", run_dir=straight)
        assert theta_f[seed] == (straight / "theta_f.pt").read_bytes(), seed
