"""What `ckpt_path` continues, and whether this config may continue it.

`ckpt_path=auto` makes a command safe to repeat: in a run folder that is finished it does
nothing, one whose training finished but whose evaluation was stopped gets its evaluation,
one with `checkpoints/last.ckpt` resumes from it, and an empty one trains from the start.
So a stopped sweep, run again with `ckpt_path=auto`, continues every job from its own
folder. A checkpoint records the training it belongs to (the InterpolationCallback's
state); resuming it with another training config would continue the old training under
the new config's name, so it is refused, except for the schedule's length
(`SCHEDULE_KEYS`): that run is a new training and its identity names the run it continued.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from landscape.errors import LinpathError
from landscape.state_files import StateFileError, check_state_fits, load_state_file
from runs.folder import FINISHED, folder_state

AUTO = "auto"
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"
TRAINED_FILE = "trained.json"  # written beside theta_f.pt: the run's header, before evaluation
SCHEDULE_KEYS = ("trainer.max_epochs", "trainer.max_steps")


class ResumeError(LinpathError):
    """A checkpoint this config cannot continue."""


@dataclass(frozen=True)
class Start:
    """Where a run starts: `checkpoint` for trainer.fit; `continues`: it carries on the
    unfinished run in its folder; `finish`: only the evaluation is left; `done`: nothing."""

    checkpoint: str | None = None
    continues: bool = False
    finish: bool = False
    done: bool = False


def plan_start(ckpt_path: str | None, output_dir: Path) -> Start:
    """What this run does first, from `ckpt_path` and what its folder holds."""
    if ckpt_path != AUTO:
        inside = ckpt_path is not None and output_dir.resolve() in Path(ckpt_path).resolve().parents
        return Start(ckpt_path, continues=inside)
    if folder_state(output_dir) == FINISHED:
        return Start(done=True)
    trained = [output_dir / n for n in (TRAINED_FILE, "theta_i.pt", "theta_f.pt")]
    if all(path.is_file() for path in trained):
        return Start(continues=True, finish=True)
    last = output_dir / LAST_CHECKPOINT
    return Start(str(last) if last.is_file() else None, continues=True)


def _flat(config: Any, prefix: str = "") -> dict[str, Any]:
    """{dotted key: leaf} of a nested mapping."""
    if not (isinstance(config, Mapping) and config):
        return {prefix.removesuffix("."): config}
    flat = {}
    for key, value in config.items():
        flat.update(_flat(value, f"{prefix}{key}."))
    return flat


def changed_keys(before: Mapping, after: Mapping) -> list[str]:
    """The leaves of two training configs that differ, by dotted key."""
    old, new = _flat(before), _flat(after)
    return sorted(
        k for k in set(old) | set(new) if old.get(k, "<absent>") != new.get(k, "<absent>")
    )


def resumed_from(checkpoint: str, recorded: Mapping | None, epoch: int, wanted: Mapping) -> dict:
    """results.json's `resumed_from` for a run that resumes `checkpoint` (its recorded
    training, as the InterpolationCallback keeps it) with the training config `wanted`;
    refused where they differ beyond the schedule's length."""
    if not recorded or "config" not in recorded:
        raise ResumeError(
            f"ckpt_path={checkpoint} records no training config (an older linpath wrote it): "
            "nothing says which training it continues; train again"
        )
    changed = changed_keys(recorded["config"], wanted)
    refused = [k for k in changed if k not in SCHEDULE_KEYS]
    if refused:
        old, new = _flat(recorded["config"]), _flat(wanted)
        key = refused[0]
        raise ResumeError(
            f"{key}={new.get(key, '<absent>')!r}, but ckpt_path={checkpoint} trained with "
            f"{key}={old.get(key, '<absent>')!r}: a resumed run continues the checkpoint's "
            f"training (its optimizer and schedule state win), so only {list(SCHEDULE_KEYS)} "
            f"may change; start a new run for another training ({len(refused)} key(s) differ)"
        )
    return {
        "checkpoint": str(Path(checkpoint).resolve()),
        "epoch": epoch,
        "training_id": recorded.get("training_id"),
        "setting_id": recorded.get("setting_id"),
        "changed": changed,
    }


def check_checkpoint(path: str, net: torch.nn.Module) -> tuple[dict | None, int | None]:
    """A checkpoint to resume from must be readable and hold this network (and its theta_i).
    Returns the training it recorded (this callback's `training` state; None from an older
    linpath) and its epoch."""
    checkpoint = load_state_file(path, weights_only=False)  # Lightning unpickles it next anyway
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise StateFileError(f"{path} is not a Lightning checkpoint (no 'state_dict')")
    prefix = "net."
    net_state = {
        k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)
    }
    check_state_fits(net_state, net, f"checkpoint {path}")
    recorded = None
    for state in checkpoint.get("callbacks", {}).values():
        if isinstance(state, dict) and state.get("theta_init") is not None:
            check_state_fits(state["theta_init"], net, f"theta_i in checkpoint {path}")
            recorded = state.get("training") or recorded
    return recorded, checkpoint.get("epoch")


def continue_training(cfg, checkpoint: str, net: torch.nn.Module, interpolation) -> None:
    """The checkpoint must hold this network and this training; a longer schedule is a
    new training that names the run it continues (`resumed_from`), which goes into the
    interpolation callback's identity (results.json) and training (the next checkpoints)."""
    from runs.identity import RESUMED_FROM, identity

    if checkpoint in ("last", "hpc", "best"):  # Lightning's own keywords
        return
    recorded, epoch = check_checkpoint(checkpoint, net)
    provenance = resumed_from(checkpoint, recorded, epoch, interpolation.training["config"])
    keys = identity(cfg, provenance)
    interpolation.identity.update(keys, **{RESUMED_FROM: provenance})
    interpolation.training.update(keys)
