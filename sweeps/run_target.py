"""`python -m sweeps.run_target TARGET [TARGET ...] --scale SCALE`: each target's sweeps, then
its report.

What each target runs is `paper.targets.TARGETS` (the Makefile's paper targets call
this). Each sweep is one `run.py -m` multirun into its own folder under
multirun/<experiment>/; a staged sweep runs once per run of the earlier sweep it starts
from (at that run's seed, with `init.from_run=RUN_DIR`). `--dry-run` prints the commands.

Nothing to do takes no time, as with make: before any job process starts, a multirun
whose every job already has a finished run, trained and evaluated as that job would be,
is not started, and a target whose runs are all there and whose report is current
(`paper.report_inputs`) says so in one line and is skipped.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from landscape.errors import LinpathError
from paper.settings import compose_point, sweep_overrides, sweep_points, training_point, unswept
from paper.targets import MNIST_STAND_IN, TARGETS, Sweep, Target
from runs.identity import run_config
from runs.reuse import evaluation_config, find_reusable
from runs.store import Run, load_runs
from sweeps.plan import SCALES, Existing, Job, existing_runs, job_of, sweep_jobs, sweep_seeds
from sweeps.plan import SMOKE_SEEDS as SMOKE_SEED_LIST

SMOKE_SEEDS = f"seed={','.join(map(str, SMOKE_SEED_LIST))}"
REPO = Path(__file__).resolve().parents[1]


class TargetError(LinpathError):
    """A target that cannot run: unknown, a failed multirun, or no run to start a stage from."""


def data_location(sweep: Sweep, overrides: Sequence[str], data_root: str | None) -> list[str]:
    """Where data read from files lives (`data.root`); generated data needs none."""
    if data_root is None:
        return []
    cfg = compose_point([f"experiment={sweep.experiment}", *unswept(overrides)])
    if "root" not in cfg.data:
        return []
    return [f"data.root={data_root}", "data.check_integrity=false"]


def multirun_command(sweep: Sweep, overrides: Sequence[str], seeds: str | None, folder: Path):
    seed = [seeds] if seeds else []
    return [
        sys.executable,
        str(REPO / "run.py"),
        "-m",
        f"experiment={sweep.experiment}",
        *overrides,
        *seed,
        f"hydra.sweep.dir={folder}",
        "reuse=true",  # a training that exists is evaluated, not trained again (runs.reuse)
    ]


def earlier_runs(sweep: Sweep, folders: Sequence[Path]) -> list[Run]:
    """The runs a staged sweep starts from: the earlier sweep's, of `shape` if set."""
    runs = load_runs(folders)
    if sweep.shape:
        runs = [r for r in runs if r.results["paths"].get("full", {}).get("shape") == sweep.shape]
    if not runs:
        having = f" whose full path has shape {sweep.shape}" if sweep.shape else ""
        raise TargetError(
            f"no run of sweep {sweep.from_sweep!r}{having} under {[str(f) for f in folders]}; "
            f"{sweep.experiment} has nothing to start from (more seeds may find one)"
        )
    return sorted(runs, key=lambda r: (r.seed is None, r.seed))


