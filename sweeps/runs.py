"""Finding finished runs (their results.json) and grouping them into settings over seeds."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from landscape.errors import LinpathError
from landscape.state_files import load_results_file
from sweeps.identity import setting_id

RESULTS_FILE = "results.json"


class ReportError(LinpathError):
    """Bad input to a report: an unknown target, or no runs where runs were expected."""


@dataclass
class Run:
    """One finished run: its directory and its results.json."""

    directory: Path
    results: dict
    modified: float = 0.0

    @property
    def experiment(self) -> str:
        return self.results.get("experiment", "")

    @property
    def seed(self) -> int | None:
        return self.results.get("seed")

    @property
    def setting(self) -> tuple[str, ...]:
        """The run's overrides minus `seed=`, as typed: for labels, not for grouping."""
        return tuple(o for o in self.results.get("overrides", []) if not _is_seed(o))

    @property
    def setting_id(self) -> str:
        """What runs differing only by seed share (`sweeps.identity`): from results.json, or
        for a run written before it was recorded, from the run's composed config."""
        if self.results.get("setting_id"):
            return self.results["setting_id"]
        config = self.directory / ".hydra" / "config.yaml"
        if not config.is_file():
            raise ReportError(
                f"{self.directory / RESULTS_FILE} has no setting_id and {config} is missing: "
                "cannot tell which runs are its seeds"
            )
        return setting_id(read_yaml(config))

    @property
    def scale(self) -> str:
        """The run's `scale` choice (Hydra's record of it, else its overrides; default full)."""
        hydra_record = self.directory / ".hydra" / "hydra.yaml"
        if hydra_record.is_file():
            choices = read_yaml(hydra_record).hydra.runtime.choices
            if choices.get("scale"):
                return choices["scale"]
        for override in self.results.get("overrides", []):
            key, _, value = override.partition("=")
            if key.lstrip("+~") == "scale":
                return value
        return "full"


def read_yaml(path: Path) -> DictConfig:
    """A YAML file a run left; a corrupt one is named in one line."""
    try:
        config = OmegaConf.load(path)
    except Exception as error:  # yaml's ScannerError, ParserError, UnicodeDecodeError, ...
        raise ReportError(f"{path} is not readable YAML ({type(error).__name__})") from error
    if not isinstance(config, DictConfig):
        raise ReportError(f"{path} is not a mapping")
    return config


@dataclass
class Setting:
    """The runs of one experiment that differ only by seed (newest run per seed)."""

    experiment: str
    overrides: tuple[str, ...]
    runs: list[Run] = field(default_factory=list)
    label: str = ""

    def has(self, override: str) -> bool:
        """Whether the setting includes `key=value`; numbers compare by value (1e-1 == 0.1)."""
        key, _, value = override.partition("=")
        if key == "experiment":
            return _same_value(value, self.experiment)
        return any(
            o.partition("=")[0].lstrip("+~") == key and _same_value(o.partition("=")[2], value)
            for o in self.overrides
        )


def _is_seed(override: str) -> bool:
    return override.partition("=")[0].lstrip("+~") == "seed"


def _same_value(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)
    except ValueError:
        return a.strip("'\"").replace(" ", "") == b.strip("'\"").replace(" ", "")


def find_results(directories: Iterable[Path | str]) -> list[Path]:
    """Every results.json under the given directories (recursively), each file once."""
    found: dict[Path, None] = {}
    for directory in directories:
        directory = Path(directory)
        if directory.is_file() and directory.name == RESULTS_FILE:
            found[directory.resolve()] = None
        elif directory.is_dir():
            for path in sorted(directory.rglob(RESULTS_FILE)):
                found[path.resolve()] = None
    return list(found)


def load_runs(directories: Iterable[Path | str]) -> list[Run]:
    """The runs under `directories`; a results.json that is not valid JSON is bad input."""
    runs = []
    for path in find_results(directories):
        results = load_results_file(path)
        runs.append(Run(path.parent, results, path.stat().st_mtime))
    return runs


def group_settings(runs: Sequence[Run]) -> list[Setting]:
    """Runs grouped by their setting_id, however their overrides were spelled or ordered; of
    repeated seeds the newest counts. Runs of both scales are never mixed: bad input.

    Settings keep the order in which they first appear among the runs sorted by directory
    (job 2 before job 10), and each gets a short label: its overrides minus those every
    setting of its experiment shares.
    """
    scales = sorted({run.scale for run in runs})
    if len(scales) > 1:
        raise ReportError(
            f"the runs found are of scales {scales}; a report averages one: pass --scale "
            f"{'|'.join(scales)}"
        )
    settings: dict[tuple, Setting] = {}
    for run in sorted(runs, key=lambda r: _natural_key(r.directory)):
        key = (run.experiment, run.setting_id)
        settings.setdefault(key, Setting(run.experiment, run.setting))
        setting = settings[key]
        same_seed = [r for r in setting.runs if r.seed == run.seed]
        if same_seed and same_seed[0].modified >= run.modified:
            continue
        setting.runs = [r for r in setting.runs if r.seed != run.seed] + [run]
    grouped = list(settings.values())
    for setting in grouped:
        setting.runs.sort(key=lambda r: (r.seed is None, r.seed))
        siblings = [s for s in grouped if s.experiment == setting.experiment]
        shared = set.intersection(*(set(s.overrides) for s in siblings))
        varying = [_shorten(o) for o in setting.overrides if o not in shared]
        varying = [o for o in varying if not o.startswith("experiment=")]
        setting.label = " ".join(varying) or setting.experiment
    return grouped


def _natural_key(path: Path) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in path.parts)


def _shorten(override: str) -> str:
    """`init.from_run=/long/path/multirun/x/3` -> `init.from_run=x/3`: labels stay readable."""
    key, _, value = override.partition("=")
    if "/" in value:
        value = "/".join(Path(value).parts[-2:])
    return f"{key}={value}"
