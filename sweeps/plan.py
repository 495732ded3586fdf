"""`python -m sweeps.plan [TARGET ...] [--scale full|smoke] [--runs]`: what training a target costs.

For each paper target (paper/targets.py) it composes every job of its experiments' sweeps
as `make TARGET` launches them, and prints how many runs the target needs, how many distinct
training runs those are (`runs.identity`: runs that train the same way count once), how
many of them already exist under outputs/, multirun/ and stages/ (what `reuse=true` will
evaluate instead of training), how many remain, and their epochs. The last line is the whole
catalogue, each experiment once. Jobs of a staged experiment (`init.from_run`,
`optim.groups_from`) depend on a run that may not exist yet; they are counted as to train.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from paper.targets import TARGETS
from runs.identity import run_config, training_id
from runs.load import RUN_FILES
from runs.reuse import ROOTS
from runs.store import find_results

CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"
# What the Makefile adds to every job at each scale, and to some experiments at smoke scale
SCALE_OVERRIDES = {"full": ["scale=full"], "smoke": ["scale=smoke", "seed=0,1"]}
EXPERIMENT_OVERRIDES = {"mnist_mlp": ["data=digits"], "bias_view": ["data=digits"]}
STAGED_KEYS = (("init", "from_run"), ("optim", "groups_from"))


@dataclass(frozen=True)
class Job:
    """One training run a target needs: its identity, its epochs, whether it is staged."""

    experiment: str
    overrides: tuple[str, ...]
    training_id: str
    epochs: int
    staged: bool


def sweep_jobs(experiment: str, scale: str, extra: Sequence[str] = ()) -> list[list[str]]:
    """The override lists of every job of `experiment`'s sweep, as `run.py -m` expands it:
    the experiment's `hydra.sweeper.params`, with the command line's values winning."""
    from hydra import compose
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    given = [f"experiment={experiment}", *SCALE_OVERRIDES[scale]]
    if scale == "smoke":  # MNIST's stand-in (paper.targets.stand_in_used)
        given += EXPERIMENT_OVERRIDES.get(experiment, [])
    given += list(extra)
    cfg = compose("train", overrides=[o for o in given if "," not in o], return_hydra_config=True)
    params = {str(k): str(v) for k, v in (cfg.hydra.sweeper.params or {}).items()}
    params.update(dict(o.split("=", 1) for o in given))
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def job_of(experiment: str, overrides: list[str]) -> Job:
    from hydra import compose

    cfg = compose("train", overrides=overrides)
    return Job(
        experiment,
        tuple(overrides),
        training_id(cfg),
        int(cfg.trainer.get("max_epochs") or 0),
        staged=is_staged(cfg),
    )


def is_staged(cfg: DictConfig) -> bool:
    """Starts from an earlier run that is still to be made (`???`: the target finds it)."""
    return any(
        OmegaConf.is_missing(cfg[section], key)
        for section, key in STAGED_KEYS
        if key in cfg[section].keys()
    )


def existing_runs(roots: Sequence[str | Path] = ROOTS) -> dict[str, Path]:
    """Complete runs under `roots` by the training id of their config, computed now."""
    found = {}
    for results_path in find_results([Path(r) for r in roots if Path(r).is_dir()]):
        run_dir = results_path.parent
        if any(not (run_dir / name).is_file() for name in RUN_FILES):
            continue
        try:
            found.setdefault(training_id(run_config(run_dir)), run_dir)
        except (OmegaConfBaseException, json.JSONDecodeError, OSError):
            continue  # a config this suite no longer composes: not reusable
    return found


def plan_rows(targets: Sequence[str], scale: str) -> list[tuple[str, list[Job]]]:
    """(name, jobs) per target, then ('all', every sweep's jobs once)."""
    from hydra import initialize_config_dir

    sweeps: dict[tuple, list[Job]] = {}  # (experiment, extra overrides) -> its jobs
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        for name in targets:
            for experiment, extra in target_sweeps(name):
                if (experiment, extra) not in sweeps:
                    jobs = sweep_jobs(experiment, scale, extra)
                    sweeps[(experiment, extra)] = [job_of(experiment, job) for job in jobs]
    rows = [(name, [j for key in target_sweeps(name) for j in sweeps[key]]) for name in targets]
    return [*rows, ("all", [j for jobs in sweeps.values() for j in jobs])]


def target_sweeps(name: str) -> list[tuple[str, tuple[str, ...]]]:
    """(experiment, extra overrides) of every sweep of the target (paper/targets.py)."""
    return [(sweep.experiment, tuple(sweep.overrides)) for sweep in TARGETS[name].sweeps]


def summary(jobs: Sequence[Job], existing: dict[str, Path]) -> dict[str, int]:
    distinct = {job.training_id: job for job in jobs}
    remaining = [job for tid, job in distinct.items() if job.staged or tid not in existing]
    return {
        "runs": len(jobs),
        "distinct": len(distinct),
        "exist": len(distinct) - len(remaining),
        "to_train": len(remaining),
        "staged": sum(job.staged for job in remaining),
        "epochs": sum(job.epochs for job in remaining),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sweeps.plan", description=__doc__.split("\n")[0]
    )
    parser.add_argument("targets", nargs="*", help=f"default: all of {', '.join(TARGETS)}")
    parser.add_argument("--scale", choices=tuple(SCALE_OVERRIDES), default="full")
    parser.add_argument("--runs", action="store_true", help="list each run left to train")
    args = parser.parse_args(argv)
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        print(
            f"linpath: error: unknown target {unknown[0]!r}; expected one of {list(TARGETS)}",
            file=sys.stderr,
        )
        return 2
    existing = existing_runs()
    rows = plan_rows(args.targets or list(TARGETS), args.scale)
    columns = ("runs", "distinct", "exist", "to_train", "staged", "epochs")
    print(f"{'target':<10}" + "".join(f"{c:>10}" for c in columns) + f"   (scale={args.scale})")
    for name, jobs in rows:
        numbers = summary(jobs, existing)
        print(f"{name:<10}" + "".join(f"{numbers[c]:>10}" for c in columns))
        if args.runs and name != "all":
            distinct = {job.training_id: job for job in jobs}
            for tid, job in distinct.items():
                if job.staged or tid not in existing:
                    print(f"    {tid}  {job.epochs:>4} epochs  {' '.join(job.overrides)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
