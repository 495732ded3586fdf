"""What a user types after `python run.py`, checked before Hydra runs anything: unknown
config choices, keys that are not in the config, Hydra syntax errors, a sweep without `-m`
and an output folder that cannot be written are each one `linpath: error:` line, and
nothing is written. `compose_config` composes what run.py would run."""

from __future__ import annotations

import os
import re
from pathlib import Path

from landscape.errors import LinpathError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"


def compose_config(*overrides: str, output_dir: Path | None = None):
    """The job config run.py would get, with `${hydra:...}` resolvable, without running it."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(
            output_dir or CONFIG_DIR.parent / "outputs" / "compose-only"
        )
        cfg.hydra.overrides.task = list(overrides)
    HydraConfig.instance().set_config(cfg)
    return cfg


def check_config_choices(arguments: list[str]) -> None:
    """An unknown `experiment=`, `model=`, `data=`, ... is one line listing the valid names,
    instead of Hydra's multi-line report. Names come from conf/ and from every folder on
    `hydra.searchpath` (your own configs); Hydra's own groups (hydra/...) are Hydra's to check."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ValueType

    try:
        overrides = OverridesParser.create().parse_overrides(
            [a for a in arguments if "=" in a and not a.startswith("-")]
        )
    except Exception:
        return  # a syntax error: check_overrides_apply reports it
    roots = [CONFIG_DIR, *search_path_folders(overrides)]
    for override in overrides:
        group = override.key_or_group
        folders = [root / group for root in roots if (root / group).is_dir()]
        if group.startswith("hydra") or override.is_delete() or not folders:
            continue
        if override.is_sweep_override():
            if override.value_type not in (ValueType.CHOICE_SWEEP, ValueType.SIMPLE_CHOICE_SWEEP):
                continue  # glob(...) picks among what exists
            values = list(override.sweep_string_iterator())
        else:
            values = [override.get_value_element_as_str()]
        valid = sorted({p.stem for folder in folders for p in folder.glob("*.yaml")})
        for value in values:
            if value not in valid and value != "null":
                raise LinpathError(f"unknown {group} {value!r}; expected one of {valid}")


def search_path_folders(overrides) -> list[Path]:
    """The config folders that `hydra.searchpath=[file://DIR, pkg://PACKAGE]` adds."""
    import importlib.util

    folders = []
    for override in overrides:
        if override.key_or_group != "hydra.searchpath" or override.is_sweep_override():
            continue
        entries = override.value()
        for entry in entries if isinstance(entries, list) else [entries]:
            scheme, _, location = str(entry).partition("://")
            if scheme == "file":
                folders.append(Path(location))
            elif scheme == "pkg":
                spec = importlib.util.find_spec(location.replace("/", "."))
                if spec is not None and spec.submodule_search_locations:
                    folders += [Path(p) for p in spec.submodule_search_locations]
    return folders


def check_overrides_apply(arguments: list[str]):
    """A key that is not in the config (a typo) or an override Hydra cannot apply is one
    line, not Hydra's report: compose once with the single-value overrides to find out.
    Returns that config."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    check_words(arguments)
    candidates = [a for a in arguments if "=" in a and not a.startswith("-")]
    try:
        overrides = OverridesParser.create().parse_overrides(candidates)
    except HydraException as error:
        raise LinpathError(" ".join(str(error).split())) from error
    if not multirun(arguments):
        sweep = next((o.input_line for o in overrides if o.is_sweep_override()), None)
        if sweep is not None:
            raise LinpathError(
                f"{sweep} sweeps over several values: add -m (python run.py -m ...) to run "
                "one job per value"
            )
    try:
        return compose_config(*[o.input_line for o in overrides if not o.is_sweep_override()])
    except HydraException as error:
        unknown = re.match(r"Could not override '([^']+)'", str(error))
        if unknown and "not in struct" in str(error.__cause__):
            key = unknown.group(1)
            raise LinpathError(
                f"{key}: no such key in the config (a typo?); `+{key}=VALUE` adds a new one"
            ) from error
        lines = [str(error), str(error.__cause__ or "")]
        words = [line.strip() for text in lines for line in text.splitlines()]
        kept = [w for w in words if w and not w.startswith(("full_key", "object_type"))]
        raise LinpathError(" ".join(kept)) from error


def multirun(arguments: list[str]) -> bool:
    return any(a in ("-m", "--multirun") for a in arguments)


def check_words(arguments: list[str]) -> None:
    """Words Hydra would take apart with a report: a key without `=VALUE`, and the second
    half of a value with an unquoted space."""
    for word in arguments:
        if word.startswith("-") or "=" in word or word.startswith("~"):
            continue
        raise LinpathError(
            f"{word!r} is not KEY=VALUE: give a value ({word}=...); a value with spaces "
            "needs quotes around KEY=VALUE as one word ('hydra.run.dir=my runs/a')"
        )


def quoted(value) -> str:
    """`value` as one Hydra override value, whatever characters a path holds (quoted only
    where Hydra's grammar needs it)."""
    text = str(value)
    if re.fullmatch(r"[\w./:+@%-]+", text):
        return text
    return "'" + text.replace("'", "\\'") + "'"  # a backslash elsewhere stays as it is


def output_folder(arguments: list[str], cfg) -> tuple[str, Path]:
    """The override key and absolute folder this command writes into: the run folder, or a
    sweep's folder; refused when it cannot be made or written."""
    key = "hydra.sweep.dir" if multirun(arguments) else "hydra.run.dir"
    folder = Path(str(cfg.hydra.sweep.dir if multirun(arguments) else cfg.hydra.run.dir))
    folder = folder.expanduser().absolute()
    existing = next(p for p in [folder, *folder.parents] if p.exists())
    if not existing.is_dir():
        raise LinpathError(f"{key}={folder}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise LinpathError(f"{key}={folder}: {existing} is not writable")
    return key, folder
