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
LAYERNORMS = (nn.LayerNorm, nn.RMSNorm)
CONTAINERS = (nn.Sequential, nn.ModuleList)
# The sub-layers of a transformer by the class names the libraries give them (timm's
# Attention and Mlp, transformers' GPT2Attention and GPT2MLP, torch's MultiheadAttention):
# group -> lower-case pieces of a class name. A small table, not a list per model.
SUBLAYER_NAMES = {"attention": ("attention",), "mlp": ("mlp", "feedforward")}
# Embeddings: modules whose class says so (nn.Embedding, timm's PatchEmbed) and parameters a
# model holds bare under such a name (timm's pos_embed, cls_token).
EMBEDDING_NAMES = ("embed", "token")
# Groups that never overlap: every entry is in one of them at most (bare parameters in none).
DISJOINT_GROUPS = ("bn_stats", "bn_affine", "weights", "biases")
GROUPS = (*DISJOINT_GROUPS, "layernorm", "attention", "mlp", "embeddings")
# Groups that are also paths of their own over the whole model (`weights`, `attention`, ...).
MODEL_GROUPS = ("weights", "biases", "layernorm", "attention", "mlp", "embeddings")
# The new-init paths run between other states than theta_a -> theta_b: (start, end), with
# theta_new a fresh draw from the initialiser (theta_i'). Alpha 0 is the start.
NEW_INIT_ENDS = {
    "final_to_new_init": ("theta_b", "theta_new"),
    "init_to_new_init": ("theta_a", "theta_new"),
}
NEW_INIT_PATHS = tuple(NEW_INIT_ENDS)
WHOLE_MODEL_PATHS = ("full", *MODEL_GROUPS, *NEW_INIT_PATHS)
UNIT_GRANULARITIES = ("stages", "blocks")


class PathError(LinpathError, ValueError):
    """A path key, unit or group that does not exist in the model."""


def _is_leaf_layer(module: nn.Module) -> bool:
    return isinstance(module, WEIGHT_LAYERS + NORM_LAYERS)


def _has_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def _has_state(module: nn.Module) -> bool:
    return _has_params(module) or any(True for _ in module.buffers())


def _is_sublayer(module: nn.Module) -> bool:
    """A layer made of layers (attention, an MLP, a residual block): not a container."""
    return _has_params(module) and not _is_leaf_layer(module) and not isinstance(module, CONTAINERS)


def _holds_blocks(container: nn.Module) -> bool:
    return any(_is_sublayer(child) for child in container.children())


def _is_sublayer_block(block: nn.Module) -> bool:
    """A block made of sub-layers of its own (a transformer block: norms, attention, MLP),
    unlike a residual block of conv and BN layers."""
    return _is_sublayer(block) and any(_is_sublayer(c) for c in block.children())


def _holds_trunk(module: nn.Module) -> bool:
    """Whether a container of blocks lies inside `module` (transformers' GPT2Model)."""
    return any(
        isinstance(m, CONTAINERS) and _holds_blocks(m) for m in module.modules() if m is not module
    )


def discover_units(model: nn.Module, granularity: str = "stages") -> dict[str, list[str]]:
    """Units of a model, in forward order (bare parameters first): unit name -> the module
    (or parameter) names it covers.

    Weight layers (Conv/Linear) each start a unit and a norm layer right after one joins it,
    so a VGG conv keeps its BN and a ResNet stem is `conv1` with `bn1`; any other norm layer
    (a transformer's LayerNorms) is a unit of its own. A container of residual blocks (a
    ResNet stage) is one unit with `stages` and one unit per block with `blocks`. A container
    of transformer blocks (blocks made of sub-layers) gives one unit per block with `stages`
    and one per sub-layer (each attention, MLP and LayerNorm) with `blocks`. A module holding
    such a container (GPT-2's `transformer`) is looked into; any other module with parameters
    (a residual block, an embedding, attention) is one unit. Parameters a module holds bare
    (timm's `cls_token`, `pos_embed`) are units of their own.
    """
    if granularity not in UNIT_GRANULARITIES:
        raise PathError(
            f"unknown unit granularity {granularity!r}; expected one of {list(UNIT_GRANULARITIES)}"
        )
    units: dict[str, list[str]] = {}

    def add(name: str) -> None:
        units[name] = [name]

    def visit(module: nn.Module, prefix: str) -> None:
        for name, _ in module.named_parameters(recurse=False):
            add(f"{prefix}{name}")
        after_weight_layer: str | None = None  # the unit a following norm layer joins
        for name, child in module.named_children():
            full = f"{prefix}{name}"
            if not _has_state(child):
                continue
            joins = isinstance(child, NORM_LAYERS) and not isinstance(child, LAYERNORMS)
            if joins and after_weight_layer is not None:
                units[after_weight_layer].append(full)
                after_weight_layer = None
                continue
            after_weight_layer = full if isinstance(child, WEIGHT_LAYERS) else None
            if _is_leaf_layer(child):
                add(full)
            elif isinstance(child, CONTAINERS):
                blocks = list(child.named_children())
                if not _holds_blocks(child):
                    visit(child, f"{full}.")
                elif any(_is_sublayer_block(block) for _, block in blocks):
                    for index, block in blocks:
                        if granularity == "blocks" and _is_sublayer_block(block):
                            visit(block, f"{full}.{index}.")
                        elif _has_state(block):
                            add(f"{full}.{index}")
                elif granularity == "stages":
                    add(full)
                else:
                    visit(child, f"{full}.")
            elif _holds_trunk(child):
                visit(child, f"{full}.")
            else:
                add(full)

    visit(model, "")
    return units


