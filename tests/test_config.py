"""Every experiment composes into objects run.py can build."""

from __future__ import annotations

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from run import compose_config
from tests.conftest import EXPERIMENTS


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_and_names_itself(experiment, tmp_path):
    cfg = compose_config(f"experiment={experiment}", "scale=smoke", output_dir=tmp_path)
    assert cfg.experiment_name == experiment
    callback = instantiate(cfg.interpolation)
    assert callback.evaluation.alphas[0] == 0.0 and callback.evaluation.alphas[-1] == 1.0
    assert OmegaConf.to_container(cfg.trainer, resolve=True)["max_epochs"] >= 1


def test_paper_defaults_for_the_spiral():
    cfg = compose_config()
    assert cfg.experiment_name == "spiral_mlp"
    assert (cfg.data.train_size, cfg.data.test_size, cfg.data.batch_size) == (10000, 5000, 500)
    assert list(cfg.model.hidden) == [50, 50]
    assert cfg.optimizer.lr == 5e-4 and cfg.optimizer.weight_decay == 0
    assert cfg.interpolation.alphas == 51


def test_smoke_scale_overrides_the_experiment():
    cfg = compose_config("experiment=mnist_mlp", "scale=smoke")
    assert cfg.trainer.max_epochs == 2
    assert cfg.interpolation.alphas == 11
    assert cfg.data.train_size == 512


def test_alphas_are_the_decimals_they_are():
    from landscape import alpha_grid

    grid = alpha_grid(51)
    assert grid[1] == 0.02 and grid[7] == 0.14 and grid[-1] == 1.0
    assert [repr(a) for a in alpha_grid(11)] == [repr(i / 10) for i in range(11)]
