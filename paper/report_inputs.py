"""Whether a report is current, as make would decide it: the runs a report read are
recorded beside it (`inputs.json`); it is current while they are unchanged and no newer run
would take the place of one (a run of a setting it shows, at a new seed, or with as many of
its paths: `paper.settings.best_per_seed` takes the newest of those)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from runs.artifacts import save_json_atomic
from runs.store import RESULTS_FILE, Run, find_results

MANIFEST = "inputs.json"


def record_inputs(
    out_dir: Path,
    args: Mapping,
    settings: Iterable[str] | None,
    runs: Iterable[tuple[str, Run]],
    shows: Callable[[str], bool],
    written: Sequence[Path],
) -> Path:
    """Writes what the report in `out_dir` was made from: its arguments, the setting keys it
    looks for (None: any run may enter it, as in Table 1), each (setting key, run) it read
    with how many of the paths it `shows` the run has, and the files it wrote. Written
    last, so a report cut short has none."""
    inputs = [
        {
            "results": str((run.directory / RESULTS_FILE).resolve()),
            "setting": setting,
            "seed": run.seed,
            "shown": sum(map(shows, run.results["paths"])),
        }
        for setting, run in runs
    ]
    manifest = {
        "args": dict(args),
        "settings": None if settings is None else sorted(set(settings)),
        "inputs": inputs,
        "written": [str(path) for path in written],
    }
    save_json_atomic(manifest, out_dir / MANIFEST)
    return out_dir / MANIFEST


def report_is_current(
    out_dir: Path, args: Mapping, run_dirs: Sequence[Path], shows: Callable[[str], bool]
) -> bool:
    """The report in `out_dir` was made with `args`, all its files are there, every run it
    read is unchanged since, and no results.json under `run_dirs` newer than the report
    would enter it."""
    path = out_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    made = path.stat().st_mtime
    inputs = manifest["inputs"]
    if manifest["args"] != dict(args) or not all(Path(p).is_file() for p in manifest["written"]):
        return False
    if not all(_mtime(Path(i["results"])) <= made for i in inputs):
        return False
    used = {(i["setting"], i["seed"]): i["shown"] for i in inputs}
    wanted = manifest["settings"]
    for results in find_results([d for d in run_dirs if Path(d).is_dir()]):
        if results.stat().st_mtime <= made:
            continue
        if wanted is None:
            return False
        try:
            newer = json.loads(results.read_text())
        except (OSError, ValueError):
            return False
        setting = newer.get("setting_id")
        if setting is None:
            return False  # a run from before results.json named its setting
        if setting not in wanted:
            continue
        shown = sum(map(shows, newer.get("paths", {})))
        if shown >= used.get((setting, newer.get("seed")), -1):
            return False
    return True


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.is_file() else float("inf")
