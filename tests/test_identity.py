"""A run's training identity: equal training, equal id, however the config was spelled."""

from __future__ import annotations

import pytest

from run import compose_config
from runs.identity import setting_id, training_config, training_id


def identity(*overrides: str) -> str:
    return training_id(compose_config(*overrides))


def test_order_and_spelling_do_not_matter():
    base = identity("optimizer.weight_decay=0", "seed=3")
    assert identity("seed=3", "optimizer.weight_decay=0.0") == base
    assert identity("experiment=spiral_mlp", "seed=3", "optimizer.weight_decay=0e0") == base


@pytest.mark.parametrize(
    "override",
    [
        "seed=1",
        "optimizer.lr=0.001",
        "optimizer.weight_decay=0.0001",
        "model.hidden=[50,51]",
        "data.batch_size=250",
        "trainer.max_epochs=999",
        "trainer.precision=bf16-mixed",
        "data.noise=0.03",
    ],
)
def test_every_training_key_changes_the_id(override):
    assert identity(override) != identity()


@pytest.mark.parametrize(
    "override",
    [
        "interpolation.alphas=11",
        "interpolation.paths=[full]",
        "logger=none",
        "threads=2",
        "steps_per_call=1",
        "progress=bar",
        "trainer.channels_last=true",
        "trainer.accelerator=cpu",
        "checkpoint=last",
        "trainer.compile=true",
    ],
)
def test_evaluation_logging_and_equal_updates_do_not(override):
    assert identity(override) == identity()


def test_seeds_share_a_setting_but_not_a_run():
    one, two = compose_config("seed=1"), compose_config("seed=2")
    assert setting_id(one) == setting_id(two)
    assert training_id(one) != training_id(two)
    assert "seed" not in training_config(one, with_seed=False)["data"] or (
        training_config(one, with_seed=False)["data"]["seed"] is None
    )


def test_a_group_at_the_optimizer_defaults_is_no_group():
    plain = identity("experiment=blockwise", "scale=smoke")
    same = identity("experiment=blockwise", "scale=smoke", "optim=resnet18_barriers")
    slower = identity(
        "experiment=blockwise", "scale=smoke", "optim=resnet18_barriers", "+optim.groups.B.lr=0.01"
    )
    assert same == plain
    assert slower != plain


def test_the_base_run_is_one_run_across_experiments():
    """bn_groups and blockwise train the same ResNet-18; only their paths differ."""
    assert identity("experiment=blockwise", "scale=smoke") == identity(
        "experiment=bn_groups", "scale=smoke"
    )


def test_top_level_init_options_count_only_where_the_init_reads_them():
    scratch = ("experiment=pretrained", "scale=smoke", "start=scratch")
    imagenet = ("experiment=pretrained", "scale=smoke", "start=imagenet")
    assert identity(*scratch, "pretrained_weights=/a.pt") == identity(*scratch)
    assert identity(*imagenet, "pretrained_weights=/a.pt") != identity(
        *imagenet, "pretrained_weights=/b.pt"
    )