def _under(key: str, modules: list[str]) -> bool:
    return any(key == m or key.startswith(m + ".") for m in modules)


def _owner(key: str) -> tuple[str, str]:
    module, _, leaf = key.rpartition(".")
    return module, leaf


def _ancestors(key: str, modules: Mapping[str, nn.Module]) -> list[nn.Module]:
    """The modules holding entry `key`, innermost first, the model itself left out."""
    parts = key.split(".")[:-1]
    names = [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
    return [modules[n] for n in names if n in modules]


def _class_says(module: nn.Module, pieces: tuple[str, ...]) -> bool:
    return any(piece in type(module).__name__.lower() for piece in pieces)


def group_of(key: str, modules: Mapping[str, nn.Module]) -> str | None:
    """The disjoint group state entry `key` is in (None for a bare parameter such as
    `pos_embed`): they split a unit's entries, which the transformer groups cut across."""
    return next((g for g in DISJOINT_GROUPS if in_group(key, g, modules)), None)


def in_group(key: str, group: str, modules: Mapping[str, nn.Module]) -> bool:
    """Whether state entry `key` is in parameter group `group` (`modules`: the model's
    `named_modules()`). Inside a unit, `weights` and `biases` are those of its weight layers
    (a norm layer's are `bn_affine`)."""
    owner, leaf = _owner(key)
    module = modules.get(owner)
    if group in ("bn_stats", "bn_affine"):
        leaves = ("running_mean", "running_var") if group == "bn_stats" else ("weight", "bias")
        return isinstance(module, NORM_LAYERS) and leaf in leaves
    if group in ("weights", "biases"):
        wanted = "bias" if group == "biases" else "weight"
        return not isinstance(module, NORM_LAYERS) and leaf == wanted
    if group == "layernorm":
        return isinstance(module, LAYERNORMS)
    if group == "embeddings":
        held_bare = module is not None and not _is_leaf_layer(module)
        if held_bare and any(piece in leaf.lower() for piece in EMBEDDING_NAMES):
            return True
        return any(_class_says(m, ("embed",)) for m in _ancestors(key, modules))
    return any(_class_says(m, SUBLAYER_NAMES[group]) for m in _ancestors(key, modules))


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

    `unit/<name>` takes a discovered unit (or, failing that, any module or parameter by
    name); `group/<name>/<group>` the entries of one group inside it. `weights` is every
    parameter but the biases (BN affine weights, embeddings and bare parameters such as
    `pos_embed` included), `biases` every bias (BN shift included), buffers left at
    theta_b; `layernorm`, `attention`, `mlp` and `embeddings` are those groups over the
    whole model.
    """
    units = dict(units) if units is not None else discover_units(model)
    floats = [k for k, v in state.items() if is_interpolated(v)]
    param_names = {name for name, _ in model.named_parameters()}
    kind, _, rest = path.partition("/")

    if path == "full" or path in NEW_INIT_PATHS:
        return floats
    if path in ("weights", "biases"):
        is_bias = [k for k in floats if k in param_names and _owner(k)[1] == "bias"]
        if path == "biases":
            return is_bias
        return [k for k in floats if k in param_names and k not in set(is_bias)]
    if path in MODEL_GROUPS:
        modules = dict(model.named_modules())
        keys = [k for k in floats if in_group(k, path, modules)]
        if not keys:
            raise PathError(f"path {path!r} moves nothing: {type(model).__name__} has no {path}")
        return keys
    if kind == "unit" and rest:
        return [k for k in floats if _under(k, _unit_modules(model, rest, units))]
    if kind == "group" and "/" in rest:
        unit, _, group = rest.rpartition("/")
        if group not in GROUPS:
            raise PathError(
                f"unknown group {group!r} in path {path!r}; expected one of {list(GROUPS)}"
            )
        modules = dict(model.named_modules())
        keys = [
            k
            for k in floats
            if _under(k, _unit_modules(model, unit, units)) and in_group(k, group, modules)
        ]
        if not keys:
            raise PathError(f"path {path!r} moves nothing: unit {unit!r} has no {group} entries")
        return keys
    raise PathError(
        f"unknown path {path!r}; expected one of {list(WHOLE_MODEL_PATHS)}, "
        "'unit/<module>' or 'group/<module>/<group>'"
    )


def _named_parts(model: nn.Module) -> list[str]:
    """What a unit may name: every module, and every parameter a module with submodules
    holds bare (timm's `pos_embed`; not a layer's own `fc1.weight`)."""
    parts = []
    for name, module in model.named_modules():
        parts += [name] if name else []
        if any(True for _ in module.children()):
            prefix = f"{name}." if name else ""
            parts += [prefix + p for p, _ in module.named_parameters(recurse=False)]
    return parts


def _unit_modules(model: nn.Module, name: str, units: Mapping[str, list[str]]) -> list[str]:
    if name in units:
        return list(units[name])
    if name != "" and name in _named_parts(model):
        return [name]
    raise PathError(f"unknown unit {name!r}; units of this model: {list(units)}")


def check_units(model: nn.Module, units: Mapping[str, list[str]]) -> None:
    """Every module (or parameter) a unit names exists in `model` (a typo fails before any
    training)."""
    parts = _named_parts(model)
    for unit, names in units.items():
        for name in names:
            if name not in parts:
                modules = [name for name, _ in model.named_modules() if name]
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
