"""`python -m sweeps.plan [TARGET ...] [--scale full|smoke] [--runs]`: what training a target costs.

For each paper target (paper/targets.py) it lists every job `make TARGET` launches: each
sweep point at the sweep's seeds (`Sweep.seeds`, else the experiment's seed axis; smoke: 0
and 1), and a staged sweep's points once per seed of the sweep it starts from. It prints
how many runs the target needs, how many distinct trainings those are (`runs.identity`),
how many already exist under outputs/, multirun/ and stages/ (what `reuse=true` evaluates
instead of training), how many remain, their epochs (a random-label pre-stage's epoch cap
included) and an estimated time. The last line is the whole catalogue, each training once.

A staged job exists when a run of its setting and seed exists (whichever earlier run it
started from). Staged counts are an upper bound: Fig. 3 stages only from runs with a
barrier, which are known only once the earlier sweep has run.

Sweep points are composed once per choice of config groups (`paper.settings.training_point`).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from landscape.errors import OneLineParser
from paper.settings import group_choice, sweep_overrides, sweep_points, training_point
from paper.targets import TARGETS, Sweep, Target
from runs.identity import RESUMED_FROM, run_config, setting_id, training_id
from runs.load import RUN_FILES
from runs.progress import clock_time
from runs.reuse import ROOTS
from runs.store import find_results

SCALES = ("full", "smoke")
SMOKE_SEEDS = (0, 1)
# Seconds per training epoch and per evaluation when no finished run of the experiment at
# that scale measured them: guesses, not measurements. Full scale: one GPU for the vision
# models, one CPU core for the MLPs; smoke: one CPU core.
DEFAULT_COST = {  # (model config, scale) -> (seconds per epoch, seconds of evaluation)
    ("mlp", "full"): (0.05, 2.0),
    ("resnet18", "full"): (20.0, 60.0),
    ("resnet34", "full"): (35.0, 90.0),
    ("resnet50", "full"): (60.0, 150.0),
    ("vgg11", "full"): (10.0, 30.0),
    ("vgg11_bn", "full"): (12.0, 40.0),
    ("mlp", "smoke"): (0.3, 1.0),
}
DEFAULT_SMOKE_VISION = (1.5, 5.0)  # a 1/16-width CNN on 512 images, on a CPU
# A run that trains by updates (max_epochs -1, max_steps: mnist_mlp), seconds of its fit
DEFAULT_UPDATES_FIT = {"full": 60.0, "smoke": 5.0}


@dataclass(frozen=True)
class Job:
    """One training a target needs: the overrides run.py gets, its identity, its epochs."""

    experiment: str
    overrides: tuple[str, ...]
    seed: int
    training_id: str
    setting_id: str
    epochs: int  # the fit's, plus a random-label pre-stage's cap
    by_updates: bool  # the fit is max_steps updates (max_epochs -1): its epochs count 0
    staged: bool  # starts from a run of an earlier sweep of the target
    cost_key: tuple[str, str, str]  # (experiment, model override, scale): runs measured alike
    default_cost: tuple[float, float]


def parse_seeds(value: str) -> list[int]:
    """`range(5)`, `0,1,2` or `3` as Hydra's sweeper reads it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    (override,) = OverridesParser.create().parse_overrides([f"seed={value}"])
    if override.is_sweep_override():
        return [int(s) for s in override.sweep_iterator()]
    return [int(override.value())]


def sweep_seeds(sweep: Sweep, scale: str) -> list[int]:
    """The seeds run_target runs a (non-staged) sweep at."""
    from paper.settings import CONFIG_DIR

    if scale == "smoke":
        return list(SMOKE_SEEDS)
    if sweep.seeds:
        return parse_seeds(sweep.seeds)
    file = OmegaConf.load(CONFIG_DIR / "experiment" / f"{sweep.experiment}.yaml")
    axis = OmegaConf.select(file, "hydra.sweeper.params.seed")
    return parse_seeds(str(axis)) if axis is not None else [0]


def job_of(
    sweep: Sweep, point: Sequence[str], seed: int, scale: str, staged: bool, identify: bool = True
) -> Job:
    """The job; `identify=False` leaves its ids empty (the costly part), for counting only."""
    overrides = (*point, f"seed={seed}")
    plain = training_point(overrides)
    model = next((o.split("=", 1)[1] for o in point if o.startswith("model=")), "default")
    return Job(
        experiment=sweep.experiment,
        overrides=overrides,
        seed=seed,
        training_id=training_id(plain) if identify and not staged else "",
        setting_id=setting_id(plain) if identify and staged else "",
        epochs=max(fit_epochs(plain), 0) + prestage_epochs(plain),
        by_updates=fit_epochs(plain) < 0,
        staged=staged,
        cost_key=(sweep.experiment, model, scale),
        default_cost=default_cost(group_choice(overrides, "model"), scale),
    )


