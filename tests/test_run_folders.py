"""A sweep outlives a bad job, and a run folder never holds pieces of two runs: one writer,
complete or absent, refused commands write nothing, a stop says how to go on."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket

import pytest
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from lightning_modules import Classifier
from runs.evaluation import PathEvaluation
from runs.folder import LOCK_FILE
from runs.manifest import sha256_of
from runs.store import find_results
from tests.conftest import read_results, run_in_process

SPIRAL = ["experiment=spiral_mlp", "scale=smoke", "logger=none", "trainer.max_epochs=1"]


def snapshot(folder) -> dict[str, str]:
    """Every file under `folder` by relative path, with its content's hash."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def no_training(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a training step ran")

    monkeypatch.setattr(Classifier, "training_step", refuse)


@pytest.fixture
def finished(tmp_path, capsys):
    """A finished smoke run in tmp_path/run."""
    run_dir = tmp_path / "run"
    code, output = run_in_process([*SPIRAL, f"hydra.run.dir={run_dir}"], capsys)
    assert code == 0, output
    return run_dir


def test_a_bad_job_in_the_middle_of_a_sweep(tmp_path, capsys):
    code, err = run_in_process(
        ["-m", *SPIRAL, "seed=0,-1,2", f"hydra.sweep.dir={tmp_path}"], capsys
    )
    assert code == 2, err
    assert "linpath: error: job 1: seed=-1: expected an integer >= 0" in err
    assert "1 job(s) of the sweep failed: ['1']" in err
    assert (tmp_path / "0" / "results.json").is_file()
    assert (tmp_path / "2" / "results.json").is_file()  # the job after the bad one ran
    assert not (tmp_path / "1" / "theta_i.pt").exists()
    assert "seed=-1" in (tmp_path / "1" / "error.txt").read_text()


def test_a_crashed_sweep_job_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch, capsys):
    """Not a refusal but a crash: error.txt, the next job, the summary and exit code 2."""
    original = Classifier.training_step

    def crash_seed_0(self, *args, **kwargs):
        if self.trainer.datamodule.seed == 0:
            raise RuntimeError("CUDA error: an illegal memory access")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Classifier, "training_step", crash_seed_0)
    code, err = run_in_process(["-m", *SPIRAL, "seed=0,1", f"hydra.sweep.dir={tmp_path}"], capsys)
    assert code == 2, err
    assert "crashed: RuntimeError: CUDA error" in (tmp_path / "0" / "error.txt").read_text()
    assert "1 job(s) of the sweep failed: ['0']" in err
    assert (tmp_path / "1" / "results.json").is_file()


@pytest.mark.parametrize(
    "again",
    [
        ["seed=3", "model.hidden=[50,0]"],  # refused by the config check
        ["seed=1"],  # a valid run of another seed
        ["ckpt_path=auto", "seed=1"],  # "continue" a finished run of another training
    ],
)
def test_a_rerun_into_a_finished_folder_is_refused_and_changes_nothing(
    again, finished, monkeypatch, capsys
):
    before = snapshot(finished)
    no_training(monkeypatch)
    code, output = run_in_process([*SPIRAL, *again, f"hydra.run.dir={finished}"], capsys)
    assert code == 2, output
    lines = [line for line in output.splitlines() if line.startswith("linpath: error:")]
    assert len(lines) == 1 and "Traceback" not in output, output
    assert snapshot(finished) == before  # not even .hydra/config.yaml


def test_ckpt_path_auto_in_a_finished_folder_does_nothing(finished, monkeypatch, capsys):
    before = snapshot(finished)
    no_training(monkeypatch)
    code, output = run_in_process([*SPIRAL, "ckpt_path=auto", f"hydra.run.dir={finished}"], capsys)
    assert code == 0 and f"{finished} is finished already" in output, output
    assert snapshot(finished) == before


def test_overwrite_moves_the_whole_old_folder_aside(finished, capsys):
    (finished / "evaluations" / "units=blocks").mkdir(parents=True)
    (finished / "evaluations" / "units=blocks" / "results.json").write_text("{}")
    (finished / "trajectory.json").write_text("{}")
    before = snapshot(finished)
    code, output = run_in_process(
        [*SPIRAL, "seed=1", "overwrite=true", f"hydra.run.dir={finished}"], capsys
    )
    assert code == 0, output
    (aside,) = finished.parent.glob("run.replaced-*")
    assert snapshot(aside) == before  # evaluations, trajectory and all
    assert not (finished / "evaluations").exists() and not (finished / "trajectory.json").exists()
    assert read_results(finished)["seed"] == 1
    assert find_results([finished.parent]) == [(finished / "results.json").resolve()]


