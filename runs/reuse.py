"""Never train twice: a run whose training identity matches a finished run evaluates that one.

With `reuse=true` (the make targets set it), run.py looks under outputs/, multirun/ and
stages/ for a complete run of its own training (`runs.identity`) on the same data. If one
exists, its theta files are checked against its manifest, and the new run folder gets
them (hard links) and a fresh evaluation under the new run's `interpolation` config, with
`reused_from` naming the run that trained; nothing is trained.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from landscape.state_files import load_results_file
from lightning_modules.build import data_and_net_factory
from runs.identity import RESUMED_FROM, REUSED_FROM, run_config, trained_by, training_id
from runs.load import RUN_FILES
from runs.manifest import verify_files
from runs.reevaluate import evaluate_run
from runs.store import find_results

ROOTS = ("outputs", "multirun", "stages")
# What a training wrote beside its weights that a reused run carries along (the states
# `callbacks.milestones` kept during training, and the paths to them)
TRAINING_RECORDS = ("milestones.json", "milestones.png")


def find_reusable(
    cfg: DictConfig,
    roots: Sequence[str | Path] = ROOTS,
    exclude: Path | None = None,
    note: Callable[[str], None] = lambda message: None,
) -> Path | None:
    """The run that trained what `cfg` would train, found under `roots`, or None.

    A candidate's results.json must record this training (`training_id`) and data
    (`data_fingerprint`), and its own config must still give that training_id (a hand
    edit, or a run of an older suite whose identity rules differ, does not); the run that
    trained it (a reused run's `reused_from`) must exist, be complete and hold the theta
    files its manifest recorded (a changed file is refused: `ManifestError`). Runs that
    do not qualify are skipped, with a `note` where they looked like a match.
    """
    wanted = training_id(cfg)
    excluded = exclude.resolve() if exclude is not None else None
    data = functools.cache(lambda: getattr(data_and_net_factory(cfg)[0], "fingerprint", None))
    for results_path in find_results([Path(r) for r in roots if Path(r).is_dir()]):
        run_dir = results_path.parent.resolve()
        try:
            results = json.loads(results_path.read_text())
            if results.get("training_id") != wanted or run_dir == excluded:
                continue
            if not isinstance(results.get("manifest"), dict):
                note(f"reuse: skipping {run_dir}: its results.json has no manifest (older run)")
                continue
            recomputed = training_id(run_config(run_dir), resumed_from=results.get(RESUMED_FROM))
        except (json.JSONDecodeError, OmegaConfBaseException, OSError, AttributeError):
            continue  # unreadable, or a config this suite no longer composes
        if recomputed != wanted:
            note(f"reuse: skipping {run_dir}: its .hydra/config.yaml gives another training")
            continue
        if results.get("data_fingerprint") != data():
            note(f"reuse: skipping {run_dir}: it trained on other data (data_fingerprint)")
            continue
        source = trained_by(run_dir)
        if source == excluded:
            continue  # never link a folder to itself
        if any(not (source / name).is_file() for name in RUN_FILES):
            note(f"reuse: skipping {run_dir}: the run it reused, {source}, is gone or incomplete")
            continue
        verify_files(source, load_results_file(source / "results.json"))
        return source
    return None


def link_or_copy(source: Path, target: Path) -> None:
    """`target` becomes the same file as `source` (a hard link; a copy across devices)."""
    if target.exists() and os.path.samefile(source, target):
        return  # renaming a link over its own file would leave the link behind
    temporary = target.with_name(f".{target.name}.link")
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
    except OSError:
        shutil.copyfile(source, temporary)
    os.replace(temporary, target)


def reuse_run(cfg: DictConfig, source: Path, out_dir: Path) -> dict:
    """Evaluate the trained `source` run into `out_dir` as if `cfg` had just trained it.

    When `cfg` asks for the evaluation `source` already made (the same interpolation config),
    its results are taken over instead: the evaluation is deterministic, so it would give
    the same numbers again.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("theta_i.pt", "theta_f.pt"):
        link_or_copy(source / name, out_dir / name)
    for name in TRAINING_RECORDS:  # facts of the training no evaluation can make again
        if (source / name).is_file():
            link_or_copy(source / name, out_dir / name)
    if evaluation_config(cfg) != evaluation_config(run_config(source)):
        return evaluate_run(source, cfg, out_dir, {REUSED_FROM: str(source)})
    from runs.evaluation import write_results

    results = json.loads((source / "results.json").read_text())
    callback = cfg.interpolation
    results.update(
        experiment=cfg.get("experiment_name", results.get("experiment")),
        seed=cfg.seed,
        overrides=list(callback.overrides),
        **{REUSED_FROM: str(source)},
    )
    write_results(results, out_dir, callback.get("figure", True))
    return results


def evaluation_config(cfg: DictConfig) -> dict:
    """What decides a run's evaluation: its interpolation config, minus where it is written,
    what it is called and how it shows progress."""
    config = OmegaConf.to_container(cfg.interpolation, resolve=False)
    for key in ("output_dir", "experiment", "overrides", "figure", "progress"):
        config.pop(key, None)
    return config