def fit_epochs(cfg: dict) -> int:
    return int(value_of(cfg, "trainer.max_epochs") or 0)


def prestage_epochs(cfg: dict) -> int:
    """init=random_labels trains on random labels first, for at most its epoch cap."""
    if str(cfg["init"].get("_target_", "")).endswith("train_on_random_labels"):
        return int(value_of(cfg, "init.max_epochs"))
    return 0


def value_of(cfg: dict, key: str):
    """The value at dotted `key` of a plain config, its interpolation resolved if it is one."""
    value = cfg
    for part in key.split("."):
        value = (value or {}).get(part)
    if isinstance(value, str) and "${" in value:
        return OmegaConf.select(OmegaConf.create(cfg), key)
    return value


def default_cost(model: str | None, scale: str) -> tuple[float, float]:
    if (model, scale) in DEFAULT_COST:
        return DEFAULT_COST[(model, scale)]
    return DEFAULT_SMOKE_VISION if scale == "smoke" else DEFAULT_COST[("resnet18", "full")]


def target_jobs(
    target: Target, scale: str, digits: bool = False, identify: bool = True
) -> list[Job]:
    """Every job of the target's sweeps at `scale`; staged sweeps at the earlier sweep's seeds."""
    sweeps = target.sweeps
    named = {s.name: s for s in sweeps}
    return [
        job
        for sweep in sweeps
        for job in sweep_jobs(
            sweep,
            tuple(sweep_seeds(named.get(sweep.from_sweep, sweep), scale)),
            scale,
            digits,
            identify,
        )
    ]


@functools.cache
def sweep_jobs(
    sweep: Sweep, seeds: tuple[int, ...], scale: str, digits: bool, identify: bool = True
) -> list[Job]:
    """The sweep's points at each of `seeds` (a sweep shared by targets is composed once)."""
    points = sweep_points(
        [f"experiment={sweep.experiment}", *sweep_overrides(sweep, scale, digits)]
    )
    staged = sweep.from_sweep is not None
    return [
        job_of(sweep, point, seed, scale, staged, identify) for point in points for seed in seeds
    ]


@dataclass
class Existing:
    """The complete runs under the roots, by training and by (setting, seed), with what
    their trainings and evaluations cost (`timing` in results.json)."""

    by_training: dict[str, list[Path]] = field(default_factory=dict)
    by_setting_seed: dict[tuple[str, int], list[Path]] = field(default_factory=dict)
    costs: dict[tuple[str, str, str], list[tuple[float, float]]] = field(default_factory=dict)

    def has(self, job: Job) -> bool:
        if job.staged:
            return (job.setting_id, job.seed) in self.by_setting_seed
        return job.training_id in self.by_training

    def seconds(self, job: Job) -> tuple[float, bool]:
        """The job's seconds of training and evaluation, and whether finished runs of its
        kind measured them (else a default guess)."""
        measured = self.costs.get(job.cost_key)
        if measured:
            per_epoch, evaluation, fit = (
                sum(m[k] for m in measured) / len(measured) for k in range(3)
            )
            return (fit if job.by_updates else job.epochs * per_epoch) + evaluation, True
        per_epoch, evaluation = job.default_cost
        scale = job.cost_key[2]
        fit = DEFAULT_UPDATES_FIT[scale] if job.by_updates else job.epochs * per_epoch
        return fit + evaluation, False


def existing_runs(roots: Sequence[str | Path] = ROOTS) -> Existing:
    """Every complete run under `roots`, read once: the ids its results.json records (the
    config's, computed now, for a run made before results.json recorded them)."""
    found = Existing()
    for results_path in find_results([Path(r) for r in roots if Path(r).is_dir()]):
        run_dir = results_path.parent
        if any(not (run_dir / name).is_file() for name in RUN_FILES):
            continue
        try:
            results = json.loads(results_path.read_text())
            tid, sid = results.get("training_id"), results.get("setting_id")
            if not (tid and sid):
                config = run_config(run_dir)
                tid = training_id(config, resumed_from=results.get(RESUMED_FROM))
                sid = setting_id(config)
        except (OmegaConfBaseException, json.JSONDecodeError, OSError, AttributeError):
            continue  # a config this suite no longer composes: not reusable
        found.by_training.setdefault(tid, []).append(run_dir)
        found.by_setting_seed.setdefault((sid, results.get("seed")), []).append(run_dir)
        measured = measured_cost(results)
        if measured is not None:
            found.costs.setdefault(run_cost_key(results), []).append(measured)
    return found