def test_a_refused_command_writes_nothing(tmp_path, capsys):
    run_dir = tmp_path / "a" / "b" / "c"
    code, output = run_in_process([*SPIRAL, "seed=3", f"hydra.run.dir={run_dir}"], capsys)
    assert code == 0, output  # the folder is made for a run that runs ...
    refused = tmp_path / "x" / "y"
    code, output = run_in_process(
        [*SPIRAL, "model.hidden=[50,0]", f"hydra.run.dir={refused}"], capsys
    )
    assert code == 2, output
    assert not (tmp_path / "x").exists()  # ... and not for one that is refused


def test_callbacks_write_into_their_own_run_folder_only(finished, tmp_path, capsys):
    before = snapshot(finished)
    other = tmp_path / "other"
    code, output = run_in_process(
        [*SPIRAL, f"interpolation.output_dir={finished}", f"hydra.run.dir={other}"], capsys
    )
    assert code == 2 and f"interpolation.output_dir={finished}: a run writes into its own" in output
    assert snapshot(finished) == before and not other.exists()


def test_jobs_of_a_sweep_never_share_a_folder(tmp_path, capsys):
    code, err = run_in_process(
        ["-m", *SPIRAL, "seed=0,1", f"hydra.sweep.dir={tmp_path}", "hydra.sweep.subdir=same"],
        capsys,
    )
    assert code == 2, err
    assert f"job 1: {tmp_path / 'same'} holds a finished run" in err
    assert read_results(tmp_path / "same")["seed"] == 0
    assert (
        sha256_of(tmp_path / "same" / "theta_f.pt")
        == (read_results(tmp_path / "same")["manifest"]["files"]["theta_f.pt"])
    )


