"""Targets find their runs by setting: sweep points as Hydra expands them, and a quick
composition that agrees with Hydra's own."""

from __future__ import annotations

import pytest

from paper.settings import (
    compose,
    compose_point,
    group_choice,
    sweep_overrides,
    sweep_points,
    training_point,
)
from paper.targets import TARGETS
from runs.identity import setting_id as setting_key
from runs.identity import training_id

POINTS = [
    ("experiment=narrowing", "model.widths=[32,64,256,256,512,512,512,256]"),
    ("experiment=barrier_init", "scale=smoke", "init.offset=-1", "init.from_run=/x/0"),
    ("experiment=layer_lr_wd", "model=vgg11_bn", "optim=vgg11_barriers", "table2=lr_b"),
    ("experiment=data_fraction", "data.train_fraction=0.1", "data.augment=none"),
    ("experiment=mlp_width", "model.hidden=[500,500,500,500,25,25,25]"),
    ("experiment=partial_pretraining", "partial_source=pretrained", "init.unit=fc"),
]


@pytest.mark.parametrize("point", POINTS)
def test_quick_composition_is_hydras(point):
    hydras = compose((*point, "seed=4"))[0]
    assert setting_key(compose_point(point)) == setting_key(hydras)
    assert training_id(training_point((*point, "seed=4"))) == training_id(hydras)


def test_sweep_points_expand_axes_and_let_overrides_win():
    points = sweep_points(["experiment=barrier_init", "scale=smoke", "init.offset=-1,0,1"])
    assert points == [
        ("experiment=barrier_init", "scale=smoke", f"init.offset={o}") for o in (-1, 0, 1)
    ]  # the experiment's own -5,0,5 axis is replaced; no seed axis
    wd = sweep_points(["experiment=blockwise_adversarial", "optimizer.weight_decay=0.0"])
    assert len(wd) == 4 and all("optimizer.weight_decay=0.0" in p for p in wd)


def test_the_staged_run_input_is_no_part_of_the_setting():
    a, b, c = compose(
        ["experiment=barrier_init", "init.from_run=/runs/a"],
        ["experiment=barrier_init", "init.from_run=/runs/b"],
        ["experiment=barrier_init", "init.from_run=/runs/a", "init.offset=5"],
    )
    assert setting_key(a) == setting_key(b) != setting_key(c)


@pytest.mark.slow
def test_every_target_point_composes_quickly_as_hydra_does():
    for target in TARGETS.values():
        for sweep in target.sweeps:
            for scale in ("full", "smoke"):
                overrides = [f"experiment={sweep.experiment}", *sweep_overrides(sweep, scale)]
                for point in sweep_points(overrides):
                    assert setting_key(compose_point(point)) == setting_key(compose(point)[0])


def test_quick_composition_leaves_its_cache_alone():
    first = compose_point(["experiment=weight_decay", "optimizer.weight_decay=0.0"])
    second = compose_point(["experiment=weight_decay"])
    assert (first.optimizer.weight_decay, second.optimizer.weight_decay) == (0.0, 5e-4)
    plain = training_point(["experiment=weight_decay", "optimizer.weight_decay=0.0"])
    assert plain["optimizer"]["weight_decay"] == 0.0 and "hydra" not in plain
    assert training_point(["experiment=weight_decay"])["optimizer"]["weight_decay"] == 5e-4
    assert group_choice(["experiment=layer_lr_wd", "model=vgg11_bn"], "model") == "vgg11_bn"