def run_cost_key(results: dict) -> tuple[str, str, str]:
    overrides = results.get("overrides", [])
    model = next((o.split("=", 1)[1] for o in overrides if o.startswith("model=")), "default")
    scale = next((o.split("=", 1)[1] for o in overrides if o.startswith("scale=")), "full")
    return results.get("experiment", ""), model, scale


def measured_cost(results: dict) -> tuple[float, float, float] | None:
    """A trained run's seconds per epoch, seconds of evaluation and seconds of fit; None
    for a reused run."""
    timing, epochs = (
        results.get("timing") or {},
        len(results.get("history", {}).get("train/loss", [])),
    )
    if results.get("reused_from") or not timing.get("fit_s") or not epochs:
        return None
    return timing["fit_s"] / epochs, timing.get("interpolation_s") or 0.0, timing["fit_s"]


def summary(jobs: Sequence[Job], existing: Existing) -> dict:
    """Counts of a target's jobs, and the estimated time of the trainings left."""
    distinct = {(j.setting_id, j.seed) if j.staged else j.training_id: j for j in jobs}
    remaining = [job for job in distinct.values() if not existing.has(job)]
    seconds, measured = total_time(remaining, existing)
    return {
        "runs": len(jobs),
        "distinct": len(distinct),
        "exist": len(distinct) - len(remaining),
        "to_train": len(remaining),
        "staged": sum(job.staged for job in remaining),
        "epochs": sum(job.epochs for job in remaining),
        "time": f"{duration(seconds)}{'' if measured or not remaining else '*'}",
    }


def total_time(jobs: Sequence[Job], existing: Existing) -> tuple[float, bool]:
    """Seconds to train and evaluate `jobs` one after another, and whether every job's cost
    was measured (not a default guess)."""
    seconds, measured = 0.0, True
    for job in jobs:
        spent, known = existing.seconds(job)
        seconds += spent
        measured &= known
    return seconds, measured


COLUMNS = ("runs", "distinct", "exist", "to_train", "staged", "epochs", "time")


def duration(seconds: float) -> str:
    return clock_time(seconds) if seconds < 100 * 3600 else f"{seconds / 86400:.1f} days"


def row(name: str, numbers: dict) -> str:
    return f"{name:<10}" + "".join(f"{numbers[c]:>{12 if c == 'time' else 9}}" for c in COLUMNS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m sweeps.plan", description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="*", help=f"default: all of {', '.join(TARGETS)}")
    parser.add_argument("--scale", choices=SCALES, default="full")
    parser.add_argument("--digits", action="store_true", help="the digits stand-in, not MNIST")
    parser.add_argument("--runs", action="store_true", help="list each run left to train")
    parser.add_argument(
        "--catalogue", action="store_true", help="each target's runs and time at both scales"
    )
    args = parser.parse_args(argv)
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        print(
            f"linpath: error: unknown target {unknown[0]!r}; expected one of {list(TARGETS)}",
            file=sys.stderr,
        )
        return 2
    names = args.targets or list(TARGETS)
    if args.catalogue:
        return catalogue(names)
    print(
        f"plan: {len(names)} targets at scale={args.scale}; reading finished runs ...", flush=True
    )
    existing = existing_runs()
    print(row("target", {c: c for c in COLUMNS}), flush=True)
    everything: dict[tuple, Job] = {}  # each sweep's jobs once (fig3 and tableA3 share)
    for name in names:
        jobs = target_jobs(TARGETS[name], args.scale, args.digits)
        print(row(name, summary(jobs, existing)), flush=True)
        for job in jobs:
            everything.setdefault((job.experiment, job.overrides), job)
        if args.runs:
            for job in {j.training_id or (j.setting_id, j.seed): j for j in jobs}.values():
                if not existing.has(job):
                    print(f"    {job.epochs:>6} epochs  {' '.join(job.overrides)}")
    print(row("all", summary(list(everything.values()), existing)))
    print(
        "time: the trainings left, one after another, at the seconds per epoch and per "
        "evaluation measured by finished runs of the experiment; *: none had, a default guess "
        "(sweeps/plan.py DEFAULT_COST)"
    )
    return 0


def catalogue(names: Sequence[str]) -> int:
    """One line per target: its title, and its runs and time from nothing at each scale."""
    existing = existing_runs()
    print("paper targets (`make TARGET`, `SCALE=smoke` for the CPU version; time from nothing):")
    for name in names:
        costs = []
        for scale in SCALES[::-1]:
            jobs = target_jobs(TARGETS[name], scale, identify=False)
            seconds, measured = total_time(jobs, existing)
            costs.append(f"{scale} {len(jobs)} runs {duration(seconds)}{'' if measured else '*'}")
        print(f"  make {name:<10} {TARGETS[name].title[:60]:<60}  {'   '.join(costs)}", flush=True)
    print("  *: a default guess, no finished run measured it (sweeps/plan.py DEFAULT_COST)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
