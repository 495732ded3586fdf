"""A sweep outlives a bad job, and a run folder never holds pieces of two runs."""

from __future__ import annotations

import json

import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from lightning_modules import Classifier
from runs.evaluation import PathEvaluation
from tests.conftest import run_in_process

SPIRAL = ["experiment=spiral_mlp", "scale=smoke", "logger=none", "trainer.max_epochs=1"]


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


def test_an_interrupted_rerun_leaves_no_mixed_folder(tmp_path, monkeypatch, capsys):
    assert run_in_process([*SPIRAL, f"hydra.run.dir={tmp_path}"], capsys)[0] == 0
    first_theta_i = torch.load(tmp_path / "theta_i.pt")
    assert (tmp_path / "results.json").is_file() and (tmp_path / "theta_f.pt").is_file()

    def crash(*args, **kwargs):
        raise RuntimeError("the machine went down")

    monkeypatch.setattr(Classifier, "training_step", crash)
    code, _ = run_in_process([*SPIRAL, "seed=1", f"hydra.run.dir={tmp_path}"], capsys)
    assert code != 0
    second_theta_i = torch.load(tmp_path / "theta_i.pt")
    assert not torch.equal(first_theta_i["fc1.weight"], second_theta_i["fc1.weight"])
    left = {p.name for p in tmp_path.iterdir()}
    assert not left & {"results.json", "theta_f.pt", "interpolation.png"}, left


def test_an_interrupted_evaluation_keeps_theta_f(tmp_path, monkeypatch, capsys):
    def out_of_memory(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(PathEvaluation, "all_curves", out_of_memory)
    code, _ = run_in_process([*SPIRAL, f"hydra.run.dir={tmp_path}"], capsys)
    assert code != 0
    assert (tmp_path / "theta_f.pt").is_file() and not (tmp_path / "results.json").exists()


def test_sigterm_names_only_a_checkpoint_that_exists(tmp_path, monkeypatch, capsys):
    def sigterm(*args, **kwargs):
        raise SIGTERMException

    monkeypatch.setattr(Classifier, "training_step", sigterm)
    code, err = run_in_process([*SPIRAL, f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 143
    assert "no checkpoint to resume from (checkpoint=last keeps one)" in err
    assert "ckpt_path=" not in err


def test_no_paths_trains_and_measures_the_end_states(tmp_path, capsys):
    code, err = run_in_process(
        [*SPIRAL, "interpolation.paths=[]", f"hydra.run.dir={tmp_path}"], capsys
    )
    assert code == 0, err
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["paths"] == {} and results["final"]["test_acc"] is not None
    assert (tmp_path / "theta_f.pt").is_file() and not (tmp_path / "interpolation.png").exists()
