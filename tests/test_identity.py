"""A run's training identity: equal training, equal id, however the config was spelled."""

from __future__ import annotations

import fnmatch

import pytest
from omegaconf import OmegaConf

from run import compose_config
from runs.identity import setting_id, training_config, training_id
from tests.conftest import EXPERIMENTS, changed_value


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


# ---- every config leaf accounted for --------------------------------------------------
# Each leaf of every composed experiment is either training (it must be in the identity)
# or not (it must not), as stated here, apart from runs/identity.py: a key dropped from the
# identity there, or a new key added to a config, fails until it is classified here.
TRAINING = (
    "seed",
    "model.*",
    "optimizer.*",
    "scheduler",
    "scheduler.*",
    "init.*",
    "optim.*",
    "data._target_",
    "data.seed",
    "data.batch_size",
    "data.train_size",
    "data.test_size",
    "data.noise",
    "data.augment",
    "data.normalize",
    "data.train_fraction",
    "data.random_labels",
    "data.modulus",  # modular addition: a + b mod p
    "trainer._target_",
    "trainer.max_epochs",
    "trainer.max_steps",
    "trainer.devices",  # as a count: how many ranks share a batch
    "trainer.num_nodes",
    "trainer.precision",
    "trainer.strategy",
    "trainer.sync_batchnorm",
    "trainer.use_distributed_sampler",
    "callbacks.*",  # any callback not known to only observe (EarlyStopping stops training)
)
NOT_TRAINING = {
    "interpolation.*": "what is evaluated after training",
    "logger.*": "where metrics are logged",
    "callbacks": "the empty mapping; its callbacks are classified one by one",
    "callbacks.checkpoint.*": "ModelCheckpoint only observes",
    "callbacks.trajectory.*": "keeps states and evaluates planes after training",
    "ckpt_path": "what it continues enters the identity as resumed_from",
    "overwrite": "whether an old run is moved aside",
    "reuse": "whether to look for a finished run first",
    "threads": "CPU threads: the same arithmetic",
    "progress": "how progress is shown",
    "experiment_name": "a name: the same training under two names is one",
    "steps_per_call": "the same updates, fewer Lightning calls",
    "data.root": "where the files are: their content is results.json's data_fingerprint",
    "data.download": "whether missing files are fetched",
    "data.check_integrity": "whether an MD5 is checked",
    "data.eval_batch_size": "evaluation batching",
    "trainer.accelerator": "where, not what (results.json's device)",
    "trainer.compile": "the same network, compiled",
    "trainer.channels_last": "the same weights, another memory layout",
    "trainer.default_root_dir": "a folder",
    "trainer.deterministic": "the same algorithm, bit-reproducible or not",
    "trainer.enable_checkpointing": "checkpoints observe",
    "trainer.enable_model_summary": "a printout",
    "trainer.log_every_n_steps": "logging",
    "trainer.num_sanity_val_steps": "validation before training",
    "trainer.check_val_every_n_epoch": "validation points only (no callback that acts on them)",
    "trainer.val_check_interval": "validation points only",
}
# top-level values that reach training only through a config that interpolates them
# (init.weights_path, init.max_epochs, model.width): compared there, once resolved
THROUGH_OTHERS = {
    "pretrained_weights": "through init.weights_path where the init reads it",
    "random_label_max_epochs": "through init.max_epochs where the init reads it",
    "random_label_lr": "through init.lr where the init reads it",
    "width_factor": "through model.width where the model reads it",
}
COMPOSED = [
    ("experiment=" + name, *extra)
    for name in EXPERIMENTS
    for extra in [(), ("checkpoint=last", "beyond=trajectory", "trainer=ddp", "logger=wandb")]
]


def _config_leaves(tree, prefix: str = ""):
    if isinstance(tree, dict) and tree:
        for key, value in tree.items():
            yield from _config_leaves(value, f"{prefix}{key}.")
    elif isinstance(tree, list) and tree and all(isinstance(v, dict) for v in tree):
        for value in tree:  # the identity's list of training callbacks
            yield from _config_leaves(value, prefix)
    else:
        yield prefix.removesuffix(".")


def misclassified(cfg) -> list[str]:
    """The config's leaves that are unclassified, or whose place in the identity (present
    or absent) is not what their class says."""
    raw = OmegaConf.to_container(cfg, resolve=False)
    raw.pop("hydra", None)
    identity_leaves = set(_config_leaves(training_config(cfg)))
    identity_sections = {leaf.split(".")[0] for leaf in identity_leaves}
    problems = []
    for leaf in _config_leaves(raw):
        quiet = any(fnmatch.fnmatchcase(leaf, p) for p in {**NOT_TRAINING, **THROUGH_OTHERS})
        training = not quiet and any(fnmatch.fnmatchcase(leaf, p) for p in TRAINING)
        if not quiet and not training:
            problems.append(f"{leaf}: unclassified")
        elif training and leaf.startswith("callbacks."):
            if "callbacks" not in identity_sections:
                problems.append(f"{leaf}: training, but no callback is in the identity")
        elif (
            training
            and leaf not in identity_leaves
            and leaf.split(".")[0]
            not in (
                "optim",  # groups at the optimizer's own values are dropped as no groups
            )
        ):
            problems.append(f"{leaf}: training, but not in the identity")
        elif quiet and leaf in identity_leaves:
            why = {**NOT_TRAINING, **THROUGH_OTHERS}[_pattern(leaf)]
            problems.append(f"{leaf}: {why}, but in the identity")
    return problems


def _pattern(leaf: str) -> str:
    return next(p for p in {**NOT_TRAINING, **THROUGH_OTHERS} if fnmatch.fnmatchcase(leaf, p))


@pytest.mark.parametrize("overrides", COMPOSED, ids=[" ".join(o) for o in COMPOSED])
def test_every_config_leaf_is_classified(overrides):
    assert misclassified(compose_config(*overrides)) == []


def test_a_key_dropped_from_the_identity_fails_the_classification(monkeypatch):
    from runs import identity as identity_module

    cfg = compose_config("experiment=spiral_mlp")
    dropped = (*identity_module.NON_TRAINING_TRAINER_KEYS, "max_steps")
    monkeypatch.setattr(identity_module, "NON_TRAINING_TRAINER_KEYS", dropped)
    assert misclassified(cfg) == ["trainer.max_steps: training, but not in the identity"]


def test_a_new_key_fails_until_it_is_classified():
    cfg = compose_config("experiment=spiral_mlp")
    OmegaConf.update(cfg, "trainer.new_knob", 3, force_add=True)
    assert misclassified(cfg) == ["trainer.new_knob: unclassified"]


@pytest.mark.parametrize("leaf", sorted(set(NOT_TRAINING) - {"callbacks"}))
def test_a_non_training_key_never_changes_the_id(leaf):
    """Each stated non-training leaf, changed, leaves training_id as it is."""
    base = ("experiment=blockwise", "scale=smoke", "checkpoint=last", "beyond=trajectory")
    cfg = compose_config(*base)
    raw = OmegaConf.to_container(cfg, resolve=False)
    keys = [  # a changed _target_ is another class, not another value
        k for k in _config_leaves(raw) if fnmatch.fnmatchcase(k, leaf) and "_target_" not in k
    ]
    if not keys:
        pytest.skip(f"{leaf} is not in {base}")
    for key in keys:
        changed = cfg.copy()
        value = OmegaConf.select(changed, key)
        OmegaConf.update(changed, key, changed_value(value), merge=False)
        assert training_id(changed) == training_id(cfg), key
