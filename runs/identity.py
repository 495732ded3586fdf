"""A run's training identity: one function of the composed config, however it was spelled.

Two runs with the same `training_id` trained the same network the same way: same data,
model, optimiser, schedule, init, seed, the trainer settings that change the numbers, any
extra callback not known to only observe, and the run a resumed run continued where its
training differs from that run's (a longer schedule). Evaluation (`interpolation`),
logging, checkpointing, output folders, progress and settings that give the same updates
(`steps_per_call`, `threads`, `compile`, `channels_last`) are left out. Runs that differ
only by seed share a `setting_id`. Reports group seeds into settings by it, targets find
their runs by it, and reuse skips training by it (with the data's content, results.json's
`data_fingerprint`, which no config holds).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

# Top-level keys that never change training (`reuse` only decides whether to train,
# `overwrite` whether an old run is moved aside; what `ckpt_path` continues enters as
# `resumed_from`; `callbacks` are kept apart from the ones that only observe).
NON_TRAINING_KEYS = (
    "interpolation",
    "logger",
    "callbacks",
    "ckpt_path",
    "overwrite",
    "threads",
    "progress",
    "experiment_name",
    "steps_per_call",
    "hydra",
    "reuse",
)
# Top-level values that reach training only through the init and model configs, which are
# compared after interpolations are resolved: dropped once resolved.
RESOLVED_ONLY_KEYS = (
    "pretrained_weights",
    "random_label_max_epochs",
    "random_label_lr",
    "width_factor",
)
NON_TRAINING_TRAINER_KEYS = (
    "accelerator",
    "compile",
    "channels_last",
    "default_root_dir",
    "deterministic",
    "enable_checkpointing",
    "enable_model_summary",
    "enable_progress_bar",
    "log_every_n_steps",
    "num_sanity_val_steps",
    "check_val_every_n_epoch",
    "val_check_interval",
    "benchmark",
)
NON_TRAINING_DATA_KEYS = ("root", "download", "check_integrity", "eval_batch_size", "num_workers")
# Extra callbacks (`callbacks.NAME._target_`) known to only observe training: the rest change
# the trained weights as far as the identity knows (EarlyStopping stops it).
OBSERVING_CALLBACKS = (
    "lightning.pytorch.callbacks.ModelCheckpoint",
    "callbacks.TrajectoryCallback",
)
# results.json key of a run that reused another's training (runs.reuse)
REUSED_FROM = "reused_from"
# results.json key of a resumed run: the checkpoint, its epoch and the run it continued
RESUMED_FROM = "resumed_from"
# Config values that name files or run folders: compared as absolute paths.
PATH_KEYS = (("init", "from_run"), ("init", "weights_path"), ("optim", "groups_from"))
# The earlier run a staged run starts from: each seed's own, so no part of its setting.
STAGE_INPUTS = (("init", "from_run"), ("optim", "groups_from"))


def training_config(
    cfg: DictConfig | Mapping, *, with_seed: bool = True, resumed_from: Mapping | None = None
) -> dict:
    """The training-relevant part of a composed config, resolved and normalised.

    `with_seed=False` drops the seed (and every value interpolated from it, such as
    `data.seed`) and the earlier run a staged run starts from, which leaves what runs of
    one setting share. `resumed_from` (results.json's) adds the run a resumed run
    continued, where its training differed from that run's.
    """
    raw = OmegaConf.to_container(OmegaConf.create(cfg), resolve=False)
    changing = [
        callback
        for callback in (raw.get("callbacks") or {}).values()
        if not (isinstance(callback, dict) and callback.get("_target_") in OBSERVING_CALLBACKS)
    ]
    for key in NON_TRAINING_KEYS:
        raw.pop(key, None)
    for key in NON_TRAINING_TRAINER_KEYS:
        raw.get("trainer", {}).pop(key, None)
    for key in NON_TRAINING_DATA_KEYS:
        raw.get("data", {}).pop(key, None)
    if not with_seed:
        raw["seed"] = None
    config = OmegaConf.to_container(OmegaConf.create(raw), resolve=True)
    for key in RESOLVED_ONLY_KEYS:
        config.pop(key, None)
    for section, key in PATH_KEYS:
        value = (config.get(section) or {}).get(key)
        if isinstance(value, str):
            config[section][key] = str(trained_by(Path(value).expanduser().resolve()))
    for section, key in STAGE_INPUTS if not with_seed else ():
        if isinstance(config.get(section), dict) and key in config[section]:
            config[section][key] = None
    _normalise_devices(config.get("trainer", {}))
    _drop_default_groups(config)
    if changing:  # as spelled (they may name run folders), in an order their names do not set
        config["callbacks"] = sorted(changing, key=lambda c: json.dumps(c, sort_keys=True))
    if resumed_from and resumed_from.get("changed"):
        continued = "training_id" if with_seed else "setting_id"
        config["continues"] = {
            "run": resumed_from.get(continued),
            "epoch": resumed_from.get("epoch"),
        }
    return _normalise(config)


def training_id(
    cfg: DictConfig | Mapping, *, with_seed: bool = True, resumed_from: Mapping | None = None
) -> str:
    """A short stable hash of `training_config`: equal configs, equal ids."""
    config = training_config(cfg, with_seed=with_seed, resumed_from=resumed_from)
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def setting_id(cfg: DictConfig | Mapping, resumed_from: Mapping | None = None) -> str:
    """What runs differing only by seed share."""
    return training_id(cfg, with_seed=False, resumed_from=resumed_from)


def identity(cfg: DictConfig | Mapping, resumed_from: Mapping | None = None) -> dict:
    """results.json's identity keys of a run made by `cfg`."""
    return {
        "training_id": training_id(cfg, resumed_from=resumed_from),
        "setting_id": setting_id(cfg, resumed_from),
    }


def run_config(run_dir: Path | str) -> DictConfig:
    """The composed config a run was made with (Hydra's `.hydra/config.yaml`)."""
    return OmegaConf.load(Path(run_dir) / ".hydra" / "config.yaml")


def trained_by(path: Path) -> Path:
    """The run that trained what `path` holds: a reused run folder (`reused_from` in its
    results.json, see runs.reuse) is another spelling of the run it reused."""
    try:
        source = json.loads((path / "results.json").read_text()).get(REUSED_FROM)
    except (OSError, ValueError, AttributeError):
        return path
    return Path(source).resolve() if source else path


def _normalise_devices(trainer: dict) -> None:
    """`devices: [3]` and `devices: 1` train the same way: only the count matters."""
    devices = trainer.get("devices")
    if isinstance(devices, list):
        trainer["devices"] = len(devices)
    elif isinstance(devices, str) and devices.isdigit():
        trainer["devices"] = int(devices)


def _drop_default_groups(config: dict) -> None:
    """A parameter group whose lr and weight decay are the optimizer's is no group at all."""
    optim = config.get("optim")
    if not optim or not optim.get("groups"):
        return
    optimizer = config.get("optimizer") or {}
    groups = {}
    for name, group in optim["groups"].items():
        group = dict(group)
        for key in ("lr", "weight_decay"):
            if group.get(key) is None or _same_number(group.get(key), optimizer.get(key)):
                group.pop(key, None)
        if "lr" in group or "weight_decay" in group:
            group["units"] = sorted(group.get("units") or [])
            groups[name] = group
    optim["groups"] = groups


def _same_number(a: Any, b: Any) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return False


def _normalise(value: Any) -> Any:
    """Numbers by value (0 == 0.0, 1e-1 == 0.1); numeric strings as numbers; dict keys sorted."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return int(value) if float(value).is_integer() else float(value)
    if isinstance(value, str):
        try:
            return _normalise(float(value))
        except ValueError:
            return value
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    return value
