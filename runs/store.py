"""Finding finished runs (their results.json); `paper.settings` groups them into settings."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from landscape.errors import LinpathError
from landscape.state_files import load_results_file
from runs.folder import REPLACED, RESULTS_FILE

# a run's later evaluations live in RUN/evaluations/NAME/ (runs.reevaluate): not runs
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
    def diverged(self) -> bool:
        """NaN or inf in theta_f, or a blow-up at chance accuracy (runs.evaluation)."""
        return bool(self.results.get("diverged"))

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
    """The runs of one experiment that differ only by seed (newest run per seed). `runs`
    are the seeds that trained; `diverged` the ones that did not, which no mean, interval
    or count takes and every report names ("n of m seeds diverged")."""

    experiment: str
    overrides: tuple[str, ...]
    runs: list[Run] = field(default_factory=list)
    label: str = ""
    diverged: list[Run] = field(default_factory=list, kw_only=True)  # positions stay main's

    @property
    def diverged_note(self) -> str:
        """'n of m seeds diverged'."""
        return f"{len(self.diverged)} of {len(self.runs) + len(self.diverged)} seeds diverged"

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
    later evaluations of a run (under its `evaluations/`) and runs moved aside by
    `overwrite=true` are not runs."""
    found: dict[Path, None] = {}
    for directory in directories:
        directory = Path(directory)
        if directory.is_file() and directory.name == RESULTS_FILE:
            found[directory.resolve()] = None
        elif directory.is_dir():
            for path in sorted(directory.rglob(RESULTS_FILE)):
                folders = path.relative_to(directory).parts[:-1]
                if EVALUATIONS not in folders and not any(REPLACED in f for f in folders):
                    found[path.resolve()] = None
    return list(found)


def load_runs(
    directories: Iterable[Path | str],
    evaluation: str | None = None,
    on_bad: Callable[[Path, LinpathError], None] | None = None,
) -> list[Run]:
    """The runs under `directories`; a results.json that is not valid JSON is bad input,
    raised, or with `on_bad` reported to it and left out (a report carries on past it).

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
            results = load_results_file(path)
        except LinpathError as error:
            if on_bad is None:
                raise
            on_bad(path, error)
            continue
        run_dir = path.parent if evaluation is None else path.parents[2]
        runs.append(Run(run_dir, results, path.stat().st_mtime))
    return runs
