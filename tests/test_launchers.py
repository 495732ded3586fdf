"""Hydra launchers: linpath's one-job-per-device default, joblib, submitit_slurm; DDP jobs
inside a sweep."""

from __future__ import annotations

import json

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from hydra_plugins.linpath_launcher import DeviceLauncher
from run import sweep_strategy
from tests.conftest import compose_config, read_results, run_linpath


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


def test_default_launcher_gives_each_job_its_trainer_devices():
    cfg = compose_config("trainer=ddp", "trainer.devices=4", "trainer.accelerator=gpu")
    launcher = instantiate(cfg.hydra.launcher)
    # Hydra's plugin scan loads its own copy of the module: compare by name
    assert type(launcher).__qualname__ == DeviceLauncher.__qualname__
    assert (launcher.devices, launcher.devices_per_job, launcher.n_jobs) == ("auto", 4, None)
    assert launcher.accelerator == "gpu"


def test_ddp_inside_a_local_multirun_spawns_its_ranks(monkeypatch):
    ddp = OmegaConf.create({"strategy": "ddp", "devices": 2})
    monkeypatch.delenv("SLURM_NTASKS", raising=False)
    assert sweep_strategy(ddp, multirun=False) is None  # Lightning re-runs the command per rank
    assert sweep_strategy(OmegaConf.create({"devices": 1}), multirun=True) is None
    assert sweep_strategy(ddp, multirun=True) == "ddp_spawn"
    monkeypatch.setenv("SLURM_NTASKS", "2")  # SLURM starts one task per rank
    assert sweep_strategy(ddp, multirun=True) is None


def test_jobs_needing_more_devices_than_the_sweep_has_stop_at_once(capsys):
    from sweeps.launcher import launch

    cfg = compose_config("trainer=ddp", "trainer.devices=3", "hydra.launcher.devices=[0,1]")
    launcher = instantiate(cfg.hydra.launcher)  # no setup: it must stop before any job
    with pytest.raises(SystemExit) as stop:
        launch(launcher, [["seed=0"], ["seed=1"]], initial_job_idx=0)
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        "linpath: error: each job needs trainer.devices=3 devices but the sweep has 2: ['0', '1']\n"
    )


@pytest.mark.slow  # two 2-rank DDP jobs and two one-process runs: about 3 minutes here
def test_ddp_sweep_jobs_start_where_one_process_starts(tmp_path):
    """The issue's check: `-m ... seed=0,1 trainer=ddp trainer.accelerator=cpu
    trainer.devices=2` exits 0 with two results.json whose theta_i is the one-process run's."""
    sweep = tmp_path / "sweep"
    run_linpath(
        "-m", "experiment=spiral_mlp", "scale=smoke", "seed=0,1", "trainer=ddp",
        "trainer.accelerator=cpu", "trainer.devices=2", f"hydra.sweep.dir={sweep}",
        run_dir=tmp_path / "unused",
    )  # fmt: skip
    for seed in (0, 1):
        single = tmp_path / f"single{seed}"
        run_linpath("experiment=spiral_mlp", "scale=smoke", f"seed={seed}", run_dir=single)
        job = sweep / str(seed)
        assert (job / "theta_i.pt").read_bytes() == (single / "theta_i.pt").read_bytes()
        results = read_results(job)
        assert (results["seed"], results["device"]["ranks"]) == (seed, 2)
        assert (
            results["paths"]["init_to_new_init"]
            == read_results(single)["paths"]["init_to_new_init"]
        )
