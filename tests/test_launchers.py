"""Hydra launchers: joblib runs a sweep in parallel here; submitit_slurm takes SLURM from config."""

from __future__ import annotations

import json

import pytest
from hydra.utils import instantiate

from run import compose_config
from tests.conftest import run_linpath


def test_slurm_resources_follow_config_and_trainer():
    cfg = compose_config(
        "hydra/launcher=submitit_slurm",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.timeout_min=600",
        "trainer=ddp",
        "trainer.devices=4",
        "trainer.num_nodes=2",
    )
    launcher = cfg.hydra.launcher
    assert (launcher.partition, launcher.timeout_min) == ("gpu", 600)
    assert (launcher.gpus_per_node, launcher.tasks_per_node, launcher.nodes) == (4, 4, 2)
    assert launcher.submitit_folder.startswith(cfg.hydra.sweep.dir)
    assert cfg.hydra.sweep.dir.startswith("multirun/spiral_mlp/")
    slurm = instantiate(launcher)  # every key is one the plugin accepts
    assert slurm.params["partition"] == "gpu"


def test_joblib_config_is_the_plugins():
    launcher = instantiate(compose_config("hydra/launcher=joblib").hydra.launcher)
    assert launcher.joblib["n_jobs"] == -1


@pytest.mark.slow
def test_joblib_sweep_writes_one_run_per_job(tmp_path):
    run_linpath(
        "-m", "experiment=spiral_mlp", "scale=smoke", "logger=none", "seed=0,1",
        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path}",
        run_dir=tmp_path / "unused",
    )  # fmt: skip
    seeds = [json.loads((tmp_path / job / "results.json").read_text())["seed"] for job in "01"]
    assert seeds == [0, 1]
