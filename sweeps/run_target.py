"""`python -m sweeps.run_target TARGET [TARGET ...] --scale SCALE`: each target's sweeps, then
its report.

What each target runs is `paper.targets.TARGETS` (the Makefile's paper targets call
this). Each sweep is one `run.py -m` multirun into its own folder under
multirun/<experiment>/ (a `SeedsUntil` sweep: one per batch of seeds, until enough runs have
its shape); a staged sweep runs once per run of the earlier sweep it starts from (at that
run's seed, with `init.from_run=RUN_DIR`), a barrier init only at the offsets that stay on
that run's path. Nothing to start from skips a stage; the report is written either way.
`--dry-run` prints the commands (a `SeedsUntil` sweep's first batch).

Nothing to do takes no time, as with make: before any job process starts, a multirun
whose every job already has a finished run, trained and evaluated as that job would be,
is not started (those runs stand for it), and a target whose runs are all there and whose
report is current (`paper.report_inputs`) says so in one line and is skipped.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from omegaconf import OmegaConf

from landscape.errors import LinpathError, OneLineParser
from lightning_modules.data.mnist import missing_idx_files
from lightning_modules.init import InitError, barrier_peak, offset_fits
from paper.barrier_runs import OFFSET
from paper.settings import compose_point, sweep_overrides, sweep_points, training_point, unswept
from paper.targets import MNIST_STAND_IN, STAND_IN_NAME, TARGETS, Sweep, Target, stand_in_used
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


def check_mnist_on_disk(target: Target, scale: str, data_root: str | None, digits: bool) -> None:
    """A target that trains on MNIST stops before its first run when the files are missing,
    naming the stand-in option (a later sweep's failure would leave the others trained)."""
    for sweep in target.sweeps if target.trains and not stand_in_used(scale, digits) else ():
        if not sweep.stand_in:
            continue
        overrides = sweep_overrides(sweep, scale, digits)
        cfg = compose_point([f"experiment={sweep.experiment}", *unswept(overrides)])
        root = data_root or cfg.data.get("root")
        missing = missing_idx_files(root) if root is not None else []
        if missing:
            raise TargetError(
                f"MNIST is not on disk: {missing[0].parent} lacks {[p.name for p in missing]}; "
                f"put the IDX files there, or run `make {target.name} DIGITS=1` "
                f"(`python -m sweeps.run_target {target.name} --digits`) to train on "
                f"scikit-learn's digits, the {STAND_IN_NAME}, which its reports name so"
            )


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
    """The runs a staged sweep starts from: the earlier sweep's, of `shape` if set. None
    of that shape is no error: the stage is skipped and the report says so."""
    runs = load_runs(folders)
    if sweep.shape:
        runs = [r for r in runs if full_shape(r) == sweep.shape]
    elif not runs:
        raise TargetError(
            f"no run of sweep {sweep.from_sweep!r} under {[str(f) for f in folders]}; "
            f"{sweep.experiment} has nothing to start from"
        )
    return sorted(runs, key=lambda r: (r.seed is None, r.seed))


def full_shape(run: Run) -> str | None:
    return run.results["paths"].get("full", {}).get("shape")


def train_until(sweep: Sweep, scale: str, folder: Path, train: Callable[[range, Path], list[Path]]):
    """Seeds 0, 1, ... in batches of as many as are still wanted, until `sweep.until.runs`
    have a full path of its shape or its seed cap is reached; prints what it found. `train`
    returns where the batch's runs are (its folder, or the runs that stood for it)."""
    wanted, cap = sweep.until.at(scale)
    tried, found = 0, 0
    while found < wanted and tried < cap:
        batch = range(tried, min(tried + wanted - found, cap))
        made = train(batch, folder / f"seeds_{batch[0]}-{batch[-1]}")
        found += sum(full_shape(r) == sweep.until.shape for r in load_runs(made))
        tried = batch[-1] + 1
    print(
        f"{sweep.name}: {found} of seeds 0-{tried - 1} have a full path of shape "
        f"{sweep.until.shape} (wanted {wanted}, seed cap {cap})",
        flush=True,
    )


def staged_overrides(sweep: Sweep, overrides: Sequence[str], run: Run) -> list[str] | None:
    """The staged multirun's overrides from `run`: a barrier sweep keeps only the offsets
    that stay on the run's path (the others are printed as skipped); None: nothing fits."""
    offsets = [
        value.partition("=")[2]
        for point in sweep_points([f"experiment={sweep.experiment}", *overrides])
        for value in point
        if value.startswith(OFFSET)
    ]
    if not offsets:
        return list(overrides)
    try:
        alphas, peak = barrier_peak(run.results, run.directory)
    except InitError as error:
        print(f"skipping {run.directory}: {error}", flush=True)
        return None
    fits = [o for o in dict.fromkeys(offsets) if offset_fits(alphas, peak, int(o))]
    for offset in dict.fromkeys(offsets):
        if offset not in fits:
            print(
                f"skipping {OFFSET}{offset} from {run.directory}: its barrier peaks at alpha "
                f"{alphas[peak]:g} (step {peak} of {len(alphas)}), the offset leaves the path",
                flush=True,
            )
    kept = [o for o in overrides if not o.startswith(OFFSET)]
    return [*kept, f"{OFFSET}{','.join(fits)}"] if fits else None


def launch(
    target: Target,
    scale: str,
    data_root: str | None = None,
    digits: bool = False,
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
        overrides = sweep_overrides(sweep, scale, digits)
        location = data_location(sweep, overrides, data_root)
        overrides += location
        folder = root / sweep.experiment / f"{target.name}_{stamp}_{sweep.name or index}"

        def execute(command: list[str], made: Path, jobs: Sequence[Job], sweep=sweep,
                    location=location) -> list[Path]:  # fmt: skip
            current = (
                None if dry_run or existing is None else up_to_date_runs(jobs, existing, location)
            )
            if current is not None:
                print(f"{target.name}: {len(current)} runs of {' '.join(command[3:-2])} up to date")
                folders.setdefault(sweep.name, []).extend(current)
                return current
            commands.append(command)
            if dry_run:
                return [made]
            print("+ " + " ".join(command[1:]), flush=True)
            if subprocess.run(command).returncode != 0:
                raise TargetError(f"a multirun of {sweep.experiment} failed (see above)")
            folders.setdefault(sweep.name, []).append(made)
            return [made]

        def seeds_jobs(seeds: Sequence[int], sweep=sweep) -> list[Job]:
            return sweep_jobs(sweep, tuple(seeds), scale, digits)

        if sweep.from_sweep is None and sweep.until and not dry_run:
            train_until(
                sweep,
                scale,
                folder,
                lambda batch, made, s=sweep, o=overrides: execute(
                    multirun_command(s, o, f"seed={','.join(map(str, batch))}", made),
                    made,
                    seeds_jobs(batch),
                ),
            )
        elif sweep.from_sweep is None:
            seeds = SMOKE_SEEDS if scale == "smoke" else sweep.seeds and f"seed={sweep.seeds}"
            jobs = seeds_jobs(sweep_seeds(sweep, scale))
            execute(multirun_command(sweep, overrides, seeds, folder), folder, jobs)
        elif dry_run:
            staged = [*overrides, f"{sweep.option}=RUN_DIR"]
            execute(multirun_command(sweep, staged, "seed=RUN_SEED", folder / "RUN"), folder, [])
        else:
            for run in earlier_runs(sweep, folders.get(sweep.from_sweep, [])):
                staged = staged_overrides(sweep, overrides, run)
                if staged is None:
                    continue
                made = folder / f"from_{run.directory.name}_seed{run.seed}"
                staged.append(f"{sweep.option}={run.directory}")
                jobs = staged_jobs(sweep, staged, run.seed, scale)
                execute(multirun_command(sweep, staged, f"seed={run.seed}", made), made, jobs)
    return commands


def staged_jobs(sweep: Sweep, overrides: Sequence[str], seed: int, scale: str) -> list[Job]:
    """The jobs of a staged multirun (its overrides name the earlier run), at its seed."""
    points = sweep_points([f"experiment={sweep.experiment}", *overrides])
    return [job_of(sweep, point, seed, scale, staged=False) for point in points]


def up_to_date_runs(
    jobs: Sequence[Job], existing: Existing, location: Sequence[str] = ()
) -> list[Path] | None:
    """A finished run for each job that trained as the job would (`runs.reuse.find_reusable`
    checks it, reading the job's data from where the job would: `location`, its data.root)
    and was evaluated as the job would be; None if a job has none."""
    found = []
    for job in jobs:
        cfg = OmegaConf.create(training_point((*job.overrides, *location)))
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
    parser = OneLineParser(prog="python -m sweeps.run_target", description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="+", metavar="target", help=f"of {', '.join(TARGETS)}")
    parser.add_argument("--scale", choices=SCALES, default="full")
    parser.add_argument("--data-root", help="data.root of experiments that read data files")
    parser.add_argument(
        "--digits", action="store_true", help=f"{STAND_IN_NAME} ({MNIST_STAND_IN}), not MNIST"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = parser.parse_args(argv)
    try:
        unknown = [t for t in args.targets if t not in TARGETS]
        if unknown:
            raise TargetError(f"unknown target {unknown[0]!r}; expected one of {list(TARGETS)}")
        if not args.dry_run:
            for name in args.targets:
                check_mnist_on_disk(TARGETS[name], args.scale, args.data_root, args.digits)
        existing = None if args.dry_run else existing_runs()
        skipped: list[str] = []
        for name in args.targets:
            target = TARGETS[name]
            commands = launch(target, args.scale, args.data_root, args.digits, args.dry_run,
                              existing=existing)  # fmt: skip
            if args.dry_run:
                for command in commands:
                    print(" ".join(command[1:]))
                continue
            if commands:
                existing = existing_runs()  # what these multiruns added, for the next target
            make(target, args.scale, args.digits, trained=bool(commands), skipped=skipped)
    except LinpathError as error:
        print(f"linpath: error: {error}", file=sys.stderr)
        return 2
    for error in skipped:  # the reports were written without them
        print(f"linpath: warning: left out of the report: {error}", file=sys.stderr)
    if skipped:
        print(f"linpath: error: {len(skipped)} run(s) could not be read", file=sys.stderr)
        return 2
    return 0


def make(
    target: Target, scale: str, digits: bool, trained: bool, skipped: list[str] | None = None
) -> None:
    """The target's reports, unless nothing was trained and each is current (make's rule);
    with `skipped`, a run whose results.json cannot be read is left out and its error kept
    there (else it is the error)."""
    from paper.report import report, report_is_up_to_date

    names = (target.name, *target.also_reports)
    if not trained and all(report_is_up_to_date(n, scale, digits) for n in names):
        print(
            f"{target.name}: up to date (its runs are finished and its report is newer than "
            "every results.json it reads)",
            flush=True,
        )
        return
    for name in names:
        for path in report(name, scale=scale, digits=digits, skipped=skipped):
            print(path, flush=True)


if __name__ == "__main__":
    sys.exit(main())
