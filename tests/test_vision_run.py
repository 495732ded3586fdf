"""The vision experiments through run.py at smoke scale, the base recipe, missing data."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from landscape import discover_units, expand_paths, moving_keys
from run import compose_config
from tests.conftest import REPO, read_results, run_linpath

VISION_EXPERIMENTS = ["blockwise", "bn_groups", "vgg_bn", "no_bn", "depth"]
STAGE_PATHS = [f"unit/layer{i}" for i in range(1, 5)] + ["unit/fc"]


def test_experiments_include_the_base_recipe_and_override_it():
    base = compose_config("experiment=blockwise")
    assert base.data._target_.endswith("Cifar10DataModule") and base.data.augment == "standard"
    assert (base.data.batch_size, base.trainer.max_epochs) == (128, 100)
    assert base.model.depth == 18 and base.model.norm == "batch"
    assert (base.optimizer.lr, base.optimizer.momentum, base.optimizer.weight_decay) == (
        0.1,
        0.9,
        5e-4,
    )
    assert list(base.scheduler.milestones) == [33, 66] and base.scheduler.gamma == 0.1
    vgg = compose_config("experiment=vgg_bn")
    assert vgg.model._target_.endswith("VGG") and vgg.model.batch_norm
    assert vgg.optimizer.lr == 0.1 and vgg.data.augment == "standard"  # rest from the recipe
    assert compose_config("experiment=no_bn").model.norm == "none"
    sweep = OmegaConf.to_container(vgg.hydra.sweeper.params)
    assert sweep == {"model": "vgg11_bn,vgg11", "seed": "range(10)"}
    user = compose_config("experiment=depth", "model=resnet50", "optimizer.weight_decay=0")
    assert user.model.depth == 50 and user.optimizer.weight_decay == 0
    assert user.optimizer.lr == 0.1


def test_smoke_scale_narrows_vision_models_only():
    smoke = compose_config("experiment=blockwise", "scale=smoke")
    assert smoke.model.width == 0.0625 and compose_config("experiment=blockwise").model.width == 1
    assert "width" not in compose_config("experiment=mnist_mlp", "scale=smoke").model


@pytest.mark.parametrize("experiment", VISION_EXPERIMENTS)
def test_every_requested_path_exists_in_the_model(experiment, tmp_path):
    """What the callback checks at setup, for every model each experiment sweeps."""
    cfg = compose_config(f"experiment={experiment}", "scale=smoke", output_dir=tmp_path)
    swept = cfg.hydra.sweeper.params.get("model") if cfg.hydra.sweeper.get("params") else None
    models = swept.split(",") if swept else [None]
    for model in models:
        if model is not None:
            cfg = compose_config(f"experiment={experiment}", "scale=smoke", f"model={model}")
        net = instantiate(cfg.model)(input_shape=(3, 32, 32), num_outputs=10)
        units = discover_units(net)
        paths = expand_paths(list(cfg.interpolation.paths), units)
        for path in paths:
            if "new_init" not in path:
                assert moving_keys(net, net.state_dict(), path, units), path


def test_missing_cifar_is_one_clear_line_and_no_results(tmp_path):
    missing = tmp_path / "no-cifar-here"
    run_dir = tmp_path / "run"
    result = run_linpath(
        "experiment=blockwise", "scale=smoke", f"data.root={missing}", run_dir=run_dir, check=False
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("linpath: error: CIFAR10 not found")
    assert str(missing / "cifar-10-batches-py") in lines[0] and "data.root" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert not (run_dir / "results.json").exists() and not (run_dir / "theta_i.pt").exists()


@pytest.mark.slow
def test_every_vision_experiment_runs_at_smoke_scale(cifar_root, tmp_path):
    """One multirun (one interpreter start) over all five experiments, BN-free models too."""
    sweep = tmp_path / "multirun"
    command = [
        sys.executable,
        "run.py",
        "-m",
        f"experiment={','.join(VISION_EXPERIMENTS)}",
        "scale=smoke",
        f"++data.root={cifar_root}",
        "++data.check_integrity=false",
        "interpolation.figure=false",
        f"hydra.sweep.dir={sweep}",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "WANDB_MODE": "offline"}
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = {read_results(sweep / str(i))["experiment"]: sweep / str(i) for i in range(5)}
    assert sorted(runs) == sorted(VISION_EXPERIMENTS)
    groups = read_results(runs["bn_groups"])["paths"]
    for group in ("bn_stats", "bn_affine", "weights"):
        assert f"group/layer3/{group}" in groups
    assert set(STAGE_PATHS) <= set(groups)
    vgg = read_results(runs["vgg_bn"])["paths"]
    assert "unit/features.0" in vgg and "unit/classifier.0" in vgg  # 8 conv + 1 FC
    assert "unit/layer4" in read_results(runs["no_bn"])["paths"]
    assert "unit/layer4" in read_results(runs["depth"])["paths"]
