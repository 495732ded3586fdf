"""Finding finished runs (their results.json) and grouping them into settings over seeds."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from landscape.errors import LinpathError

RESULTS_FILE = "results.json"
# a run's later evaluations live in RUN/evaluations/NAME/ (sweeps.reevaluate): not runs
EVALUATIONS = "evaluations"


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
        """The run's overrides minus `seed=` and `reuse=`: runs that differ only by seed (or
        by whether they were reused) share a setting."""
        return tuple(o for o in self.results.get("overrides", []) if not _is_seed_or_reuse(o))

    @property
    def scale(self) -> str:
        """`scale=` from the overrides; a run without one ran at full scale."""
        for override in self.results.get("overrides", []):
            key, _, value = override.partition("=")
            if key.lstrip("+~") == "scale":
                return value
        return "full"


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


def _is_seed_or_reuse(override: str) -> bool:
    return override.partition("=")[0].lstrip("+~") in ("seed", "reuse")


def _same_value(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)
    except ValueError:
        return a.strip("'\"").replace(" ", "") == b.strip("'\"").replace(" ", "")


def find_results(directories: Iterable[Path | str]) -> list[Path]:
    """Every run's results.json under the given directories (recursively), each file once;
    later evaluations of a run (under its `evaluations/`) are not runs."""
    found: dict[Path, None] = {}
    for directory in directories:
        directory = Path(directory)
        if directory.is_file() and directory.name == RESULTS_FILE:
            found[directory.resolve()] = None
        elif directory.is_dir():
            for path in sorted(directory.rglob(RESULTS_FILE)):
                if EVALUATIONS not in path.relative_to(directory).parts[:-1]:
                    found[path.resolve()] = None
    return list(found)


def load_runs(directories: Iterable[Path | str], evaluation: str | None = None) -> list[Run]:
    """The runs under `directories`; a results.json that is not valid JSON is bad input.

    `evaluation` reads each run's evaluation of that name (RUN/evaluations/NAME/) in place
    of its own results, and leaves out runs that lack it.
    """
    runs = []
    for path in find_results(directories):
        if evaluation is not None:
            path = path.parent / EVALUATIONS / evaluation / RESULTS_FILE
            if not path.is_file():
                continue
        try:
            results = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ReportError(f"{path} is not valid JSON ({error})") from error
        if not isinstance(results, dict) or "paths" not in results:
            raise ReportError(f"{path} is not a linpath results.json (no 'paths')")
        run_dir = path.parent if evaluation is None else path.parents[2]
        runs.append(Run(run_dir, results, path.stat().st_mtime))
    return runs


def group_settings(runs: Sequence[Run]) -> list[Setting]:
    """Runs grouped by (experiment, overrides minus seed); of repeated seeds the newest counts.

    Settings keep the order in which they first appear among the runs sorted by directory
    (job 2 before job 10), and each gets a short label: its overrides minus those every
    setting of its experiment shares.
    """
    settings: dict[tuple, Setting] = {}
    for run in sorted(runs, key=lambda r: _natural_key(r.directory)):
        key = (run.experiment, run.setting)
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
