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

from landscape.errors import LinpathError
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
