"""`python -m sweeps.run_target TARGET --scale SCALE`: run a target's sweeps, then its report.

What each target runs is `paper.targets.TARGETS` (the Makefile's paper targets call
this). Each sweep is one `run.py -m` multirun into its own folder under
multirun/<experiment>/; a staged sweep runs once per run of the earlier sweep it starts
from (at that run's seed, with `init.from_run=RUN_DIR`). `--dry-run` prints the commands.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from landscape.errors import LinpathError, OneLineParser
from paper.settings import compose_point, sweep_overrides, unswept
from paper.targets import MNIST_STAND_IN, TARGETS, Sweep, Target
from runs.store import Run, load_runs

SCALES = ("full", "smoke")
SMOKE_SEEDS = "seed=0,1"
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
) -> list[list[str]]:
    """Runs (or with `dry_run` lists) every multirun of `target`; returns the commands."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    folders: dict[str, list[Path]] = {}
    commands = []
    for index, sweep in enumerate(target.sweeps if target.trains else ()):
        overrides = sweep_overrides(sweep, scale, mnist)
        overrides += data_location(sweep, overrides, data_root)
        seeds = SMOKE_SEEDS if scale == "smoke" else sweep.seeds and f"seed={sweep.seeds}"
        folder = root / sweep.experiment / f"{target.name}_{stamp}_{sweep.name or index}"
        if sweep.from_sweep is None:
            jobs = [(multirun_command(sweep, overrides, seeds, folder), folder)]
        elif dry_run:
            staged = [*overrides, f"{sweep.option}=RUN_DIR"]
            jobs = [(multirun_command(sweep, staged, "seed=RUN_SEED", folder / "RUN"), None)]
        else:
            jobs = []
            for run in earlier_runs(sweep, folders[sweep.from_sweep]):
                made = folder / f"from_{run.directory.name}_seed{run.seed}"
                staged = [*overrides, f"{sweep.option}={run.directory}"]
                jobs.append((multirun_command(sweep, staged, f"seed={run.seed}", made), made))
        for command, made in jobs:
            commands.append(command)
            if dry_run:
                continue
            print("+ " + " ".join(command[1:]), flush=True)
            if subprocess.run(command).returncode != 0:
                raise TargetError(f"a multirun of {sweep.experiment} failed (see above)")
            folders.setdefault(sweep.name, []).append(made)
    return commands


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m sweeps.run_target", description=__doc__.split("\n")[0])
    parser.add_argument("target", help=f"one of {', '.join(TARGETS)}")
    parser.add_argument("--scale", choices=SCALES, default="full")
    parser.add_argument("--data-root", help="data.root of experiments that read data files")
    parser.add_argument("--mnist", action="store_true", help=f"MNIST, not {MNIST_STAND_IN}")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = parser.parse_args(argv)
    try:
        if args.target not in TARGETS:
            raise TargetError(f"unknown target {args.target!r}; expected one of {list(TARGETS)}")
        target = TARGETS[args.target]
        commands = launch(target, args.scale, args.data_root, args.mnist, args.dry_run)
        if args.dry_run:
            for command in commands:
                print(" ".join(command[1:]))
            return 0
        from paper.report import report

        skipped: list[str] = []
        for name in (target.name, *target.also_reports):
            for path in report(name, scale=args.scale, mnist=args.mnist, skipped=skipped):
                print(path)
    except LinpathError as error:
        print(f"linpath: error: {error}", file=sys.stderr)
        return 2
    for error in skipped:  # the reports were written without them
        print(f"linpath: warning: left out of the report: {error}", file=sys.stderr)
    if skipped:
        print(f"linpath: error: {len(skipped)} run(s) could not be read", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
