"""An earlier run that a staged experiment starts from (`init.from_run`, `optim.groups_from`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from landscape.errors import LinpathError
from landscape.state_files import differing_entries, load_results_file, load_state_file

RUN_FILES = ("results.json", "theta_i.pt", "theta_f.pt")


class EarlierRunError(LinpathError, ValueError):
    """The earlier run is missing, incomplete, ambiguous or unfit for what was asked."""


@dataclass(frozen=True)
class EarlierRun:
    path: Path
    results: dict

    def state(self, which: str) -> dict[str, torch.Tensor]:
        """theta_i (`which="i"`) or theta_f (`which="f"`) of that run, on the CPU."""
        return load_state_file(self.path / f"theta_{which}.pt")


def find_run(path: str | Path, seed: int, option: str = "init.from_run") -> EarlierRun:
    """`path` is a run directory, or a multirun directory holding exactly one run of `seed`.

    Pairing by seed lets a staged sweep pass one multirun directory to all its seeds.
    """
    path = Path(path)
    accepted = "a run directory (results.json, theta_i.pt, theta_f.pt) or a multirun above one"
    if not path.is_dir():
        raise EarlierRunError(f"{option}={path} is not a directory; expected {accepted}")
    if (path / "results.json").is_file():
        run_dir = path
    else:
        matches = [
            found.parent
            for found in sorted(path.glob("*/results.json"))
            if load_results_file(found).get("seed") == seed
        ]
        if len(matches) != 1:
            raise EarlierRunError(
                f"{option}={path} holds {len(matches)} runs of seed {seed} "
                f"({[m.name for m in matches]}); expected {accepted} with exactly one"
            )
        run_dir = matches[0]
    missing = [name for name in RUN_FILES if not (run_dir / name).is_file()]
    if missing:
        raise EarlierRunError(f"{option}={run_dir} lacks {missing}: not a complete run")
    return EarlierRun(run_dir, load_results_file(run_dir / "results.json"))


def check_same_architecture(
    net: nn.Module, state: Mapping[str, torch.Tensor], run_dir: Path
) -> None:
    """Refuse a state of another architecture before it half-loads."""
    differ = differing_entries(state, net)
    if differ:
        own = net.state_dict()
        key = differ[0]
        there = tuple(state[key].shape) if key in state else "absent"
        here = tuple(own[key].shape) if key in own else "absent"
        raise EarlierRunError(
            f"run {run_dir} is of another architecture: {len(differ)} state entries differ "
            f"(e.g. {key!r}: {there} there, {here} here)"
        )