def launch(
    target: Target,
    scale: str,
    data_root: str | None = None,
    mnist: bool = False,
    dry_run: bool = False,
    root: Path = Path("multirun"),
    existing: Existing | None = None,
) -> list[list[str]]:
    """Runs (or with `dry_run` lists) every multirun of `target` and returns the commands
    run. With `existing` (the store, read once), a multirun whose every job has a finished
    run that trained and evaluated as it would is not started: those runs stand for it."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    folders: dict[str, list[Path]] = {}
    commands = []
    for index, sweep in enumerate(target.sweeps if target.trains else ()):
        overrides = sweep_overrides(sweep, scale, mnist)
        overrides += data_location(sweep, overrides, data_root)
        seeds = SMOKE_SEEDS if scale == "smoke" else sweep.seeds and f"seed={sweep.seeds}"
        folder = root / sweep.experiment / f"{target.name}_{stamp}_{sweep.name or index}"
        if sweep.from_sweep is None:
            jobs = sweep_jobs(sweep, tuple(sweep_seeds(sweep, scale)), scale, mnist)
            batches = [(multirun_command(sweep, overrides, seeds, folder), folder, jobs)]
        elif dry_run:
            staged = [*overrides, f"{sweep.option}=RUN_DIR"]
            batches = [(multirun_command(sweep, staged, "seed=RUN_SEED", folder / "RUN"), None, [])]
        else:
            batches = []
            for run in earlier_runs(sweep, folders[sweep.from_sweep]):
                made = folder / f"from_{run.directory.name}_seed{run.seed}"
                staged = [*overrides, f"{sweep.option}={run.directory}"]
                jobs = staged_jobs(sweep, run, scale, mnist)
                batches.append(
                    (multirun_command(sweep, staged, f"seed={run.seed}", made), made, jobs)
                )
        for command, made, jobs in batches:
            current = None if dry_run or existing is None else up_to_date_runs(jobs, existing)
            if current is not None:
                print(f"{target.name}: {len(current)} runs of {' '.join(command[3:-2])} up to date")
                folders.setdefault(sweep.name, []).extend(current)
                continue
            commands.append(command)
            if dry_run:
                continue
            print("+ " + " ".join(command[1:]), flush=True)
            if subprocess.run(command).returncode != 0:
                raise TargetError(f"a multirun of {sweep.experiment} failed (see above)")
            folders.setdefault(sweep.name, []).append(made)
    return commands


def staged_jobs(sweep: Sweep, run: Run, scale: str, mnist: bool) -> list[Job]:
    """The jobs of a staged sweep that start from `run`, at its seed."""
    points = sweep_points([f"experiment={sweep.experiment}", *sweep_overrides(sweep, scale, mnist)])
    option = f"{sweep.option}={run.directory}"
    return [job_of(sweep, (*point, option), run.seed, scale, staged=False) for point in points]


def up_to_date_runs(jobs: Sequence[Job], existing: Existing) -> list[Path] | None:
    """A finished run for each job that trained as the job would (`runs.reuse.find_reusable`
    checks it) and was evaluated as the job would be; None if a job has none."""
    found = []
    for job in jobs:
        cfg = OmegaConf.create(training_point(job.overrides))
        wanted = evaluation_config(cfg)
        match = next(
            (
                run_dir
                for run_dir in existing.by_training.get(job.training_id, [])
                if evaluation_config(run_config(run_dir)) == wanted
                and find_reusable(cfg, roots=[run_dir]) is not None
            ),
            None,
        )
        if match is None:
            return None
        found.append(match)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sweeps.run_target", description=__doc__.split("\n")[0]
    )
    parser.add_argument("targets", nargs="+", metavar="target", help=f"of {', '.join(TARGETS)}")
    parser.add_argument("--scale", choices=SCALES, default="full")
    parser.add_argument("--data-root", help="data.root of experiments that read data files")
    parser.add_argument("--mnist", action="store_true", help=f"MNIST, not {MNIST_STAND_IN}")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = parser.parse_args(argv)
    try:
        unknown = [t for t in args.targets if t not in TARGETS]
        if unknown:
            raise TargetError(f"unknown target {unknown[0]!r}; expected one of {list(TARGETS)}")
        existing = None if args.dry_run else existing_runs()
        for name in args.targets:
            target = TARGETS[name]
            commands = launch(target, args.scale, args.data_root, args.mnist, args.dry_run,
                              existing=existing)  # fmt: skip
            if args.dry_run:
                for command in commands:
                    print(" ".join(command[1:]))
                continue
            if commands:
                existing = existing_runs()  # what these multiruns added, for the next target
            make(target, args.scale, args.mnist, trained=bool(commands))
    except LinpathError as error:
        print(f"linpath: error: {error}", file=sys.stderr)
        return 2
    return 0


def make(target: Target, scale: str, mnist: bool, trained: bool) -> None:
    """The target's reports, unless nothing was trained and each is current (make's rule)."""
    from paper.report import report, report_is_up_to_date

    names = (target.name, *target.also_reports)
    if not trained and all(report_is_up_to_date(n, scale, mnist) for n in names):
        print(
            f"{target.name}: up to date (its runs are finished and its report is newer than "
            "every results.json it reads)",
            flush=True,
        )
        return
    for name in names:
        for path in report(name, scale=scale, mnist=mnist):
            print(path, flush=True)


if __name__ == "__main__":
    sys.exit(main())
