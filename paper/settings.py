"""Which finished runs a target takes: runs are matched by their training setting.

A target lists sweeps (an experiment, its overrides and its sweep axes). Each point of a
sweep, composed as run.py would compose it, is one expected setting; a finished run
belongs to it when its own composed config (`.hydra/config.yaml`) trains the same way,
seed aside (`runs.identity`). So a run counts wherever its training fits, whatever
experiment made it, and a run of another training never enters a report by its name.
The earlier run a staged run started from (`init.from_run`, `optim.groups_from`) is no
part of the setting: staged runs pair with their earlier runs by seed.
"""

from __future__ import annotations

import copy
import functools
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from paper.targets import Sweep, stand_in_used
from runs.identity import RESUMED_FROM, run_config, setting_id
from runs.store import Run, Setting

CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"


def compose(*override_lists: Sequence[str]) -> list[DictConfig]:
    """The configs run.py composes from each list of overrides (with the Hydra section)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return [
            hydra_compose("train", overrides=list(o), return_hydra_config=True)
            for o in override_lists
        ]


@functools.cache
def _composed(overrides: tuple[str, ...]) -> DictConfig:
    return compose(overrides)[0]


def compose_point(point: Sequence[str]) -> DictConfig:
    """`compose(point)`, composing once per choice of config groups: plain `key=value`
    overrides are then set on a copy, as Hydra sets them after composing."""
    groups, plain = _split_point(point)
    if plain is None:
        return _composed(tuple(point))
    cfg = copy.deepcopy(_composed(groups))
    for override in plain:
        OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True)
    return cfg


def training_point(point: Sequence[str]) -> dict:
    """`compose_point(point)` without its Hydra section, as plain containers (interpolations
    unresolved): what `runs.identity` needs, a hundred times cheaper to copy."""
    groups, plain = _split_point(point)
    if plain is None:
        return _plain(tuple(point))
    cfg = copy.deepcopy(_plain(groups))
    for override in plain:
        _update(cfg, override.key_or_group.split("."), override.value())
    return cfg


def group_choice(point: Sequence[str], group: str) -> str | None:
    """The option of config group `group` (`model`, `data`, ...) that `point` composes."""
    groups, _ = _split_point(point)
    return _composed(groups).hydra.runtime.choices.get(group)


def _split_point(point: Sequence[str]):
    """(the group overrides as a tuple, the plain overrides), or (the point, None) when a
    plain override adds or deletes keys and only a whole compose can say what it does."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(point))
    plain = [o for o in parsed if not (CONFIG_DIR / o.key_or_group).is_dir()]
    if any(o.is_add() or o.is_delete() or o.is_force_add() for o in plain):
        return tuple(point), None
    return tuple(o.input_line for o in parsed if o not in plain), plain


@functools.cache
def _plain(groups: tuple[str, ...]) -> dict:
    composed = OmegaConf.to_container(_composed(groups), resolve=False)
    return {key: value for key, value in composed.items() if key != "hydra"}


def _update(tree: dict, keys: list[str], value) -> None:
    """`OmegaConf.update(tree, ".".join(keys), value, merge=True)` on plain dicts."""
    for key in keys[:-1]:
        tree = tree.setdefault(key, {})
    if isinstance(value, dict) and isinstance(tree.get(keys[-1]), dict):
        for key, entry in value.items():
            _update(tree[keys[-1]], [key], entry)
    else:
        tree[keys[-1]] = value


def sweep_points(overrides: Sequence[str]) -> list[tuple[str, ...]]:
    """Every point of the multirun `run.py -m OVERRIDES`, seed aside: the fixed overrides
    plus one value of each axis (the experiment file's `hydra.sweeper.params`, unless an
    override sets that key, and every sweep in `overrides`), in Hydra's order."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    given = parser.parse_overrides(list(overrides))
    set_here = {o.key_or_group for o in given}
    experiment = next(o.value() for o in given if o.key_or_group == "experiment")
    file = OmegaConf.load(CONFIG_DIR / "experiment" / f"{experiment}.yaml")
    params = OmegaConf.select(file, "hydra.sweeper.params") or {}
    from_config = [
        parser.parse_overrides([f"{key}={value}"])[0]
        for key, value in OmegaConf.to_container(params).items()
    ]  # `+key` axes too: compared by key, not by spelling
    axes_from_config = [o for o in from_config if o.key_or_group not in set_here]
    fixed, axes = [], []
    for override in [*given, *axes_from_config]:
        if override.key_or_group == "seed":
            continue
        if override.is_sweep_override():
            key = override.get_key_element()
            axes.append([f"{key}={v}" for v in override.sweep_string_iterator()])
        else:
            fixed.append(override.input_line)
    return [(*fixed, *point) for point in itertools.product(*axes)]


def unswept(overrides: Sequence[str]) -> list[str]:
    """The overrides that set one value (not a sweep over several)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    return [o.input_line for o in parsed if not o.is_sweep_override()]


