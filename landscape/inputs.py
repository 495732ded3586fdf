"""What the engine's entry points accept, checked before any work: a notebook's mistake is
one `LinpathError` line naming the argument and what it takes, never a TypeError from deep
inside PyTorch."""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Iterable, Mapping

import torch
from torch import nn

from landscape.errors import LinpathError
from landscape.state_files import check_state_fits

LOSSES = ("cross_entropy", "bce")
BATCHES = "an (inputs, targets) pair of tensors or an iterable of them (a list, a DataLoader)"

Batch = tuple[torch.Tensor, torch.Tensor]


class EngineInputError(LinpathError, ValueError):
    """An argument of `evaluate_paths` (or `evaluate_plane`) that the engine cannot use."""


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def alpha_grid(alphas) -> list[float]:
    """The alphas a path is evaluated at: an integer `n` is n equal steps on [0, 1], i / (n - 1)
    in float64 (not float32 steps, so they read as the decimals they are: 0.14, not
    0.14000000059604645); a list of numbers is taken as given. The config's
    `interpolation.alphas` becomes its grid here too."""
    if isinstance(alphas, torch.Tensor):
        alphas = alphas.tolist()
    if isinstance(alphas, numbers.Integral) and not isinstance(alphas, bool):
        count = int(alphas)
        if count >= 2:
            return [i / (count - 1) for i in range(count)]
    elif isinstance(alphas, Iterable) and not isinstance(alphas, (str, bytes, Mapping)):
        values = list(alphas)
        if values and all(_is_finite_number(a) for a in values):
            return [float(a) for a in values]
    raise EngineInputError(
        f"alphas={_shown(alphas)}: expected an integer >= 2 (that many equal steps on [0, 1]) "
        "or a non-empty list of finite numbers"
    )


def _is_finite_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_loss(loss: str) -> None:
    if loss not in LOSSES:
        raise EngineInputError(f"unknown loss {loss!r}; expected one of {list(LOSSES)}")


def check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise EngineInputError(
            f"model is a {type(model).__name__}; expected a torch.nn.Module (the architecture "
            "the states belong to)"
        )


def check_state(state, model: nn.Module, name: str) -> None:
    """`state` is a state dict of `model`: a mapping with its entries, of its shapes."""
    if not isinstance(state, Mapping):
        raise EngineInputError(
            f"{name} is a {type(state).__name__}; expected a state dict (a mapping of entry "
            "names to tensors, as model.state_dict() gives)"
        )
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise EngineInputError(f"{name}: entries {not_tensors[:3]} are not tensors")
    check_state_fits(state, model, name)


def check_paths(paths) -> list[str]:
    """`paths` as a list of path keys; a lone string would be read letter by letter."""
    if isinstance(paths, str) or not isinstance(paths, Iterable):
        raise EngineInputError(
            f"paths={_shown(paths)}: expected a list of path keys, e.g. ['full']"
        )
    paths = list(paths)
    not_keys = [p for p in paths if not isinstance(p, str)]
    if not_keys:
        raise EngineInputError(f"paths holds {_shown(not_keys[0])}; path keys are strings")
    return paths


def check_cache_bytes(cache_bytes) -> None:
    if not isinstance(cache_bytes, numbers.Integral) or cache_bytes < 0:
        raise EngineInputError(f"cache_bytes must be an integer >= 0, got {_shown(cache_bytes)}")


def model_device(model: nn.Module, device: torch.device | str | None) -> torch.device:
    """`device`, or where `model`'s parameters are when it is None."""
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
    return torch.device(device)


def _is_pair(batch) -> bool:
    return (
        isinstance(batch, (tuple, list))
        and len(batch) == 2
        and all(isinstance(t, torch.Tensor) and t.dim() >= 1 for t in batch)
    )


def as_batches(data, device: torch.device, name: str = "data") -> list[Batch]:
    """One (inputs, targets) pair or an iterable of them, moved to `device` once."""
    if _is_pair(data):
        data = [data]
    if isinstance(data, (str, bytes, Mapping, torch.Tensor)) or not isinstance(data, Iterable):
        raise EngineInputError(f"{name} is a {type(data).__name__}; expected {BATCHES}")
    batches = []
    for index, batch in enumerate(data):
        if not _is_pair(batch):
            raise EngineInputError(
                f"{name}: batch {index} is a {type(batch).__name__}; expected {BATCHES}"
            )
        inputs, targets = batch
        if len(inputs) != len(targets) or len(targets) == 0:
            raise EngineInputError(
                f"{name}: batch {index} has {len(inputs)} inputs and {len(targets)} targets; "
                "expected the same number, at least one"
            )
        batches.append((inputs.to(device), targets.to(device)))
    if not batches:
        raise EngineInputError(f"{name} holds no batches; expected {BATCHES}")
    return batches


@torch.no_grad()
def infer_loss(model: nn.Module, inputs: torch.Tensor) -> str:
    """The loss the config gives this model, read from its output on one example: one output
    (the spiral's data module) is "bce", one per class is "cross_entropy". A copy runs, so
    `model` (and its BN statistics) stay as they are."""
    probe = copy.deepcopy(model).to(inputs.device).float().eval()
    with torch.autocast(inputs.device.type, enabled=False):
        outputs = probe(inputs[:1])
    shape = tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
    if isinstance(outputs, torch.Tensor) and (outputs.dim() == 1 or shape[1:] == (1,)):
        return "bce"
    if isinstance(outputs, torch.Tensor) and outputs.dim() == 2:
        return "cross_entropy"
    raise EngineInputError(
        f"cannot tell the loss from the model's output ({shape} for one example): pass "
        "loss='cross_entropy' (one logit per class) or loss='bce' (one logit)"
    )
