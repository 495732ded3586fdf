"""Optimizer parameter groups by unit, each with its own lr and weight decay (Fig. 9, Table 2).

`groups` maps a group name to `{units: [unit, ...], lr: ..., weight_decay: ...}` (a unit is
a discovered unit, e.g. a VGG conv with its BN, or any module name); lr and
weight_decay fall back to the optimizer's. Parameters in no group form a last group with
the optimizer's settings. With `groups_from=DIR` the units of groups `B` and `NB` are read
from that run: the units whose `unit/...` path has a barrier (shape B) and the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import nn

from landscape import discover_units
from landscape.errors import LinpathError
from lightning_modules.earlier_run import find_run

SETTINGS = ("lr", "weight_decay")
SHAPE_GROUPS = ("B", "NB")


class ParamGroupError(LinpathError, ValueError):
    """A group names an unknown unit, overlaps another, or cannot be read from a run."""


def units_by_shape(results: dict, run_dir) -> dict[str, list[str]]:
    """Module names of the units with (B) and without (NB) a barrier on their unit path."""
    unit_paths = {
        path.removeprefix("unit/"): entry["shape"]
        for path, entry in results.get("paths", {}).items()
        if path.startswith("unit/")
    }
    if not unit_paths:
        raise ParamGroupError(
            f"optim.groups_from={run_dir} has no unit paths; run it with "
            "interpolation.paths=[full,unit/*]"
        )
    modules = results.get("units", {})
    split: dict[str, list[str]] = {"B": [], "NB": []}
    for unit, shape in unit_paths.items():
        split["B" if shape == "B" else "NB"] += modules.get(unit, [unit])
    return split


def _owns(module: str, parameter: str) -> bool:
    return parameter.startswith(module + ".")


def build_param_groups(
    net: nn.Module,
    groups: Mapping[str, Mapping] | None = None,
    groups_from: str | None = None,
    seed: int = 0,
) -> list[dict]:
    """Optimizer groups for `net`: one per entry of `groups`, then the rest (if any)."""
    groups = {name: dict(spec) for name, spec in (groups or {}).items()}
    if groups_from is not None:
        run = find_run(groups_from, seed, option="optim.groups_from")
        for name, units in units_by_shape(run.results, run.path).items():
            groups.setdefault(name, {})["units"] = units
    modules = {name for name, _ in net.named_modules() if name}
    discovered = discover_units(net, "stages")  # a unit named by its conv also takes its BN
    claimed: dict[str, str] = {}
    result = []
    for name, spec in groups.items():
        unknown = set(spec) - {"units", *SETTINGS}
        if unknown:
            raise ParamGroupError(
                f"optim.groups.{name} has unknown keys {sorted(unknown)}; "
                f"expected units, {', '.join(SETTINGS)}"
            )
        units: Sequence[str] = spec.get("units") or []
        if not units and groups_from is not None and name in SHAPE_GROUPS:
            continue  # the reference run has no unit of this shape
        if not units:
            raise ParamGroupError(f"optim.groups.{name} lists no units")
        missing = [u for u in units if u not in modules]
        if missing:
            raise ParamGroupError(
                f"optim.groups.{name}: unknown units {missing}; modules of this model include "
                f"{sorted(n for n in modules if '.' not in n)}"
            )
        covered = [m for u in units for m in discovered.get(u, [u])]
        params = []
        for pname, param in net.named_parameters():
            if any(_owns(m, pname) for m in covered):
                if pname in claimed:
                    raise ParamGroupError(
                        f"parameter {pname!r} is in optim.groups.{claimed[pname]} and .{name}"
                    )
                claimed[pname] = name
                params.append(param)
        settings = {k: float(spec[k]) for k in SETTINGS if spec.get(k) is not None}
        result.append({"name": name, "params": params, **settings})
    rest = [p for pname, p in net.named_parameters() if pname not in claimed]
    if rest:
        result.append({"name": "rest", "params": rest})
    return result