def run_setting_key(run: Run) -> str | None:
    """The run's setting key from its `.hydra/config.yaml` (and the run a resumed run
    continued with a longer schedule: another setting); None for a run without one."""
    path = Path(run.directory) / ".hydra" / "config.yaml"
    if not path.is_file():
        return None
    return setting_id(run_config(run.directory), run.results.get(RESUMED_FROM))


def as_run(sweep: Sweep, scale: str, digits: bool = False) -> Sweep:
    """The sweep as it runs at `scale`: on its stand-in data at smoke scale or with `digits`."""
    return sweep.on_stand_in() if stand_in_used(scale, digits) else sweep


def sweep_overrides(sweep: Sweep, scale: str, digits: bool = False) -> list[str]:
    """The sweep's overrides at `scale` (seed axis and data location aside); MNIST gives way
    to the digits stand-in at smoke scale or with `digits`."""
    overrides = list(as_run(sweep, scale, digits).overrides)
    if scale == "smoke":
        return ["scale=smoke", *overrides, *sweep.smoke]
    return overrides


@dataclass(frozen=True)
class Expected:
    """One setting a target expects: its sweep, its overrides (the sweep point) and key."""

    sweep: Sweep
    overrides: tuple[str, ...]
    key: str


def expected_settings(sweeps: Sequence[Sweep], scale: str, digits: bool = False) -> list[Expected]:
    """Every point of every sweep at `scale`, composed once."""
    points = [
        (as_run(sweep, scale, digits), point)
        for sweep in sweeps
        for point in sweep_points(
            [f"experiment={sweep.experiment}", *sweep_overrides(sweep, scale, digits)]
        )
    ]
    configs = [training_point(point) for _, point in points]  # all setting_id needs
    return [
        Expected(
            sweep,
            tuple(o for o in point if not o.startswith(("experiment=", "scale="))),
            setting_id(cfg),
        )
        for (sweep, point), cfg in zip(points, configs)
    ]


@dataclass
class TargetSetting(Setting):
    """A setting of a target; `sweep` is the sweep it belongs to (its panel in a figure)."""

    sweep: Sweep | None = None

    @property
    def panel(self) -> str:
        return self.sweep.panel if self.sweep else self.experiment


def run_keys(runs: Iterable[Run]) -> dict[str, list[Run]]:
    """Runs by setting key (runs without a recorded config are left out)."""
    by_key: dict[str, list[Run]] = {}
    for run in runs:
        key = run_setting_key(run)
        if key is not None:
            by_key.setdefault(key, []).append(run)
    return by_key


def select(
    by_key: dict[str, list[Run]],
    expected: Sequence[Expected],
    shows: Callable[[str], bool] = lambda path: True,
) -> list[TargetSetting]:
    """The runs of each expected setting, one per seed (`best_per_seed`); a run fits every
    expected setting with its key, and settings without runs are left out. Of an earlier
    sweep that a staged sweep starts from, only the runs a staged run started from count
    (all of them while no staged run exists)."""
    chosen = [best_per_seed(by_key.get(wanted.key, []), shows) for wanted in expected]
    sources: dict[str, set[Path | None]] = {}
    for wanted, runs in zip(expected, chosen):
        if wanted.sweep.from_sweep:
            found = sources.setdefault(wanted.sweep.from_sweep, set())
            found.update(_resolved(r.results["init"].get("from_run")) for r in runs)
    settings = []
    for wanted, runs in zip(expected, chosen):
        started = sources.get(wanted.sweep.name)
        if started:  # none staged yet: every run of the earlier sweep counts
            runs = best_per_seed(
                [r for r in by_key.get(wanted.key, []) if _resolved(r.directory) in started], shows
            )
        if runs:
            label = " ".join(wanted.overrides) or wanted.sweep.experiment
            settings.append(
                TargetSetting(
                    wanted.sweep.experiment,
                    wanted.overrides,
                    runs=[r for r in runs if not r.diverged],
                    label=label,
                    diverged=[r for r in runs if r.diverged],
                    sweep=wanted.sweep,
                )
            )
    return settings


def best_per_seed(runs: Iterable[Run], shows: Callable[[str], bool]) -> list[Run]:
    """Of runs with the same seed (the same training), the one with the most of the paths
    a report `shows`, then the newest; in seed order."""
    best: dict[object, Run] = {}
    for run in sorted(runs, key=lambda r: (sum(map(shows, r.results["paths"])), r.modified)):
        best[run.seed] = run
    return sorted(best.values(), key=lambda r: (r.seed is None, r.seed))


def _resolved(path: str | Path | None) -> Path | None:
    return None if path is None else Path(path).resolve()
