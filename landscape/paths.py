"""Path keys -> the state entries that move along them, and unit discovery.

A path moves some entries of a model's state from theta_a to theta_b and keeps the rest at
theta_b. This module decides, for every path key (README, "Paths"), which entries move.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from landscape.errors import LinpathError

WEIGHT_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
GROUPS = ("bn_stats", "bn_affine", "weights", "biases")
# The new-init paths run between other states than theta_a -> theta_b: (start, end), with
# theta_new a fresh draw from the initialiser (theta_i'). Alpha 0 is the start.
NEW_INIT_ENDS = {
    "final_to_new_init": ("theta_b", "theta_new"),
    "init_to_new_init": ("theta_a", "theta_new"),
}
NEW_INIT_PATHS = tuple(NEW_INIT_ENDS)
WHOLE_MODEL_PATHS = ("full", "weights", "biases", *NEW_INIT_PATHS)
UNIT_GRANULARITIES = ("stages", "blocks")


class PathError(LinpathError, ValueError):
    """A path key, unit or group that does not exist in the model."""


def _is_leaf_layer(module: nn.Module) -> bool:
    return isinstance(module, WEIGHT_LAYERS + NORM_LAYERS)


def _has_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def discover_units(model: nn.Module, granularity: str = "stages") -> dict[str, list[str]]:
    """Units of a model, in forward order: unit name -> module names it covers.

    Weight layers (Conv/Linear) each start a unit and a norm layer joins the unit before it,
    so a VGG conv keeps its BN and a ResNet stem is `conv1` with `bn1`. A container of blocks
    (a ResNet stage) is one unit with `stages` and one unit per block with `blocks`; any
    other module with parameters (a residual block) is one unit.
    """
    if granularity not in UNIT_GRANULARITIES:
        raise PathError(
            f"unknown unit granularity {granularity!r}; expected one of {list(UNIT_GRANULARITIES)}"
        )
    units: dict[str, list[str]] = {}
    last: list[str | None] = [None]

    def visit(module: nn.Module, prefix: str) -> None:
        for name, child in module.named_children():
            full = f"{prefix}{name}"
            if not _has_params(child) and not list(child.buffers()):
                continue
            if isinstance(child, NORM_LAYERS) and last[0] is not None:
                units[last[0]].append(full)
            elif _is_leaf_layer(child):
                units[full] = [full]
                last[0] = full
            elif isinstance(child, (nn.Sequential, nn.ModuleList)):
                holds_blocks = any(
                    _has_params(c) and not _is_leaf_layer(c) for c in child.children()
                )
                if holds_blocks and granularity == "stages":
                    units[full] = [full]
                    last[0] = full
                else:
                    visit(child, f"{full}.")
            else:
                units[full] = [full]
                last[0] = full

    visit(model, "")
    return units


def _under(key: str, modules: list[str]) -> bool:
    return any(key == m or key.startswith(m + ".") for m in modules)


def _module_kinds(model: nn.Module) -> dict[str, nn.Module]:
    return dict(model.named_modules())


def _owner(key: str) -> tuple[str, str]:
    module, _, leaf = key.rpartition(".")
    return module, leaf


def group_of(key: str, modules: Mapping[str, nn.Module]) -> str | None:
    """Which parameter group (bn_stats, bn_affine, weights, biases) a state entry is in."""
    owner, leaf = _owner(key)
    module = modules.get(owner)
    if isinstance(module, NORM_LAYERS):
        if leaf in ("running_mean", "running_var"):
            return "bn_stats"
        if leaf in ("weight", "bias"):
            return "bn_affine"
        return None
    if leaf == "weight":
        return "weights"
    if leaf == "bias":
        return "biases"
    return None


def is_interpolated(value: torch.Tensor) -> bool:
    """Floating entries move along a path; integer buffers (num_batches_tracked) do not."""
    return torch.is_floating_point(value)


def moving_keys(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    path: str,
    units: Mapping[str, list[str]] | None = None,
) -> list[str]:
    """The state entries that move from theta_a to theta_b on `path`.

    `unit/<name>` takes a discovered unit (or, failing that, any module by name);
    `group/<name>/<group>` the entries of one group inside it; `weights` and `biases`
    every parameter named weight (resp. bias), BN affine included, buffers left at theta_b.
    """
    units = dict(units) if units is not None else discover_units(model)
    floats = [k for k, v in state.items() if is_interpolated(v)]
    param_names = {name for name, _ in model.named_parameters()}
    kind, _, rest = path.partition("/")

    if path == "full" or path in NEW_INIT_PATHS:
        return floats
    if path in ("weights", "biases"):
        leaf = "bias" if path == "biases" else "weight"
        return [k for k in floats if k in param_names and _owner(k)[1] == leaf]
    if kind == "unit" and rest:
        return [k for k in floats if _under(k, _unit_modules(model, rest, units))]
    if kind == "group" and "/" in rest:
        unit, _, group = rest.rpartition("/")
        if group not in GROUPS:
            raise PathError(
                f"unknown group {group!r} in path {path!r}; expected one of {list(GROUPS)}"
            )
        modules = _module_kinds(model)
        keys = [
            k
            for k in floats
            if _under(k, _unit_modules(model, unit, units)) and group_of(k, modules) == group
        ]
        if not keys:
            raise PathError(f"path {path!r} moves nothing: unit {unit!r} has no {group} entries")
        return keys
    raise PathError(
        f"unknown path {path!r}; expected one of {list(WHOLE_MODEL_PATHS)}, "
        "'unit/<module>' or 'group/<module>/<group>'"
    )


def _unit_modules(model: nn.Module, name: str, units: Mapping[str, list[str]]) -> list[str]:
    if name in units:
        return list(units[name])
    if name in dict(model.named_modules()) and name != "":
        return [name]
    raise PathError(f"unknown unit {name!r}; units of this model: {list(units)}")


def check_units(model: nn.Module, units: Mapping[str, list[str]]) -> None:
    """Every module a unit names exists in `model` (a typo fails before any training)."""
    modules = [name for name, _ in model.named_modules() if name]
    for unit, names in units.items():
        for name in names:
            if name not in modules:
                raise PathError(
                    f"unit {unit!r}: {name!r} is not a module of {type(model).__name__}; "
                    f"modules: {modules}"
                )


def expand_paths(requested: list[str], units: Mapping[str, list[str]]) -> list[str]:
    """Expand `unit/*` into one path per unit, keeping order and dropping repeats."""
    expanded: list[str] = []
    for path in requested:
        if path == "unit/*":
            expanded += [f"unit/{u}" for u in units]
        else:
            expanded.append(path)
    return list(dict.fromkeys(expanded))