def test_a_folder_held_by_a_live_process_is_refused(tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = {"pid": os.getppid(), "host": socket.gethostname(), "since": 0}
    (run_dir / LOCK_FILE).write_text(json.dumps(holder))
    no_training(monkeypatch)
    code, output = run_in_process([*SPIRAL, f"hydra.run.dir={run_dir}"], capsys)
    assert code == 2, output
    assert f"{run_dir} is being written by pid {os.getppid()} on {socket.gethostname()}" in output
    assert {p.name for p in run_dir.iterdir()} == {LOCK_FILE}


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    dead = 2**22 + 12345  # above the default pid_max: no such process
    (run_dir / LOCK_FILE).write_text(json.dumps({"pid": dead, "host": socket.gethostname()}))
    code, output = run_in_process([*SPIRAL, f"hydra.run.dir={run_dir}"], capsys)
    assert code == 0, output
    assert (run_dir / "results.json").is_file() and not (run_dir / LOCK_FILE).exists()


def test_results_json_is_written_last_with_the_manifest(finished):
    results = read_results(finished)
    files = results["manifest"]["files"]
    assert files == {name: sha256_of(finished / name) for name in ("theta_i.pt", "theta_f.pt")}
    written = {p.name: p.stat().st_mtime_ns for p in finished.iterdir() if p.is_file()}
    log = written.pop("run.log")  # the run's log goes on to the end: the summary table
    assert written["results.json"] == max(written.values()) <= log
    text = (finished / "run.log").read_text()
    assert "Trainer.fit" in text and "test acc" in text and "distance" in text


def test_sigterm_before_the_fit_says_so_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    import lightning_modules.build as build_module

    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # while the data loads
        raise AssertionError("SIGTERM did not stop the run")

    monkeypatch.setattr(build_module, "data_and_net_factory", terminated)
    run_dir = tmp_path / "run"
    code, err = run_in_process([*SPIRAL, f"hydra.run.dir={run_dir}"], capsys)
    assert code == 128 + signal.SIGTERM, err
    assert "linpath: stopped by SIGTERM before the run wrote anything" in err
    assert not run_dir.exists()


def test_sigterm_names_only_a_checkpoint_that_exists(tmp_path, monkeypatch, capsys):
    def sigterm(*args, **kwargs):
        raise SIGTERMException

    monkeypatch.setattr(Classifier, "training_step", sigterm)
    code, err = run_in_process([*SPIRAL, f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 143
    assert "no checkpoint to resume from (checkpoint=last keeps one)" in err
    assert f"hydra.run.dir={tmp_path} ckpt_path=auto" in err and "last.ckpt" not in err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_evaluation_is_finished_without_training(signum, tmp_path, monkeypatch, capsys):
    """SIGTERM or SIGINT while the paths are evaluated: theta_f is kept, the message names
    the command that finishes the run, and that command trains nothing."""
    evaluate = PathEvaluation.all_curves

    def stopped(*args, **kwargs):
        os.kill(os.getpid(), signum)
        raise AssertionError("the signal did not stop the run")

    monkeypatch.setattr(PathEvaluation, "all_curves", stopped)
    code, err = run_in_process([*SPIRAL, f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 128 + signum, err
    name = signal.Signals(signum).name
    line = f"linpath: stopped by {name} during the path evaluation; theta_f.pt is kept"
    assert line in err and f"hydra.run.dir={tmp_path} ckpt_path=auto" in err
    theta_f = (tmp_path / "theta_f.pt").read_bytes()
    assert not (tmp_path / "results.json").exists()

    monkeypatch.setattr(PathEvaluation, "all_curves", evaluate)
    no_training(monkeypatch)
    code, err = run_in_process([*SPIRAL, "ckpt_path=auto", f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 0, err
    results = read_results(tmp_path)
    assert (tmp_path / "theta_f.pt").read_bytes() == theta_f
    assert results["manifest"]["files"]["theta_f.pt"] == sha256_of(tmp_path / "theta_f.pt")
    assert results["history"]["train/loss"] and results["paths"]["full"]["loss"]


def test_no_paths_trains_and_measures_the_end_states(tmp_path, capsys):
    code, err = run_in_process(
        [*SPIRAL, "interpolation.paths=[]", f"hydra.run.dir={tmp_path}"], capsys
    )
    assert code == 0, err
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["paths"] == {} and results["final"]["test_acc"] is not None
    assert (tmp_path / "theta_f.pt").is_file() and not (tmp_path / "interpolation.png").exists()


def test_the_interrupted_evaluation_keeps_its_theta_f_after_a_crash(tmp_path, monkeypatch, capsys):
    def out_of_memory(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(PathEvaluation, "all_curves", out_of_memory)
    code, _ = run_in_process([*SPIRAL, f"hydra.run.dir={tmp_path}"], capsys)
    assert code != 0
    assert (tmp_path / "theta_f.pt").is_file() and not (tmp_path / "results.json").exists()
    theta_f = torch.load(tmp_path / "theta_f.pt")
    assert all(v.isfinite().all() for v in theta_f.values())


def test_a_full_disk_leaves_no_folder_that_looks_complete(tmp_path, monkeypatch, capsys):
    """results.json cannot be written: one line, no results.json, and the command that
    finishes the run once there is space (it does, from theta_f.pt, without training)."""
    import errno

    import runs.evaluation

    def full(data, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(runs.evaluation, "save_json_atomic", full)
    code, err = run_in_process([*SPIRAL, f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 2 and "Traceback" not in err, err
    (line,) = [line for line in err.splitlines() if line.startswith("linpath: error:")]
    assert f"{tmp_path / 'results.json'}: No space left on device; the run is unfinished" in line
    assert not (tmp_path / "results.json").exists() and (tmp_path / "theta_f.pt").is_file()
    monkeypatch.undo()
    no_training(monkeypatch)
    code, err = run_in_process([*SPIRAL, "ckpt_path=auto", f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 0 and read_results(tmp_path)["paths"]["full"]["loss"], err


@pytest.mark.slow
def test_two_writers_on_one_folder(tmp_path):
    """Real processes: the second writer is refused while the first holds the folder, the
    first completes, and the folder is one run's (its files match its manifest)."""
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    run_dir = tmp_path / "run"
    command = [sys.executable, "run.py", *SPIRAL, "trainer.max_epochs=20000"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    log = open(tmp_path / "first.log", "w")  # a pipe nobody reads would stall it when full
    first = subprocess.Popen(
        [*command, f"hydra.run.dir={run_dir}"], cwd=REPO, env=env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 300
    while not (run_dir / LOCK_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    second = subprocess.run(
        [*command, "seed=1", f"hydra.run.dir={run_dir}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    still_running = first.poll() is None
    assert first.wait(timeout=1200) == 0, (tmp_path / "first.log").read_text()[-2000:]
    log.close()
    assert still_running, "the first writer ended before the second was refused"
    assert second.returncode == 2, second.stderr
    assert f"{run_dir} is being written by pid {first.pid}" in second.stderr
    results = read_results(run_dir)
    assert results["seed"] == 0
    files = results["manifest"]["files"]
    assert files == {name: sha256_of(run_dir / name) for name in ("theta_i.pt", "theta_f.pt")}
    assert not (run_dir / LOCK_FILE).exists()
