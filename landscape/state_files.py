"""Reading what a run saved (theta files, checkpoints, results.json) with one clear error
when it is unusable."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from landscape.errors import LinpathError


class StateFileError(LinpathError):
    """A theta file, checkpoint or results.json that is missing, unreadable, or made for
    another model."""


def load_results_file(path: str | Path) -> dict:
    """A run's results.json; a truncated, garbage or foreign one is one line naming it."""
    path = Path(path)
    try:
        results = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StateFileError(f"{path} is not valid JSON ({error})") from error
    if not isinstance(results, dict) or "paths" not in results:
        raise StateFileError(f"{path} is not a linpath results.json (no 'paths')")
    return results


def load_state_file(path: str | Path, weights_only: bool = True):
    """`torch.load` on CPU; a missing, truncated or foreign file is one StateFileError line."""
    path = Path(path)
    if not path.is_file():
        raise StateFileError(f"no such file: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as error:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StateFileError(
            f"cannot read {path} (truncated, or not a file torch.save wrote): {reason}"
        ) from error


def differing_entries(state: Mapping[str, torch.Tensor], model: nn.Module) -> list[str]:
    """Entries missing on one side or of another shape: empty when `state` fits `model`."""
    own = model.state_dict()
    absent = sorted(set(own) ^ set(state))
    return absent or [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]


def check_state_fits(state: Mapping[str, torch.Tensor], model: nn.Module, source: str) -> None:
    """Raise unless `state` has exactly the entries and shapes of `model.state_dict()`."""
    if not isinstance(state, Mapping):
        raise StateFileError(f"{source} holds a {type(state).__name__}, not a state dict")
    expected = model.state_dict()
    name = type(model).__name__
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = [
            f"{word} {keys[:3]}{'...' if len(keys) > 3 else ''}"
            for word, keys in (("missing", missing), ("unexpected", unexpected))
            if keys
        ]
        raise StateFileError(f"{source} is not a state of this {name}: {', '.join(parts)}")
    for key, value in expected.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise StateFileError(
                f"{source} is not a state of this {name}: {key} has shape "
                f"{tuple(state[key].shape)}, the model's has {tuple(value.shape)}"
            )


def load_state_for(path: str | Path, model: nn.Module) -> dict[str, torch.Tensor]:
    """A theta file (a full state dict) checked against `model`'s architecture."""
    state = load_state_file(path)
    check_state_fits(state, model, str(path))
    return dict(state)
